package integration_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// auditReport is the part of `portcullis audit report --json` the test
// compares.
type auditReport struct {
	Lines     int `json:"lines"`
	Events    int `json:"events"`
	Skipped   int `json:"skipped"`
	Outside   int `json:"outside_window"`
	Decisions []struct {
		Result, Reason string
		Count          int
	} `json:"decisions"`
	Kinds []struct {
		Event, Result string
		Count         int
	} `json:"events_by_kind"`
	DeniedSubjects []struct {
		Subject string
		Denied  int
		Reasons map[string]int
	} `json:"top_denied_subjects"`
	ExpiringKeys []struct {
		KeyID    string `json:"key_id"`
		Subject  string
		DaysLeft int `json:"days_left"`
	} `json:"keys_expiring"`
	Throttled []struct {
		ClientIP    string `json:"client_ip"`
		Lockouts    int
		Throttled   int
		RateLimited int `json:"rate_limited"`
	} `json:"throttled_addresses"`
}

// TestAuditReportMatchesScriptedRun: a gateway writes its audit log to a
// file while the test makes requests whose outcomes it counts; `audit
// report` over that file (and, on stdin, the gateway's other log lines
// and one old audit event) reports exactly those counts.
func TestAuditReportMatchesScriptedRun(t *testing.T) {
	t.Parallel()
	reader, readerBlock := newKey(t, "--subject", "reader", "--scopes", "orders:read")
	expiring, expiringBlock := newKey(t, "--subject", "expiring-bot", "--scopes", "orders:read", "--expires", "3d")
	up := harness.StartUpstream(t)
	file := filepath.Join(t.TempDir(), "audit.log")
	gw := harness.StartGateway(t, auditGateway(up.Addr, file, "store memory", readerBlock+"\n"+expiringBlock+"\nwarn_before 14d"))

	want := map[string]int{} // "result reason" -> decisions
	do := func(method string, key string, status int) int {
		h := map[string]string{}
		if key != "" {
			h["Authorization"] = "Bearer " + key
		}
		resp, _ := gw.Do(t, method, "/orders", h)
		if status != 0 && resp.StatusCode != status {
			t.Fatalf("%s /orders: %d, want %d", method, resp.StatusCode, status)
		}
		return resp.StatusCode
	}
	for range 5 {
		do("GET", reader, 200)
		want["allow allowed"]++
	}
	for range 2 {
		do("GET", expiring, 200)
		want["allow allowed"]++
	}
	for range 3 {
		do("GET", "", 401)
		want["deny no_credentials"]++
	}
	for range 4 {
		do("POST", reader, 403)
		want["deny insufficient_scope"]++
	}
	throttled := 0
	for n := 0; throttled < 3; n++ {
		if n == 200 {
			t.Fatal("200 wrong keys and no 429")
		}
		// Keys of the right shape whose checksum is wrong, as a
		// guessing client sends them: malformed_credentials.
		switch do("GET", fmt.Sprintf("pcl_%012d_%038d", n, n), 0) {
		case 401:
			want["deny malformed_credentials"]++
		case 429:
			want["deny api_key_throttled"]++
			throttled++
		default:
			t.Fatal("a wrong key was neither refused nor throttled")
		}
	}
	decisions := 0
	for _, n := range want {
		decisions += n
	}
	readEvents(t, file, decisions+3) // + config_loaded, api_key_expiring, lockout_started

	// Standard input: the gateway's own log lines (not audit events) and
	// one audit event from before the window.
	var stdin strings.Builder
	foreign := 0
	for _, l := range strings.Split(gw.Logs(), "\n") {
		if strings.TrimSpace(l) != "" && !strings.Contains(l, `"logger":"portcullis.audit"`) {
			stdin.WriteString(l + "\n")
			foreign++
		}
	}
	now := time.Now().Add(time.Minute)
	fmt.Fprintf(&stdin, `{"level":"info","ts":%d,"logger":"portcullis.audit","event":"decision","result":"deny","reason":"expired","subject":"old"}`+"\n",
		now.Add(-2*time.Hour).Unix())
	stdinFile := filepath.Join(t.TempDir(), "stdin.log")
	if err := os.WriteFile(stdinFile, []byte(stdin.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	report := func(args ...string) string {
		t.Helper()
		cmd := append([]string{"audit", "report", "--since", "1h", "--now", now.UTC().Format(time.RFC3339)}, args...)
		in, err := os.Open(stdinFile)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		c := exec.Command(harness.Binary(t), cmd...)
		c.Stdin = in
		raw, err := c.CombinedOutput()
		out := string(raw)
		if err != nil {
			t.Fatalf("audit report %v: %v\n%s", args, err, out)
		}
		return out
	}

	var r auditReport
	out := report("--json", file, "-")
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	got := map[string]int{}
	for _, d := range r.Decisions {
		got[d.Result+" "+d.Reason] = d.Count
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("decisions\n  %v\nwant (counted from the answers)\n  %v", got, want)
	}
	kinds := map[string]int{}
	for _, k := range r.Kinds {
		kinds[k.Event+" "+k.Result] += k.Count
	}
	if kinds["api_key_expiring info"] != 1 || kinds["config_loaded info"] != 1 || kinds["lockout_started deny"] != 1 || r.Events != decisions+3 {
		t.Errorf("events %d by kind %v; want %d decisions, one config_loaded, api_key_expiring and lockout_started", r.Events, kinds, decisions)
	}
	if r.Skipped != foreign || r.Outside != 1 || r.Lines != r.Events+r.Skipped+r.Outside {
		t.Errorf("lines %d, skipped %d (want %d foreign lines), outside %d (want 1)", r.Lines, r.Skipped, foreign, r.Outside)
	}
	if len(r.DeniedSubjects) != 1 || r.DeniedSubjects[0].Subject != "reader" || r.DeniedSubjects[0].Denied != 4 ||
		r.DeniedSubjects[0].Reasons["insufficient_scope"] != 4 {
		t.Errorf("denied subjects %+v, want reader denied 4 times for insufficient_scope", r.DeniedSubjects)
	}
	if len(r.ExpiringKeys) != 1 || r.ExpiringKeys[0].Subject != "expiring-bot" || !strings.HasPrefix(expiring, "pcl_"+r.ExpiringKeys[0].KeyID+"_") ||
		r.ExpiringKeys[0].DaysLeft != 2 {
		t.Errorf("expiring keys %+v, want the 3-day key with 2 whole days left", r.ExpiringKeys)
	}
	if len(r.Throttled) != 1 || r.Throttled[0].ClientIP != "127.0.0.1" || r.Throttled[0].Lockouts != 1 || r.Throttled[0].Throttled != throttled {
		t.Errorf("throttled addresses %+v, want 127.0.0.1 locked out once and refused %d times", r.Throttled, throttled)
	}

	table := report(file)
	for _, want := range []string{"skipped (not audit events): 0; before the window: 0", "Top denied subjects", "\nreader ", "\n127.0.0.1 "} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	t.Logf("report of %d decisions, %d throttled, %d foreign lines skipped:\n%s", decisions, throttled, foreign, table)
}

package auditreport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC)

// auditLine is an audit event as Caddy's JSON encoder writes it, at
// ago before now.
func auditLine(ago time.Duration, fields string) string {
	ts := float64(now.Add(-ago).UnixNano()) / 1e9
	return fmt.Sprintf(`{"level":"info","ts":%.6f,"logger":"portcullis.audit","msg":"x",%s}`, ts, fields)
}

func sample() string {
	lines := []string{
		auditLine(time.Hour, `"event":"decision","result":"allow","reason":"allowed","subject":"alice"`),
		auditLine(2*time.Hour, `"event":"decision","result":"allow","reason":"allowed","subject":"bob"`),
		auditLine(3*time.Hour, `"event":"decision","result":"deny","reason":"insufficient_scope","subject":"bob","client_ip":"192.0.2.7"`),
		auditLine(3*time.Hour, `"event":"decision","result":"deny","reason":"insufficient_scope","subject":"bob"`),
		auditLine(4*time.Hour, `"event":"decision","result":"deny","reason":"expired","subject":"bob"`),
		auditLine(4*time.Hour, `"event":"decision","result":"deny","reason":"claim_mismatch","subject":"carol"`),
		auditLine(5*time.Hour, `"event":"decision","result":"deny","reason":"invalid_credentials","client_ip":"192.0.2.9"`),
		auditLine(5*time.Hour, `"event":"lockout_started","result":"deny","reason":"api_key_throttled","client_ip":"192.0.2.9"`),
		auditLine(5*time.Hour, `"event":"decision","result":"deny","reason":"api_key_throttled","client_ip":"192.0.2.9"`),
		auditLine(5*time.Hour, `"event":"decision","result":"deny","reason":"api_key_throttled","client_ip":"192.0.2.9"`),
		auditLine(6*time.Hour, `"event":"rate_limited","result":"deny","reason":"rate_limited","zone":"per_user","client_ip":"192.0.2.8","subject":"alice"`),
		auditLine(7*time.Hour, `"event":"api_key_expiring","result":"info","reason":"7d","key_id":"k1","subject":"ci","expires":1893758400,"days_left":7`),
		auditLine(time.Hour, `"event":"api_key_expiring","result":"info","reason":"7d","key_id":"k1","subject":"ci","expires":1893758400,"days_left":6`),
		auditLine(2*time.Hour, `"event":"login_failed","result":"deny","reason":"state_mismatch"`),
		// Outside the 24 h window.
		auditLine(30*time.Hour, `"event":"decision","result":"deny","reason":"expired","subject":"dave"`),
		// Not audit events.
		`{"level":"info","ts":1893585600,"logger":"http.log.access","msg":"handled request","status":200}`,
		`{"level":"info","ts":1893585600,"logger":"portcullis","msg":"started"}`,
		`not json at all`,
		`{"event":"decision"`,
		`{"level":"info","logger":"portcullis.audit","event":"decision","result":"deny","reason":"expired"}`, // undated
		``,
		`{"msg":"` + strings.Repeat("x", 2<<20) + `"}`, // too long
		// A string time, as with `time_format iso8601`.
		`{"level":"info","ts":"` + now.Add(-time.Minute).Format("2006-01-02T15:04:05.000Z0700") + `","logger":"portcullis.audit","event":"decision","result":"allow","reason":"allowed"}`,
	}
	return strings.Join(lines, "\n") // no final newline: the last line still counts
}

func TestReport(t *testing.T) {
	t.Parallel()
	b, err := NewBuilder(Options{Since: 24 * time.Hour, Now: now, Top: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Read(strings.NewReader(sample())); err != nil {
		t.Fatal(err)
	}
	r := b.Report()
	if r.Lines != 22 || r.Events != 15 || r.Skipped != 5 || r.Outside != 1 || r.Undated != 1 {
		t.Fatalf("lines %d events %d skipped %d outside %d undated %d", r.Lines, r.Events, r.Skipped, r.Outside, r.Undated)
	}
	wantDecisions := []DecisionCount{
		{"allow", "allowed", 3}, {"deny", "api_key_throttled", 2}, {"deny", "insufficient_scope", 2},
		{"deny", "claim_mismatch", 1}, {"deny", "expired", 1}, {"deny", "invalid_credentials", 1},
	}
	if fmt.Sprint(r.Decisions) != fmt.Sprint(wantDecisions) {
		t.Fatalf("decisions\n%v\nwant\n%v", r.Decisions, wantDecisions)
	}
	if len(r.DeniedSubjects) != 2 || r.DeniedSubjects[0].Subject != "bob" || r.DeniedSubjects[0].Denied != 3 ||
		r.DeniedSubjects[0].Reasons["insufficient_scope"] != 2 || r.DeniedSubjects[1].Subject != "alice" {
		t.Fatalf("denied subjects %+v", r.DeniedSubjects)
	}
	if len(r.ExpiringKeys) != 1 || r.ExpiringKeys[0].DaysLeft != 6 || !r.ExpiringKeys[0].Expires.Equal(time.Unix(1893758400, 0)) {
		t.Fatalf("expiring keys %+v", r.ExpiringKeys)
	}
	if len(r.Throttled) != 2 || r.Throttled[0] != (AddressCount{"192.0.2.9", 1, 2, 0, 2}) || r.Throttled[1] != (AddressCount{"192.0.2.8", 0, 0, 1, 1}) {
		t.Fatalf("throttled %+v", r.Throttled)
	}
	var kinds int
	for _, k := range r.Kinds {
		kinds += k.Count
	}
	if kinds != r.Events {
		t.Fatalf("kinds add up to %d, want %d", kinds, r.Events)
	}

	var table bytes.Buffer
	if err := WriteTable(&table, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Audit report: 2030-01-01T12:00:00Z to 2030-01-02T12:00:00Z",
		"skipped (not audit events): 5",
		"bob      3       insufficient_scope×2, expired×1",
		"192.0.2.9  1         2          0             2",
	} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"skipped":5`, `"top_denied_subjects":[{"subject":"bob","denied":3`, `"keys_expiring":[{"key_id":"k1"`} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("JSON lacks %s: %s", want, raw)
		}
	}
}

func TestReportWithoutWindow(t *testing.T) {
	t.Parallel()
	b, _ := NewBuilder(Options{})
	for range 2 { // two files
		if err := b.Read(strings.NewReader(sample() + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	r := b.Report()
	if r.Events != 2*17 || r.Outside != 0 || r.Undated != 0 || !r.From.IsZero() {
		t.Fatalf("events %d outside %d undated %d from %v", r.Events, r.Outside, r.Undated, r.From)
	}
	if _, err := NewBuilder(Options{Since: time.Hour}); err == nil {
		t.Fatal("a window without its end accepted")
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, raw := range []string{
		fmt.Sprint(want.Unix()), fmt.Sprint(want.UnixMilli()), fmt.Sprint(want.UnixMicro()), fmt.Sprint(want.UnixNano()),
		`"2030-01-02T03:04:05Z"`, `"2030-01-02T03:04:05.000Z"`, `"2030-01-02T04:04:05.000+0100"`, `"2030/01/02 03:04:05.000"`,
	} {
		got, ok := parseTime(json.RawMessage(raw))
		if !ok || got.Sub(want).Abs() > time.Millisecond {
			t.Errorf("parseTime(%s) = %v, %v", raw, got, ok)
		}
	}
	if _, ok := parseTime(json.RawMessage(`"yesterday"`)); ok {
		t.Error("a word read as a time")
	}
}

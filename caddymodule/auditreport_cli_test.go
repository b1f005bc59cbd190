package caddymodule

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAuditReportCLI(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC)
	line := func(ago time.Duration, fields string) string {
		return `{"level":"info","ts":` + jsonNumber(now.Add(-ago)) + `,"logger":"portcullis.audit",` + fields + "}\n"
	}
	file := filepath.Join(t.TempDir(), "audit.log")
	content := line(time.Hour, `"event":"decision","result":"deny","reason":"expired","subject":"bob"`) +
		line(48*time.Hour, `"event":"decision","result":"deny","reason":"expired","subject":"bob"`) +
		`{"level":"info","logger":"http.log.access","msg":"handled request"}` + "\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	stdin := strings.NewReader(line(2*time.Hour, `"event":"decision","result":"allow","reason":"allowed","subject":"alice"`))

	var out bytes.Buffer
	if err := runAuditReport(auditReportOptions{since: "1d", json: true, top: 10}, now, []string{file, "-"}, stdin, &out); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if raw["events"] != 2.0 || raw["skipped"] != 1.0 || raw["outside_window"] != 1.0 || len(raw["decisions"].([]any)) != 2 {
		t.Fatalf("report %s", out.String())
	}

	// --now moves the window: 47 h ago the old denial is inside it.
	out.Reset()
	if err := runAuditReport(auditReportOptions{since: "2h", now: now.Add(-47 * time.Hour).Format(time.RFC3339), top: 10}, now, []string{file}, nil, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "audit events: 1;") || !strings.Contains(out.String(), "deny    expired  1") {
		t.Fatalf("table:\n%s", out.String())
	}

	for _, bad := range []auditReportOptions{{since: "yesterday"}, {since: "-1h"}, {now: "today"}} {
		if err := runAuditReport(bad, now, []string{file}, nil, &out); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if err := runAuditReport(auditReportOptions{}, now, []string{filepath.Join(t.TempDir(), "missing")}, nil, &out); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

func jsonNumber(t time.Time) string {
	b, _ := json.Marshal(float64(t.UnixNano()) / 1e9)
	return string(b)
}

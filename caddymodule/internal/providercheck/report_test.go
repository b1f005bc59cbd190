package providercheck

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestReportOutput(t *testing.T) {
	t.Parallel()
	rep := Report{Results: []Result{
		{Component: "store redis://r:6379", Check: "ping", Status: OK, Detail: "PONG"},
		{Component: "oidc https://idp", Check: "issuer", Status: Fail, Detail: "mismatch"},
		{Component: "oidc https://idp", Check: "revocation", Status: Warn, Detail: "none"},
	}}
	want := "OK    store redis://r:6379 ping: PONG\n\nFAIL  oidc https://idp issuer: mismatch\nWARN  oidc https://idp revocation: none\n\n" +
		"summary: 3 checks: 1 OK, 1 WARN, 1 FAIL, 0 SKIP: fix the FAIL lines\n"
	if got := text(t, rep); got != want {
		t.Errorf("text:\n%s\nwant:\n%s", got, want)
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back []map[string]string
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back) != 3 || back[1]["status"] != "FAIL" || back[1]["component"] != "oidc https://idp" || back[1]["check"] != "issuer" || back[1]["detail"] != "mismatch" {
		t.Errorf("json: %v %s", err, js.String())
	}
	js.Reset()
	if err := (Report{}).WriteJSON(&js); err != nil || strings.TrimSpace(js.String()) != "[]" {
		t.Errorf("empty json: %v %q", err, js.String())
	}
}

func TestQuoteText(t *testing.T) {
	t.Parallel()
	if got := quoteText("a\r\n\tb\x1b[31m  c"); got != "a b [31m c" {
		t.Errorf("control characters: %q", got)
	}
	long := strings.Repeat("é", 200)
	if got := quoteText(long); len(got) > maxQuoted+len("…") || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "é") {
		t.Errorf("long: %q", got)
	}
}

package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"text/tabwriter"

	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
)

// buildReport reads the answer and the audit events of one token check.
func buildReport(server string, w *httptest.ResponseRecorder, events *observer.ObservedLogs) tokenReport {
	h := w.Result().Header
	rep := tokenReport{
		Status: w.Code, Server: server,
		Routes:    h.Values(tokenCheckRouteHeader),
		Upstream:  h.Get(tokenCheckUpstreamHeader) != "",
		Challenge: h.Get("WWW-Authenticate"),
		Location:  h.Get("Location"),
	}
	for _, k := range []string{"Deprecation", "Sunset"} {
		if v := h.Get(k); v != "" {
			rep.Warnings = append(rep.Warnings, k+": "+v)
		}
	}
	// The last decision (or rate_limited) event is the one that decided;
	// with chained portcullis handlers the earlier ones allowed.
	for _, e := range events.All() {
		f := e.ContextMap()
		switch audit.Kind(str(f["event"])) {
		case audit.KindDecision, audit.KindRateLimited:
		default:
			continue
		}
		rep.Reason, rep.Subject, rep.AuthMethod = str(f["reason"]), str(f["subject"]), str(f["auth_method"])
		rep.Issuer, rep.KeyID = str(f["issuer"]), str(f["key_id"])
		rep.Scopes, rep.RequiredScopes = strList(f["granted_scopes"]), strList(f["required_scopes"])
	}
	rep.Decision = "deny"
	if w.Code >= 200 && w.Code < 300 {
		rep.Decision = "allow"
	}
	return rep
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func strList(v any) []string {
	switch l := v.(type) {
	case []string:
		return l
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			out = append(out, str(e))
		}
		return out
	}
	return nil
}

// writeText prints the report as aligned "field: value" lines.
func (r tokenReport) writeText(out io.Writer) error {
	tw := tabwriter.NewWriter(out, 0, 4, 1, ' ', 0)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	line("decision", r.Decision)
	line("status", fmt.Sprintf("%d %s", r.Status, http.StatusText(r.Status)))
	line("server", r.Server)
	for _, rt := range r.Routes {
		line("route", rt)
	}
	if len(r.Routes) == 0 {
		line("route", "none matched (Caddy answers 200 with an empty body)")
	}
	line("upstream", map[bool]string{true: "reached (stubbed: nothing was sent)", false: "not reached"}[r.Upstream])
	line("reason", r.Reason)
	line("subject", r.Subject)
	line("auth method", r.AuthMethod)
	line("issuer", r.Issuer)
	line("key id", r.KeyID)
	line("scopes", strings.Join(r.Scopes, " "))
	line("required scopes", strings.Join(r.RequiredScopes, " "))
	line("challenge", r.Challenge)
	line("location", r.Location)
	for _, w := range r.Warnings {
		line("warning", w)
	}
	return tw.Flush()
}

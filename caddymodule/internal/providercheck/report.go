package providercheck

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// Status is the outcome of one check.
type Status string

// Statuses of a Result.
const (
	// OK: what was checked works as the gateway needs it.
	OK Status = "OK"
	// Warn: it works, but something is missing or uncertain that the
	// operator should know about.
	Warn Status = "WARN"
	// Fail: logins or requests will fail; the detail names the cause.
	Fail Status = "FAIL"
	// Skip: not checked (disabled in the configuration, or an earlier
	// check failed); the detail says why.
	Skip Status = "SKIP"
)

// Result is one check's finding.
type Result struct {
	// Component is what was checked: "store redis://host:6379/0",
	// "oidc https://idp.example.com", "jwt https://issuer.example.com".
	Component string `json:"component"`
	// Check names the check within the component ("discovery",
	// "issuer", "token endpoint" …).
	Check string `json:"check"`
	// Status is the outcome.
	Status Status `json:"status"`
	// Detail says what was seen, and for a failure its cause. It never
	// holds a secret.
	Detail string `json:"detail"`
}

// Report is the outcome of Run, in the order the checks were made.
type Report struct {
	// Results are the findings, grouped by component.
	Results []Result
}

// Failed reports whether any check failed.
func (r Report) Failed() bool { return r.Count(Fail) > 0 }

// Count returns how many checks have status s.
func (r Report) Count(s Status) int {
	n := 0
	for _, res := range r.Results {
		if res.Status == s {
			n++
		}
	}
	return n
}

// Summary is the report's last line: the counts per status.
func (r Report) Summary() string {
	s := fmt.Sprintf("summary: %d checks: %d OK, %d WARN, %d FAIL, %d SKIP", len(r.Results), r.Count(OK), r.Count(Warn), r.Count(Fail), r.Count(Skip))
	switch {
	case len(r.Results) == 0:
		s += ": nothing to check (no Redis store, oidc or jwt block)"
	case r.Failed():
		s += ": fix the FAIL lines"
	}
	return s
}

// WriteText writes one line per check ("OK    oidc https://idp… issuer:
// …"), a blank line between components, then the summary.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for i, res := range r.Results {
		if i > 0 && res.Component != r.Results[i-1].Component {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%-5s %s %s: %s\n", res.Status, res.Component, res.Check, res.Detail)
	}
	if len(r.Results) > 0 {
		b.WriteByte('\n')
	}
	b.WriteString(r.Summary())
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

// WriteJSON writes the results as a JSON array of {component, check,
// status, detail}.
func (r Report) WriteJSON(w io.Writer) error {
	results := r.Results
	if results == nil {
		results = []Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(results); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

// results collects the findings of one component.
type results struct {
	component string
	list      []Result
}

func (rs *results) add(s Status, check, format string, args ...any) {
	rs.list = append(rs.list, Result{Component: rs.component, Check: check, Status: s, Detail: fmt.Sprintf(format, args...)})
}

func (rs *results) ok(check, format string, args ...any)   { rs.add(OK, check, format, args...) }
func (rs *results) warn(check, format string, args ...any) { rs.add(Warn, check, format, args...) }
func (rs *results) fail(check, format string, args ...any) { rs.add(Fail, check, format, args...) }
func (rs *results) skip(check, format string, args ...any) { rs.add(Skip, check, format, args...) }

// maxQuoted bounds text quoted from a provider (error descriptions,
// error pages).
const maxQuoted = 160

// quoteText makes provider-supplied text safe for one report line: control
// characters become spaces, runs of space collapse, and it is cut to
// maxQuoted bytes.
func quoteText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxQuoted {
		cut := maxQuoted
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// utf8Start reports whether b starts a UTF-8 sequence.
func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

package auditreport

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable writes r as aligned text tables, one section each.
func WriteTable(w io.Writer, r Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	if r.From.IsZero() {
		p("Audit report: every event\n")
	} else {
		p("Audit report: %s to %s\n", r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339))
	}
	p("Lines read: %d; audit events: %d; skipped (not audit events): %d; before the window: %d; undated: %d\n",
		r.Lines, r.Events, r.Skipped, r.Outside, r.Undated)

	p("\nDecisions by result and reason\n")
	p("RESULT\tREASON\tCOUNT\n")
	for _, d := range r.Decisions {
		p("%s\t%s\t%d\n", d.Result, orDash(d.Reason), d.Count)
	}
	p("\nEvents by kind\n")
	p("EVENT\tRESULT\tCOUNT\n")
	for _, k := range r.Kinds {
		p("%s\t%s\t%d\n", k.Event, k.Result, k.Count)
	}
	p("\nTop denied subjects\n")
	p("SUBJECT\tDENIED\tREASONS\n")
	for _, s := range r.DeniedSubjects {
		p("%s\t%d\t%s\n", s.Subject, s.Denied, reasons(s.Reasons))
	}
	p("\nAPI keys expiring\n")
	p("KEY ID\tSUBJECT\tEXPIRES\tDAYS LEFT\tLAST REPORTED\n")
	for _, k := range r.ExpiringKeys {
		p("%s\t%s\t%s\t%d\t%s\n", k.KeyID, orDash(k.Subject), stamp(k.Expires), k.DaysLeft, stamp(k.Seen))
	}
	p("\nThrottled addresses\n")
	p("CLIENT IP\tLOCKOUTS\tTHROTTLED\tRATE LIMITED\tREFUSED\n")
	for _, a := range r.Throttled {
		p("%s\t%d\t%d\t%d\t%d\n", a.ClientIP, a.Lockouts, a.Throttled, a.RateLimited, a.Total)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

// reasons lists reason counts as "a×3, b×1", most frequent first.
func reasons(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", orDash(k), m[k])
	}
	return strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

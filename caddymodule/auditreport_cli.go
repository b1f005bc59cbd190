package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/auditreport"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "audit",
		Short: "Summarises Portcullis audit logs",
		Long: `
'audit report' reads audit logs, the JSON lines Caddy writes for the
portcullis.audit logger (a log file may hold other loggers' lines too:
they are skipped and counted), and prints:

  - decisions by result and reason, and every event by kind and result;
  - the subjects denied most often, with their reasons;
  - the API keys reported as expiring (api_key_expiring events);
  - the client addresses refused most while locked out (after wrong
    keys or bad tokens) or by a rate limit, and how often each was
    locked out.

FILE may be - for standard input. --since limits the report to events
of the last duration (24h, 7d), as of --now (an RFC 3339 time; default:
the current time). --json prints the same report as one JSON object.`,
		CobraFunc: func(cmd *cobra.Command) {
			var o auditReportOptions
			report := &cobra.Command{
				Use:   "report [--since 24h] [--json] FILE…",
				Short: "Summarises audit logs as a table or JSON",
				Args:  cobra.MinimumNArgs(1),
				RunE: func(c *cobra.Command, files []string) error {
					return runAuditReport(o, time.Now(), files, c.InOrStdin(), c.OutOrStdout())
				},
			}
			report.Flags().StringVar(&o.since, "since", "", "only events of this last duration, e.g. 24h or 7d (default: all)")
			report.Flags().StringVar(&o.now, "now", "", "end of the --since window, an RFC 3339 time (default: now)")
			report.Flags().BoolVar(&o.json, "json", false, "print the report as JSON")
			report.Flags().IntVar(&o.top, "top", 10, "how many subjects and addresses to list")
			cmd.AddCommand(report)
		},
	})
}

// auditReportOptions are the flags of `audit report`.
type auditReportOptions struct {
	since, now string
	json       bool
	top        int
}

// runAuditReport reads files ("-" is in) and writes the report to out;
// now ends the window unless --now is given.
func runAuditReport(o auditReportOptions, now time.Time, files []string, in io.Reader, out io.Writer) error {
	opts := auditreport.Options{Now: now, Top: o.top}
	if o.since != "" {
		d, err := caddy.ParseDuration(o.since)
		if err != nil || d <= 0 {
			return fmt.Errorf("--since %q: want a positive duration such as 24h or 7d", o.since)
		}
		opts.Since = d
	}
	if o.now != "" {
		t, err := time.Parse(time.RFC3339, o.now)
		if err != nil {
			return fmt.Errorf("--now %q: want an RFC 3339 time such as 2030-01-02T15:04:05Z", o.now)
		}
		opts.Now = t
	}
	b, err := auditreport.NewBuilder(opts)
	if err != nil {
		return err
	}
	for _, name := range files {
		if err := readAuditFile(b, name, in); err != nil {
			return err
		}
	}
	r := b.Report()
	if o.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
		return nil
	}
	return auditreport.WriteTable(out, r)
}

// readAuditFile adds one file (or stdin for "-") to b.
func readAuditFile(b *auditreport.Builder, name string, in io.Reader) error {
	if name == "-" {
		if err := b.Read(in); err != nil {
			return fmt.Errorf("stdin: %w", err)
		}
		return nil
	}
	f, err := os.Open(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: no such file", name)
		}
		return fmt.Errorf("opening the audit log: %w", err)
	}
	defer f.Close()
	if err := b.Read(f); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// Package auditreport summarises an audit log: the JSON lines Caddy
// writes for the `portcullis.audit` logger. It counts decisions by
// result and reason, names the subjects denied most often, the API keys
// reported as expiring and the client addresses throttled or rate
// limited, over a window ending at an injectable now. Lines that are
// not audit events (other loggers, text, broken JSON) are skipped and
// counted. Plain Go: no Caddy, no zap.
package auditreport

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// LoggerName is the Caddy logger whose lines are audit events.
const LoggerName = "portcullis.audit"

// maxLine bounds one line; longer ones are skipped.
const maxLine = 1 << 20

// Options shape a report.
type Options struct {
	// Since is the length of the window that ends at Now; 0: every event.
	Since time.Duration
	// Now ends the window. Required when Since is set.
	Now time.Time
	// Top bounds the subjects and addresses listed; 0: 10.
	Top int
}

// line is the part of an audit line the report reads.
type line struct {
	Logger    string          `json:"logger"`
	TS        json.RawMessage `json:"ts"`
	Event     string          `json:"event"`
	Result    string          `json:"result"`
	Reason    string          `json:"reason"`
	Subject   string          `json:"subject"`
	Issuer    string          `json:"issuer"`
	KeyID     string          `json:"key_id"`
	ClientIP  string          `json:"client_ip"`
	Zone      string          `json:"zone"`
	Expires   json.RawMessage `json:"expires"`
	DaysLeft  *int            `json:"days_left"`
	AuthMeth  string          `json:"auth_method"`
	RequestID string          `json:"request_id"`
}

// Builder reads audit logs into a Report.
type Builder struct {
	o    Options
	from time.Time
	tally
}

// NewBuilder returns a builder for o.
func NewBuilder(o Options) (*Builder, error) {
	if o.Since < 0 {
		return nil, errors.New("auditreport: --since must not be negative")
	}
	if o.Since > 0 && o.Now.IsZero() {
		return nil, errors.New("auditreport: a window needs its end (now)")
	}
	if o.Top <= 0 {
		o.Top = 10
	}
	b := &Builder{o: o, tally: newTally()}
	if o.Since > 0 {
		b.from = o.Now.Add(-o.Since)
	}
	return b, nil
}

// Read adds the lines of r. It fails only when r does.
func (b *Builder) Read(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if !tooLong {
				buf = append(buf, chunk...)
				if len(buf) > maxLine {
					tooLong, buf = true, buf[:0]
				}
			}
			continue
		case err != nil && !errors.Is(err, io.EOF):
			return fmt.Errorf("reading the audit log: %w", err)
		}
		if tooLong {
			b.lines++
			b.skipped++
		} else {
			buf = append(buf, chunk...)
			if len(bytes.TrimSpace(buf)) > 0 {
				b.add(buf)
			}
		}
		buf, tooLong = buf[:0], false
		if err != nil { // io.EOF
			return nil
		}
	}
}

// add reads one line.
func (b *Builder) add(raw []byte) {
	b.lines++
	var l line
	if err := json.Unmarshal(raw, &l); err != nil || l.Event == "" || l.Result == "" ||
		(l.Logger != "" && l.Logger != LoggerName) {
		b.skipped++
		return
	}
	at, dated := parseTime(l.TS)
	if b.o.Since > 0 {
		if !dated {
			b.undated++
			return
		}
		if at.Before(b.from) || at.After(b.o.Now) {
			b.outside++
			return
		}
	}
	b.count(l, at)
}

// parseTime reads a Caddy log time: a number of Unix seconds (Caddy's
// default; also milli-, micro- and nanoseconds, told apart by size) or
// a string in RFC 3339, ISO 8601 or Caddy's wall formats.
func parseTime(raw json.RawMessage) (time.Time, bool) {
	if len(raw) == 0 {
		return time.Time{}, false
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err == nil {
		for f > 1e11 { // beyond year 5138 in seconds: a finer unit
			f /= 1000
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z0700", "2006/01/02 15:04:05.000", "2006/01/02 15:04:05", time.RFC1123Z} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

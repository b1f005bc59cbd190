package caddymodule

import (
	"errors"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/logbatch"
)

// UnmarshalCaddyfile reads
//
//	output portcullis_buffered {
//		flush_interval <duration>
//		max_size <size: bytes, or with KiB, MiB, KB, MB>
//		output <writer module> [<its arguments and block>]
//	}
//
// The bounds are checked here too, so that `caddy validate` names the
// line of a value out of range.
func (bw *BufferedWriter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "flush_interval":
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil {
				return d.Errf("flush_interval %q: %v", d.Val(), err)
			}
			if dur <= 0 || dur > logbatch.MaxFlushInterval {
				return d.Errf("flush_interval %s: must be above 0 and at most %s", d.Val(), logbatch.MaxFlushInterval)
			}
			bw.FlushInterval = caddy.Duration(dur)
		case "max_size":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := parseByteSize(d.Val())
			if err != nil {
				return d.Errf("max_size %q: %v", d.Val(), err)
			}
			if n < logbatch.MinMaxSize || n > logbatch.MaxMaxSize {
				return d.Errf("max_size %s: must be between 1KiB and 64MiB", d.Val())
			}
			bw.MaxSize = n
		case "output":
			if !d.NextArg() {
				return d.ArgErr()
			}
			name := d.Val()
			var wo caddy.WriterOpener
			switch name {
			case "stdout":
				wo = caddy.StdoutWriter{}
			case "stderr":
				wo = caddy.StderrWriter{}
			case "discard":
				wo = caddy.DiscardWriter{}
			case "portcullis_buffered":
				return d.Errf("output portcullis_buffered inside portcullis_buffered batches twice; name the writer the batches go to")
			default:
				unm, err := caddyfile.UnmarshalModule(d, "caddy.logging.writers."+name)
				if err != nil {
					return err
				}
				var ok bool
				if wo, ok = unm.(caddy.WriterOpener); !ok {
					return d.Errf("module %s is not a log writer", name)
				}
			}
			bw.WriterRaw = caddyconfig.JSONModuleObject(wo, "output", name, nil)
		default:
			return d.Errf("unrecognized subdirective %q", d.Val())
		}
	}
	return nil
}

// byteUnits are the size suffixes max_size accepts.
var byteUnits = []struct {
	suffix string
	factor int
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"KB", 1000}, {"MB", 1000 * 1000}, {"B", 1}}

// parseByteSize reads a size such as 65536, 64KiB or 1MB.
func parseByteSize(s string) (int, error) {
	factor := 1
	num := s
	for _, u := range byteUnits {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			num, factor = v, u.factor
			break
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n < 0 || n > (1<<40)/factor {
		return 0, errBadSize
	}
	return n * factor, nil
}

// errBadSize explains what a size looks like.
var errBadSize = errors.New("not a size: write a number of bytes, optionally with KiB, MiB, KB or MB")

// Interface guard
var _ caddyfile.Unmarshaler = (*BufferedWriter)(nil)

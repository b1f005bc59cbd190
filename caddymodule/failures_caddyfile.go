package caddymodule

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
)

// unmarshal reads the global option's failures block:
//
//	failures {
//		limit <count>/<period>
//		lockout <duration>
//		progressive [max <duration>]
//		shared
//	}
//
// Each line is checked as it is read, and the block as a whole at its
// first line.
func (c *FailuresConfig) unmarshal(d *caddyfile.Dispenser) error {
	at := errAtStart(d)
	if d.NextArg() {
		return d.Err("failures takes a block, e.g. `failures { limit 20/1m; lockout 1m; progressive max 1h; shared }`")
	}
	err := readBlock(d, 1, func() error {
		switch d.Val() {
		case "limit":
			if err := stringArg(d, &c.Limit); err != nil {
				return err
			}
			if _, err := ratelimit.ParseRate(c.Limit); err != nil {
				return d.Errf("failures: limit %q must look like 20/1m (failures per period)", c.Limit)
			}
		case "lockout":
			v, err := durationArg(d)
			if err != nil {
				return err
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			if time.Duration(v) < time.Second {
				return d.Err("failures: lockout must be at least 1s")
			}
			c.Lockout = v
		case "progressive":
			c.Progressive = true
			if !d.NextArg() {
				return nil
			}
			if d.Val() != "max" {
				return d.Errf("failures: progressive takes `max <duration>`, not %q", d.Val())
			}
			v, err := durationArg(d)
			if err != nil {
				return err
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			c.MaxLockout = caddy.Duration(v)
		case "shared":
			if d.NextArg() {
				return d.ArgErr()
			}
			c.Shared = true
		default:
			return d.Errf("unrecognized failures subdirective %q (want limit, lockout, progressive or shared)", d.Val())
		}
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := c.policy(); err != nil {
		return at(err)
	}
	return nil
}

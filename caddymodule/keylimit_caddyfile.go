package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/apikey"
)

// unmarshalRateLimit reads a static key's `rate_limit <count>/<period>
// [burst <n>]` line and checks it there.
func (k *APIKeyConfig) unmarshalRateLimit(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.Err("rate_limit needs a rate, e.g. `rate_limit 100/1m burst 20`")
	}
	k.RateLimit = d.Val()
	if d.NextArg() {
		if d.Val() != "burst" {
			return d.Errf("api key %s: rate_limit: unrecognized argument %q (want burst <n>)", k.ID, d.Val())
		}
		n, err := intArg(d)
		if err != nil {
			return err
		}
		k.Burst = n
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	if _, err := apikey.OwnQuota(k.RateLimit, k.Burst); err != nil {
		return d.Errf("api key %s: rate_limit: %v", k.ID, err)
	}
	return nil
}

package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/alert"
)

// unmarshalAlert reads `alert webhook <url> { events <name…>; secret
// <secret>; source <uri>; batch_size <n>; flush_interval <d>;
// queue_size <n>; max_retries <n>; timeout <d>; shutdown_timeout <d> }`.
func (a *App) unmarshalAlert(d *caddyfile.Dispenser) error {
	at := errAtStart(d)
	var kind string
	var c AlertConfig
	if !d.Args(&kind, &c.Webhook) || kind != "webhook" {
		return d.Err("alert needs the form `alert webhook <url> { events …; secret … }`")
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	err := readBlock(d, 1, func() error {
		var err error
		switch d.Val() {
		case "events":
			c.Events = append(c.Events, d.RemainingArgs()...)
			if len(c.Events) == 0 {
				return d.ArgErr()
			}
			if _, err := alert.ParseSet(c.Events); err != nil {
				return d.Errf("alert webhook: %v", err)
			}
		case "secret":
			if err := stringArg(d, &c.Secret); err != nil {
				return err
			}
			if _, err := alertKeys(c.Secret); err != nil {
				return d.Err(err.Error())
			}
		case "source":
			err = stringArg(d, &c.Source)
		case "batch_size":
			c.BatchSize, err = intArg(d)
		case "flush_interval":
			c.FlushInterval, err = durationArg(d)
		case "queue_size":
			c.QueueSize, err = intArg(d)
		case "max_retries":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n < -1 {
				return d.Errf("max_retries %q: want -1 (never) or a count", d.Val())
			}
			c.MaxRetries = n
		case "timeout":
			c.Timeout, err = durationArg(d)
		case "shutdown_timeout":
			c.ShutdownTimeout, err = durationArg(d)
		default:
			return d.Errf("unrecognized alert webhook subdirective %q", d.Val())
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return at(err)
	}
	a.Alerts = append(a.Alerts, c)
	return nil
}

package providercheck

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// checkRedis PINGs one Redis deployment (every master of a cluster) and
// compares the round trip with the gateway's request timeout.
func checkRedis(ctx context.Context, r Redis, timeout time.Duration) []Result {
	name := r.Name
	if name == "" {
		name = describeRedis(r.Config)
	}
	rs := &results{component: "store " + name}
	rc := r.Config
	requestTimeout := rc.ReadTimeout
	if requestTimeout == 0 {
		requestTimeout = store.DefaultReadTimeout
	}
	// The check waits as long as a person would, not as long as a request.
	rc.DialTimeout = max(rc.DialTimeout, timeout)
	rc.ReadTimeout = max(rc.ReadTimeout, timeout)
	rc.WriteTimeout = max(rc.WriteTimeout, timeout)
	st, err := store.NewRedis(rc)
	if err != nil {
		rs.fail("config", "%v", err)
		return rs.list
	}
	defer st.Close()
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	if err := st.Ping(pctx); err != nil {
		rs.fail("ping", "Redis does not answer: %v%s", err, redisHint(err))
		return rs.list
	}
	// A second PING measures the round trip on the open connection
	// (the first one included dialling, and TLS and AUTH if any).
	first := time.Since(start)
	start = time.Now()
	rtt := first
	if err := st.Ping(pctx); err == nil {
		rtt = time.Since(start)
	}
	if rtt > requestTimeout {
		rs.warn("ping", "PONG in %v from this host, more than the gateway's %v Redis timeout: requests from a gateway this far from Redis would fail (raise the store's timeout or move closer)", round(rtt), requestTimeout)
		return rs.list
	}
	rs.ok("ping", "PONG in %v (connect, then PING)", round(first))
	return rs.list
}

// redisHint adds a likely fix to common PING failures.
func redisHint(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "connection refused"):
		return " (nothing listens there: is Redis running, and are the host and port right?)"
	case strings.Contains(s, "NOAUTH"), strings.Contains(s, "WRONGPASS"), strings.Contains(s, "invalid password"), strings.Contains(s, "without any password configured"):
		return " (check the store's username and password)"
	case strings.Contains(s, "no such host"):
		return " (the host name does not resolve)"
	case strings.Contains(s, "deadline exceeded"), strings.Contains(s, "i/o timeout"):
		return " (no answer in time: a firewall, or the wrong host?)"
	}
	return ""
}

// describeRedis names a deployment without credentials.
func describeRedis(c store.RedisConfig) string {
	var where string
	switch {
	case c.URL != "":
		where = stripUserinfo(c.URL)
	default:
		where = strings.Join(c.Addrs, ",")
	}
	switch {
	case c.MasterName != "":
		return fmt.Sprintf("sentinel %s master %s", where, c.MasterName)
	case c.Cluster:
		return "cluster " + where
	}
	return where
}

// stripUserinfo removes the user and password from a URL; a URL that
// does not parse is named by its scheme only.
func stripUserinfo(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		scheme, _, _ := strings.Cut(raw, ":")
		return scheme + "://(unparsable URL)"
	}
	u.User = nil
	return u.String()
}

// urlPassword returns the password of a URL's userinfo, or "".
func urlPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return ""
	}
	p, _ := u.User.Password()
	return p
}

// round makes a duration readable.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

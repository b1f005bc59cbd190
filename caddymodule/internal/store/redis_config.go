package store

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults applied by NewRedis when the configuration (and its URL) leaves a
// setting unset. The read and write timeouts are short on purpose: a slow or
// stalled Redis must fail a request quickly instead of stalling it.
const (
	// DefaultDialTimeout bounds establishing one connection.
	DefaultDialTimeout = time.Second
	// DefaultReadTimeout bounds waiting for one reply.
	DefaultReadTimeout = 50 * time.Millisecond
	// DefaultWriteTimeout bounds sending one command.
	DefaultWriteTimeout = 50 * time.Millisecond
)

// Fixed client behaviour (not configurable unless through URL query
// parameters): a command that fails on the network is retried once after a
// short backoff (except GetDel and SetNX, which are never retried, since the
// first attempt may have taken effect), a failed dial is not retried within
// an attempt, and context deadlines are honoured.
const (
	redisMaxRetries      = 1
	redisMinRetryBackoff = 8 * time.Millisecond
	redisMaxRetryBackoff = 64 * time.Millisecond
	redisDialerRetries   = 1
)

// RedisConfig says how to reach Redis. Give either URL or Addrs.
//
// Modes:
//   - standalone (default): URL "redis://[user:password@]host[:port][/db]"
//     (port 6379 by default; query parameters as in redis.ParseURL), or
//     Addrs with exactly one "host:port";
//   - Cluster true: URL "redis://[user:password@]host:port?addr=host2:port2&addr=..."
//     (as in redis.ParseClusterURL: the host and every addr are seed nodes,
//     the path must be empty or "/0"), or Addrs listing seed nodes;
//   - MasterName set (Sentinel): Addrs lists the Sentinels, which are asked
//     for the master named MasterName; Username/Password authenticate to the
//     master (Sentinels are reached without authentication). URL is not
//     supported with Sentinel.
//
// Several Addrs without Cluster or MasterName are refused rather than
// guessed. A "rediss://" URL or a non-nil TLS turns TLS on.
//
// Fields set here take precedence over the same setting in the URL
// (userinfo, path database, query parameters); timeouts left zero come
// from the URL or else the defaults.
type RedisConfig struct {
	// URL is a "redis://" or "rediss://" URL; see the type's doc.
	URL string
	// Addrs are "host:port" addresses: one server, cluster seed nodes or
	// Sentinels depending on the mode.
	Addrs []string
	// MasterName selects Sentinel mode: the name of the monitored master.
	MasterName string
	// Cluster selects Redis Cluster mode.
	Cluster bool
	// Username is the ACL user (Redis 6+); empty means "default".
	Username string
	// Password authenticates the connection (AUTH); empty means none. It
	// never appears in errors or in Fingerprint.
	Password string
	// DB is the database number (standalone and Sentinel only; must be 0
	// for Cluster). Default 0.
	DB int
	// TLS, if non-nil, is the TLS client configuration (cloned, never
	// modified) and turns TLS on even for a "redis://" URL. For "rediss://"
	// without TLS, a configuration verifying the URL's host is used.
	TLS *tls.Config
	// DialTimeout bounds establishing a connection. Default
	// DefaultDialTimeout (1s); negative is invalid.
	DialTimeout time.Duration
	// ReadTimeout bounds waiting for a reply. Default DefaultReadTimeout
	// (50ms); negative is invalid.
	ReadTimeout time.Duration
	// WriteTimeout bounds sending a command. Default DefaultWriteTimeout
	// (50ms); negative is invalid.
	WriteTimeout time.Duration
	// PoolSize is the maximum number of connections per server. Default
	// (0): go-redis's default of 10 per GOMAXPROCS; negative is invalid.
	PoolSize int
}

// redisMode is the kind of deployment a RedisConfig addresses.
type redisMode int

const (
	modeStandalone redisMode = iota
	modeCluster
	modeSentinel
)

func (c RedisConfig) mode() redisMode {
	switch {
	case c.MasterName != "":
		return modeSentinel
	case c.Cluster:
		return modeCluster
	default:
		return modeStandalone
	}
}

// validate checks the configuration without network I/O and returns the
// parsed URL (nil without one).
func (c RedisConfig) validate() (*url.URL, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	var u *url.URL
	switch {
	case c.URL == "" && len(c.Addrs) == 0:
		bad("set url or addrs")
	case c.URL != "" && len(c.Addrs) > 0:
		bad("set url or addrs, not both")
	case c.URL != "":
		var err error
		if u, err = parseRedisURL(c.URL); err != nil {
			errs = append(errs, err)
		}
	}
	for _, a := range c.Addrs {
		if err := checkAddr(a); err != nil {
			errs = append(errs, err)
		}
	}
	switch c.mode() {
	case modeSentinel:
		if c.Cluster {
			bad("master name (Sentinel) and cluster are exclusive")
		}
		if c.URL != "" {
			bad("Sentinel needs addrs (the Sentinels), not a url")
		}
	case modeCluster:
		if c.DB != 0 {
			bad("cluster has only database 0 (got db %d)", c.DB)
		}
		if u != nil && u.Path != "" && u.Path != "/" && u.Path != "/0" {
			bad("cluster url must not select a database (path %q)", u.Path)
		}
	case modeStandalone:
		if len(c.Addrs) > 1 {
			bad("%d addrs need cluster or master name (Sentinel); a standalone server has one", len(c.Addrs))
		}
		if u != nil && u.Query().Has("addr") {
			bad("url addr parameters need cluster mode")
		}
	}
	if c.DB < 0 {
		bad("db must not be negative (got %d)", c.DB)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"dial timeout", c.DialTimeout}, {"read timeout", c.ReadTimeout}, {"write timeout", c.WriteTimeout}} {
		if d.v < 0 {
			bad("%s must not be negative (got %v)", d.name, d.v)
		}
	}
	if c.PoolSize < 0 {
		bad("pool size must not be negative (got %d)", c.PoolSize)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("store: invalid redis config: %w", err)
	}
	return u, nil
}

// parseRedisURL parses a redis URL without ever echoing it (it may hold a
// password) and checks its scheme.
func parseRedisURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		var esc url.EscapeError
		switch {
		case errors.As(err, &esc):
			// The bad escape may be part of the password: do not quote it.
			return nil, errors.New("url has an invalid %-escape (percent-encode special characters in the password)")
		case errors.As(err, &ue):
			return nil, fmt.Errorf("url does not parse: %v", ue.Err)
		default:
			return nil, errors.New("url does not parse")
		}
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("url scheme must be redis or rediss (got %q)", u.Scheme)
	}
	return u, nil
}

// checkAddr checks one "host:port" address.
func checkAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return fmt.Errorf("addr %q is not host:port", a)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("addr %q has an invalid port", a)
	}
	return nil
}

// secrets returns the strings that must never appear in an error: the
// configured password and the URL's, raw and escaped.
func (c RedisConfig) secrets(u *url.URL) []string {
	var s []string
	add := func(p string) {
		if p != "" {
			s = append(s, p, url.QueryEscape(p), url.PathEscape(p))
		}
	}
	add(c.Password)
	if u != nil && u.User != nil {
		p, _ := u.User.Password()
		add(p)
	}
	return s
}

// tunables points at the settings shared by go-redis's option structs, so
// one function can apply the configuration to any of them.
type tunables struct {
	username, password                     *string
	tlsConfig                              **tls.Config
	dialTimeout, readTimeout, writeTimeout *time.Duration
	poolSize, maxRetries, dialerRetries    *int
	minRetryBackoff, maxRetryBackoff       *time.Duration
	contextTimeoutEnabled                  *bool
}

// apply sets explicit fields, then fills what is still unset with defaults.
func (c RedisConfig) apply(t tunables) {
	if c.Username != "" {
		*t.username = c.Username
	}
	if c.Password != "" {
		*t.password = c.Password
	}
	if c.TLS != nil {
		*t.tlsConfig = c.TLS.Clone()
	}
	for _, d := range []struct {
		dst      *time.Duration
		set, def time.Duration
	}{
		{t.dialTimeout, c.DialTimeout, DefaultDialTimeout},
		{t.readTimeout, c.ReadTimeout, DefaultReadTimeout},
		{t.writeTimeout, c.WriteTimeout, DefaultWriteTimeout},
		{t.minRetryBackoff, 0, redisMinRetryBackoff},
		{t.maxRetryBackoff, 0, redisMaxRetryBackoff},
	} {
		switch {
		case d.set != 0:
			*d.dst = d.set
		case *d.dst == 0:
			*d.dst = d.def
		}
	}
	if c.PoolSize != 0 {
		*t.poolSize = c.PoolSize
	}
	if *t.maxRetries == 0 {
		*t.maxRetries = redisMaxRetries
	}
	if *t.dialerRetries == 0 {
		*t.dialerRetries = redisDialerRetries
	}
	*t.contextTimeoutEnabled = true
}

// newClient builds the go-redis client for a validated configuration. It
// does no network I/O: go-redis connects on first use.
func (c RedisConfig) newClient(u *url.URL) (redis.UniversalClient, error) {
	switch c.mode() {
	case modeCluster:
		o := &redis.ClusterOptions{Addrs: c.Addrs}
		if u != nil {
			var err error
			if o, err = redis.ParseClusterURL(c.URL); err != nil {
				return nil, err
			}
		}
		c.apply(tunables{&o.Username, &o.Password, &o.TLSConfig,
			&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout,
			&o.PoolSize, &o.MaxRetries, &o.DialerRetries,
			&o.MinRetryBackoff, &o.MaxRetryBackoff, &o.ContextTimeoutEnabled})
		return redis.NewClusterClient(o), nil
	case modeSentinel:
		o := &redis.FailoverOptions{MasterName: c.MasterName, SentinelAddrs: c.Addrs, DB: c.DB}
		c.apply(tunables{&o.Username, &o.Password, &o.TLSConfig,
			&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout,
			&o.PoolSize, &o.MaxRetries, &o.DialerRetries,
			&o.MinRetryBackoff, &o.MaxRetryBackoff, &o.ContextTimeoutEnabled})
		return redis.NewFailoverClient(o), nil
	default:
		o := &redis.Options{}
		if u != nil {
			var err error
			if o, err = redis.ParseURL(c.URL); err != nil {
				return nil, err
			}
		} else {
			o.Addr = c.Addrs[0]
		}
		if c.DB != 0 {
			o.DB = c.DB
		}
		c.apply(tunables{&o.Username, &o.Password, &o.TLSConfig,
			&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout,
			&o.PoolSize, &o.MaxRetries, &o.DialerRetries,
			&o.MinRetryBackoff, &o.MaxRetryBackoff, &o.ContextTimeoutEnabled})
		return redis.NewClient(o), nil
	}
}

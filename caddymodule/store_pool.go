package caddymodule

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// storePool shares stores across config reloads: a reload whose store
// configuration is unchanged gets the same Redis client or the same
// in-memory state, keyed by a fingerprint of the configuration.
var storePool = caddy.NewUsagePool()

// pooledStore lets the pool close a store when its last user is gone.
type pooledStore struct{ store.Store }

// Destruct closes the store.
func (p pooledStore) Destruct() error { return p.Close() }

// memoryFingerprint is the pool key of the in-memory store.
const memoryFingerprint = "memory"

func storeKind(c *StoreConfig) string {
	if c == nil || (c.URL == "" && len(c.Addresses) == 0) {
		return "memory"
	}
	return "redis"
}

// acquireStore returns the pooled store for c and its pool key.
func acquireStore(c *StoreConfig) (store.Store, string, error) {
	if storeKind(c) == "memory" {
		v, _, err := storePool.LoadOrNew(memoryFingerprint, func() (caddy.Destructor, error) {
			m, err := store.NewMemory(store.MemoryOptions{})
			if err != nil {
				return nil, err
			}
			return pooledStore{m}, nil
		})
		if err != nil {
			return nil, "", fmt.Errorf("creating in-memory store: %w", err)
		}
		return v.(pooledStore).Store, memoryFingerprint, nil
	}
	rc, err := c.redisConfig()
	if err != nil {
		return nil, "", err
	}
	key := "redis:" + rc.Fingerprint()
	v, _, err := storePool.LoadOrNew(key, func() (caddy.Destructor, error) {
		r, err := store.NewRedis(rc)
		if err != nil {
			return nil, err
		}
		return pooledStore{r}, nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("store: %w", err)
	}
	return v.(pooledStore).Store, key, nil
}

// redisConfig resolves secrets and builds the Redis client settings. No
// network I/O happens here.
func (c *StoreConfig) redisConfig() (store.RedisConfig, error) {
	rc := store.RedisConfig{
		URL:          c.URL,
		Addrs:        c.Addresses,
		Cluster:      c.Cluster,
		MasterName:   c.MasterName,
		DB:           c.DB,
		DialTimeout:  time.Duration(c.DialTimeout),
		ReadTimeout:  time.Duration(c.Timeout),
		WriteTimeout: time.Duration(c.Timeout),
		PoolSize:     c.PoolSize,
	}
	if c.URL != "" && len(c.Addresses) > 0 {
		return rc, fmt.Errorf("store: set either a URL or addresses, not both")
	}
	var err error
	if c.Username != "" {
		if rc.Username, err = resolveSecret("store: username", c.Username); err != nil {
			return rc, err
		}
	}
	if c.Password != "" {
		if rc.Password, err = resolveSecret("store: password", c.Password); err != nil {
			return rc, err
		}
	}
	if c.TLS || c.TLSCAFile != "" || c.TLSServerName != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLSServerName}
		if c.TLSCAFile != "" {
			pem, err := os.ReadFile(c.TLSCAFile)
			if err != nil {
				return rc, fmt.Errorf("store: reading tls_ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return rc, fmt.Errorf("store: tls_ca_file %s holds no PEM certificate", c.TLSCAFile)
			}
			tc.RootCAs = pool
		}
		rc.TLS = tc
	}
	if c.DialTimeout < 0 || c.Timeout < 0 || c.PoolSize < 0 || c.DB < 0 {
		return rc, fmt.Errorf("store: timeouts, pool_size and db must not be negative")
	}
	return rc, nil
}

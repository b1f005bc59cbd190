package store_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// fullConfig returns a RedisConfig with every field set.
func fullConfig() store.RedisConfig {
	return store.RedisConfig{
		URL:          "redis://u:pw@h:1/0",
		Addrs:        []string{"a:1", "b:2"},
		MasterName:   "m",
		Cluster:      true,
		Username:     "user",
		Password:     "hunter2-password",
		DB:           1,
		TLS:          &tls.Config{ServerName: "h", MinVersion: tls.VersionTLS12},
		DialTimeout:  time.Second,
		ReadTimeout:  50 * time.Millisecond,
		WriteTimeout: 60 * time.Millisecond,
		PoolSize:     10,
	}
}

func TestRedisConfigFingerprint(t *testing.T) {
	t.Parallel()
	base := fullConfig()
	fp := base.Fingerprint()
	if len(fp) != 64 {
		t.Fatalf("Fingerprint() = %q, want 64 hex digits", fp)
	}
	if _, err := hex.DecodeString(fp); err != nil {
		t.Fatalf("Fingerprint() = %q is not hex: %v", fp, err)
	}
	if strings.Contains(fp, base.Password) || strings.Contains(fp, "hunter2") {
		t.Fatal("fingerprint contains the password")
	}

	same := fullConfig()
	same.TLS = base.TLS.Clone()
	same.Addrs = append([]string(nil), base.Addrs...)
	if got := same.Fingerprint(); got != fp {
		t.Errorf("equal configs: fingerprints %s and %s differ", got, fp)
	}
	if base.Fingerprint() != fp {
		t.Error("fingerprint is not stable across calls")
	}

	cert := testCert(t)
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	fn := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return nil, nil }

	// Field names each mutation changes, checked against the struct below so
	// a new RedisConfig field cannot be forgotten in Fingerprint.
	mutations := []struct {
		field  string
		mutate func(c *store.RedisConfig)
	}{
		{"URL", func(c *store.RedisConfig) { c.URL = "redis://u:pw@h:2/0" }},
		{"URL", func(c *store.RedisConfig) { c.URL = "" }},
		{"Addrs", func(c *store.RedisConfig) { c.Addrs = []string{"a:1"} }},
		{"Addrs", func(c *store.RedisConfig) { c.Addrs = []string{"b:2", "a:1"} }},
		{"Addrs", func(c *store.RedisConfig) { c.Addrs = []string{"a:1b:2"} }},
		{"Addrs", func(c *store.RedisConfig) { c.Addrs = nil }},
		{"MasterName", func(c *store.RedisConfig) { c.MasterName = "other" }},
		{"Cluster", func(c *store.RedisConfig) { c.Cluster = false }},
		{"Username", func(c *store.RedisConfig) { c.Username = "" }},
		{"Username", func(c *store.RedisConfig) { c.Username, c.Password = "userhunter2-password", "" }},
		{"Password", func(c *store.RedisConfig) { c.Password = "hunter3-password" }},
		{"Password", func(c *store.RedisConfig) { c.Password = "" }},
		{"DB", func(c *store.RedisConfig) { c.DB = 2 }},
		{"TLS", func(c *store.RedisConfig) { c.TLS = nil }},
		{"TLS", func(c *store.RedisConfig) { c.TLS = &tls.Config{} }},
		{"TLS", func(c *store.RedisConfig) { c.TLS.ServerName = "other" }},
		{"TLS", func(c *store.RedisConfig) { c.TLS.InsecureSkipVerify = true }},
		{"TLS", func(c *store.RedisConfig) { c.TLS.MinVersion = tls.VersionTLS13 }},
		{"TLS", func(c *store.RedisConfig) { c.TLS.MaxVersion = tls.VersionTLS13 }},
		{"TLS", func(c *store.RedisConfig) { c.TLS.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256} }},
		{"TLS", func(c *store.RedisConfig) { c.TLS.CurvePreferences = []tls.CurveID{tls.X25519} }},
		{"TLS", func(c *store.RedisConfig) { c.TLS.NextProtos = []string{"resp3"} }},
		{"TLS", func(c *store.RedisConfig) { c.TLS.Certificates = []tls.Certificate{cert} }},
		{"TLS", func(c *store.RedisConfig) { c.TLS.RootCAs = pool }},
		{"TLS", func(c *store.RedisConfig) { c.TLS.GetClientCertificate = fn }},
		{"DialTimeout", func(c *store.RedisConfig) { c.DialTimeout = 2 * time.Second }},
		{"ReadTimeout", func(c *store.RedisConfig) { c.ReadTimeout = 0 }},
		{"WriteTimeout", func(c *store.RedisConfig) { c.WriteTimeout = 50 * time.Millisecond }},
		{"PoolSize", func(c *store.RedisConfig) { c.PoolSize = 11 }},
	}
	covered := map[string]bool{}
	seen := map[string]string{fp: "base"}
	for i, m := range mutations {
		c := fullConfig()
		c.TLS = c.TLS.Clone()
		m.mutate(&c)
		got := c.Fingerprint()
		if prev, dup := seen[got]; dup {
			t.Errorf("mutation %d (%s) gives the same fingerprint as %s", i, m.field, prev)
		}
		seen[got] = m.field
		covered[m.field] = true
	}
	typ := reflect.TypeFor[store.RedisConfig]()
	for i := range typ.NumField() {
		if name := typ.Field(i).Name; !covered[name] {
			t.Errorf("RedisConfig.%s: no mutation checks that it changes the fingerprint", name)
		}
	}
}

func TestMemoryOptionsFingerprint(t *testing.T) {
	t.Parallel()
	base := store.MemoryOptions{SweepInterval: time.Second, MaxEntries: 10}
	if base.Fingerprint() != (store.MemoryOptions{SweepInterval: time.Second, MaxEntries: 10}).Fingerprint() {
		t.Fatal("equal options: fingerprints differ")
	}
	tests := []struct {
		name string
		opts store.MemoryOptions
	}{
		{"Now", store.MemoryOptions{Now: time.Now, SweepInterval: time.Second, MaxEntries: 10}},
		{"SweepInterval", store.MemoryOptions{SweepInterval: 2 * time.Second, MaxEntries: 10}},
		{"MaxEntries", store.MemoryOptions{SweepInterval: time.Second, MaxEntries: 11}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.opts.Fingerprint() == base.Fingerprint() {
				t.Errorf("changing %s does not change the fingerprint", tc.name)
			}
		})
	}
	if (store.MemoryOptions{}).Fingerprint() == (store.RedisConfig{}).Fingerprint() {
		t.Error("zero MemoryOptions and zero RedisConfig share a fingerprint")
	}
}

// testCert returns a throwaway self-signed certificate with Leaf set.
func testCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "redis-client"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

package store

import (
	"crypto/tls"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/fingerprint"
)

// Fingerprint returns a hex string identifying the configuration within
// this process: equal configurations give equal fingerprints and a change
// to any field gives a different one, so a caller can keep one Redis per
// fingerprint and reuse it across Caddy config reloads. No normalisation is
// done (a zero timeout and the explicit default differ). The password only
// enters a keyed hash, never appears in clear and cannot be recovered. Of
// TLS, the fields that affect a client are included (server name,
// verification, versions, suites, curves, ALPN, client certificates, root
// CAs); callback fields count only as set or unset.
func (c RedisConfig) Fingerprint() string {
	f := fingerprint.New("redis/v1")
	f.Str(c.URL)
	f.Int(int64(len(c.Addrs)))
	for _, a := range c.Addrs {
		f.Str(a)
	}
	f.Str(c.MasterName)
	f.Bool(c.Cluster)
	f.Str(c.Username)
	f.Str(c.Password)
	f.Int(int64(c.DB))
	fpTLS(f, c.TLS)
	f.Dur(c.DialTimeout)
	f.Dur(c.ReadTimeout)
	f.Dur(c.WriteTimeout)
	f.Int(int64(c.PoolSize))
	return f.Sum()
}

// Fingerprint returns a hex string identifying the options within this
// process, like RedisConfig.Fingerprint. A custom Now clock counts only as
// set or unset: functions cannot be compared.
func (o MemoryOptions) Fingerprint() string {
	f := fingerprint.New("memory/v1")
	f.Bool(o.Now != nil)
	f.Dur(o.SweepInterval)
	f.Int(int64(o.MaxEntries))
	return f.Sum()
}

func fpUint16s(f *fingerprint.Hasher, vs []uint16) {
	f.Int(int64(len(vs)))
	for _, v := range vs {
		f.Int(int64(v))
	}
}

// tls encodes the parts of a client TLS configuration that change how the
// client connects.
func fpTLS(f *fingerprint.Hasher, c *tls.Config) {
	f.Bool(c != nil)
	if c == nil {
		return
	}
	f.Str(c.ServerName)
	f.Bool(c.InsecureSkipVerify)
	f.Int(int64(c.MinVersion))
	f.Int(int64(c.MaxVersion))
	fpUint16s(f, c.CipherSuites)
	curves := make([]uint16, len(c.CurvePreferences))
	for i, cv := range c.CurvePreferences {
		curves[i] = uint16(cv)
	}
	fpUint16s(f, curves)
	f.Strs(c.NextProtos)
	f.Int(int64(len(c.Certificates)))
	for _, cert := range c.Certificates {
		f.Int(int64(len(cert.Certificate)))
		for _, der := range cert.Certificate {
			f.Bytes(der)
		}
	}
	f.Bool(c.RootCAs != nil)
	if c.RootCAs != nil {
		// Subjects is deprecated only because it omits system roots; a pool
		// configured for Redis is built from explicit certificates.
		subjects := c.RootCAs.Subjects() //nolint:staticcheck // see above
		f.Int(int64(len(subjects)))
		for _, s := range subjects {
			f.Bytes(s)
		}
	}
	f.Bool(c.GetClientCertificate != nil)
	f.Bool(c.VerifyPeerCertificate != nil)
	f.Bool(c.VerifyConnection != nil)
	f.Int(int64(c.Renegotiation))
}

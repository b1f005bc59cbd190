package jwtauth

import (
	"encoding/json"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/fingerprint"
)

// Fingerprint returns a hex string identifying the configuration within
// this process: configurations that behave the same after defaults are
// applied give equal fingerprints, and a change to any field gives a
// different one. The shared secret only enters a keyed hash and cannot be
// recovered. Audiences, algorithms and group claims are compared in order.
func (c Config) Fingerprint() string {
	f := fingerprint.New("jwtauth/config/v1")
	fpConfig(f, c.withDefaults())
	return f.Sum()
}

// Fingerprint returns a hex string identifying the options and all their
// issuers within this process, like Config.Fingerprint: the adapter keeps
// one Verifier (and its key and token caches) per fingerprint across Caddy
// config reloads. Function and client fields count only as set or unset:
// they cannot be compared, so they must not capture per-config state.
func (o Options) Fingerprint() string {
	f := fingerprint.New("jwtauth/options/v1")
	setHTTP, setNow, setFetch, setAfter := o.HTTPClient != nil, o.Now != nil, o.OnFetch != nil, o.After != nil
	d := o.withDefaults()
	f.Int(int64(len(d.Issuers)))
	for _, c := range d.Issuers {
		fpConfig(f, c)
	}
	f.Bool(setHTTP)
	f.Bool(setNow)
	f.Bool(setFetch)
	f.Bool(setAfter)
	f.Dur(d.FetchTimeout)
	f.Int(d.MaxResponseBytes)
	f.Dur(d.RefreshInterval)
	f.Dur(d.MinRefreshInterval)
	f.Dur(d.MaxRefreshInterval)
	f.Dur(d.UnknownKeyCooldown)
	f.Int(int64(d.MaxTokenBytes))
	f.Int(int64(d.CacheSize))
	return f.Sum()
}

// config encodes every field of a defaulted Config.
func fpConfig(f *fingerprint.Hasher, c Config) {
	f.Str(c.Issuer)
	f.Str(c.DiscoveryURL)
	f.Str(c.JWKSURL)
	f.Strs(c.Audiences)
	f.Strs(c.Algorithms)
	f.Bytes(c.SharedSecret)
	f.Dur(c.skew())
	f.Bool(c.RequiredClaims != nil)
	// json.Marshal sorts map keys, so equal maps encode equally; a value
	// that cannot be encoded makes Validate fail, so its fingerprint never
	// matters.
	claims, _ := json.Marshal(c.RequiredClaims)
	f.Bytes(claims)
	f.Bool(c.RequireAccessTokenType)
	f.Strs(c.GroupClaims)
}

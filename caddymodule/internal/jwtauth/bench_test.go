package jwtauth

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ctequal"
)

// benchSetup returns a warmed Verifier (cache size as given) and a valid
// token signed with k.
func benchSetup(b *testing.B, k signingKey, cacheSize int) (*Verifier, string) {
	b.Helper()
	idp := newFakeIdP(b, k.jwk(true, true))
	clock := newFakeClock()
	v := newTestVerifier(b, idp, clock, func(o *Options) { o.CacheSize = cacheSize })
	if err := v.Warm(context.Background()); err != nil {
		b.Fatal(err)
	}
	c := claimsAt(idp.issuer(), clock.Now())
	c["email"] = "user@example.com"
	c["groups"] = []string{"staff", "dev"}
	c["jti"] = strings.Repeat("j", 36)
	return v, mint(b, k, c, map[string]any{"typ": "at+jwt"})
}

func benchKeys(b *testing.B) []signingKey {
	return []signingKey{newRSAKey(b, "rs", "RS256", 0), newECKey(b, "es")}
}

// BenchmarkVerifyCacheHit measures a client reusing its token: one keyed
// hash, one map lookup and one comparison of the whole token.
func BenchmarkVerifyCacheHit(b *testing.B) {
	for _, k := range benchKeys(b) {
		b.Run(k.alg, func(b *testing.B) {
			v, tok := benchSetup(b, k, DefaultCacheSize)
			ctx := context.Background()
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(tok)))
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(k.alg+"/parallel", func(b *testing.B) {
			v, tok := benchSetup(b, k, DefaultCacheSize)
			ctx := context.Background()
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := v.Verify(ctx, tok); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkVerifyCacheMiss measures a full verification (cache disabled):
// parse, signature, claims.
func BenchmarkVerifyCacheMiss(b *testing.B) {
	for _, k := range benchKeys(b) {
		b.Run(k.alg, func(b *testing.B) {
			v, tok := benchSetup(b, k, -1)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(len(tok)))
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyUnknownKid measures the cost of a forged token with an
// unknown kid that the cached set settles (minted before it was
// fetched): refused without a fetch or a wait.
func BenchmarkVerifyUnknownKid(b *testing.B) {
	k := newECKey(b, "es")
	v, tok := benchSetup(b, k, DefaultCacheSize)
	parts := strings.Split(tok, ".")
	payload, err := enc.DecodeString(parts[1])
	if err != nil {
		b.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		b.Fatal(err)
	}
	c["iat"] = c["iat"].(float64) - 3600
	forged := enc.EncodeToString([]byte(`{"alg":"ES256","kid":"forged"}`)) + "." + enc.EncodeToString([]byte(mustJSON(b, c))) + "." + parts[2]
	ctx := context.Background()
	_, _ = v.Verify(ctx, forged) // uses up the refetch
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, forged); ReasonOf(err) != ReasonUnknownKey {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenKey measures the key of a typical token and the
// comparison that binds a hit to the whole token: the floor under
// BenchmarkVerifyCacheHit.
func BenchmarkTokenKey(b *testing.B) {
	_, tok := benchSetup(b, newECKey(b, "es"), -1)
	c := newTokenCache(1)
	cached := strings.Clone(tok)
	b.ReportAllocs()
	b.SetBytes(int64(len(tok)))
	for b.Loop() {
		if c.key(tok) == 0 || !ctequal.Strings(tok, cached) {
			b.Fatal("no key or no match")
		}
	}
}

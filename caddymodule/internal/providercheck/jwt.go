package providercheck

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/oidcflow"
)

// hmacAlgs are verified with the issuer's shared secret, never with
// fetched keys.
var hmacAlgs = []string{"HS256", "HS384", "HS512"}

// checkJWT fetches an issuer's keys (from jwks_uri, or through
// discovery) and compares them with the algorithm allow-list.
func checkJWT(ctx context.Context, j JWTIssuer, client *http.Client, timeout time.Duration) []Result {
	rs := &results{component: "jwt " + j.Issuer}
	var asym []string
	for _, a := range j.Algorithms {
		if !slices.Contains(hmacAlgs, a) {
			asym = append(asym, a)
		}
	}
	if len(asym) == 0 {
		rs.skip("keys", "only %s with the shared secret: no keys to fetch", strings.Join(j.Algorithms, " "))
		return rs.list
	}
	jwksURI := j.JWKSURI
	if jwksURI == "" {
		dctx, cancel := context.WithTimeout(ctx, timeout)
		m, err := oidcflow.FetchDiscovery(dctx, client, j.Issuer)
		cancel()
		du := oidcflow.DiscoveryURL(j.Issuer)
		if err != nil {
			cause := providerCause(err)
			var mismatch *oidcflow.IssuerMismatchError
			if errors.As(err, &mismatch) {
				rs.ok("discovery", "fetched %s", du)
				rs.fail("issuer", "%s", cause)
			} else {
				rs.fail("discovery", "%s (or set jwks_uri)", cause)
			}
			rs.skip("jwks", "needs the discovery document")
			return rs.list
		}
		rs.ok("discovery", "fetched %s; the issuer matches byte for byte", du)
		jwksURI = m.JWKSURI
	}
	ks, err := fetchKeySet(ctx, client, timeout, jwksURI)
	if err != nil {
		rs.fail("jwks", "%v: its tokens cannot be verified", err)
		return rs.list
	}
	rs.ok("jwks", "%s", ks.summary())
	verifiable := ks.verifiable(asym)
	if len(verifiable) == 0 {
		rs.fail("algorithms", "no key fits the allowed %s: every token of this issuer would be refused (add the keys' algorithms to algorithms)", strings.Join(asym, " "))
		return rs.list
	}
	var unfit []string
	for _, k := range ks.usable {
		if !slices.ContainsFunc(asym, k.fits) {
			unfit = append(unfit, k.describe())
		}
	}
	if len(unfit) > 0 {
		rs.warn("algorithms", "allowed %s; keys verify %s; tokens signed with %s would be refused (their algorithm is not allowed)", strings.Join(asym, " "), strings.Join(verifiable, " "), strings.Join(unfit, ", "))
		return rs.list
	}
	rs.ok("algorithms", "allowed %s; the keys verify %s", strings.Join(asym, " "), strings.Join(verifiable, " "))
	return rs.list
}

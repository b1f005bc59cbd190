package caddymodule

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/authserver"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/clientreg"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/jwtauth"
)

// provisionAuthServer builds the authorization server and the client
// registry on the app's store (no I/O: the generated signing key, if
// any, is read or made on first use).
func (a *App) provisionAuthServer(ctx caddy.Context) error {
	as := a.authServer
	if as == nil {
		return nil
	}
	access, refresh, consent := as.cfg.lifetimes()
	srv, err := authserver.New(authserver.Options{
		Issuer: as.cfg.Issuer, Store: a.store, SigningKeys: as.keys, Resources: as.resources,
		AccessTokenLifetime: access, RefreshTokenLifetime: refresh, ConsentLifetime: consent,
	})
	if err != nil {
		return fmt.Errorf("authorization_server: %w", err)
	}
	reg, err := clientreg.New(clientreg.Options{
		Store: a.store, DynamicRegistration: on(as.cfg.DynamicRegistration), MetadataDocuments: on(as.cfg.ClientMetadataDocuments),
		AllowPrivateAddresses: as.cfg.AllowPrivateClientAddresses, AllowHTTP: as.cfg.AllowPrivateClientAddresses,
	})
	if err != nil {
		return fmt.Errorf("authorization_server: %w", err)
	}
	as.server, as.clients, as.registerLimiter = srv, reg, newRegisterLimiter()
	if as.metrics, err = newAuthServerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	localKeys.Store(as.jwksURL(a.endpointPrefix), srv)
	if as.cfg.AllowPrivateClientAddresses {
		a.logger.Warn("authorization_server: allow_private_client_addresses is on: client metadata documents may be fetched from loopback, private and plain-http addresses; use this only in tests")
	}
	if len(as.keys) == 0 {
		a.logger.Info("authorization_server: no signing_key configured; a key is generated on first use and kept in the store",
			zap.String("store", storeKind(a.Store)))
	}
	return nil
}

// jwksURL is the absolute URL of the server's key set.
func (as *authServer) jwksURL(prefix string) string { return as.endpointURL(prefix, "jwks.json") }

// jwtIssuer is how routes verify the server's access tokens: as a
// trusted JWT issuer whose key set is read in-process (localKeys), never
// over the network, audiences its resources, `typ: at+jwt` required.
func (as *authServer) jwtIssuer(prefix string) jwtauth.Config {
	auds := make([]string, 0, len(as.resources))
	for uri := range as.resources {
		auds = append(auds, uri)
	}
	slices.Sort(auds) // a stable order: the verifier pool's key depends on it
	return jwtauth.Config{Issuer: as.cfg.Issuer, JWKSURL: as.jwksURL(prefix), Audiences: auds,
		Algorithms: []string{"ES256"}, RequireAccessTokenType: true}
}

// localKeys maps the JWKS URL of each provisioned authorization server
// to the server, for localKeysTransport. The latest configuration's
// server replaces the previous one under the same URL.
var localKeys sync.Map // string → *authserver.Server

// localKeysClient is the HTTP client of the JWT verifier when the app
// has an authorization server: it answers the server's own JWKS URL
// in-process and sends every other request on.
var localKeysClient = &http.Client{Transport: localKeysTransport{next: http.DefaultTransport}}

// localKeysTransport serves the key sets of localKeys without a network
// round trip (the gateway verifying its own tokens must not depend on
// reaching itself through DNS, a load balancer and TLS).
type localKeysTransport struct{ next http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (t localKeysTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	u := *r.URL
	u.RawQuery, u.Fragment = "", ""
	v, ok := localKeys.Load(u.String())
	if !ok || r.Method != http.MethodGet {
		return t.next.RoundTrip(r)
	}
	raw, err := v.(*authserver.Server).JWKS(r.Context())
	if err != nil {
		return nil, fmt.Errorf("authorization server keys: %w", err)
	}
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/jwk-set+json"}, "Cache-Control": {"max-age=300"}},
		Body:          io.NopCloser(bytes.NewReader(raw)),
		ContentLength: int64(len(raw)), Request: r,
	}, nil
}

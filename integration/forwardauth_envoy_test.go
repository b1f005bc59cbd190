package integration_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// TestForwardAuthEnvoy puts a client that speaks Envoy's ext_authz HTTP
// contract, configured from deploy/forward-auth/envoy.yaml, in front of
// the recording upstream. No Envoy binary is packaged for Debian 12
// (apt-cache policy envoy finds none), so this checks the contract as
// Envoy's documentation states it, not Envoy itself:
//
//   - the check request has the original method, the original Host
//     (:authority) and path_prefix followed by the original path and
//     query; its headers are Authorization, Host and Content-Length
//     always, and those allowed_headers match; it has no body;
//   - a 200 answer lets the request through, after the answer's headers
//     that allowed_upstream_headers match replace the request's;
//   - any other answer goes to the client: status, headers and body;
//   - the connection manager drops client headers with '_' in their
//     names (headers_with_underscores_action: DROP_HEADER), sets
//     X-Forwarded-Proto, appends the client's address to
//     X-Forwarded-For and makes an X-Request-Id (use_remote_address);
//   - header_mutation removes the listed request headers before the
//     check; a route whose ext_authz is disabled goes to its cluster
//     unchecked; request_headers_to_remove applies after the check.
func TestForwardAuthEnvoy(t *testing.T) {
	t.Parallel()
	cfg := readEnvoyConfig(t)
	e := withFrontDoor(t, func(e *faEnv) error { return startEnvoyContract(t, e, cfg) })
	frontDoorSuite(t, e)
}

// envoyConfig is what the contract needs of envoy.yaml.
type envoyConfig struct {
	pathPrefix string
	// allowed and upstream are the allowed_headers and
	// allowed_upstream_headers patterns.
	allowed, upstream []envoyPattern
	// removed are the header_mutation filter's removals.
	removed []string
	// unchecked are the route prefixes whose ext_authz is disabled.
	unchecked []string
	// removeAfter are the checked route's request_headers_to_remove.
	removeAfter []string
}

// envoyPattern is an Envoy string matcher (exact or prefix; header names
// are compared in lower case).
type envoyPattern struct {
	Exact  string `json:"exact"`
	Prefix string `json:"prefix"`
}

func matchesAny(ps []envoyPattern, name string) bool {
	name = strings.ToLower(name)
	for _, p := range ps {
		if p.Exact != "" && name == p.Exact || p.Prefix != "" && strings.HasPrefix(name, p.Prefix) {
			return true
		}
	}
	return false
}

// envoyFile is the part of an Envoy bootstrap the contract reads.
type envoyFile struct {
	StaticResources struct {
		Listeners []struct {
			FilterChains []struct {
				Filters []struct {
					TypedConfig struct {
						RouteConfig struct {
							VirtualHosts []struct {
								Routes []struct {
									Match struct {
										Prefix string `json:"prefix"`
									} `json:"match"`
									RequestHeadersToRemove []string `json:"request_headers_to_remove"`
									PerFilter              map[string]struct {
										Disabled bool `json:"disabled"`
									} `json:"typed_per_filter_config"`
								} `json:"routes"`
							} `json:"virtual_hosts"`
						} `json:"route_config"`
						HTTPFilters []struct {
							Name        string `json:"name"`
							TypedConfig struct {
								Mutations struct {
									RequestMutations []struct {
										Remove string `json:"remove"`
									} `json:"request_mutations"`
								} `json:"mutations"`
								HTTPService struct {
									PathPrefix           string `json:"path_prefix"`
									AuthorizationRequest struct {
										AllowedHeaders struct {
											Patterns []envoyPattern `json:"patterns"`
										} `json:"allowed_headers"`
									} `json:"authorization_request"`
									AuthorizationResponse struct {
										AllowedUpstreamHeaders struct {
											Patterns []envoyPattern `json:"patterns"`
										} `json:"allowed_upstream_headers"`
									} `json:"authorization_response"`
								} `json:"http_service"`
							} `json:"typed_config"`
						} `json:"http_filters"`
					} `json:"typed_config"`
				} `json:"filters"`
			} `json:"filter_chains"`
		} `json:"listeners"`
	} `json:"static_resources"`
}

// readEnvoyConfig reads deploy/forward-auth/envoy.yaml's listener.
func readEnvoyConfig(t *testing.T) envoyConfig {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "deploy", "forward-auth", "envoy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f envoyFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("envoy.yaml: %v", err)
	}
	var c envoyConfig
	for _, l := range f.StaticResources.Listeners {
		for _, fc := range l.FilterChains {
			for _, fl := range fc.Filters {
				for _, vh := range fl.TypedConfig.RouteConfig.VirtualHosts {
					for _, r := range vh.Routes {
						if r.PerFilter["envoy.filters.http.ext_authz"].Disabled {
							c.unchecked = append(c.unchecked, r.Match.Prefix)
						} else {
							c.removeAfter = append(c.removeAfter, r.RequestHeadersToRemove...)
						}
					}
				}
				for _, hf := range fl.TypedConfig.HTTPFilters {
					switch hf.Name {
					case "envoy.filters.http.header_mutation":
						for _, m := range hf.TypedConfig.Mutations.RequestMutations {
							c.removed = append(c.removed, m.Remove)
						}
					case "envoy.filters.http.ext_authz":
						s := hf.TypedConfig.HTTPService
						c.pathPrefix = s.PathPrefix
						c.allowed = s.AuthorizationRequest.AllowedHeaders.Patterns
						c.upstream = s.AuthorizationResponse.AllowedUpstreamHeaders.Patterns
					}
				}
			}
		}
	}
	if c.pathPrefix != "/ext-authz" || len(c.allowed) == 0 || len(c.upstream) == 0 || len(c.removed) == 0 || len(c.unchecked) == 0 {
		t.Fatalf("envoy.yaml does not configure what the test expects: %+v", c)
	}
	return c
}

// extAuthz is the ext_authz HTTP filter and connection manager of
// envoy.yaml, as a Go server.
type extAuthz struct {
	cfg     envoyConfig
	gateway string // host:port of the authorization service (and of the unchecked routes)
	app     *httputil.ReverseProxy
	gw      *httputil.ReverseProxy
	client  *http.Client
}

// startEnvoyContract serves the contract on e's front door port
// (errFrontPortTaken when it cannot listen there).
func startEnvoyContract(t *testing.T, e *faEnv, cfg envoyConfig) error {
	t.Helper()
	gw := fmt.Sprintf("127.0.0.1:%d", e.gw.Ports.HTTP)
	// One connection per request: the recorder waits for its connections
	// to close at cleanup.
	tr := &http.Transport{DisableKeepAlives: true}
	proxy := func(host string) *httputil.ReverseProxy {
		p := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: host})
		p.Transport = tr
		return p
	}
	x := &extAuthz{
		cfg: cfg, gateway: gw, app: proxy(e.up.Addr), gw: proxy(gw),
		client: &http.Client{Transport: tr, Timeout: 30 * time.Second, // Envoy's is 2s; this one only catches a hung gateway
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", e.frontPort))
	if err != nil {
		return fmt.Errorf("%w: %w", errFrontPortTaken, err)
	}
	srv := &http.Server{Handler: x, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close(); tr.CloseIdleConnections() })
	return nil
}

func (x *extAuthz) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The connection manager.
	for k := range r.Header {
		if strings.Contains(k, "_") {
			delete(r.Header, k)
		}
	}
	r.Header.Set("X-Forwarded-Proto", "http")
	client, _, _ := net.SplitHostPort(r.RemoteAddr)
	if prior := r.Header.Get("X-Forwarded-For"); prior != "" {
		client = prior + ", " + client
	}
	r.Header.Set("X-Forwarded-For", client)
	if r.Header.Get("X-Request-Id") == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		r.Header.Set("X-Request-Id", hex.EncodeToString(b))
	}
	for _, p := range x.cfg.unchecked {
		if strings.HasPrefix(r.URL.Path, p) {
			x.gw.ServeHTTP(w, r)
			return
		}
	}
	// The filters, in order.
	for _, n := range x.cfg.removed {
		r.Header.Del(n)
	}
	resp, err := x.check(r)
	if err != nil {
		// failure_mode_allow: false
		w.WriteHeader(http.StatusForbidden)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		for name, vs := range resp.Header {
			if matchesAny(x.cfg.upstream, name) {
				r.Header[name] = vs
			}
		}
		for _, n := range x.cfg.removeAfter {
			r.Header.Del(n)
		}
		x.app.ServeHTTP(w, r)
		return
	}
	for name, vs := range resp.Header {
		if !strings.EqualFold(name, "Host") {
			w.Header()[name] = vs
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// check sends the check request for r: its method, its Host, the path
// prefix and its request target exactly as received, no body.
func (x *extAuthz) check(r *http.Request) (*http.Response, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+x.gateway+"/", nil)
	if err != nil {
		return nil, err
	}
	req.URL = &url.URL{Scheme: "http", Host: x.gateway, Opaque: x.cfg.pathPrefix + r.RequestURI}
	req.Host = r.Host
	for name, vs := range r.Header {
		if strings.EqualFold(name, "Authorization") || matchesAny(x.cfg.allowed, name) {
			req.Header[name] = vs
		}
	}
	if !strings.HasPrefix(r.RequestURI, "/") {
		return nil, errors.New("not an origin-form target")
	}
	return x.client.Do(req)
}

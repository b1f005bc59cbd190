package caddymodule

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// Exit codes of `portcullis token check`.
const (
	tokenCheckAllow  = 0 // the gateway would let the request through
	tokenCheckDeny   = 1 // it would refuse it
	tokenCheckConfig = 2 // the configuration cannot be loaded
)

// maxTokenCheckInput bounds the credential read from stdin.
const maxTokenCheckInput = 64 << 10

// errTokenDenied is returned (exit status 1) when the gateway would
// refuse the request.
var errTokenDenied = errors.New("token check: the gateway would refuse this request")

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "token",
		Short: "Explains what the gateway would decide for a credential (token check)",
		Long: `
'token check' reads a credential on stdin (an Authorization header value
such as "Bearer <token>", or a bare API key or JWT), loads the
configuration as the server does (without listening, without the admin
endpoint, with logs discarded), runs one request for --method, --host
and --path through the gateway's own handler chain in-process, and
prints what it decided and why: the routes the request entered, the
principal (subject, method, issuer, key id, effective scopes after
grants and implications), the reason and the scopes the route needed,
and the answer's status.

Nothing is sent upstream: reverse_proxy (and so forward_auth) answers
200 from a stub. Rate limits are not applied (they judge traffic, not
the credential). The only network I/O is what verifying the credential
does: JWKS or OpenID discovery fetches, and reading a stored API key
from Redis.

Exit status: 0 allowed (a 2xx answer), 1 refused, 2 the configuration
cannot be loaded.`,
		CobraFunc: func(cmd *cobra.Command) {
			var o tokenCheckOptions
			check := &cobra.Command{
				Use:   "check --config <path> --host <host> --path <path> [--method GET]",
				Short: "Reads a credential on stdin and prints what the gateway would decide for a request",
				Args:  cobra.NoArgs,
			}
			check.Flags().StringVarP(&o.config, "config", "c", "", "the gateway's configuration file (required)")
			check.Flags().StringVarP(&o.adapter, "adapter", "a", "", "config adapter (default: caddyfile, or none for a .json file)")
			check.Flags().StringVar(&o.host, "host", "", "the request's host, as the client sends it (required)")
			check.Flags().StringVar(&o.path, "path", "/", "the request's path (and query)")
			check.Flags().StringVar(&o.method, "method", http.MethodGet, "the request's method")
			check.Flags().StringVar(&o.scheme, "scheme", "https", "https or http: selects the server (TLS or not)")
			check.Flags().BoolVar(&o.json, "json", false, "print the report as JSON")
			check.RunE = func(c *cobra.Command, _ []string) error {
				return caddycmd.WrapCommandFuncForCobra(func(caddycmd.Flags) (int, error) {
					return runTokenCheck(c.Context(), o, c.InOrStdin(), c.OutOrStdout(), c.ErrOrStderr())
				})(c, nil)
			}
			cmd.AddCommand(check)
		},
	})
}

// tokenCheckOptions are the flags of `token check`.
type tokenCheckOptions struct {
	config, adapter            string
	host, path, method, scheme string
	json                       bool
}

// tokenReport is what token check prints.
type tokenReport struct {
	Decision string   `json:"decision"` // allow or deny
	Status   int      `json:"status"`
	Server   string   `json:"server"`
	Routes   []string `json:"routes,omitempty"`
	Upstream bool     `json:"upstream"` // the request reached a (stubbed) upstream
	// From the portcullis decision event, when a portcullis handler ran.
	Reason         string   `json:"reason,omitempty"`
	Subject        string   `json:"subject,omitempty"`
	AuthMethod     string   `json:"auth_method,omitempty"`
	Issuer         string   `json:"issuer,omitempty"`
	KeyID          string   `json:"key_id,omitempty"`
	Scopes         []string `json:"scopes,omitempty"`
	RequiredScopes []string `json:"required_scopes,omitempty"`
	Challenge      string   `json:"www_authenticate,omitempty"`
	Location       string   `json:"location,omitempty"`
	Warnings       []string `json:"warnings,omitempty"` // Deprecation/Sunset of an expiring key
}

// runTokenCheck runs `token check` and returns its exit status.
func runTokenCheck(_ context.Context, o tokenCheckOptions, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if o.config == "" || o.host == "" {
		return tokenCheckConfig, errors.New("token check: --config and --host are required")
	}
	if o.scheme != "https" && o.scheme != "http" {
		return tokenCheckConfig, fmt.Errorf("token check: --scheme %q must be https or http", o.scheme)
	}
	cred, err := io.ReadAll(io.LimitReader(stdin, maxTokenCheckInput))
	if err != nil {
		return tokenCheckConfig, fmt.Errorf("token check: reading the credential: %w", err)
	}
	rep, err := tokenCheck(o, strings.TrimSpace(string(cred)), stderr)
	if err != nil {
		return tokenCheckConfig, fmt.Errorf("token check: %w", err)
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		err = enc.Encode(rep)
	} else {
		err = rep.writeText(stdout)
	}
	if err != nil {
		return tokenCheckDeny, fmt.Errorf("token check: %w", err)
	}
	if rep.Decision != "allow" {
		return tokenCheckDeny, errTokenDenied
	}
	return tokenCheckAllow, nil
}

// tokenCheck provisions the configuration in-process and serves one
// request with the credential through the selected server.
func tokenCheck(o tokenCheckOptions, cred string, warnings io.Writer) (tokenReport, error) {
	raw, err := adaptConfigFile(o.config, o.adapter, warnings)
	if err != nil {
		return tokenReport{}, err
	}
	if raw, err = rewriteForTokenCheck(raw); err != nil {
		return tokenReport{}, err
	}
	var cfg caddy.Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return tokenReport{}, fmt.Errorf("decoding config: %w", err)
	}
	ctx, err := caddy.ProvisionContext(&cfg)
	if err != nil {
		return tokenReport{}, fmt.Errorf("loading config: %w", err)
	}
	v, err := ctx.App("http")
	if err != nil {
		return tokenReport{}, fmt.Errorf("loading the http app: %w", err)
	}
	httpApp := v.(*caddyhttp.App)
	core, events := observer.New(zapcore.InfoLevel)
	if _, ok := cfg.AppsRaw["portcullis"]; ok {
		pv, err := ctx.App("portcullis")
		if err != nil {
			return tokenReport{}, fmt.Errorf("loading the portcullis app: %w", err)
		}
		pv.(*App).audit = zap.New(core) // read back below, written nowhere
		// No failure counted, no key's own limit spent.
		pv.(*App).judgeOnly()
	}
	req, err := tokenCheckRequest(o, cred)
	if err != nil {
		return tokenReport{}, err
	}
	name, srv := selectServer(httpApp, req, o.scheme == "https")
	if srv == nil {
		return tokenReport{}, errors.New("the configuration has no HTTP server")
	}
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, req)
	return buildReport(name, w, events), nil
}

// tokenCheckRequest builds the request: the credential as an
// Authorization header (a bare one as a bearer token).
func tokenCheckRequest(o tokenCheckOptions, cred string) (*http.Request, error) {
	path := o.path
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("--path %q must start with /", path)
	}
	req, err := http.NewRequest(strings.ToUpper(o.method), o.scheme+"://"+o.host+path, nil)
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	req.Host = o.host
	req.RemoteAddr = "127.0.0.1:1"
	req.RequestURI = path
	if o.scheme == "https" {
		req.TLS = &tls.ConnectionState{HandshakeComplete: true, ServerName: req.URL.Hostname()}
	}
	if strings.ContainsAny(cred, "\r\n") {
		return nil, errors.New("the credential must be one line")
	}
	if cred != "" {
		if !strings.Contains(cred, " ") {
			cred = "Bearer " + cred
		}
		req.Header.Set("Authorization", cred)
	}
	return req, nil
}

// selectServer picks the server that would receive the request: among
// those (by name) whose routes match it, the first whose TLS matches
// the scheme, else the first that matches, else the first.
func selectServer(app *caddyhttp.App, req *http.Request, tlsWanted bool) (string, *caddyhttp.Server) {
	names := make([]string, 0, len(app.Servers))
	for n := range app.Servers {
		names = append(names, n)
	}
	slices.Sort(names)
	var matching []string
	for _, n := range names {
		if serverMatches(app.Servers[n], req) {
			matching = append(matching, n)
		}
	}
	for _, n := range matching {
		if (app.Servers[n].TLSConnPolicies != nil) == tlsWanted {
			return n, app.Servers[n]
		}
	}
	if len(matching) > 0 {
		return matching[0], app.Servers[matching[0]]
	}
	if len(names) > 0 {
		return names[0], app.Servers[names[0]]
	}
	return "", nil
}

// serverMatches reports whether a top-level route of srv (other than a
// catch-all) matches req.
func serverMatches(srv *caddyhttp.Server, req *http.Request) bool {
	r := req.Clone(req.Context())
	repl := caddy.NewReplacer()
	r = caddyhttp.PrepareRequest(r, repl, httptest.NewRecorder(), srv)
	for _, route := range srv.Routes {
		if len(route.MatcherSets) == 0 {
			continue
		}
		if ok, _ := route.MatcherSets.AnyMatchWithError(r); ok {
			return true
		}
	}
	return false
}

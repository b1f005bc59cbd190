package oidcflow

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
)

// validDoc is a minimal valid discovery document for iss.
func validDoc(iss string) map[string]any {
	return map[string]any{
		"issuer":                 iss,
		"authorization_endpoint": iss + "/authorize",
		"token_endpoint":         iss + "/token",
		"jwks_uri":               iss + "/keys",
	}
}

// TestFetchMetadata is the corpus of discovery answers: what is a usable
// document, what is a configuration to fix (ErrMisconfigured) and what
// is an outage (ErrUnavailable).
func TestFetchMetadata(t *testing.T) {
	t.Parallel()
	type answer struct {
		status      int
		contentType string
		body        string
	}
	doc := func(edit func(iss string, d map[string]any)) func(iss string) answer {
		return func(iss string) answer {
			d := validDoc(iss)
			if edit != nil {
				edit(iss, d)
			}
			b, _ := json.Marshal(d)
			return answer{contentType: "application/json", body: string(b)}
		}
	}
	fixed := func(status int, ct, body string) func(string) answer {
		return func(string) answer { return answer{status: status, contentType: ct, body: body} }
	}
	tests := []struct {
		name       string
		configured func(srv string) string // the configured issuer; default srv
		answer     func(iss string) answer // iss: the server's issuer (srv)
		want       error
		wantMsg    []string
		notMsg     []string
	}{
		{name: "valid", answer: doc(nil)},
		{name: "valid with charset", answer: func(iss string) answer {
			a := doc(nil)(iss)
			a.contentType = "application/json; charset=utf-8"
			return a
		}},
		{name: "valid +json media type", answer: func(iss string) answer {
			a := doc(nil)(iss)
			a.contentType = "application/jrd+json"
			return a
		}},
		{name: "valid without content type", answer: func(iss string) answer {
			a := doc(nil)(iss)
			a.contentType = ""
			return a
		}},
		{name: "valid with a path issuer", configured: func(srv string) string { return srv + "/realms/main" },
			answer: doc(func(iss string, d map[string]any) { d["issuer"] = iss + "/realms/main" })},
		{name: "valid with all optional endpoints", answer: doc(func(iss string, d map[string]any) {
			d["userinfo_endpoint"], d["end_session_endpoint"], d["revocation_endpoint"] = iss+"/ui", iss+"/logout", iss+"/revoke"
		})},

		{name: "HTML page", answer: fixed(200, "text/html; charset=utf-8", "<html><body>Welcome</body></html>"),
			want: ErrMisconfigured, wantMsg: []string{"text/html", "not a JSON discovery document"}},
		{name: "JSON as text/plain", answer: func(iss string) answer {
			a := doc(nil)(iss)
			a.contentType = "text/plain"
			return a
		}, want: ErrMisconfigured, wantMsg: []string{"text/plain"}},
		{name: "not JSON", answer: fixed(200, "application/json", "{not json"), want: ErrMisconfigured, wantMsg: []string{"not valid JSON"}},
		{name: "JSON array", answer: fixed(200, "application/json", "[]"), want: ErrMisconfigured, wantMsg: []string{"not valid JSON"}},
		{name: "empty object", answer: fixed(200, "application/json", "{}"), want: ErrMisconfigured, wantMsg: []string{"issuer mismatch"}},
		{name: "oversized", answer: fixed(200, "application/json", `{"issuer":"`+strings.Repeat("a", maxMetadataBytes)+`"}`),
			want: ErrMisconfigured, wantMsg: []string{"larger than"}},

		{name: "404", answer: fixed(404, "text/html", "<h1>Not Found</h1>"), want: ErrMisconfigured, wantMsg: []string{"no discovery document", "404", "check the issuer URL"}},
		{name: "410", answer: fixed(410, "", ""), want: ErrMisconfigured, wantMsg: []string{"410"}},
		{name: "401", answer: fixed(401, "", ""), want: ErrMisconfigured, wantMsg: []string{"401"}},
		{name: "403", answer: fixed(403, "", ""), want: ErrMisconfigured, wantMsg: []string{"403"}},
		{name: "500", answer: fixed(500, "", ""), want: ErrUnavailable, wantMsg: []string{"500"}},
		{name: "502", answer: fixed(502, "", ""), want: ErrUnavailable, wantMsg: []string{"502"}},
		{name: "503", answer: fixed(503, "", ""), want: ErrUnavailable, wantMsg: []string{"503"}},
		{name: "429", answer: fixed(429, "", ""), want: ErrUnavailable, wantMsg: []string{"429"}},

		{name: "issuer with a trailing slash in the document", answer: doc(func(iss string, d map[string]any) { d["issuer"] = iss + "/" }),
			want: ErrMisconfigured, wantMsg: []string{"issuer mismatch", "trailing slash"}},
		{name: "configured issuer with a trailing slash", configured: func(srv string) string { return srv + "/" }, answer: doc(nil),
			want: ErrMisconfigured, wantMsg: []string{"issuer mismatch", "trailing slash"}},
		{name: "issuer of another host", answer: doc(func(_ string, d map[string]any) { d["issuer"] = "https://other.example" }),
			want: ErrMisconfigured, wantMsg: []string{"issuer mismatch", "other.example"}, notMsg: []string{"trailing slash"}},
		{name: "issuer case changed", answer: doc(func(iss string, d map[string]any) { d["issuer"] = strings.ToUpper(iss) }),
			want: ErrMisconfigured, wantMsg: []string{"issuer mismatch"}, notMsg: []string{"trailing slash"}},
		{name: "issuer percent-encoded", answer: doc(func(iss string, d map[string]any) { d["issuer"] = strings.Replace(iss, "://", "%3A%2F%2F", 1) }),
			want: ErrMisconfigured, wantMsg: []string{"issuer mismatch"}},
		{name: "issuer not a string", answer: doc(func(_ string, d map[string]any) { d["issuer"] = 42 }),
			want: ErrMisconfigured},

		{name: "no authorization_endpoint", answer: doc(func(_ string, d map[string]any) { delete(d, "authorization_endpoint") }),
			want: ErrMisconfigured, wantMsg: []string{"authorization_endpoint"}},
		{name: "no token_endpoint", answer: doc(func(_ string, d map[string]any) { delete(d, "token_endpoint") }),
			want: ErrMisconfigured, wantMsg: []string{"token_endpoint"}},
		{name: "no jwks_uri", answer: doc(func(_ string, d map[string]any) { delete(d, "jwks_uri") }),
			want: ErrMisconfigured, wantMsg: []string{"jwks_uri"}},
		{name: "relative jwks_uri", answer: doc(func(_ string, d map[string]any) { d["jwks_uri"] = "/keys" }),
			want: ErrMisconfigured, wantMsg: []string{"jwks_uri", "absolute"}},
		{name: "ftp token_endpoint", answer: doc(func(_ string, d map[string]any) { d["token_endpoint"] = "ftp://idp.example/token" }),
			want: ErrMisconfigured, wantMsg: []string{"token_endpoint"}},
		{name: "authorization_endpoint with fragment", answer: doc(func(iss string, d map[string]any) { d["authorization_endpoint"] = iss + "/authorize#x" }),
			want: ErrMisconfigured, wantMsg: []string{"authorization_endpoint"}},
		{name: "hostless jwks_uri", answer: doc(func(_ string, d map[string]any) { d["jwks_uri"] = "https:///keys" }),
			want: ErrMisconfigured, wantMsg: []string{"jwks_uri"}},
		{name: "relative userinfo_endpoint", answer: doc(func(_ string, d map[string]any) { d["userinfo_endpoint"] = "/userinfo" }),
			want: ErrMisconfigured, wantMsg: []string{"userinfo_endpoint"}},
		{name: "javascript revocation_endpoint", answer: doc(func(_ string, d map[string]any) { d["revocation_endpoint"] = "javascript:alert(1)" }),
			want: ErrMisconfigured, wantMsg: []string{"revocation_endpoint"}},
		{name: "bad end_session_endpoint", answer: doc(func(_ string, d map[string]any) { d["end_session_endpoint"] = "logout" }),
			want: ErrMisconfigured, wantMsg: []string{"end_session_endpoint"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var srvURL string
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") {
					http.NotFound(w, r)
					return
				}
				a := tt.answer(srvURL)
				if a.contentType != "" {
					w.Header().Set("Content-Type", a.contentType)
				} else {
					w.Header()["Content-Type"] = nil // no sniffing
				}
				w.WriteHeader(cmpOr(a.status, 200))
				io.WriteString(w, a.body)
			}))
			t.Cleanup(srv.Close)
			srvURL = srv.URL
			issuer := srv.URL
			if tt.configured != nil {
				issuer = tt.configured(srv.URL)
			}
			m, err := FetchMetadata(t.Context(), srv.Client(), issuer)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("FetchMetadata: %v", err)
				}
				if m.Issuer != issuer || m.TokenEndpoint == "" || m.JWKSURI == "" {
					t.Fatalf("metadata = %+v", m)
				}
				return
			}
			checkClassified(t, err, tt.want)
			for _, s := range tt.wantMsg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			for _, s := range tt.notMsg {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q mentions %q", err, s)
				}
			}
			if hits.Load() != 1 {
				t.Errorf("%d requests, want 1", hits.Load())
			}
		})
	}
}

// checkClassified asserts err is exactly one of ErrMisconfigured and
// ErrUnavailable (want), with the matching Reason and package prefix.
func checkClassified(t *testing.T, err, want error) {
	t.Helper()
	other, reason := ErrUnavailable, ReasonMisconfigured
	if want == ErrUnavailable {
		other, reason = ErrMisconfigured, ReasonUnavailable
	}
	if !errors.Is(err, want) || errors.Is(err, other) {
		t.Fatalf("error = %v, want %v only", err, want)
	}
	if got := Reason(err); got != reason {
		t.Errorf("Reason = %q, want %q", got, reason)
	}
	if !strings.HasPrefix(err.Error(), "oidcflow: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
}

func TestFetchMetadataFields(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	idp.iss9207 = true
	m, err := FetchMetadata(t.Context(), http.DefaultClient, idp.issuer())
	if err != nil {
		t.Fatal(err)
	}
	iss := idp.issuer()
	if m.UserinfoEndpoint != iss+"/userinfo" || m.RevocationEndpoint != iss+"/revoke" || m.EndSessionEndpoint != iss+"/logout?tenant=t1" ||
		!m.ClaimsParameterSupported || !m.AuthorizationResponseIssParameterSupported || !m.SupportsRefresh() || !m.SupportsPKCES256() {
		t.Fatalf("metadata = %+v", m)
	}
}

func TestMetadataSupports(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		m             Metadata
		refresh, pkce bool
	}{
		{name: "nothing listed", refresh: true},
		{name: "refresh listed", m: Metadata{GrantTypesSupported: []string{"authorization_code", "refresh_token"}}, refresh: true},
		{name: "refresh not listed", m: Metadata{GrantTypesSupported: []string{"authorization_code"}}},
		{name: "S256", m: Metadata{CodeChallengeMethodsSupported: []string{"plain", "S256"}}, refresh: true, pkce: true},
		{name: "plain only", m: Metadata{CodeChallengeMethodsSupported: []string{"plain"}}, refresh: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.m.SupportsRefresh(); got != tt.refresh {
				t.Errorf("SupportsRefresh = %v", got)
			}
			if got := tt.m.SupportsPKCES256(); got != tt.pkce {
				t.Errorf("SupportsPKCES256 = %v", got)
			}
		})
	}
}

func TestDiscoveryURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://idp.example":         "https://idp.example/.well-known/openid-configuration",
		"https://idp.example/":        "https://idp.example/.well-known/openid-configuration",
		"https://idp.example/realm/x": "https://idp.example/realm/x/.well-known/openid-configuration",
	} {
		if got := DiscoveryURL(in); got != want {
			t.Errorf("DiscoveryURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// errTransport fails every request with err.
type errTransport struct{ err error }

func (e errTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, e.err }

// timeoutErr is a net.Error that timed out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestFetchMetadataTransportErrors classifies transport failures: a host
// that does not exist or a certificate that is not trusted is a
// configuration to fix; timeouts, refusals and resets are outages.
func TestFetchMetadataTransportErrors(t *testing.T) {
	t.Parallel()
	opErr := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	tests := []struct {
		name    string
		err     error
		want    error
		wantMsg string
	}{
		{name: "DNS not found", err: opErr(&net.DNSError{Err: "no such host", Name: "idp.invalid", IsNotFound: true}), want: ErrMisconfigured, wantMsg: `host "idp.invalid" not found`},
		{name: "DNS temporary failure", err: opErr(&net.DNSError{Err: "server misbehaving", Name: "idp.example", IsTemporary: true}), want: ErrUnavailable},
		{name: "DNS timeout", err: opErr(&net.DNSError{Err: "i/o timeout", Name: "idp.example", IsTimeout: true}), want: ErrUnavailable},
		{name: "unknown authority", err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, want: ErrMisconfigured, wantMsg: "not trusted"},
		{name: "bare unknown authority", err: x509.UnknownAuthorityError{}, want: ErrMisconfigured, wantMsg: "not trusted"},
		{name: "hostname mismatch", err: x509.HostnameError{Certificate: &x509.Certificate{}, Host: "idp.example"}, want: ErrMisconfigured, wantMsg: "not trusted"},
		{name: "expired certificate", err: x509.CertificateInvalidError{Reason: x509.Expired}, want: ErrMisconfigured, wantMsg: "not trusted"},
		{name: "TLS record header", err: tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, want: ErrMisconfigured, wantMsg: "does not speak TLS"},
		{name: "connection refused", err: opErr(os.NewSyscallError("connect", syscall.ECONNREFUSED)), want: ErrUnavailable, wantMsg: "connection refused"},
		{name: "connection reset", err: opErr(os.NewSyscallError("read", syscall.ECONNRESET)), want: ErrUnavailable},
		{name: "dial timeout", err: opErr(timeoutErr{}), want: ErrUnavailable, wantMsg: "timeout"},
		{name: "deadline", err: context.DeadlineExceeded, want: ErrUnavailable},
		{name: "os deadline", err: os.ErrDeadlineExceeded, want: ErrUnavailable},
		{name: "unexpected EOF", err: io.ErrUnexpectedEOF, want: ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := &http.Client{Transport: errTransport{tt.err}}
			_, err := FetchMetadata(t.Context(), client, "https://idp.example")
			checkClassified(t, err, tt.want)
			if !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), "https://idp.example/.well-known/openid-configuration") {
				t.Errorf("error %q does not name %q and the URL", err, tt.wantMsg)
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("error %q spans lines", err)
			}
		})
	}
}

// TestFetchMetadataRealTransport checks the classification against real
// connections: TLS the client does not trust, a certificate for another
// name, plain HTTP where TLS is expected, a closed port and a deadline.
func TestFetchMetadataRealTransport(t *testing.T) {
	t.Parallel()
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	// wrongName trusts tlsSrv's certificate but reaches it under a name
	// the certificate does not list.
	wrongName := tlsSrv.Client()
	tr := wrongName.Transport.(*http.Transport).Clone()
	addr := tlsSrv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	wrongName = &http.Client{Transport: tr}

	expired, cancel := context.WithDeadline(t.Context(), time.Unix(0, 0))
	t.Cleanup(cancel)

	tests := []struct {
		name    string
		ctx     context.Context
		client  *http.Client
		issuer  string
		want    error
		wantMsg string
	}{
		{name: "untrusted certificate", client: &http.Client{}, issuer: tlsSrv.URL, want: ErrMisconfigured, wantMsg: "not trusted"},
		{name: "certificate for another name", client: wrongName, issuer: "https://idp.wrong-name.test", want: ErrMisconfigured, wantMsg: "not trusted"},
		{name: "plain HTTP at an https issuer", client: &http.Client{}, issuer: strings.Replace(plain.URL, "http://", "https://", 1), want: ErrMisconfigured, wantMsg: "does not speak TLS"},
		{name: "connection refused", client: &http.Client{}, issuer: closedURL, want: ErrUnavailable},
		{name: "deadline passed", ctx: expired, client: tlsSrv.Client(), issuer: tlsSrv.URL, want: ErrUnavailable},
		{name: "trusted but 404", client: tlsSrv.Client(), issuer: tlsSrv.URL, want: ErrMisconfigured, wantMsg: "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := tt.ctx
			if ctx == nil {
				ctx = t.Context()
			}
			_, err := FetchMetadata(ctx, tt.client, tt.issuer)
			checkClassified(t, err, tt.want)
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
		})
	}
}

func TestFetchMetadataBadIssuerURL(t *testing.T) {
	t.Parallel()
	_, err := FetchMetadata(t.Context(), http.DefaultClient, "http://idp example")
	checkClassified(t, err, ErrMisconfigured)
}

// TestDiscoverAlgorithms: the provider's ID token algorithms are
// filtered to the asymmetric ones the gateway accepts; a provider with
// none of them is a misconfiguration; RS256 is the default.
func TestDiscoverAlgorithms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		idAlgs    any // id_token_signing_alg_values_supported; nil removes it
		uiAlgs    []string
		want      []string
		wantError bool
	}{
		{name: "absent means RS256", want: []string{"RS256"}},
		{name: "filtered", idAlgs: []string{"HS256", "ES256", "none", "Ed25519"}, want: []string{"ES256", "Ed25519"}},
		{name: "only symmetric and none", idAlgs: []string{"HS256", "HS512", "none"}, wantError: true},
		{name: "unknown algorithm", idAlgs: []string{"ES256K"}, wantError: true},
		{name: "userinfo algorithms added", idAlgs: []string{"RS256"}, uiAlgs: []string{"ES256", "HS256", "RS256"}, want: []string{"RS256", "ES256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			idp.discoveryEdit = func(d map[string]any) {
				if tt.idAlgs == nil {
					delete(d, "id_token_signing_alg_values_supported")
				} else {
					d["id_token_signing_alg_values_supported"] = tt.idAlgs
				}
				if tt.uiAlgs != nil {
					d["userinfo_signing_alg_values_supported"] = tt.uiAlgs
				}
			}
			c := newTestClient(t, idp, clk, nil)
			p, err := c.provider(t.Context())
			if tt.wantError {
				checkClassified(t, err, ErrMisconfigured)
				if !strings.Contains(err.Error(), "the gateway accepts") {
					t.Errorf("error %q does not say what is accepted", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(p.algs, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("algorithms = %v, want %v", p.algs, tt.want)
			}
		})
	}
}

// TestDiscoveryThroughClient: the Client's discovery errors carry the
// same classes and reasons as FetchMetadata's, for 404 and HTML pages
// (a wrong issuer URL) and an outage.
func TestDiscoveryThroughClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(idp *fakeIdP)
		want  error
	}{
		{name: "404", setup: func(idp *fakeIdP) {
			idp.discoveryRaw = &canned{status: 404, contentType: "text/html", body: "<h1>no</h1>"}
		}, want: ErrMisconfigured},
		{name: "HTML login page", setup: func(idp *fakeIdP) {
			idp.discoveryRaw = &canned{contentType: "text/html", body: "<html><form>login</form></html>"}
		}, want: ErrMisconfigured},
		{name: "503", setup: func(idp *fakeIdP) { idp.down.Store(true) }, want: ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			tt.setup(idp)
			c := newTestClient(t, idp, clk, nil)
			for _, op := range []func() error{
				func() error { return c.Ready(t.Context()) },
				func() error { _, err := c.StartLogin(t.Context(), LoginOptions{}); return err },
				func() error { _, err := c.LogoutURL(t.Context(), "", ""); return err },
				func() error { _, err := c.VerifyLogoutToken(t.Context(), "a.b.c"); return err },
				func() error { _, err := c.RevokeTokens(t.Context(), sessionTokens("rt")); return err },
			} {
				checkClassified(t, op(), tt.want)
			}
			if n := idp.discoveryHits.Load(); n != 1 {
				t.Errorf("%d discovery requests within the backoff, want 1", n)
			}
		})
	}
}

// sessionTokens are tokens with only a refresh token.
func sessionTokens(rt string) session.Tokens { return session.Tokens{RefreshToken: rt} }

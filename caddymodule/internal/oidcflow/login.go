package oidcflow

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/securecookie"
	"golang.org/x/oauth2"
)

// LoginOptions are the per-login parameters of StartLogin.
type LoginOptions struct {
	// ReturnTo is where the user goes after login: a same-origin path
	// (validated with SafeReturnPath; anything else becomes "/").
	ReturnTo string
	// MaxAge, when positive, asks the provider to re-authenticate a user
	// who authenticated longer ago (`max_age`, seconds resolution); the
	// callback then requires an `auth_time` within it. For step-up.
	MaxAge time.Duration
	// ACRValues are requested authentication context classes
	// (`acr_values`), most preferred first. For step-up; whether the
	// provider met them is checked by policy on the session's ACR.
	ACRValues []string
	// ForceLogin asks the provider to re-authenticate the user even with
	// a provider session (`prompt=login`, added to Config.Prompt).
	ForceLogin bool
	// LoginHint is passed as `login_hint` when set; check it with
	// ValidLoginHint when it comes from the request.
	LoginHint string
	// Remember asks for a remembered session ("remember me"); the callback
	// returns it in Result.Remember.
	Remember bool
}

// Redirect is an answer the adapter sends as a 302: Location URL, with
// cookies to set first.
type Redirect struct {
	// URL is the Location.
	URL string
	// SetCookies are set on the response, in order.
	SetCookies []*http.Cookie
}

// flowState is the content of the flow cookie. It is encrypted and
// authenticated (securecookie), never readable by the browser.
type flowState struct {
	State    string   `json:"s"`
	Nonce    string   `json:"n"`
	Verifier string   `json:"v"`
	ReturnTo string   `json:"r"`
	Created  int64    `json:"c"` // unix milliseconds
	MaxAge   int64    `json:"m,omitempty"`
	ACR      []string `json:"a,omitempty"`
	Remember bool     `json:"rm,omitempty"`
}

// randomToken returns 256 random bits, base64url.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// flowCookieName returns the name of the flow cookie of state: one cookie
// per flow, so logins started in several tabs do not overwrite each
// other, and per client, so the callback knows whose flow it completes
// (and a flow of one provider never decodes as another's).
func (c *Client) flowCookieName(state string) string {
	return c.flowPfx + hashString("flow cookie", c.cfg.Issuer+"\x00"+c.cfg.ClientID+"\x00"+state)[:16]
}

// OwnsCallback reports whether r, a request to the redirect URI, carries
// a flow cookie this client started for its state: with several
// providers, the one to call Callback on.
func (c *Client) OwnsCallback(r *http.Request) bool {
	state := r.URL.Query().Get("state")
	if state == "" || len(state) > 512 {
		return false
	}
	_, err := r.Cookie(c.flowCookieName(state))
	return err == nil
}

// ReturnPolicy returns the configured return policy.
func (c *Client) ReturnPolicy() ReturnPolicy { return c.cfg.Return }

// StartLogin begins a login: it records a single-use state in the store
// and returns the redirect to the provider's authorization endpoint with
// the flow cookie (SameSite=Lax, so it survives the provider's redirect
// back; HttpOnly; Secure unless insecure; lives Config.FlowTTL). PKCE
// S256, state and nonce are always used. Errors: ErrUnavailable (provider
// or store unreachable: answer 503).
func (c *Client) StartLogin(ctx context.Context, opts LoginOptions) (*Redirect, error) {
	p, err := c.provider(ctx)
	if err != nil {
		return nil, err
	}
	fs := flowState{
		State:    randomToken(),
		Nonce:    randomToken(),
		Verifier: oauth2.GenerateVerifier(),
		ReturnTo: c.cfg.Return.Safe(opts.ReturnTo),
		Remember: opts.Remember,
		Created:  c.now().UnixMilli(),
		ACR:      opts.ACRValues,
	}
	authOpts, err := c.params.options(p.meta, opts.ForceLogin)
	if err != nil {
		return nil, err
	}
	authOpts = append(authOpts, oauth2.S256ChallengeOption(fs.Verifier), oauth2.SetAuthURLParam("nonce", fs.Nonce))
	if opts.MaxAge > 0 {
		fs.MaxAge = int64(opts.MaxAge / time.Second)
		authOpts = append(authOpts, oauth2.SetAuthURLParam("max_age", strconv.FormatInt(fs.MaxAge, 10)))
	}
	if len(opts.ACRValues) > 0 {
		authOpts = append(authOpts, oauth2.SetAuthURLParam("acr_values", strings.Join(opts.ACRValues, " ")))
	}
	if opts.LoginHint != "" {
		authOpts = append(authOpts, oauth2.SetAuthURLParam("login_hint", opts.LoginHint))
	}
	plain, err := json.Marshal(fs)
	if err != nil {
		return nil, fmt.Errorf("oidcflow: encoding flow: %w", err)
	}
	name := c.flowCookieName(fs.State)
	value, err := securecookie.EncodeMulti(name, plain, c.codecs...)
	if err != nil {
		return nil, errors.New("oidcflow: encoding the flow cookie failed")
	}
	ok, err := c.cfg.Store.SetNX(ctx, c.flowKey(fs.State), []byte{1}, c.cfg.FlowTTL)
	if err != nil {
		return nil, fmt.Errorf("%w: recording login state: %w", ErrUnavailable, err)
	}
	if !ok {
		return nil, errors.New("oidcflow: state collision") // 256 random bits: never
	}
	return &Redirect{
		URL:        c.oauth2Config(p).AuthCodeURL(fs.State, authOpts...),
		SetCookies: []*http.Cookie{c.cookie.NewCookie(name, value, c.cfg.FlowTTL, http.SameSiteLaxMode)},
	}, nil
}

// oauth2Config returns the OAuth client configuration for p.
func (c *Client) oauth2Config(p *provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: c.cfg.ClientSecret,
		Endpoint:     p.endpoint,
		RedirectURL:  c.cfg.RedirectURL,
		Scopes:       c.cfg.Scopes,
	}
}

// readFlow returns the flow of state from r's flow cookie: ErrFlowExpired
// if the cookie is missing or too old, ErrStateMismatch if it does not
// decode or holds another state.
func (c *Client) readFlow(r *http.Request, state string) (*flowState, error) {
	ck, err := r.Cookie(c.flowCookieName(state))
	if err != nil {
		// Another flow in progress but none for this state: a forged or
		// crossed callback. No flow at all: it expired (or never began).
		if len(c.clearFlowCookies(r)) > 0 {
			return nil, fmt.Errorf("%w (no flow for this state)", ErrStateMismatch)
		}
		return nil, fmt.Errorf("%w (no flow cookie)", ErrFlowExpired)
	}
	var plain []byte
	if len(ck.Value) > 4096 || securecookie.DecodeMulti(ck.Name, ck.Value, &plain, c.codecs...) != nil {
		return nil, fmt.Errorf("%w (flow cookie does not decode)", ErrStateMismatch)
	}
	var fs flowState
	if err := json.Unmarshal(plain, &fs); err != nil || fs.Verifier == "" || fs.Nonce == "" {
		return nil, fmt.Errorf("%w (flow cookie is malformed)", ErrStateMismatch)
	}
	if !constantTimeEqual(fs.State, state) {
		return nil, ErrStateMismatch
	}
	if age := c.now().Sub(time.UnixMilli(fs.Created)); age > c.cfg.FlowTTL || age < -c.skew {
		return nil, fmt.Errorf("%w (started %v ago)", ErrFlowExpired, age.Round(time.Second))
	}
	return &fs, nil
}

// clearFlowCookies returns cookies deleting every flow cookie r carries.
func (c *Client) clearFlowCookies(r *http.Request) []*http.Cookie {
	var out []*http.Cookie
	for _, ck := range r.Cookies() {
		if strings.HasPrefix(ck.Name, c.flowPfx) {
			out = append(out, c.cookie.NewCookie(ck.Name, "", 0, http.SameSiteLaxMode))
		}
	}
	return out
}

// maxLoginHint bounds a login_hint taken from a request.
const maxLoginHint = 256

// ValidLoginHint reports whether a login_hint from the request may be
// passed to the provider: 1 to 256 bytes of printable UTF-8 without
// control characters (it ends up in the provider's login form).
func ValidLoginHint(s string) bool {
	if s == "" || len(s) > maxLoginHint || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

// MaxPendingLogins is how many unfinished logins a browser keeps: each
// has a flow cookie for FlowTTL, and abandoned ones would otherwise pile
// up until the host refuses the browser's requests (431) — a page that
// makes the browser start logins over and over could cause that.
const MaxPendingLogins = 4

// ExcessFlowCookies returns cookies deleting r's oldest flow cookies
// (and any that do not decode), so that with the one a new login adds no
// more than MaxPendingLogins remain. Set them with the new login's.
func (c *Client) ExcessFlowCookies(r *http.Request) []*http.Cookie {
	type flow struct {
		name    string
		created int64
	}
	var flows []flow
	for _, ck := range r.Cookies() {
		if !strings.HasPrefix(ck.Name, c.flowPfx) {
			continue
		}
		var fs flowState
		var plain []byte
		created := int64(-1) // undecodable: oldest of all
		if len(ck.Value) <= 4096 && securecookie.DecodeMulti(ck.Name, ck.Value, &plain, c.codecs...) == nil && json.Unmarshal(plain, &fs) == nil {
			created = fs.Created
		}
		flows = append(flows, flow{ck.Name, created})
	}
	if len(flows) < MaxPendingLogins {
		return nil
	}
	slices.SortFunc(flows, func(a, b flow) int { return cmp.Compare(a.created, b.created) })
	var out []*http.Cookie
	for _, f := range flows[:len(flows)-(MaxPendingLogins-1)] {
		out = append(out, c.cookie.NewCookie(f.name, "", 0, http.SameSiteLaxMode))
	}
	return out
}

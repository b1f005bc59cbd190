package caddymodule

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
)

// ConditionConfig selects principals by what their credential says:
// members of at least one of Groups, or principals whose Claim holds at
// least one of Values. Exactly one of Groups and Claim is set. In a
// Caddyfile: `groups <group…>` or `claim <claim> <value…>`.
type ConditionConfig struct {
	// Groups: a principal in any of these groups (the groups read from
	// the configured groups claims; exact, case-sensitive names).
	Groups []string `json:"groups,omitempty"`
	// Claim is a top-level claim name (`email_verified`,
	// `https://example.com/roles`) or, for a nested claim, a JSON
	// pointer (`/realm_access/roles`). A dotted path is refused as
	// ambiguous: write `/a/b` for a nested claim, `/a.b` for a name
	// with a dot.
	Claim string `json:"claim,omitempty"`
	// Values accepted for Claim: a string claim equal to one, an array
	// claim containing one, a boolean claim equal to `true`/`false`, a
	// number written in decimal.
	Values []string `json:"values,omitempty"`
}

// compile checks the condition and builds it.
func (c ConditionConfig) compile() (policy.Condition, error) {
	return policy.NewCondition(c.Groups, c.Claim, c.Values)
}

// compileWhen compiles an optional condition.
func compileWhen(c *ConditionConfig) (*policy.Condition, error) {
	if c == nil {
		return nil, nil
	}
	pc, err := c.compile()
	if err != nil {
		return nil, fmt.Errorf("when: %w", err)
	}
	return &pc, nil
}

// StepUpConfig requires, of the principals When selects, an
// authentication recent enough or of an accepted class, like the
// route's MaxAge and ACR (which apply to everyone). In a Caddyfile:
// `max_age <duration> when …` or `acr <class…> when …`.
type StepUpConfig struct {
	// MaxAge is the oldest authentication (auth_time) accepted.
	MaxAge caddy.Duration `json:"max_age,omitempty"`
	// ACR lists acceptable authentication context classes (`acr`).
	ACR []string `json:"acr,omitempty"`
	// When limits the rule to the principals it selects. Default: all.
	When *ConditionConfig `json:"when,omitempty"`
}

// IdentityGroupsConfig limits the groups sent upstream (the groups
// identity header and `{http.auth.user.groups}`) to some groups: those
// the configuration mentions, and those listed. Authorization always
// sees every group. In a Caddyfile: `identity_groups mentioned
// [<group…>]` or `identity_groups <group…>`.
type IdentityGroupsConfig struct {
	// Mentioned keeps the groups the configuration names: in `grant … to
	// groups`, in `mfa { required_for groups … }`, and in the route's own
	// `when groups` conditions (require, max_age, acr, mfa). Groups a
	// route checks with `require_claim groups …` are not counted: list
	// them in Groups. Default: false.
	Mentioned bool `json:"mentioned,omitempty"`
	// Groups are kept too.
	Groups []string `json:"groups,omitempty"`
}

// appAuthz is the app's compiled authorization: what gives principals
// their scopes, who needs a second factor, which groups go upstream.
type appAuthz struct {
	grants []policy.Grant
	// mfa is nil without an mfa block.
	mfa *policy.MFA
	// filterGroups limits forwarded groups to keepGroups (and the
	// route's own mentions when mentioned is set).
	filterGroups bool
	mentioned    bool
	keepGroups   []string
}

// compileAuthz checks grants, mfa and identity_groups, and builds
// a.authz. It runs after the scope implications are compiled.
func (a *App) compileAuthz() error {
	z := &appAuthz{}
	declared := a.declaredScopes()
	for i, g := range a.Grants {
		pg, err := g.compile(declared)
		if err != nil {
			return fmt.Errorf("grants[%d]: %w", i, err)
		}
		z.grants = append(z.grants, pg)
	}
	if a.MFA != nil {
		m, err := a.MFA.compile()
		if err != nil {
			return err
		}
		z.mfa = &m
	}
	if ig := a.IdentityGroups; ig != nil {
		if !ig.Mentioned && len(ig.Groups) == 0 {
			return errors.New("identity_groups: say which groups to send upstream: mentioned, a list of groups, or both")
		}
		if slices.Contains(ig.Groups, "") {
			return errors.New("identity_groups: empty group name")
		}
		z.filterGroups, z.mentioned = true, ig.Mentioned
		z.keepGroups = slices.Clone(ig.Groups)
		if ig.Mentioned {
			for _, g := range z.grants {
				z.keepGroups = appendNew(z.keepGroups, g.To.Groups...)
			}
			if z.mfa != nil {
				for _, c := range z.mfa.RequiredFor {
					z.keepGroups = appendNew(z.keepGroups, c.Groups...)
				}
			}
		}
	}
	a.authz = z
	return nil
}

// declaredScopes are the scopes the app names: both sides of every
// scope implication, known_scopes, and every resource's
// scopes_supported.
func (a *App) declaredScopes() map[string]bool {
	out := map[string]bool{}
	for _, s := range a.Scopes {
		out[s.Name] = true
		for _, i := range s.Implies {
			out[i] = true
		}
	}
	for _, s := range a.KnownScopes {
		out[s] = true
	}
	for _, r := range a.Resources {
		for _, s := range r.ScopesSupported {
			out[s] = true
		}
	}
	return out
}

// routeAuthz is a route's compiled authorization beyond its scope
// requirements: step-up rules and its part in mfa.
type routeAuthz struct {
	// stepUp are the route's max_age and acr rules, conditional or not.
	stepUp []policy.StepUp
	// mfa is the app's mfa (nil without one); mfaOff exempts the route
	// from its required_for; mfaAll and mfaWhen require it on the route.
	mfa     *policy.MFA
	mfaOff  bool
	mfaAll  bool
	mfaWhen *policy.Condition
	// mfaAt reports a Caddyfile mistake of the route's `mfa` line at that
	// line; nil outside a Caddyfile.
	mfaAt func(error) error
	// now is the clock of max_age and mfa grace; nil means time.Now.
	now func() time.Time
}

// clock returns the current time for authentication age checks.
func (z *routeAuthz) clock() time.Time {
	if z.now != nil {
		return z.now()
	}
	return time.Now()
}

// compileAuthz compiles the route's step-up rules and mfa, and sets
// which groups its identity headers carry. It runs after the scope
// requirements and identity headers are compiled.
func (h *Handler) compileAuthz(app *App) error {
	z := &h.authz
	z.stepUp = z.stepUp[:0]
	if h.MaxAge > 0 || len(h.ACR) > 0 {
		z.stepUp = append(z.stepUp, policy.StepUp{MaxAge: time.Duration(h.MaxAge), ACR: h.ACR})
	}
	var mentions []string
	for _, r := range h.reqs {
		if r.When != nil {
			mentions = appendNew(mentions, r.When.Groups...)
		}
	}
	for i, s := range h.StepUp {
		if s.MaxAge < 0 {
			return fmt.Errorf("step_up[%d]: max_age must not be negative", i)
		}
		if s.MaxAge == 0 && len(s.ACR) == 0 {
			return fmt.Errorf("step_up[%d]: needs max_age or acr", i)
		}
		when, err := compileWhen(s.When)
		if err != nil {
			return fmt.Errorf("step_up[%d]: %w", i, err)
		}
		if when != nil {
			mentions = appendNew(mentions, when.Groups...)
		}
		z.stepUp = append(z.stepUp, policy.StepUp{MaxAge: time.Duration(s.MaxAge), ACR: s.ACR, When: when})
	}
	var appZ appAuthz
	if app.authz != nil {
		appZ = *app.authz
	}
	z.mfa = appZ.mfa
	if m := h.MFA; m != nil {
		if m.Off && m.When != nil {
			return errors.New("mfa: off takes no condition")
		}
		if appZ.mfa == nil && !m.Off {
			err := errors.New("mfa: the portcullis global option has no mfa block that says what a second factor is (methods, acr, grace)")
			if z.mfaAt != nil {
				return z.mfaAt(err)
			}
			return err
		}
		when, err := compileWhen(m.When)
		if err != nil {
			return fmt.Errorf("mfa: %w", err)
		}
		z.mfaOff, z.mfaAll, z.mfaWhen = m.Off, !m.Off && when == nil, when
		if when != nil {
			mentions = appendNew(mentions, when.Groups...)
		}
	}
	if appZ.filterGroups {
		keep := slices.Clone(appZ.keepGroups)
		if appZ.mentioned {
			keep = appendNew(keep, mentions...)
		}
		h.ih.keepGroups = &groupSet{keep: keep}
	}
	return nil
}

// attributes are what conditions and authentication rules read of p.
func attributes(p principal.Principal) policy.Attributes {
	return policy.Attributes{Groups: p.Groups, Claims: p.Claims, AuthTime: p.AuthTime, ACR: p.ACR, AMR: p.AMR}
}

// effective returns p with its effective scopes: as its credential
// grants them, then those the app's grants give it (never for an API
// key, whose scopes are explicit, nor for an access token of the
// gateway's own authorization server, whose scopes are what the user
// consented to), then every scope they imply. Rules,
// identity headers, placeholders and audit events all read these.
func (h *Handler) effective(p principal.Principal) principal.Principal {
	var grants []policy.Grant
	if h.app.authz != nil && p.Method != principal.MethodAPIKey && !h.app.ownAccessToken(p) {
		grants = h.app.authz.grants
	}
	p.Scopes = policy.EffectiveScopes(p.Scopes, grants, attributes(p), h.app.implications)
	return p
}

// groupSet is the groups a route sends upstream when identity_groups
// limits them.
type groupSet struct{ keep []string }

// forwardedGroups returns the groups of a principal sent upstream: all
// of them, or those identity_groups keeps (a copy only when some are
// left out).
func (ih *IdentityHeaders) forwardedGroups(groups []string) []string {
	if ih.keepGroups == nil {
		return groups
	}
	keep := ih.keepGroups.keep
	if !slices.ContainsFunc(groups, func(g string) bool { return !slices.Contains(keep, g) }) {
		return groups
	}
	out := make([]string, 0, len(groups))
	for _, g := range groups {
		if slices.Contains(keep, g) {
			out = append(out, g)
		}
	}
	return out
}

// appendNew appends the values of add not already in dst.
func appendNew(dst []string, add ...string) []string {
	for _, s := range add {
		if !slices.Contains(dst, s) {
			dst = append(dst, s)
		}
	}
	return dst
}

// oidcProtocolScopes are the OpenID Connect scopes that ask for claims
// or a refresh token (OIDC Core §5.4, §11): they say what the gateway
// may read about the user, not what the user may do.
var oidcProtocolScopes = []string{"openid", "profile", "email", "address", "phone", "offline_access"}

// providerScopes are the scopes a session's principal holds from its
// provider: those the token response granted (scope, space-separated),
// without the OpenID Connect protocol scopes. The session record keeps
// the response's scope as it was.
func providerScopes(scope string) []string {
	if scope == "" {
		return nil
	}
	var out []string
	for s := range strings.FieldsSeq(scope) { // no slice of every field per request
		if !slices.Contains(oidcProtocolScopes, s) {
			out = append(out, s)
		}
	}
	return out
}

// whoamiInfo is the whoami endpoint's view of a session, with the
// effective scopes its principal holds on requests (provider-granted,
// from grants, implied).
func (h *Handler) whoamiInfo(s *session.Session) session.Info {
	info := s.Info()
	p := s.Principal()
	p.Scopes = providerScopes(s.Tokens.Scope)
	info.Scopes = h.effective(p).Scopes
	return info
}

// ownAccessToken reports whether p is an access token of the gateway's
// own authorization server.
func (a *App) ownAccessToken(p principal.Principal) bool {
	return p.Method == principal.MethodJWT && a.authServer != nil && p.Issuer != "" && p.Issuer == a.authServer.cfg.Issuer
}

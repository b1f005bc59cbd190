package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/credential"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/jwtauth"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/lockout"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// FailuresConfig is the lockout policy for failed credential checks
// (the Caddyfile's `failures` block): a client address that presents
// too many wrong API keys or bearer tokens that are not genuine
// (malformed, forged, signed by an unknown key or an untrusted issuer)
// is answered 429 with Retry-After for a while, whatever credential it
// presents, without the credential being checked. Expired tokens,
// revoked or expired keys and a store outage are not counted: they are
// not guessing.
//
// Without a failures block only wrong API keys are counted, with the
// defaults below (20 a minute, then one minute), per replica: the
// behaviour of earlier versions.
type FailuresConfig struct {
	// Limit is how many failed checks one client address may make per
	// period, as `<count>/<period>`: the count-th failure within the
	// period (counted from the first) starts a lockout. Default: `20/1m`.
	Limit string `json:"limit,omitempty"`
	// Lockout is how long a client is refused after reaching the limit
	// (the first time, with Progressive). At least 1s. Default: 1m.
	Lockout caddy.Duration `json:"lockout,omitempty"`
	// Progressive doubles each consecutive lockout, up to MaxLockout: a
	// lockout counts as consecutive when it starts within MaxLockout of
	// the end of the previous one. Default: false.
	Progressive bool `json:"progressive,omitempty"`
	// MaxLockout caps a progressive lockout. Default: 1h, or Lockout when
	// that is longer. Only with Progressive.
	MaxLockout caddy.Duration `json:"max_lockout,omitempty"`
	// Shared keeps the counters in the store (Redis), so every replica
	// counts the same failures and honours the same lockouts (a lockout
	// started by another replica within a second). With the in-memory
	// store the counters are this process's anyway. Default: false (each
	// replica counts its own).
	Shared bool `json:"shared,omitempty"`
}

// Audit reasons (and metric labels) of a request refused because its
// address is locked out, by the credential it presented.
const (
	// reasonAPIKeyThrottled: an API key from a locked-out address.
	reasonAPIKeyThrottled policy.Reason = "api_key_throttled"
	// reasonTokenThrottled: a bearer token from a locked-out address.
	reasonTokenThrottled policy.Reason = "token_throttled"
)

// lockoutClearTTL is how long a shared store's "not locked out" is
// reused on a replica: a lockout reaches every replica within it, and a
// well-behaved client costs one store round trip a second, not one a
// request.
const lockoutClearTTL = lockout.MaxClearTTL

// policy checks the block and returns its lockout policy, with the
// defaults; c may be nil (the defaults).
func (c *FailuresConfig) policy() (lockout.Policy, error) {
	var p lockout.Policy
	if c != nil {
		if c.Limit != "" {
			r, err := ratelimit.ParseRate(c.Limit)
			if err != nil {
				return lockout.Policy{}, fmt.Errorf("failures: limit: %w", err)
			}
			p.Limit, p.Window = r.Count, r.Period
		}
		if c.Lockout < 0 || c.MaxLockout < 0 {
			return lockout.Policy{}, fmt.Errorf("failures: lockout and max_lockout must not be negative")
		}
		if c.MaxLockout != 0 && !c.Progressive {
			return lockout.Policy{}, fmt.Errorf("failures: max_lockout caps progressive lockouts; add progressive or remove it")
		}
		p.Lockout, p.Progressive, p.MaxLockout = time.Duration(c.Lockout), c.Progressive, time.Duration(c.MaxLockout)
	}
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return lockout.Policy{}, fmt.Errorf("failures: %w", err)
	}
	return p, nil
}

// lockoutPool shares failure counters across reloads: the process's
// in-memory counters, and one Redis counter store per shared store.
var lockoutPool = caddy.NewUsagePool()

// pooledLockout is a pooled counter store. It holds no resources of its
// own (a Redis one uses the store pool's client).
type pooledLockout struct{ st lockout.Store }

// Destruct releases nothing.
func (pooledLockout) Destruct() error { return nil }

// failureGuard is the app's compiled failures policy.
type failureGuard struct {
	g *lockout.Guard
	// tokens: bad bearer tokens count and are refused too (a failures
	// block is configured); otherwise only API keys, as before.
	tokens bool
}

// acquireFailures builds the app's failure guard on the pooled counters:
// the store's with `shared` and Redis, else this process's.
func (a *App) acquireFailures() error {
	p, err := a.Failures.policy()
	if err != nil {
		return err
	}
	rs, isRedis := a.store.(*store.Redis)
	shared := a.Failures != nil && a.Failures.Shared && isRedis
	key := "lockout:local"
	if shared {
		key = "lockout:" + a.storeKey
	}
	v, _, err := lockoutPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		if shared {
			st, err := lockout.NewRedis(rs.Client(), lockout.RedisOptions{})
			return pooledLockout{st}, err
		}
		return pooledLockout{lockout.NewMemory(lockout.MemoryOptions{})}, nil
	})
	if err != nil {
		return fmt.Errorf("failures: %w", err)
	}
	a.lockoutKey = key
	opts := lockout.GuardOptions{Policy: p, Store: v.(pooledLockout).st}
	if shared {
		m := a.metrics
		opts.ClearTTL = lockoutClearTTL
		opts.OnStoreError = func(error) { m.storeErrors.WithLabelValues("lockout").Inc() }
	}
	g, err := lockout.NewGuard(opts)
	if err != nil {
		return fmt.Errorf("failures: %w", err)
	}
	a.failures = &failureGuard{g: g, tokens: a.Failures != nil}
	return nil
}

// releaseFailures releases what acquireFailures acquired.
func (a *App) releaseFailures() {
	if a.lockoutKey != "" {
		_, _ = lockoutPool.Delete(a.lockoutKey)
		a.lockoutKey, a.failures = "", nil
	}
}

// judgeOnly makes the app judge credentials without counting traffic:
// no failure is counted, no address locked out, no key's own limit
// applied (token check: one request that describes, never spends).
func (a *App) judgeOnly() {
	a.failures, a.keyLimitsOff = nil, true
}

// guards reports whether the app counts failures of credentials of kind.
func (f *failureGuard) guards(kind credential.Kind) bool {
	return f != nil && (kind == credential.APIKey || kind == credential.Bearer && f.tokens)
}

// lockedOut is the verdict for a credential of kind presented from a
// locked-out address (answered without checking the credential), or nil.
func (h *Handler) lockedOut(ctx context.Context, kind credential.Kind, clientIP string) *verdict {
	f := h.app.failures
	if !f.guards(kind) {
		return nil
	}
	err := f.g.Check(ctx, addressBucket(clientIP))
	if err == nil {
		return nil
	}
	reason := throttledReason(kind)
	retry := time.Second
	var le *lockout.LockedError
	if errors.As(err, &le) {
		retry = le.RetryAfter
	}
	return refuse(reason, challenge{status: http.StatusTooManyRequests, code: "invalid_request",
		description: "too many failed attempts from this address; try again later", retryAfter: retry})
}

// kindLockoutStarted is the audit event written when a failure locks
// its address out; its reason is the throttled reason of the credential
// that failed (api_key_throttled or token_throttled).
const kindLockoutStarted audit.Kind = "lockout_started"

// throttledReason is the reason of a refusal, for a credential of kind,
// of a locked-out address.
func throttledReason(kind credential.Kind) policy.Reason {
	if kind == credential.APIKey {
		return reasonAPIKeyThrottled
	}
	return reasonTokenThrottled
}

// noteFailure counts a failed check of a credential of kind from
// clientIP when its reason is one guessing or forging produces, and
// writes a lockout_started event when it locks the address out.
func (h *Handler) noteFailure(r *http.Request, kind credential.Kind, clientIP string, reason policy.Reason) {
	f := h.app.failures
	if !f.guards(kind) || !countsAsFailure(kind, reason) {
		return
	}
	if st := f.g.Fail(r.Context(), addressBucket(clientIP)); st.Started {
		rid := ""
		if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
			rid, _ = repl.GetString("http.auth.request_id")
		}
		ev := requestEvent(r, kindLockoutStarted, rid, h.Route)
		ev.Result, ev.Reason = audit.Deny, string(throttledReason(kind))
		h.app.emit(ev, audit.AllowAll)
	}
}

// countsAsFailure reports whether a refusal for reason is what guessing
// keys or forging tokens produces: an unknown or malformed key; a token
// that is malformed, oversized, unsigned, signed with an algorithm or
// key we do not trust, or from an untrusted issuer (or any token where
// no issuer is trusted). A genuine credential refused for its age, its
// audience, its claims or the route's rules is not counted, nor is an
// outage.
func countsAsFailure(kind credential.Kind, reason policy.Reason) bool {
	if kind == credential.APIKey {
		return reason == policy.ReasonInvalidCredentials || reason == policy.ReasonMalformedCredentials
	}
	switch jwtauth.Reason(reason) {
	case jwtauth.ReasonTooLarge, jwtauth.ReasonMalformed, jwtauth.ReasonDuplicateKey, jwtauth.ReasonCritical,
		jwtauth.ReasonAlgNone, jwtauth.ReasonAlgNotAllowed, jwtauth.ReasonBadSignature, jwtauth.ReasonUnknownKey,
		jwtauth.ReasonUntrustedIssuer:
		return true
	}
	return reason == policy.ReasonInvalidCredentials
}

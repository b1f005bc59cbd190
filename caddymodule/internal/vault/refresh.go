package vault

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Refresher renews tokens at a provider's token endpoint (RFC 6749 §6).
type Refresher interface {
	// Refresh exchanges refreshToken for new tokens. A result without a
	// RefreshToken keeps the current one (providers that do not rotate).
	// An error wrapping ErrInvalidGrant means the provider refused the
	// refresh token; any other error is transient. Errors must not
	// contain tokens.
	Refresh(ctx context.Context, refreshToken string) (Tokens, error)
}

// Tokens are what a provider's token endpoint answered.
type Tokens struct {
	// AccessToken is the access token. Secret.
	AccessToken string
	// RefreshToken is the refresh token, if any. Secret.
	RefreshToken string
	// TokenType is token_type ("Bearer").
	TokenType string
	// Expiry is when AccessToken expires (zero: not said).
	Expiry time.Time
	// Scopes granted, when the answer named them (else empty).
	Scopes []string
}

// Connect stores subject's new connection to provider with tokens (as a
// code exchange returned them) and returns it.
func (v *Vault) Connect(ctx context.Context, subject, provider string, t Tokens) (*Connection, error) {
	now := v.now()
	c := &Connection{
		Subject: subject, Provider: provider, AccessToken: t.AccessToken, RefreshToken: t.RefreshToken,
		TokenType: t.TokenType, Expiry: t.Expiry, Obtained: now, Scopes: t.Scopes, Connected: now,
	}
	if err := v.Put(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// needsRefresh reports whether c's access token should be refreshed at
// now: it expires within the skew (at least a fifth, at most half of its
// lifetime, so short-lived tokens are not refreshed on every request).
func (v *Vault) needsRefresh(c *Connection, now time.Time) bool {
	if c.Expiry.IsZero() {
		return false
	}
	lead := v.skew
	if life := c.Expiry.Sub(c.Obtained); life > 0 && !c.Obtained.IsZero() {
		lead = min(max(lead, life/5), life/2)
	}
	return !now.Before(c.Expiry.Add(-lead))
}

// usable reports whether c's access token may still be sent at now.
func usable(c *Connection, now time.Time) bool {
	return c.Expiry.IsZero() || now.Before(c.Expiry)
}

// Token returns subject's connection to provider with an access token
// that may be sent now, refreshing it through r when it has expired or
// is about to. Across replicas one refreshes; the others go on with the
// current token while it is valid, or wait up to RefreshWait for the
// refreshed one. Errors: ErrNotConnected, ErrReconnect, ErrUnavailable.
func (v *Vault) Token(ctx context.Context, subject, provider string, r Refresher) (*Connection, error) {
	c, err := v.Get(ctx, subject, provider)
	if err != nil {
		return nil, err
	}
	if c.NeedsReconnect {
		return nil, ErrReconnect
	}
	now := v.now()
	if !v.needsRefresh(c, now) {
		return c, nil
	}
	if c.RefreshToken == "" || r == nil {
		if usable(c, now) {
			return c, nil
		}
		return nil, fmt.Errorf("%w: the access token expired and there is no refresh token", ErrReconnect)
	}
	key := v.Key(subject, provider)
	lock, token := key+lockSuffix, randomToken()
	got, err := v.locker.Acquire(ctx, lock, token, v.lockTTL)
	if err != nil {
		if usable(c, now) {
			return c, nil
		}
		return nil, unavailable("refreshing", err)
	}
	if !got {
		if usable(c, now) {
			return c, nil
		}
		return v.waitRefresh(ctx, c, lock)
	}
	// Work on a context the client cannot cancel: once the provider has
	// rotated the refresh token, the new one must reach the store.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.lockTTL*8/10)
	defer cancel()
	defer func() { _ = v.locker.Release(wctx, lock, token) }()
	return v.refreshLocked(wctx, subject, provider, r)
}

// refreshLocked refreshes the connection while holding its lock.
func (v *Vault) refreshLocked(ctx context.Context, subject, provider string, r Refresher) (*Connection, error) {
	// Another replica may have refreshed between our read and our lock.
	c, err := v.Get(ctx, subject, provider)
	if err != nil {
		return nil, err
	}
	now := v.now()
	switch {
	case c.NeedsReconnect:
		return nil, ErrReconnect
	case !v.needsRefresh(c, now):
		return c, nil
	}
	t, err := r.Refresh(ctx, c.RefreshToken)
	if v.onRefresh != nil {
		v.onRefresh(subject, provider, err)
	}
	if errors.Is(err, ErrInvalidGrant) {
		c.NeedsReconnect = true
		if perr := v.Put(ctx, c); perr != nil {
			return nil, perr
		}
		return nil, fmt.Errorf("%w: %w", ErrReconnect, err)
	}
	if err != nil {
		if usable(c, now) {
			return c, nil
		}
		return nil, fmt.Errorf("%w: refreshing: %w", ErrUnavailable, err)
	}
	if t.AccessToken == "" {
		return nil, fmt.Errorf("%w: the provider's refresh answer has no access token", ErrUnavailable)
	}
	next := *c
	next.AccessToken, next.TokenType, next.Expiry, next.Obtained = t.AccessToken, t.TokenType, t.Expiry, now
	if t.RefreshToken != "" {
		next.RefreshToken = t.RefreshToken // rotated
	}
	if len(t.Scopes) > 0 {
		next.Scopes = t.Scopes
	}
	if err := v.Put(ctx, &next); err != nil {
		return nil, err
	}
	return &next, nil
}

// waitRefresh waits up to RefreshWait for another replica's refresh of
// c (whose token has expired) and returns the refreshed connection.
func (v *Vault) waitRefresh(ctx context.Context, c *Connection, lock string) (*Connection, error) {
	wctx, cancel := context.WithTimeout(ctx, v.wait)
	defer cancel()
	for {
		if err := pause(wctx); err != nil {
			return nil, unavailable("waiting for another replica's refresh", err)
		}
		n, err := v.Get(wctx, c.Subject, c.Provider)
		switch {
		case errors.Is(err, ErrNotConnected):
			return nil, err // removed meanwhile
		case err != nil:
			continue
		case n.NeedsReconnect:
			return nil, ErrReconnect
		case n.AccessToken != c.AccessToken && usable(n, v.now()):
			return n, nil
		}
	}
}

package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// Refresher renews a session's IdP tokens at the provider's token
// endpoint; package oidcflow implements it.
type Refresher interface {
	// Refresh exchanges the session's refresh token for new tokens, and
	// may return the user's current claims.
	// A result without a RefreshToken or IDToken keeps the current one
	// (providers that do not rotate refresh tokens). An error wrapping
	// ErrRefreshTransient means "try again later" (provider unreachable,
	// 5xx); any other error means the provider refused (for example
	// invalid_grant) and ends the session. Errors must not contain tokens.
	Refresh(ctx context.Context, req RefreshRequest) (Refreshed, error)
}

// RefreshRequest is the session a Refresher renews.
type RefreshRequest struct {
	// Provider names the session's login provider (Login.Provider).
	Provider string
	// Subject is the session's subject (as given to Create).
	Subject string
	// Tokens are the current tokens; RefreshToken is set.
	Tokens Tokens
	// Claims are the current claims.
	Claims Claims
}

// Refreshed is what a Refresher returns.
type Refreshed struct {
	// Tokens are the new tokens.
	Tokens Tokens
	// Claims, when non-nil, replace the session's claims: the provider's
	// current view of the user (UserInfo, a new ID token), so group
	// changes reach the session at its next refresh.
	Claims *Claims
}

// Refresh lock values: a refresh in progress, or the cooldown after a
// transient failure (waiters stop waiting for it).
var (
	lockRefreshing = []byte("r")
	lockBackoff    = []byte("b")
)

// refreshPoll is how often a request waiting for another's refresh
// re-reads the store.
const refreshPoll = 20 * time.Millisecond

// needsRefresh reports whether rec's tokens should be refreshed at now.
func (m *Manager) needsRefresh(rec *record, now time.Time) bool {
	t := rec.Tokens
	if m.refresher == nil || t.RefreshToken == "" || t.Expiry.IsZero() {
		return false
	}
	lead := m.margin
	if life := t.Expiry.Sub(t.Obtained); life > 0 {
		// At least 20% of the lifetime, at most half of it, so tokens
		// shorter-lived than the margin are not refreshed on every request.
		lead = min(max(lead, life/5), life/2)
	}
	return !now.Before(t.Expiry.Add(-lead))
}

// refresh renews rec's tokens, or lets another request (on any replica)
// do it: a lock in the store (SetNX with RefreshLockTTL) admits one
// refresher per session. The others go on with the current tokens while
// they are still valid, or wait up to RefreshWait for the refreshed
// record. It returns the record to serve.
func (m *Manager) refresh(ctx context.Context, h string, raw []byte, rec *record) ([]byte, *record, error) {
	key, lockKey := m.keys.session(h), m.keys.lock(h)
	got, err := m.st.SetNX(ctx, lockKey, lockRefreshing, m.lockTTL)
	if err != nil {
		// The record was just read, so the store works; a lost lock
		// write is not worth failing the request for.
		return raw, rec, nil
	}
	if !got {
		if m.now().Before(rec.Tokens.Expiry) {
			return raw, rec, nil
		}
		return m.waitRefresh(ctx, key, lockKey, raw, rec)
	}

	// Work on a context the client cannot cancel: once the provider has
	// rotated the refresh token, the new one must reach the store.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.lockTTL*8/10)
	defer cancel()
	release := func() { _ = m.st.Delete(wctx, lockKey) }

	// Another replica may have refreshed between our read and our lock.
	raw, rec, err = m.read(wctx, key)
	if err != nil {
		release()
		return nil, nil, err
	}
	now := m.now()
	if !m.needsRefresh(rec, now) {
		release()
		return raw, rec, nil
	}
	fresh, err := m.refresher.Refresh(wctx, RefreshRequest{Provider: rec.Provider, Subject: rec.Subject, Tokens: rec.Tokens, Claims: rec.Claims})
	if m.onRefresh != nil {
		m.onRefresh(rec.Subject, err)
	}
	if err != nil {
		if errors.Is(err, ErrRefreshTransient) || wctx.Err() != nil {
			// Keep the lock until it expires, as a backoff; serve the
			// session with its current tokens meanwhile.
			bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
			_ = m.st.Set(bctx, lockKey, lockBackoff, m.lockTTL)
			return raw, rec, nil
		}
		_ = m.removeSession(wctx, h, rec)
		release()
		return nil, nil, fmt.Errorf("%w: %w", ErrRefreshFailed, err)
	}
	raw, rec, err = m.applyTokens(wctx, key, raw, rec, fresh, now)
	release()
	return raw, rec, err
}

// applyTokens stores a refresh's tokens (and claims, when it brought
// them) in the record at key (read as raw, rec), re-reading and retrying
// when a concurrent touch changed it meanwhile.
func (m *Manager) applyTokens(ctx context.Context, key string, raw []byte, rec *record, got Refreshed, now time.Time) ([]byte, *record, error) {
	tok := got.Tokens
	if tok.RefreshToken == "" {
		tok.RefreshToken = rec.Tokens.RefreshToken
	}
	if tok.IDToken == "" {
		tok.IDToken = rec.Tokens.IDToken
	}
	if tok.Obtained.IsZero() {
		tok.Obtained = now
	}
	for range 5 {
		next := *rec
		next.Tokens = tok
		if got.Claims != nil {
			next.Claims = *got.Claims
		}
		next.LastSeen = now
		ttl := m.ttl(&next, now)
		if ttl <= 0 {
			return nil, nil, &expiredError{absolute: true}
		}
		enc, err := m.encode(&next, key)
		if err != nil {
			return nil, nil, err
		}
		ok, err := m.atomic.Swap(ctx, key, raw, enc, ttl+expiryGrace)
		if err != nil {
			return nil, nil, unavailable("storing refreshed tokens", err)
		}
		if ok {
			return enc, &next, nil
		}
		// Changed (touched elsewhere) or deleted (logged out) meanwhile.
		if raw, rec, err = m.read(ctx, key); err != nil {
			return nil, nil, err
		}
	}
	return nil, nil, unavailable("storing refreshed tokens", errors.New("record keeps changing"))
}

// waitRefresh waits up to RefreshWait for another request's refresh of
// the record at key and returns the refreshed record; if the refresh does
// not finish in time or failed transiently, it returns the current one.
func (m *Manager) waitRefresh(ctx context.Context, key, lockKey string, raw []byte, rec *record) ([]byte, *record, error) {
	wctx, cancel := context.WithTimeout(ctx, m.wait)
	defer cancel()
	t := time.NewTicker(refreshPoll)
	defer t.Stop()
	for {
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return nil, nil, unavailable("waiting for token refresh", ctx.Err())
			}
			return raw, rec, nil
		case <-t.C:
		}
		// Read the lock before the record: a refresher writes the record
		// before it releases the lock, so a record read after seeing the
		// lock gone is the refreshed one.
		lock, lerr := m.st.Get(wctx, lockKey)
		done := errors.Is(lerr, store.ErrNotFound) || (lerr == nil && bytes.Equal(lock, lockBackoff))
		nraw, nrec, err := m.read(wctx, key)
		switch {
		case errors.Is(err, ErrNoSession):
			return nil, nil, err // ended meanwhile (refresh refused, logout)
		case err != nil:
			continue
		case done || nrec.Tokens.AccessToken != rec.Tokens.AccessToken || !nrec.Tokens.Expiry.Equal(rec.Tokens.Expiry):
			return nraw, nrec, nil
		}
	}
}

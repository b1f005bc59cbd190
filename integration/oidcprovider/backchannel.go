package oidcprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// backChannelLogoutEvent is the event member of a logout token
// (OpenID Connect Back-Channel Logout 1.0, section 2.4).
const backChannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// backChannelTimeout bounds one delivery of a logout token.
const backChannelTimeout = 5 * time.Second

// BackChannelLogout is the record of one logout token the provider sent.
type BackChannelLogout struct {
	// ClientID is the client the token was sent to (its "aud").
	ClientID string
	// URI is the client's BackChannelLogoutURI.
	URI string
	// Subject and SessionID are the token's "sub" and "sid".
	Subject, SessionID string
	// LogoutToken is the signed token that was POSTed.
	LogoutToken string
	// Status is the HTTP status the client answered (0 when it did not).
	Status int
	// Err is the delivery error, if any.
	Err error
}

// logoutLog keeps the back-channel deliveries in order.
type logoutLog struct {
	mu  sync.Mutex
	all []BackChannelLogout
}

func (l *logoutLog) add(b BackChannelLogout) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, b)
}

func (l *logoutLog) list() []BackChannelLogout {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]BackChannelLogout(nil), l.all...)
}

// sendBackChannelLogouts posts a logout token to every client of the ended
// session that registered a BackChannelLogoutURI. Delivery is synchronous, so
// when the end_session redirect reaches the browser the clients were told.
// With Config.NoBackChannelLogout it sends nothing.
func (s *store) sendBackChannelLogouts(ctx context.Context, e ended) {
	if s.noBackChannel {
		return
	}
	for _, c := range e.clients {
		if c.BackChannelLogoutURI == "" {
			continue
		}
		rec := BackChannelLogout{ClientID: c.ID, URI: c.BackChannelLogoutURI, Subject: e.userID, SessionID: e.id}
		rec.LogoutToken, rec.Status, rec.Err = s.postLogoutToken(ctx, c, e)
		if rec.Err != nil && s.logf != nil {
			s.logf("oidcprovider: back-channel logout to %s: %v", c.BackChannelLogoutURI, rec.Err)
		}
		s.logouts.add(rec)
	}
}

// postLogoutToken signs and delivers one logout token.
func (s *store) postLogoutToken(ctx context.Context, c Client, e ended) (string, int, error) {
	now := time.Now()
	claims := map[string]any{
		"iss":    s.issuer,
		"aud":    c.ID,
		"iat":    now.Unix(),
		"exp":    now.Add(2 * time.Minute).Unix(),
		"jti":    newID(),
		"sub":    e.userID,
		"sid":    e.id,
		"events": map[string]any{backChannelLogoutEvent: map[string]any{}},
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", 0, fmt.Errorf("encoding logout token: %w", err)
	}
	token, err := sign(s.keys.signingKey(), "logout+jwt", payload)
	if err != nil {
		return "", 0, fmt.Errorf("signing logout token: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backChannelTimeout)
	defer cancel()
	body := url.Values{"logout_token": {token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackChannelLogoutURI, strings.NewReader(body))
	if err != nil {
		return token, 0, fmt.Errorf("building back-channel logout request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return token, 0, fmt.Errorf("posting logout token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return token, resp.StatusCode, fmt.Errorf("posting logout token: status %s", resp.Status)
	}
	return token, resp.StatusCode, nil
}

// BackChannelLogouts returns every back-channel logout token the provider
// has sent so far, oldest first.
func (p *Provider) BackChannelLogouts() []BackChannelLogout {
	return p.store.logouts.list()
}

package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/apikey"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
)

// kindAPIKeyExpiring is the audit event written, once a day per key and
// replica, when a key inside its warning window is used.
const kindAPIKeyExpiring audit.Kind = "api_key_expiring"

// expiryWarner remembers which keys were reported as expiring today. It
// is per process and survives reloads, so a reload does not repeat the
// day's events; with several replicas each reports a key once a day.
var expiryWarner = apikey.NewWarner(apikey.DefaultWarnerSize)

// expiryWarnings is the compiled lifetime policy of the api_keys block.
type expiryWarnings struct {
	policy apikey.LifetimePolicy
	// link is the Link header value pointing to the rotation doc, or "".
	link   string
	warner *apikey.Warner
	// now is the clock. Default: time.Now.
	now func() time.Time
}

// lifetime returns the block's lifetime policy.
func (a APIKeysConfig) lifetime() apikey.LifetimePolicy {
	return apikey.LifetimePolicy{MaxLifetime: time.Duration(a.MaxLifetime), WarnBefore: time.Duration(a.WarnBefore)}
}

// expiryWarnings checks the lifetime policy, the rotation doc and every
// static key's expiry against it at now, and compiles the warnings (nil
// when none are configured).
func (a APIKeysConfig) expiryWarnings(now time.Time) (*expiryWarnings, error) {
	p := a.lifetime()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("api_keys: %w", err)
	}
	if err := checkRotationDoc(a.RotationDoc); err != nil {
		return nil, err
	}
	for _, k := range a.Keys {
		if err := a.checkKeyLifetime(k, now, nil); err != nil {
			return nil, err
		}
	}
	if p.WarnBefore <= 0 {
		return nil, nil
	}
	x := &expiryWarnings{policy: p, warner: expiryWarner, now: time.Now}
	if a.RotationDoc != "" {
		x.link = "<" + a.RotationDoc + `>; rel="deprecation"; type="text/html"`
	}
	return x, nil
}

// checkKeyLifetime checks a static key's expiry against max_lifetime,
// counted from now (when the configuration is loaded). at, when set,
// places the error at the key's line. An expiry that does not parse is
// reported by APIKeyConfig.record, not here.
func (a APIKeysConfig) checkKeyLifetime(k APIKeyConfig, now time.Time, at func(error) error) error {
	var expires time.Time
	if k.Expires != "" {
		t, err := time.Parse(time.RFC3339, k.Expires)
		if err != nil {
			return nil
		}
		expires = t
	}
	if err := a.lifetime().CheckExpiry(expires, now); err != nil {
		err = fmt.Errorf("api key %s: %w (max_lifetime %s)", k.ID, err, apikey.FormatDays(time.Duration(a.MaxLifetime)))
		if at != nil {
			err = at(err)
		}
		return err
	}
	return nil
}

// checkRotationDoc checks the rotation_doc URL: absolute http(s), and
// nothing that could break out of the Link header.
func checkRotationDoc(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("api_keys: rotation_doc %q is not an absolute http(s) URL", s)
	}
	if strings.ContainsAny(s, "<>\" \t\r\n,;") {
		return errors.New("api_keys: rotation_doc must not contain spaces, quotes, '<', '>', ',' or ';'")
	}
	return nil
}

// setExpiryHeaders writes the warning headers of a key expiring at
// expires whose warning window began at since: Deprecation (RFC 9745, a
// Structured Field Date), Sunset (RFC 8594, an HTTP-date) and, when
// configured, a Link to the rotation doc.
func setExpiryHeaders(h http.Header, since, expires time.Time, link string) {
	h.Set("Deprecation", "@"+strconv.FormatInt(since.Unix(), 10))
	h.Set("Sunset", expires.UTC().Format(http.TimeFormat))
	if link != "" {
		h.Add("Link", link)
	}
}

// warnExpiry is called for every answer to an authenticated request:
// for an API key inside its warning window it sets the warning headers
// on the answer (allowed or refused), and writes one api_key_expiring
// audit event per key and day. ev is the request's decision event.
func (h *Handler) warnExpiry(hdr http.Header, p principal.Principal, ev audit.Event) {
	x := h.app.expiry
	if x == nil || p.Method != principal.MethodAPIKey || p.ExpiresAt.IsZero() {
		return
	}
	now := x.now()
	if !x.policy.Expiring(p.ExpiresAt, now) {
		return
	}
	setExpiryHeaders(hdr, x.policy.WarningStart(p.ExpiresAt), p.ExpiresAt, x.link)
	if !x.warner.Due(p.KeyID, now) {
		return
	}
	if c := h.app.audit.Check(zap.InfoLevel, string(kindAPIKeyExpiring)); c != nil {
		c.Write(zap.String("event", string(kindAPIKeyExpiring)), zap.String("result", string(audit.Info)),
			zap.String("reason", x.policy.Bucket(p.ExpiresAt, now)), zap.String("request_id", ev.RequestID),
			zap.String("key_id", p.KeyID), zap.String("subject", p.Subject), zap.String("auth_method", string(p.Method)),
			zap.Time("expires", p.ExpiresAt.UTC()), zap.Int("days_left", int(p.ExpiresAt.Sub(now)/(24*time.Hour))),
			zap.String("route", ev.Route))
	}
}

// lifetimeOrZero is the lifetime policy of a, or none when a is nil.
func (a *APIKeysConfig) lifetimeOrZero() apikey.LifetimePolicy {
	if a == nil {
		return apikey.LifetimePolicy{}
	}
	return a.lifetime()
}

// expiryStatus is keyStatus, marked "expiring (Nd left)" for a working
// key inside the warning window of p.
func expiryStatus(r apikey.Record, now time.Time, p apikey.LifetimePolicy) string {
	s := keyStatus(r, now)
	if (s == "active" || s == "grace") && p.Expiring(r.Expires, now) {
		left := r.Expires.Sub(now)
		days := int(left / (24 * time.Hour))
		if days < 1 {
			return s + ", expiring (<1d left)"
		}
		return fmt.Sprintf("%s, expiring (%dd left)", s, days)
	}
	return s
}

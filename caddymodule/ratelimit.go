package caddymodule

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// denyCacheSize bounds the Redis limiter's local memory of refused
// buckets (about 100 bytes each), so a client hammering past its limit
// does not cost a Redis round trip per request.
const denyCacheSize = 10000

// limiterPool shares rate limiters across reloads, keyed by the store
// they use: the in-memory limiter keeps its buckets, the Redis one its
// circuit breaker and deny cache.
var limiterPool = caddy.NewUsagePool()

// pooledLimiter is a limiter with a pointer to the current config's
// metrics (swapped on each Provision).
type pooledLimiter struct {
	l       ratelimit.Limiter
	metrics atomic.Pointer[limiterMetrics]
}

// limiterMetrics are the series a limiter feeds, looked up once per
// config rather than by label on every round trip.
type limiterMetrics struct {
	errors  prometheus.Counter
	latency prometheus.Observer
}

// Destruct releases nothing: the limiter holds no resources of its own
// (the Redis client belongs to the store pool).
func (p *pooledLimiter) Destruct() error { return nil }

// acquireLimiter builds (or reuses) the limiter for the app's store.
func (a *App) acquireLimiter() error {
	if len(a.zones) == 0 && !a.limitsKeys() {
		return nil
	}
	key := "limiter:" + a.storeKey
	v, _, err := limiterPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		pl := &pooledLimiter{}
		obs := ratelimit.Observer{
			OnRedisError: func(error) {
				if m := pl.metrics.Load(); m != nil {
					m.errors.Inc()
				}
			},
			OnRedisLatency: func(d time.Duration) {
				if m := pl.metrics.Load(); m != nil {
					m.latency.Observe(d.Seconds())
				}
			},
			OnStateChange: func(from, to ratelimit.State, err error) {
				// Logged once per transition, never per request.
				if to == ratelimit.StateOpen && from == ratelimit.StateClosed {
					caddy.Log().Named("portcullis").Warn("rate limiter: Redis unreachable, applying each zone's on_error", zap.Error(err))
				} else if to == ratelimit.StateClosed {
					caddy.Log().Named("portcullis").Info("rate limiter: Redis reachable again")
				}
			},
		}
		if r, ok := a.store.(*store.Redis); ok {
			opts := ratelimit.RedisOptions{Observer: obs, DenyCacheSize: denyCacheSize}
			if a.Store != nil && a.Store.Timeout > 0 {
				// The store's timeout bounds the limiter's round trip too.
				opts.Timeout = time.Duration(a.Store.Timeout)
			}
			l, err := ratelimit.NewRedis(r.Client(), opts)
			if err != nil {
				return nil, err
			}
			pl.l = l
		} else {
			pl.l = ratelimit.NewMemory(ratelimit.MemoryOptions{Observer: obs})
		}
		return pl, nil
	})
	if err != nil {
		return fmt.Errorf("rate limiter: %w", err)
	}
	pl := v.(*pooledLimiter)
	if a.metrics != nil {
		pl.metrics.Store(&limiterMetrics{
			errors:  a.metrics.storeErrors.WithLabelValues("ratelimit"),
			latency: a.metrics.storeDuration.WithLabelValues("ratelimit"),
		})
	} else {
		pl.metrics.Store(nil)
	}
	a.limiter, a.limiterKey = pl.l, key
	return nil
}

// limit applies the route's rate-limit zones, and an API key's own
// limit (keylimit.go), to the request: nil when
// it may go on (the RateLimit headers then set on w, if enabled), else
// the verdict to answer: 429 with Retry-After, or 503 when the store is
// down and a zone fails closed. When the session read decided these very
// requests in its round trip (pre), that decision is the answer.
func (h *Handler) limit(w http.ResponseWriter, r *http.Request, repl *caddy.Replacer, p principal.Principal, pre *prepaid) *verdict {
	own, hasOwn := h.keyLimit(r, p)
	if len(h.zones) == 0 && !hasOwn {
		return nil
	}
	// The requests live in a local array (no allocation), which must
	// not reach an interface call: its arguments escape to the heap.
	var reqBuf [maxLocalZones]ratelimit.Request
	reqs := h.limitRequests(reqBuf[:0], r, repl, own, hasOwn)
	if pre.batch != nil {
		return h.limitPrepaid(w, r, reqs, pre)
	}
	if m, ok := h.app.limiter.(*ratelimit.Memory); ok && len(reqs) <= maxLocalZones {
		var resBuf [maxLocalZones]ratelimit.Result
		results := resBuf[:len(reqs)]
		return h.limitVerdict(w, results, m.AllowInto(reqs, results))
	}
	return h.limitAllow(w, r, reqs)
}

// limitPrepaid answers reqs with the session read's decision when it was
// made for exactly these requests; otherwise it refunds that decision's
// charge and asks the limiter.
func (h *Handler) limitPrepaid(w http.ResponseWriter, r *http.Request, reqs []ratelimit.Request, pre *prepaid) *verdict {
	if results, err, ok := pre.take(reqs); ok {
		return h.limitVerdict(w, results, err)
	}
	pre.settle(r.Context())
	return h.limitAllow(w, r, reqs)
}

// limitAllow asks the limiter for reqs, a copy of them: they may be
// limit's local array, which must not escape.
func (h *Handler) limitAllow(w http.ResponseWriter, r *http.Request, reqs []ratelimit.Request) *verdict {
	results, err := h.app.limiter.Allow(r.Context(), slices.Clone(reqs))
	return h.limitVerdict(w, results, err)
}

// maxLocalZones is the most requests limit decides in local arrays.
const maxLocalZones = 4

// limitRequests appends to reqs one request per zone of the route,
// keyed by its template, then own when hasOwn.
func (h *Handler) limitRequests(reqs []ratelimit.Request, r *http.Request, repl *caddy.Replacer, own ratelimit.Request, hasOwn bool) []ratelimit.Request {
	for _, z := range h.zones {
		key := zoneKey(repl, z.Key)
		if key == "" {
			// Never one shared bucket: an empty key (an anonymous request
			// on a per-user zone) falls back to the client address.
			ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
			key = "ip:" + ip
		}
		reqs = append(reqs, ratelimit.Request{Zone: z, Key: key})
	}
	if hasOwn {
		reqs = append(reqs, own) // the key's own bucket (keylimit.go)
	}
	return reqs
}

// zoneKey resolves a zone's key template. A template that is one
// placeholder, such as the default {http.auth.user.id}, is looked up
// directly: the same value ReplaceAll gives (unknown or empty: ""),
// without its scan and string builder.
func zoneKey(repl *caddy.Replacer, tmpl string) string {
	if name, ok := singlePlaceholder(tmpl); ok {
		v, _ := repl.Get(name)
		return caddy.ToString(v)
	}
	return repl.ReplaceAll(tmpl, "")
}

// singlePlaceholder returns name when tmpl is exactly "{name}", with no
// other brace and no backslash (which could escape one).
func singlePlaceholder(tmpl string) (string, bool) {
	if len(tmpl) < 3 || tmpl[0] != '{' || tmpl[len(tmpl)-1] != '}' {
		return "", false
	}
	name := tmpl[1 : len(tmpl)-1]
	if strings.IndexByte(name, '{') >= 0 || strings.IndexByte(name, '}') >= 0 || strings.IndexByte(name, '\\') >= 0 {
		return "", false
	}
	return name, true
}

// limitVerdict turns the limiter's results (and error) into limit's
// answer.
func (h *Handler) limitVerdict(w http.ResponseWriter, results []ratelimit.Result, err error) *verdict {
	if err != nil && !errors.Is(err, ratelimit.ErrUnavailable) {
		return &verdict{kind: audit.KindRateLimited, reason: "rate_limit_error", plain: true,
			c: challenge{status: http.StatusInternalServerError, code: "server_error", description: "rate limiting failed"}}
	}
	strict, _ := ratelimit.Strictest(results)
	if ratelimit.Allowed(results) {
		if h.rateLimitHeaders && strict.Source == ratelimit.SourceStore {
			setRateLimitHeaders(w.Header(), strict)
		}
		return nil
	}
	v := &verdict{kind: audit.KindRateLimited, plain: true}
	for _, res := range results {
		if !res.Allowed {
			v.zone = res.Zone
			break
		}
	}
	if strict.Source == ratelimit.SourceOnError {
		v.reason = "rate_limit_unavailable"
		v.c = challenge{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
			description: "rate limiting is unavailable; try again shortly", retryAfter: time.Second}
		return v
	}
	limited := strict // its own copy on the heap; strict stays on the stack
	v.reason, v.limit = "rate_limited", &limited
	if v.zone == ratelimit.KeyZone {
		v.reason = reasonKeyRateLimited
	}
	v.c = challenge{status: http.StatusTooManyRequests, code: "rate_limited",
		description: "too many requests; retry after the time in Retry-After", retryAfter: strict.RetryAfter}
	return v
}

// setRateLimitHeaders writes the IETF RateLimit-Policy and RateLimit
// headers (draft-ietf-httpapi-ratelimit-headers) for the strictest zone.
func setRateLimitHeaders(h http.Header, r ratelimit.Result) {
	// q and r count the same thing: events a full bucket admits at once
	// (burst+1), refilled over the window.
	// Both values are built in one buffer, converted once and set with
	// one backing array (each value its own capped element), rather than
	// two fmt.Sprintf("%q…") and two Sets: this runs on every allowed
	// request of a limited route. appendQuoted quotes as %q does.
	var buf [128]byte
	b := appendQuoted(buf[:0], r.Zone)
	quoted := len(b)
	b = append(b, ";q="...)
	b = strconv.AppendInt(b, int64(r.Limit), 10)
	b = append(b, ";w="...)
	b = strconv.AppendInt(b, int64(ceilSeconds(r.Quota.Window())), 10)
	split := len(b)
	b = append(b, b[:quoted]...) // the quoted zone again
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, int64(r.Remaining), 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, int64(ceilSeconds(r.ResetAfter)), 10)
	both := string(b)
	vals := []string{both[:split], both[split:]}
	h["Ratelimit-Policy"] = vals[0:1:1]
	h["Ratelimit"] = vals[1:2:2]
}

// appendQuoted appends s quoted as strconv.AppendQuote (and %q) quote
// it. A zone name is printable ASCII without quotes or backslashes
// (ValidateZoneName), which quoting leaves as it is: that case skips
// AppendQuote's rune-by-rune decoding.
func appendQuoted(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' {
			return strconv.AppendQuote(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// ceilSeconds rounds a duration up to whole seconds, at least 1 when positive.
func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}

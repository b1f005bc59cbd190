package integration_test

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// failuresGateway trusts the provider's JWTs and one static key, and
// locks out addresses per failures (the block's content), counters in
// storeLine's store.
func failuresGateway(issuer, upstream, storeLine, keyBlock, failures string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	portcullis {
		%s
		jwt %s {
			audience %s
		}
		api_keys {
			%s
		}
		failures {
			%s
		}
	}
}

http://127.0.0.1:%d {
	portcullis {
		require orders:read
	}
	reverse_proxy %s
}
`, p.Global(), storeLine, issuer, ordersAPI, keyBlock, failures, p.HTTP, upstream)
	}
}

// forgedJWT is a token of the provider whose signature is broken: what
// forging produces (reason bad_signature).
func forgedJWT(t *testing.T, idp *oidcprovider.Provider) string {
	t.Helper()
	tok, err := idp.SignJWT(map[string]any{"iss": idp.Issuer(), "sub": "mallory", "aud": []string{ordersAPI}, "scope": "orders:read",
		"iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix()}, "at+jwt")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	sig := []byte(parts[2])
	sig[5] = map[bool]byte{true: 'B', false: 'A'}[sig[5] == 'A']
	return parts[0] + "." + parts[1] + "." + string(sig)
}

// retryAfter reads a 429's Retry-After in seconds.
func retryAfter(t *testing.T, resp *http.Response, body string) int {
	t.Helper()
	n, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 429 || err != nil || !strings.Contains(body, `"request_id"`) {
		t.Fatalf("want a 429 with Retry-After and a request id: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	return n
}

// TestFailuresSharedProgressiveAcrossReplicas: two gateways share their
// failure counters in Redis. Wrong keys and forged JWTs sent to A count
// alike; the third locks the address out on B too (a valid key gets 429
// with Retry-After and a request id, reason api_key_throttled; a token
// token_throttled); once it ends, the next lockout, started on B and
// seen on A, is twice as long. Retry-After values are checked against
// the lockout less the time measured around the requests, never a
// wall-clock bound.
func TestFailuresSharedProgressiveAcrossReplicas(t *testing.T) {
	t.Parallel()
	idp := oidcprovider.Start(t)
	key, block := newKey(t, "--subject", "ci-bot", "--scopes", "orders:read")
	up := harness.StartUpstream(t)
	redis := redistest.StartStandalone(t) // private: every gateway's client is 127.0.0.1
	const lockout = 10                    // seconds: outlasts a few requests on a busy machine
	conf := failuresGateway(idp.Issuer(), up.Addr, redisStore(redis.URL()), block,
		fmt.Sprintf("limit 3/1m\n\t\t\tlockout %ds\n\t\t\tprogressive max 1m\n\t\t\tshared", lockout))
	a, b := harness.StartGateway(t, conf), harness.StartGateway(t, conf)
	wrong := "Bearer " + key[:len(key)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(key, "A")]
	forged := forgedJWT(t, idp)

	// Three failures on A: a wrong key, a forged JWT, a wrong key.
	var started time.Time
	for i, cred := range []map[string]string{{"Authorization": wrong}, bearer(forged), {"Authorization": wrong}} {
		started = time.Now()
		if resp, body := a.Do(t, "GET", "/orders", cred); resp.StatusCode != 401 {
			t.Fatalf("failure %d on A: %d %s", i+1, resp.StatusCode, body)
		}
	}
	// B has never seen this address: it asks the store.
	resp, body := b.Do(t, "GET", "/orders", bearer(key))
	first := retryAfter(t, resp, body)
	elapsed := time.Since(started)
	if lo := int(math.Ceil(float64(lockout) - elapsed.Seconds())); first < lo || first > lockout {
		t.Fatalf("B's Retry-After %d, want between %d and %d (%v after the lockout began)", first, lo, lockout, elapsed)
	}
	if resp, body := b.Do(t, "GET", "/orders", bearer(forged)); resp.StatusCode != 429 {
		t.Fatalf("a token from the locked-out address on B: %d %s", resp.StatusCode, body)
	}
	// The events reach the test through the gateway's output pipe, which
	// may lag the answers.
	waitLog(t, b, `"reason":"api_key_throttled"`)
	waitLog(t, b, `"reason":"token_throttled"`)
	waitLog(t, a, `"event":"lockout_started"`)
	if got := grepLines(a.Logs(), `"event":"lockout_started"`); strings.Count(got, "\n") > 1 || !strings.Contains(got, `"reason":"api_key_throttled"`) {
		t.Fatalf("A's lockout_started events:\n%s\nwant one, reason api_key_throttled (the third failure was a key)", got)
	}

	// Wait out the lockout (polling B; the guard only stops a hung run).
	deadline := time.Now().Add(time.Minute)
	for {
		resp, _ := b.Do(t, "GET", "/orders", bearer(key))
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d a minute after a %ds lockout", resp.StatusCode, lockout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The next lockout, started on B, seen on A: twice as long.
	for i, cred := range []map[string]string{bearer(forged), bearer("not.a.jwt"), {"Authorization": wrong}} {
		started = time.Now()
		if resp, body := b.Do(t, "GET", "/orders", cred); resp.StatusCode != 401 {
			t.Fatalf("failure %d on B: %d %s", i+1, resp.StatusCode, body)
		}
	}
	var second int
	for {
		resp, body := a.Do(t, "GET", "/orders", bearer(key))
		if resp.StatusCode == 429 {
			second = retryAfter(t, resp, body)
			break
		}
		// A may reuse its "not locked out" for up to a second.
		if resp.StatusCode != 200 || time.Now().After(deadline) {
			t.Fatalf("A after the second lockout: %d %s", resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	elapsed = time.Since(started)
	if lo := int(math.Ceil(2*lockout - elapsed.Seconds())); second < lo || second > 2*lockout {
		t.Fatalf("A's Retry-After for the second lockout %d, want between %d and %d (twice %ds, %v after it began)", second, lo, 2*lockout, lockout, elapsed)
	}
	if second <= first {
		t.Fatalf("second lockout %ds is not longer than the first %ds", second, first)
	}
	if logs := a.Logs() + b.Logs(); strings.Contains(logs, key) || strings.Contains(logs, forged) {
		t.Fatal("a credential appears in the logs")
	}
}

// TestFailuresDefaultPerReplica: without a failures block the behaviour
// is as before: bad tokens are not counted, 20 wrong keys lock the
// address out for a minute, on that replica only.
func TestFailuresDefaultPerReplica(t *testing.T) {
	t.Parallel()
	idp := oidcprovider.Start(t)
	key, block := newKey(t, "--subject", "ci-bot", "--scopes", "orders:read")
	up := harness.StartUpstream(t)
	redis := redistest.StartStandalone(t)
	conf := func(p harness.Ports) string {
		c := failuresGateway(idp.Issuer(), up.Addr, redisStore(redis.URL()), block, "")(p)
		return strings.Replace(c, "failures {\n\t\t\t\n\t\t}", "", 1)
	}
	if strings.Contains(conf(harness.Ports{HTTP: 1, Admin: 2}), "failures") {
		t.Fatal("the default configuration still has a failures block")
	}
	a, b := harness.StartGateway(t, conf), harness.StartGateway(t, conf)
	forged := forgedJWT(t, idp)
	for i := range 30 {
		if resp, _ := a.Do(t, "GET", "/orders", bearer(forged)); resp.StatusCode != 401 {
			t.Fatalf("forged token %d: %d (tokens are not counted by default)", i+1, resp.StatusCode)
		}
	}
	wrong := "Bearer " + key[:len(key)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(key, "A")]
	var started time.Time
	for i := range 20 {
		started = time.Now()
		if resp, _ := a.Do(t, "GET", "/orders", map[string]string{"Authorization": wrong}); resp.StatusCode != 401 {
			t.Fatalf("wrong key %d: %d", i+1, resp.StatusCode)
		}
	}
	resp, body := a.Do(t, "GET", "/orders", bearer(key))
	got, elapsed := retryAfter(t, resp, body), time.Since(started)
	if lo := int(math.Ceil(60 - elapsed.Seconds())); got < lo || got > 60 {
		t.Fatalf("Retry-After %d after 20 wrong keys, want between %d and 60 (a minute, %v after it began)", got, lo, elapsed)
	}
	if resp, _ := b.Do(t, "GET", "/orders", bearer(key)); resp.StatusCode != 200 {
		t.Fatalf("the other replica: %d (the default counts per replica)", resp.StatusCode)
	}
}

package oidcflow

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
)

// TestProblemsDedup: each component's problem is told once per distinct
// cause (reason and text), a change of cause is told, and a resolution
// is told once, only after a problem.
func TestProblemsDedup(t *testing.T) {
	t.Parallel()
	type step struct {
		resolve   bool
		component string
		reason    string
		cause     string
		want      bool // a notification
	}
	steps := []step{
		{component: "discovery", reason: ReasonUnavailable, cause: "answered 503", want: true},
		{component: "discovery", reason: ReasonUnavailable, cause: "answered 503"},
		{component: "discovery", reason: ReasonUnavailable, cause: "answered 503"},
		{component: "discovery", reason: ReasonMisconfigured, cause: "answered 503", want: true}, // reason changed
		{component: "discovery", reason: ReasonMisconfigured, cause: "answered 404", want: true}, // cause changed
		{component: "discovery", reason: ReasonMisconfigured, cause: "answered 503", want: true}, // and back
		{component: "token", reason: ReasonMisconfigured, cause: "answered 503", want: true},     // another component
		{resolve: true, component: "jwks"},                                                       // never failed
		{resolve: true, component: "discovery", want: true},
		{resolve: true, component: "discovery"},
		{component: "discovery", reason: ReasonMisconfigured, cause: "answered 503", want: true}, // fails again
		{component: "token", reason: ReasonMisconfigured, cause: "answered 503"},
		{resolve: true, component: "token", want: true},
	}
	var got []Problem
	p := problems{notify: func(pr Problem) { got = append(got, pr) }}
	for i, s := range steps {
		before := len(got)
		if s.resolve {
			p.resolved(s.component)
		} else {
			p.reportAs(s.component, s.reason, s.cause)
		}
		if told := len(got) > before; told != s.want {
			t.Fatalf("step %d (%+v): notified %v, want %v", i, s, told, s.want)
		}
		if !s.want {
			continue
		}
		pr := got[len(got)-1]
		if pr.Component != s.component || pr.Resolved != s.resolve {
			t.Fatalf("step %d: %+v", i, pr)
		}
		if !s.resolve && (pr.Reason != s.reason || pr.Cause != s.cause) {
			t.Fatalf("step %d: %+v", i, pr)
		}
		if s.resolve && (pr.Reason != "" || !strings.Contains(pr.Cause, "works again")) {
			t.Fatalf("step %d: resolution %+v", i, pr)
		}
	}

	var quiet problems // no OnProblem: nothing to do, no panic
	quiet.reportAs("x", "y", "z")
	quiet.resolved("x")
}

// TestProblemsConcurrent: many requests meeting the same problem at once
// tell it once.
func TestProblemsConcurrent(t *testing.T) {
	t.Parallel()
	log := &problemLog{}
	p := problems{notify: log.add}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { p.report(componentToken, errors.New("oidcflow: identity provider unavailable: x")) })
	}
	wg.Wait()
	for range 50 {
		wg.Go(func() { p.resolved(componentToken) })
	}
	wg.Wait()
	if ps := log.all(); len(ps) != 2 || ps[0].Resolved || !ps[1].Resolved {
		t.Fatalf("problems = %+v, want one report and one resolution", ps)
	}
}

// wantProblems checks the Problems told since the last call.
func wantProblems(t *testing.T, log *problemLog, want ...Problem) {
	t.Helper()
	got := log.take()
	if len(got) != len(want) {
		t.Fatalf("problems = %+v, want %d", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Component != w.Component || g.Reason != w.Reason || g.Resolved != w.Resolved || !strings.Contains(g.Cause, w.Cause) {
			t.Fatalf("problem %d = %+v, want %+v", i, g, w)
		}
		if !g.Resolved && strings.HasPrefix(g.Cause, "oidcflow: identity provider") {
			t.Errorf("problem %d cause %q repeats the reason's sentinel", i, g.Cause)
		}
	}
}

// TestProblemsDiscovery: a discovery outage is told once however often
// it is retried; turning into a misconfiguration is told; the recovery
// is told once.
func TestProblemsDiscovery(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	idp.down.Store(true)
	log := &problemLog{}
	c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.OnProblem = log.add })
	retry := func(want error) {
		t.Helper()
		for range 4 {
			clk.Advance(DefaultMaxBackoff)
			if err := c.Ready(t.Context()); !errors.Is(err, want) {
				t.Fatalf("Ready = %v, want %v", err, want)
			}
			_, _ = c.StartLogin(t.Context(), LoginOptions{}) // within the backoff: no attempt, no report
		}
	}
	retry(ErrUnavailable)
	wantProblems(t, log, Problem{Component: componentDiscovery, Reason: ReasonUnavailable, Cause: "503"})
	if n := idp.discoveryHits.Load(); n != 4 {
		t.Fatalf("%d discovery attempts, want 4", n)
	}

	idp.discoveryRaw = &canned{status: 404, contentType: "text/html", body: "<h1>Not Found</h1>"}
	idp.down.Store(false)
	retry(ErrMisconfigured)
	wantProblems(t, log, Problem{Component: componentDiscovery, Reason: ReasonMisconfigured, Cause: "404"})

	idp.discoveryRaw = nil
	clk.Advance(DefaultMaxBackoff)
	for range 3 {
		if err := c.Ready(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	wantProblems(t, log, Problem{Component: componentDiscovery, Resolved: true})
}

// TestProblemsTokenEndpoint: outages and a refused client at the token
// endpoint, at login and refresh, are told once per cause; refused
// grants (a user's expired code or refresh token) are not problems.
func TestProblemsTokenEndpoint(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	log := &problemLog{}
	c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.OnProblem = log.add })
	res := login(t, c, idp, "alice")
	wantProblems(t, log)

	idp.tokenDown.Store(true)
	for range 3 {
		if _, err := tryLogin(t, c, idp, "alice"); !errors.Is(err, ErrUnavailable) {
			t.Fatal(err)
		}
		if _, err := c.Refresh(t.Context(), session.RefreshRequest{Subject: "alice", Tokens: res.Login.Tokens, Claims: res.Login.Claims}); !errors.Is(err, ErrUnavailable) {
			t.Fatal(err)
		}
	}
	wantProblems(t, log, Problem{Component: componentToken, Reason: ReasonUnavailable, Cause: "503"})

	idp.tokenDown.Store(false)
	idp.invalidClient.Store(true)
	for range 3 {
		if _, err := tryLogin(t, c, idp, "alice"); !errors.Is(err, ErrMisconfigured) {
			t.Fatal(err)
		}
		if _, err := c.Refresh(t.Context(), session.RefreshRequest{Subject: "alice", Tokens: res.Login.Tokens, Claims: res.Login.Claims}); !errors.Is(err, ErrMisconfigured) {
			t.Fatal(err)
		}
	}
	wantProblems(t, log, Problem{Component: componentToken, Reason: ReasonMisconfigured, Cause: "invalid_client"})

	idp.invalidClient.Store(false)
	for range 2 {
		res = login(t, c, idp, "alice")
	}
	wantProblems(t, log, Problem{Component: componentToken, Resolved: true})

	// A refused grant is the user's, not the provider's.
	if _, err := c.Refresh(t.Context(), session.RefreshRequest{Subject: "alice", Tokens: sessionTokens("rt-forged"), Claims: res.Login.Claims}); !errors.Is(err, ErrRefreshRefused) {
		t.Fatal(err)
	}
	red := startLogin(t, c, LoginOptions{})
	q := idp.authorize(t, red.URL, "alice")
	q.Set("code", "code-forged")
	if _, err := c.Callback(t.Context(), callbackRequest(q, red.SetCookies)); !errors.Is(err, ErrExchange) {
		t.Fatal(err)
	}
	wantProblems(t, log)
}

// TestProblemsKeySet: a JWKS outage is told once, and its end once.
func TestProblemsKeySet(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	idp.keysDown.Store(true)
	log := &problemLog{}
	c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.OnProblem = log.add })
	for range 3 {
		_, err := tryLogin(t, c, idp, "alice")
		if !errors.Is(err, ErrUnavailable) || Reason(err) != ReasonUnavailable {
			t.Fatalf("login with the keys down: %v", err)
		}
		clk.Advance(DefaultMaxBackoff)
	}
	wantProblems(t, log, Problem{Component: componentJWKS, Reason: ReasonUnavailable, Cause: "/keys"})
	idp.keysDown.Store(false)
	for range 2 {
		if _, err := tryLogin(t, c, idp, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	wantProblems(t, log, Problem{Component: componentJWKS, Resolved: true})
}

// TestProblemsIDToken: ID tokens we cannot trust are told once per
// cause; a nonce mismatch (which anyone can cause with a crossed
// callback) is not a provider problem.
func TestProblemsIDToken(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	log := &problemLog{}
	c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.OnProblem = log.add })
	fail := func(hook func(map[string]any)) {
		t.Helper()
		idp.claimsHook = hook
		for range 3 {
			if _, err := tryLogin(t, c, idp, "alice"); !errors.Is(err, ErrIDToken) {
				t.Fatal(err)
			}
		}
	}
	fail(func(c map[string]any) { c["aud"] = "other" })
	wantProblems(t, log, Problem{Component: componentIDToken, Reason: ReasonIDToken, Cause: "aud"})
	fail(func(c map[string]any) { c["exp"] = clk.Now().Add(-time.Hour).Unix() })
	wantProblems(t, log, Problem{Component: componentIDToken, Reason: ReasonIDToken, Cause: "expired"})
	fail(func(c map[string]any) { c["nonce"] = "other" })
	wantProblems(t, log)
	idp.claimsHook = nil
	for range 2 {
		if _, err := tryLogin(t, c, idp, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	wantProblems(t, log, Problem{Component: componentIDToken, Resolved: true})
}

// TestProblemsUserInfo: a UserInfo outage and a refused token are two
// causes, each told once; recovery told once.
func TestProblemsUserInfo(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	log := &problemLog{}
	c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.OnProblem = log.add })
	for _, f := range []struct {
		failure *canned
		reason  string
		cause   string
	}{
		{&canned{status: 503}, ReasonUserInfoDown, "503"},
		{&canned{status: 401, header: map[string]string{"WWW-Authenticate": `Bearer error="invalid_token"`}}, ReasonUserInfo, "invalid_token"},
	} {
		idp.uiFailure = f.failure
		for range 3 {
			if _, err := tryLogin(t, c, idp, "alice"); Reason(err) != f.reason {
				t.Fatalf("login: %v, want reason %s", err, f.reason)
			}
		}
		wantProblems(t, log, Problem{Component: componentUserInfo, Reason: f.reason, Cause: f.cause})
	}
	idp.uiFailure = nil
	for range 2 {
		if _, err := tryLogin(t, c, idp, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	wantProblems(t, log, Problem{Component: componentUserInfo, Resolved: true})
}

// TestProblemsNoRefreshToken: asking for a refresh token (offline_access
// or access_type=offline) and getting none is told once, and its end
// once; not asking is no problem.
func TestProblemsNoRefreshToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*Config)
		want bool
	}{
		{name: "offline_access", edit: func(c *Config) { c.Scopes = []string{"openid", "offline_access"} }, want: true},
		{name: "access_type offline", edit: func(c *Config) { c.AuthParams = map[string]string{"access_type": "offline"} }, want: true},
		{name: "not asked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			idp.noRefreshToken = true
			log := &problemLog{}
			c := newTestClient(t, idp, clk, func(cfg *Config) {
				if tt.edit != nil {
					tt.edit(cfg)
				}
				cfg.OnProblem = log.add
			})
			for range 3 {
				res, err := tryLogin(t, c, idp, "alice")
				if err != nil || res.Login.Tokens.RefreshToken != "" {
					t.Fatalf("login: %v", err)
				}
			}
			if !tt.want {
				wantProblems(t, log)
				return
			}
			wantProblems(t, log, Problem{Component: componentRefreshToken, Reason: ReasonNoRefreshToken, Cause: "no refresh token"})
			idp.noRefreshToken = false
			for range 2 {
				if _, err := tryLogin(t, c, idp, "alice"); err != nil {
					t.Fatal(err)
				}
			}
			wantProblems(t, log, Problem{Component: componentRefreshToken, Resolved: true})
		})
	}
}

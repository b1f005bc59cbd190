package jwtauth

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestScopes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		claims map[string]any
		want   []string
	}{
		{name: "scope string", claims: map[string]any{"scope": "a b  c"}, want: []string{"a", "b", "c"}},
		{name: "scope empty", claims: map[string]any{"scope": ""}, want: []string{}},
		{name: "scp array", claims: map[string]any{"scp": []any{"a", "b"}}, want: []string{"a", "b"}},
		{name: "scp array with junk", claims: map[string]any{"scp": []any{"a", 3, "", "b"}}, want: []string{"a", "b"}},
		{name: "scp string", claims: map[string]any{"scp": "a b"}, want: []string{"a", "b"}},
		{name: "scope tab is no separator", claims: map[string]any{"scope": "orders:read\tadmin b"}, want: []string{"orders:read\tadmin", "b"}},
		{name: "scope newline is no separator", claims: map[string]any{"scope": "orders:read\nadmin"}, want: []string{"orders:read\nadmin"}},
		{name: "scope no-break space is no separator", claims: map[string]any{"scope": "a\u00a0b"}, want: []string{"a\u00a0b"}},
		{name: "scp element with space stays whole", claims: map[string]any{"scp": []any{"orders:read", "orders:write admin"}}, want: []string{"orders:read", "orders:write admin"}},
		{name: "scope wins over scp", claims: map[string]any{"scope": "a", "scp": []any{"b"}}, want: []string{"a"}},
		{name: "neither", claims: map[string]any{}, want: nil},
		{name: "scope of another type", claims: map[string]any{"scope": 42.0}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := scopes(tt.claims); !slices.Equal(got, tt.want) {
				t.Fatalf("scopes = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestGroups(t *testing.T) {
	t.Parallel()
	claims := map[string]any{
		"groups":                    []any{"a", "b"},
		"roles":                     []any{"b", "c", 7},
		"role":                      "solo",
		"realm_access":              map[string]any{"roles": []any{"kc"}},
		"https://example.com/roles": []any{"ns"},
	}
	tests := []struct {
		name   string
		claims []string
		want   []string
	}{
		{name: "default groups", want: []string{"a", "b"}},
		{name: "groups and roles deduplicated", claims: []string{"groups", "roles"}, want: []string{"a", "b", "c"}},
		{name: "string claim", claims: []string{"role"}, want: []string{"solo"}},
		{name: "dotted path", claims: []string{"realm_access.roles"}, want: []string{"kc"}},
		{name: "namespaced name with dots", claims: []string{"https://example.com/roles"}, want: []string{"ns"}},
		{name: "missing", claims: []string{"nothing"}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			is := &issuer{cfg: Config{GroupClaims: tt.claims}.withDefaults()}
			if got := is.groups(claims); !slices.Equal(got, tt.want) {
				t.Fatalf("groups = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestClaimMatches(t *testing.T) {
	t.Parallel()
	norm := func(v any) any {
		n, err := normalizeJSON(v)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	tests := []struct {
		name string
		got  any
		want any
		ok   bool
	}{
		{name: "bool", got: true, want: norm(true), ok: true},
		{name: "bool differs", got: false, want: norm(true)},
		{name: "int config vs float claim", got: 3.0, want: norm(3), ok: true},
		{name: "string", got: "x", want: norm("x"), ok: true},
		{name: "string vs bool", got: "true", want: norm(true)},
		{name: "array contains scalar", got: []any{"a", "b"}, want: norm("b"), ok: true},
		{name: "array lacks scalar", got: []any{"a"}, want: norm("b")},
		{name: "array equals array", got: []any{"a", "b"}, want: norm([]string{"a", "b"}), ok: true},
		{name: "array order matters", got: []any{"b", "a"}, want: norm([]string{"a", "b"})},
		{name: "object", got: map[string]any{"k": "v"}, want: norm(map[string]string{"k": "v"}), ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := claimMatches(tt.got, tt.want); got != tt.ok {
				t.Fatalf("claimMatches(%v, %v) = %v, want %v", tt.got, tt.want, got, tt.ok)
			}
		})
	}
}

func TestRequiredClaims(t *testing.T) {
	t.Parallel()
	es := newECKey(t, "es")
	idp := newFakeIdP(t, es.jwk(true, true))
	clock := newFakeClock()
	v := newTestVerifier(t, idp, clock, func(o *Options) {
		o.Issuers[0].RequiredClaims = map[string]any{
			"email_verified":      true,
			"tenant":              nil, // present
			"realm_access.roles":  "staff",
			"https://x.example/t": 2,
		}
	})
	base := func() map[string]any {
		c := claimsAt(idp.issuer(), clock.Now())
		c["email_verified"] = true
		c["tenant"] = "acme"
		c["realm_access"] = map[string]any{"roles": []string{"staff", "dev"}}
		c["https://x.example/t"] = 2
		return c
	}
	tests := []struct {
		name   string
		mutate func(map[string]any)
		ok     bool
	}{
		{name: "all present", mutate: func(map[string]any) {}, ok: true},
		{name: "presence with null", mutate: func(c map[string]any) { c["tenant"] = nil }, ok: true},
		{name: "presence missing", mutate: func(c map[string]any) { delete(c, "tenant") }},
		{name: "email not verified", mutate: func(c map[string]any) { c["email_verified"] = false }},
		{name: "nested role missing", mutate: func(c map[string]any) { c["realm_access"] = map[string]any{"roles": []string{"dev"}} }},
		{name: "nested parent not an object", mutate: func(c map[string]any) { c["realm_access"] = "staff" }},
		{name: "number differs", mutate: func(c map[string]any) { c["https://x.example/t"] = 3 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := base()
			tt.mutate(c)
			_, err := v.Verify(context.Background(), mint(t, es, c, nil))
			if tt.ok && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tt.ok && (!errors.Is(err, ErrClaims) || ReasonOf(err) != ReasonClaimMismatch) {
				t.Fatalf("Verify: %v, want ErrClaims/claim_mismatch", err)
			}
		})
	}
}

func TestAccessTokenType(t *testing.T) {
	t.Parallel()
	es := newECKey(t, "es")
	idp := newFakeIdP(t, es.jwk(true, true))
	clock := newFakeClock()
	strict := newTestVerifier(t, idp, clock, func(o *Options) { o.Issuers[0].RequireAccessTokenType = true })
	lax := newTestVerifier(t, idp, clock)
	tests := []struct {
		name     string
		typ      any // nil: no typ header
		strictOK bool
	}{
		{name: "at+jwt", typ: "at+jwt", strictOK: true},
		{name: "application/at+jwt", typ: "application/at+jwt", strictOK: true},
		{name: "upper case", typ: "AT+JWT", strictOK: true},
		{name: "mixed case media type", typ: "Application/At+Jwt", strictOK: true},
		{name: "JWT", typ: "JWT"},
		{name: "no typ"},
		{name: "at+jwt with parameters", typ: "at+jwt; x=y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok := mint(t, es, claimsAt(idp.issuer(), clock.Now()), map[string]any{"typ": tt.typ})
			_, err := strict.Verify(context.Background(), tok)
			if tt.strictOK && err != nil {
				t.Fatalf("strict Verify: %v", err)
			}
			if !tt.strictOK {
				assertFailure(t, err, ErrClaims, ReasonBadType, tok)
			}
			if _, err := lax.Verify(context.Background(), tok); err != nil {
				t.Fatalf("lax Verify: %v", err)
			}
		})
	}
}

func TestNumericDate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    any
		want time.Time
		ok   bool
		bad  bool
	}{
		{name: "integer", v: 1700000000.0, want: time.Unix(1700000000, 0), ok: true},
		{name: "fraction", v: 1700000000.5, want: time.Unix(1700000000, 5e8), ok: true},
		{name: "absent", v: nil},
		{name: "string", v: "1700000000", bad: true},
		{name: "huge", v: 1e13, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := map[string]any{}
			if tt.v != nil {
				c["exp"] = tt.v
			}
			got, ok, err := numericDate(c, "exp")
			if (err != nil) != tt.bad || ok != tt.ok || !got.Equal(tt.want) {
				t.Fatalf("numericDate = %v, %v, %v", got, ok, err)
			}
		})
	}
}

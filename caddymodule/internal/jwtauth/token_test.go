package jwtauth

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestDecodeObject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		json    string
		members int
		dup     bool
		bad     bool
	}{
		{name: "empty object", json: `{}`, members: 0},
		{name: "flat", json: `{"a":1,"b":"x","c":null}`, members: 3},
		{name: "nested objects and arrays", json: `{"a":{"x":1,"y":[1,{"z":2}]},"b":[":",{"k":":"}]}`, members: 2},
		{name: "colons and braces in strings", json: `{"a:b":"{\"c\":1}","d":"\\"}`, members: 2},
		{name: "nested duplicate allowed", json: `{"a":{"x":1,"x":2}}`, members: 1},
		{name: "duplicate", json: `{"a":1,"a":2}`, dup: true},
		{name: "duplicate null", json: `{"a":null,"a":null}`, dup: true},
		{name: "duplicate escaped", json: `{"alg":"RS256","\u0061lg":"none"}`, dup: true},
		{name: "duplicate escaped slash", json: `{"a/b":1,"a\/b":2}`, dup: true},
		{name: "whitespace", json: " \n{ \"a\" : 1 , \"b\" : 2 }\t", members: 2},
		{name: "null", json: `null`, bad: true},
		{name: "array", json: `[1]`, bad: true},
		{name: "string", json: `"x"`, bad: true},
		{name: "trailing data", json: `{"a":1}{}`, bad: true},
		{name: "truncated", json: `{"a":`, bad: true},
		{name: "empty", json: ``, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := decodeObject([]byte(tt.json))
			switch {
			case tt.dup:
				if !errors.Is(err, errDuplicateKey) {
					t.Fatalf("decodeObject = %v, %v; want duplicate", m, err)
				}
			case tt.bad:
				if err == nil || errors.Is(err, errDuplicateKey) {
					t.Fatalf("decodeObject = %v, %v; want a decoding error", m, err)
				}
			default:
				if err != nil || len(m) != tt.members {
					t.Fatalf("decodeObject = %v, %v; want %d members", m, err, tt.members)
				}
			}
		})
	}
}

// FuzzVerify feeds arbitrary strings to Verify: it must never panic, and
// every failure must be an *Error with a known reason. The seed corpus
// runs as part of go test.
func FuzzVerify(f *testing.F) {
	secret := []byte(strings.Repeat("s", 32))
	good := hsToken(secret, `{"alg":"HS256"}`, `{"iss":"svc","aud":"api","sub":"u","exp":99999999999}`)
	for _, s := range []string{"", ".", "..", "a.b.c", good, good + "x", strings.ToUpper(good), good[:len(good)/2],
		hsToken(secret, `{"alg":"HS256","alg":"HS256"}`, `{}`), hsToken(secret, `{"alg":"none"}`, `{}`)} {
		f.Add(s)
	}
	v, err := New(Options{Issuers: []Config{{Issuer: "svc", Audiences: []string{"api"}, SharedSecret: secret}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = v.Close() })
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(context.Background(), token)
		if err == nil {
			if p.Subject == "" {
				t.Fatal("accepted a token without subject")
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Reason == "" || e.Kind == nil {
			t.Fatalf("error %v is not a complete *Error", err)
		}
	})
}

func TestReasonOf(t *testing.T) {
	t.Parallel()
	wrapped := fail(ErrExpired, ReasonExpired, "exp is in the past").withIssuer("https://idp").withCause(context.Canceled)
	tests := []struct {
		name string
		err  error
		want Reason
	}{
		{name: "nil", err: nil, want: ""},
		{name: "ours", err: wrapped, want: ReasonExpired},
		{name: "wrapped again", err: errors.Join(errors.New("x"), wrapped), want: ReasonExpired},
		{name: "foreign", err: errors.New("boom"), want: ReasonUnknownFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ReasonOf(tt.err); got != tt.want {
				t.Fatalf("ReasonOf = %q, want %q", got, tt.want)
			}
		})
	}
	if !errors.Is(wrapped, ErrExpired) || !errors.Is(wrapped, context.Canceled) {
		t.Fatal("Error does not unwrap to its kind and cause")
	}
	if got, want := wrapped.Error(), `jwtauth: token expired: exp is in the past (issuer "https://idp"): context canceled`; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

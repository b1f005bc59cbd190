package caddymodule

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/apikey"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

const cliTestPepper = "cli-test-pepper-cli-test-pepper-0123456789"

// runAPIKeyCLI runs `apikey <args>` in-process and returns its output.
func runAPIKeyCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "apikey", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(apikeyStoreCommands()...)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// mustRunAPIKeyCLI runs `apikey <args>`, fails the test on error and
// returns the output with the field alignment normalized.
func mustRunAPIKeyCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runAPIKeyCLI(t, args...)
	if err != nil {
		t.Fatalf("apikey %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return normalize(out)
}

// writeCaddyfile writes a Caddyfile with the given portcullis options.
func writeCaddyfile(t *testing.T, options string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "Caddyfile")
	body := "{\n\tportcullis {\n" + options + "\n\t}\n}\n\n:8080 {\n\tportcullis\n\trespond ok\n}\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAPIKeyCLILifecycle: create, list, show, rotate and revoke against a
// real Redis named in a Caddyfile with a pepper; the keys the CLI prints
// verify, as a gateway on that Caddyfile would verify them.
func TestAPIKeyCLILifecycle(t *testing.T) {
	t.Setenv("PORTCULLIS_TEST_CLI_PEPPER", cliTestPepper)
	srv := redistest.StartStandalone(t)
	cfg := writeCaddyfile(t, "\t\tstore "+srv.URL()+"\n\t\tapi_keys {\n\t\t\tprefix acme\n\t\t\tpepper {env.PORTCULLIS_TEST_CLI_PEPPER}\n\t\t}")

	out := mustRunAPIKeyCLI(t, "create", "--config", cfg, "--subject", "ci-bot", "--scopes", "orders:read orders:write",
		"--expires", "90d", "--name", "deploy bot", "--rate-limit", "100/1m", "--burst", "20")
	key := regexp.MustCompile(`(?m)^acme_[0-9A-Za-z]{12}_[0-9A-Za-z]+$`).FindString(out)
	if key == "" {
		t.Fatalf("create printed no acme_ key:\n%s", out)
	}
	k, err := apikey.Parse("acme", key)
	if err != nil {
		t.Fatalf("printed key does not parse: %v", err)
	}
	for _, want := range []string{field("subject", "ci-bot"), field("scopes", "orders:read orders:write"), field("rate limit", "100/1m burst 20"), field("status", "active")} {
		if !strings.Contains(out, want) {
			t.Errorf("create output lacks %q:\n%s", want, out)
		}
	}

	// The gateway's view: the same store, prefix and pepper.
	st, err := store.NewRedis(store.RedisConfig{URL: srv.URL(), ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}) // "hung", not "slow"
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	gw, err := apikey.NewRegistry(apikey.RegistryOptions{Store: st, Prefix: "acme", Hasher: apikey.NewHasher([]byte(cliTestPepper)), FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	rec, err := gw.Verify(t.Context(), key)
	if err != nil || rec.Subject != "ci-bot" || rec.RateLimit != "100/1m" || rec.RateBurst != 20 {
		t.Fatalf("gateway Verify(created key) = %+v, %v", rec, err)
	}
	if days := time.Until(rec.Expires).Hours() / 24; days < 89.9 || days > 90.1 {
		t.Fatalf("expires in %.1f days, want 90", days)
	}
	raw, err := st.Get(t.Context(), "pcl:{k:"+k.ID+"}")
	if err != nil || bytes.Contains(raw, []byte(k.Secret)) || !bytes.Contains(raw, []byte("hmac-sha256:")) {
		t.Fatalf("stored record = %s, %v; want a peppered hash and no secret", raw, err)
	}

	mustRunAPIKeyCLI(t, "create", "--config", cfg, "--subject", "reports", "--expires", "never")
	list := mustRunAPIKeyCLI(t, "list", "--config", cfg)
	if !strings.Contains(list, k.ID) || !strings.Contains(list, "reports") || !strings.HasPrefix(list, "ID ") ||
		!strings.Contains(list, "RATE LIMIT") || !strings.Contains(list, "100/1m burst 20") {
		t.Fatalf("list output:\n%s", list)
	}
	if strings.Contains(list, k.Secret) {
		t.Fatal("list prints the secret")
	}
	mine := mustRunAPIKeyCLI(t, "list", "--config", cfg, "--subject", "ci-bot")
	if !strings.Contains(mine, k.ID) || strings.Contains(mine, "reports") {
		t.Fatalf("list --subject ci-bot:\n%s", mine)
	}

	show := mustRunAPIKeyCLI(t, "show", k.ID, "--config", cfg)
	for _, want := range []string{field("id", k.ID), field("name", "deploy bot"), field("last used", "never"), field("status", "active")} {
		if !strings.Contains(show, want) {
			t.Errorf("show output lacks %q:\n%s", want, show)
		}
	}

	rot := mustRunAPIKeyCLI(t, "rotate", k.ID, "--config", cfg, "--grace", "1h")
	newKey := regexp.MustCompile(`(?m)^acme_[0-9A-Za-z]{12}_[0-9A-Za-z]+$`).FindString(rot)
	if newKey == "" || newKey == key {
		t.Fatalf("rotate printed no new key:\n%s", rot)
	}
	for _, kk := range []string{key, newKey} {
		if _, err := gw.Verify(t.Context(), kk); err != nil {
			t.Fatalf("during the grace: %v", err)
		}
	}
	if show := mustRunAPIKeyCLI(t, "show", k.ID, "--config", cfg); !strings.Contains(show, field("status", "grace")) || !strings.Contains(show, "replaced by:") {
		t.Fatalf("show after rotate:\n%s", show)
	}

	rev := mustRunAPIKeyCLI(t, "revoke", k.ID, "--config", cfg)
	if !strings.Contains(rev, "revoked key "+k.ID) {
		t.Fatalf("revoke output: %s", rev)
	}
	if show := mustRunAPIKeyCLI(t, "show", k.ID, "--config", cfg); !strings.Contains(show, field("status", "revoked")) {
		t.Fatalf("show after revoke:\n%s", show)
	}
	// The gateway cached the key before the revocation, so a check that
	// starts MaxCacheTTL after the revoke command returned must refuse it
	// (judged by when each check starts, so a slow machine cannot fail it).
	revoked := time.Now()
	for {
		began := time.Now()
		_, err := gw.Verify(t.Context(), key)
		if errors.Is(err, apikey.ErrRevoked) {
			break
		}
		if late := began.Sub(revoked); late >= apikey.MaxCacheTTL {
			t.Fatalf("gateway still answers %v for the key in a check that began %v after the revocation", err, late)
		}
		time.Sleep(20 * time.Millisecond)
	}

	if _, err := runAPIKeyCLI(t, "show", "nosuchkey123", "--config", cfg); !errors.Is(err, apikey.ErrUnknown) {
		t.Fatalf("show of a missing id: %v, want ErrUnknown", err)
	}
}

// field returns the line writeRecord prints for one field, without the
// alignment padding (normalized by normalize).
func field(name, value string) string { return name + ": " + value }

// normalize collapses the alignment after each "field:".
func normalize(out string) string {
	return regexp.MustCompile(`(?m)^([a-z ]+):\s+`).ReplaceAllString(out, "$1: ")
}

// TestAPIKeyCLIRefuses: the in-memory store, a config without the app,
// and bad flags are refused with a reason.
func TestAPIKeyCLIRefuses(t *testing.T) {
	t.Parallel()
	srv := redistest.SharedStandalone(t)
	memory := writeCaddyfile(t, "\t\tapi_keys {\n\t\t\tprefix pcl\n\t\t}")
	redis := writeCaddyfile(t, "\t\tstore "+srv.URL())
	noApp := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(noApp, []byte(":8080 {\n\trespond ok\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "memory store", args: []string{"create", "--config", memory, "--subject", "s", "--expires", "1d"}, want: "need a shared store (Redis)"},
		{name: "memory store list", args: []string{"list", "--config", memory}, want: "need a shared store (Redis)"},
		{name: "no portcullis app", args: []string{"list", "--config", noApp}, want: "configures no portcullis app"},
		{name: "no config", args: []string{"list"}, want: `"config" not set`},
		{name: "missing file", args: []string{"list", "--config", filepath.Join(t.TempDir(), "nope")}, want: "reading config"},
		{name: "no expiry", args: []string{"create", "--config", redis, "--subject", "s"}, want: "--expires is required"},
		{name: "bad expiry", args: []string{"create", "--config", redis, "--subject", "s", "--expires", "soon"}, want: "is not a duration"},
		{name: "no subject", args: []string{"create", "--config", redis, "--expires", "1d"}, want: "subject is required"},
		{name: "bad rate limit", args: []string{"create", "--config", redis, "--subject", "s", "--expires", "1d", "--rate-limit", "fast"}, want: "rate"},
		{name: "burst without rate", args: []string{"create", "--config", redis, "--subject", "s", "--expires", "1d", "--burst", "5"}, want: "a burst needs a rate limit"},
		{name: "bad id", args: []string{"revoke", "x", "--config", redis}, want: "base62"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runAPIKeyCLI(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestAPIKeyCLIParseExpiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{in: "never"},
		{in: "90d", want: now.AddDate(0, 0, 90)},
		{in: "12h", want: now.Add(12 * time.Hour)},
		{in: "2031-05-01T00:00:00Z", want: time.Date(2031, 5, 1, 0, 0, 0, 0, time.UTC)},
		{in: "", err: true},
		{in: "0d", err: true},
		{in: "-1h", err: true},
		{in: "tomorrow", err: true},
	}
	for _, tt := range tests {
		got, err := parseExpiry(tt.in, now)
		if (err != nil) != tt.err || !got.Equal(tt.want) {
			t.Errorf("parseExpiry(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// TestAPIKeyNewExpires: `apikey new` reads --expires as `apikey create`
// does (a duration, an RFC 3339 time, never) and writes the RFC 3339 time
// into the Caddyfile block.
func TestAPIKeyNewExpires(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, expires string
		want          func(got time.Time) bool // nil: no expires line
		err           string
	}{
		{name: "days", expires: "90d", want: func(got time.Time) bool {
			want := time.Now().AddDate(0, 0, 90)
			return got.After(want.Add(-time.Hour)) && !got.After(want)
		}},
		{name: "hours", expires: "12h", want: func(got time.Time) bool {
			return got.After(time.Now().Add(11*time.Hour)) && !got.After(time.Now().Add(12*time.Hour))
		}},
		{name: "rfc 3339", expires: "2031-05-01T02:00:00+02:00", want: func(got time.Time) bool {
			return got.Equal(time.Date(2031, 5, 1, 0, 0, 0, 0, time.UTC))
		}},
		{name: "never", expires: "never"},
		{name: "unset", expires: ""},
		{name: "bad", expires: "soon", err: "is not a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := apikeyCommand("new", "", runAPIKeyNew)
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs([]string{"--subject", "ci-bot", "--expires", tt.expires})
			err := cmd.Execute()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want it to mention %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("apikey new --expires %q: %v\n%s", tt.expires, err, out.String())
			}
			m := regexp.MustCompile(`(?m)^\texpires (\S+)$`).FindStringSubmatch(out.String())
			if tt.want == nil {
				if m != nil {
					t.Fatalf("expires line %q, want none:\n%s", m[0], out.String())
				}
				return
			}
			if m == nil {
				t.Fatalf("no expires line:\n%s", out.String())
			}
			got, err := time.Parse(time.RFC3339, m[1])
			if err != nil || got.Location() != time.UTC || !tt.want(got) {
				t.Fatalf("expires %s (%v), want an RFC 3339 UTC time for %q", m[1], err, tt.expires)
			}
		})
	}
}

package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/apikey"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
)

// errCLINeedsSharedStore explains why the store-backed commands refuse
// the in-memory store.
var errCLINeedsSharedStore = errors.New("api keys created from the CLI need a shared store (Redis); " +
	"with the in-memory store declare keys in the Caddyfile with `portcullis apikey new`")

// cliStoreTimeout replaces the store's request-path timeout (50ms by
// default) for the CLI, which is not latency sensitive and may run far
// from Redis.
const cliStoreTimeout = 5 * time.Second

// cliTimeout bounds one store-backed command.
const cliTimeout = time.Minute

// storeCLIOptions are the flags of the store-backed apikey subcommands.
type storeCLIOptions struct {
	config, adapter                           string
	subject, name, scopes, expires, rateLimit string
	burst                                     int
	grace                                     time.Duration
	// lifetime is the api_keys block's policy, read from --config.
	lifetime apikey.LifetimePolicy
}

// apikeyStoreCommands returns the subcommands that manage keys in the
// shared store: create, list, show, revoke and rotate. They read the
// server's configuration for the store, prefix and pepper.
func apikeyStoreCommands() []*cobra.Command {
	type spec struct {
		use, short string
		args       cobra.PositionalArgs
		run        func(context.Context, *apikey.Registry, storeCLIOptions, []string, io.Writer) error
		flags      func(*cobra.Command, *storeCLIOptions)
	}
	specs := []spec{
		{"create", "Creates an API key in the shared store and prints it once", cobra.NoArgs, runAPIKeyCreate, func(c *cobra.Command, o *storeCLIOptions) {
			c.Flags().StringVar(&o.subject, "subject", "", "subject the key acts for (required)")
			c.Flags().StringVar(&o.scopes, "scopes", "", "space-separated scopes granted to the key")
			c.Flags().StringVar(&o.expires, "expires", "", "expiry: a duration such as 90d or 12h, an RFC 3339 time, or never (required)")
			c.Flags().StringVar(&o.name, "name", "", "human-readable label")
			c.Flags().StringVar(&o.rateLimit, "rate-limit", "", "the key's own rate limit on every route, such as 100/1m")
			c.Flags().IntVar(&o.burst, "burst", 0, "requests the key may make at once above --rate-limit's pace")
		}},
		{"list", "Lists the API keys in the shared store", cobra.NoArgs, runAPIKeyList, func(c *cobra.Command, o *storeCLIOptions) {
			c.Flags().StringVar(&o.subject, "subject", "", "only the keys of this subject")
		}},
		{"show ID", "Shows one API key of the shared store", cobra.ExactArgs(1), runAPIKeyShow, nil},
		{"revoke ID", "Revokes an API key; every gateway refuses it within a second", cobra.ExactArgs(1), runAPIKeyRevoke, nil},
		{"rotate ID", "Replaces an API key with a new one; the old one works until the grace ends", cobra.ExactArgs(1), runAPIKeyRotate, func(c *cobra.Command, o *storeCLIOptions) {
			c.Flags().DurationVar(&o.grace, "grace", 24*time.Hour, "how long the old key keeps working")
		}},
	}
	out := make([]*cobra.Command, 0, len(specs))
	for _, s := range specs {
		var o storeCLIOptions
		c := &cobra.Command{
			Use:   s.use,
			Short: s.short,
			Args:  s.args,
			RunE: func(cmd *cobra.Command, args []string) error {
				reg, lifetime, release, err := openCLIRegistry(o.config, o.adapter, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				o.lifetime = lifetime
				defer release()
				parent := cmd.Context()
				if parent == nil {
					parent = context.Background()
				}
				ctx, cancel := context.WithTimeout(parent, cliTimeout)
				defer cancel()
				return s.run(ctx, reg, o, args, cmd.OutOrStdout())
			},
		}
		c.Flags().StringVar(&o.config, "config", "", "the gateway's configuration file (required)")
		c.Flags().StringVar(&o.adapter, "adapter", "", "config adapter (default: caddyfile, or none for a .json file)")
		_ = c.MarkFlagRequired("config")
		if s.flags != nil {
			s.flags(c, &o)
		}
		out = append(out, c)
	}
	return out
}

// loadAppConfig reads the configuration file the way the server does
// and returns the portcullis app's configuration.
func loadAppConfig(path, adapterName string, warnings io.Writer) (*App, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if adapterName == "" && !strings.EqualFold(filepath.Ext(path), ".json") {
		adapterName = "caddyfile"
	}
	if adapterName != "" && adapterName != "json" {
		a := caddyconfig.GetAdapter(adapterName)
		if a == nil {
			return nil, fmt.Errorf("unknown config adapter %q", adapterName)
		}
		var warns []caddyconfig.Warning
		body, warns, err = a.Adapt(body, map[string]any{"filename": path})
		if err != nil {
			return nil, fmt.Errorf("adapting config with %s: %w", adapterName, err)
		}
		for _, w := range warns {
			fmt.Fprintf(warnings, "warning: %s\n", w)
		}
	}
	var cfg struct {
		Apps map[string]json.RawMessage `json:"apps"`
	}
	if err := json.Unmarshal(body, &cfg); err != nil {
		return nil, fmt.Errorf("decoding config: %w", err)
	}
	raw, ok := cfg.Apps["portcullis"]
	if !ok {
		return nil, fmt.Errorf("%s configures no portcullis app (the `portcullis` global option)", path)
	}
	app := new(App)
	if err := json.Unmarshal(raw, app); err != nil {
		return nil, fmt.Errorf("decoding the portcullis app: %w", err)
	}
	return app, nil
}

// openCLIRegistry loads the configuration, resolves the store, prefix
// and pepper as the app does, and returns a registry on the store, the
// key lifetime policy and a function that releases the registry.
func openCLIRegistry(path, adapterName string, warnings io.Writer) (*apikey.Registry, apikey.LifetimePolicy, func(), error) {
	reg, release, app, err := openCLIRegistryApp(path, adapterName, warnings)
	if err != nil {
		return nil, apikey.LifetimePolicy{}, nil, err
	}
	return reg, app.APIKeys.lifetimeOrZero(), release, nil
}

// openCLIRegistryApp is openCLIRegistry returning the loaded app.
func openCLIRegistryApp(path, adapterName string, warnings io.Writer) (*apikey.Registry, func(), *App, error) {
	app, err := loadAppConfig(path, adapterName, warnings)
	if err != nil {
		return nil, nil, nil, err
	}
	if storeKind(app.Store) == "memory" {
		return nil, nil, nil, errCLINeedsSharedStore
	}
	if err := app.compileAPIKeys(); err != nil {
		return nil, nil, nil, err
	}
	cfg := APIKeysConfig{}
	if app.APIKeys != nil {
		cfg = *app.APIKeys
	}
	hasher, err := cfg.hasher()
	if err != nil {
		return nil, nil, nil, err
	}
	sc := *app.Store
	if sc.Timeout == 0 {
		sc.Timeout = caddy.Duration(cliStoreTimeout)
	}
	st, poolKey, err := acquireStore(&sc)
	if err != nil {
		return nil, nil, nil, err
	}
	release := func() { _, _ = storePool.Delete(poolKey) }
	reg, err := apikey.NewRegistry(apikey.RegistryOptions{
		Static: app.keys, Store: st, Hasher: hasher, Prefix: app.keys.Prefix(), FlushInterval: -1,
	})
	if err != nil {
		release()
		return nil, nil, nil, err
	}
	return reg, func() { _ = reg.Close(); release() }, app, nil
}

// parseExpiry reads --expires: "never", a duration from now ("90d",
// "12h", "1h30m"), or an RFC 3339 time.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "":
		return time.Time{}, errors.New("--expires is required: a duration such as 90d, an RFC 3339 time, or never")
	case s == "never":
		return time.Time{}, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return now.AddDate(0, 0, n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("--expires %s must be in the future", s)
		}
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--expires %q is not a duration such as 90d, an RFC 3339 time such as 2027-01-31T00:00:00Z, or never", s)
	}
	return t, nil
}

func runAPIKeyCreate(ctx context.Context, reg *apikey.Registry, o storeCLIOptions, _ []string, out io.Writer) error {
	expires, err := parseExpiry(o.expires, time.Now())
	if err != nil {
		return err
	}
	if _, err := apikey.OwnQuota(o.rateLimit, o.burst); err != nil {
		return fmt.Errorf("--rate-limit %q --burst %d: %w", o.rateLimit, o.burst, err)
	}
	k, rec, err := reg.Create(ctx, apikey.CreateOptions{
		Subject: o.subject, Name: o.name, Scopes: strings.Fields(o.scopes), Expires: expires, RateLimit: o.rateLimit,
		Burst: o.burst, MaxLifetime: o.lifetime.MaxLifetime,
	})
	if errors.Is(err, apikey.ErrLifetime) {
		return fmt.Errorf("--expires %s: %w (the configuration's api_keys max_lifetime)", o.expires, err)
	}
	if err != nil {
		return err
	}
	auditCLI(audit.KindAPIKeyCreated, rec)
	fmt.Fprintf(out, "# The key (shown once; hand it to its user, it is stored nowhere):\n%s\n\n", k)
	return writeRecord(out, rec, time.Now(), o.lifetime)
}

// auditCLI records a key life-cycle event on the portcullis.audit logger
// of the CLI process (stderr unless Caddy's logging says otherwise): the
// key id and owner, never the key.
func auditCLI(kind audit.Kind, rec apikey.Record) {
	caddy.Log().Named(AuditLoggerName).Info(string(kind), zap.String("event", string(kind)), zap.String("result", string(audit.Info)),
		zap.String("key_id", rec.ID), zap.String("subject", rec.Subject), zap.String("auth_method", "cli"))
}

func runAPIKeyList(ctx context.Context, reg *apikey.Registry, o storeCLIOptions, _ []string, out io.Writer) error {
	recs, err := reg.List(ctx, o.subject)
	if err != nil {
		return err
	}
	now := time.Now()
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSUBJECT\tNAME\tSCOPES\tRATE LIMIT\tEXPIRES\tLAST USED\tSTATUS")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Subject, orDash(r.Name), orDash(strings.Join(r.Scopes, " ")),
			orDash(apikey.FormatLimit(r.RateLimit, r.RateBurst)), formatTime(r.Expires, "never"), formatTime(r.LastUsed, "never"),
			expiryStatus(r, now, o.lifetime))
	}
	return tw.Flush()
}

func runAPIKeyShow(ctx context.Context, reg *apikey.Registry, o storeCLIOptions, args []string, out io.Writer) error {
	rec, err := reg.Show(ctx, args[0])
	if err != nil {
		return err
	}
	return writeRecord(out, rec, time.Now(), o.lifetime)
}

func runAPIKeyRevoke(ctx context.Context, reg *apikey.Registry, _ storeCLIOptions, args []string, out io.Writer) error {
	rec, err := reg.Revoke(ctx, args[0])
	if err != nil {
		return err
	}
	auditCLI(audit.KindAPIKeyRevoked, rec)
	_, err = fmt.Fprintf(out, "revoked key %s (subject %s); every gateway refuses it within %v\n", rec.ID, rec.Subject, apikey.MaxCacheTTL)
	return err
}

func runAPIKeyRotate(ctx context.Context, reg *apikey.Registry, o storeCLIOptions, args []string, out io.Writer) error {
	k, rec, err := reg.Rotate(ctx, args[0], o.grace)
	if err != nil {
		return err
	}
	auditCLI(audit.KindAPIKeyRotated, rec)
	fmt.Fprintf(out, "# The new key (shown once; hand it to its user, it is stored nowhere):\n%s\n\n", k)
	fmt.Fprintf(out, "# Key %s keeps working until %s, then is refused.\n", args[0], formatTime(time.Now().Add(o.grace), ""))
	return writeRecord(out, rec, time.Now(), o.lifetime)
}

// writeRecord prints a record as aligned "field: value" lines; the
// status is marked when the key is inside lifetime's warning window.
func writeRecord(out io.Writer, r apikey.Record, now time.Time, lifetime apikey.LifetimePolicy) error {
	tw := tabwriter.NewWriter(out, 0, 4, 1, ' ', 0)
	line := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	line("id", r.ID)
	line("subject", r.Subject)
	line("name", orDash(r.Name))
	line("scopes", orDash(strings.Join(r.Scopes, " ")))
	line("rate limit", orDash(apikey.FormatLimit(r.RateLimit, r.RateBurst)))
	line("created", formatTime(r.Created, "-"))
	line("expires", formatTime(r.Expires, "never"))
	line("last used", formatTime(r.LastUsed, "never"))
	if r.ReplacedBy != "" {
		line("replaced by", r.ReplacedBy)
		line("grace until", formatTime(r.GraceUntil, "-"))
	}
	line("status", expiryStatus(r, now, lifetime))
	return tw.Flush()
}

// keyStatus is one word for a record's state at now.
func keyStatus(r apikey.Record, now time.Time) string {
	switch {
	case r.Revoked:
		return "revoked"
	case r.ReplacedBy != "" && !now.Before(r.GraceUntil):
		return "rotated"
	case !r.Expires.IsZero() && !now.Before(r.Expires):
		return "expired"
	case r.ReplacedBy != "":
		return "grace"
	}
	return "active"
}

func formatTime(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

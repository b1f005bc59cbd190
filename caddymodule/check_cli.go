package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/providercheck"
)

// Exit codes of `portcullis check`.
const (
	checkExitOK     = 0 // every check passed (warnings allowed)
	checkExitFailed = 1 // at least one check failed
	checkExitConfig = 2 // the configuration cannot be loaded
)

// The `check` subcommand lives with the module, as `apikey` does, so a
// Caddy built with xcaddy gets it too.
func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "check",
		Usage: "--config <path> [--adapter <name>] [--json] [--timeout <duration>]",
		Short: "Checks over the network what the configuration depends on (identity provider, JWT issuers, Redis)",
		Long: `
Loads the configuration as the server does, then checks what 'validate'
cannot check offline, and prints one line per check: OK, WARN (works,
but read it), FAIL (logins or requests will fail; the line names the
cause) or SKIP.

  - Redis (the store): connects and sends PING.
  - The OpenID provider (the oidc block): fetches its discovery document
    and compares its issuer byte for byte with the configured one; fetches
    its keys; compares the ID token algorithms it offers with the ones the
    gateway accepts; looks for PKCE S256, the code flow, UserInfo, token
    revocation, RP-initiated and back-channel logout, refresh tokens, the
    claims parameter and RFC 9207; and asks the provider about the client:
    a token request with a made-up code (the answer says whether the
    client id and secret are accepted) and the authorization request a
    login makes (the answer says whether the client id and redirect URI
    are registered). Nothing changes at the provider.
  - The gateway's URLs: redirect_url, post_logout_redirect_url and the
    back-channel logout URL must be https (plain http only on loopback).
  - JWT issuers (the jwt blocks): fetches their keys (from jwks_uri or
    through discovery) and compares them with the allowed algorithms.

Secrets are resolved as the server resolves them and never printed.

Exit status: 0 when no check failed (warnings alone are 0), 1 when a
check failed, 2 when the configuration cannot be loaded. --json prints
the report as a JSON array of {component, check, status, detail}.`,
		CobraFunc: func(cmd *cobra.Command) {
			var o checkOptions
			cmd.Flags().StringVarP(&o.config, "config", "c", "", "the gateway's configuration file (required)")
			cmd.Flags().StringVarP(&o.adapter, "adapter", "a", "", "config adapter (default: caddyfile, or none for a .json file)")
			cmd.Flags().BoolVar(&o.json, "json", false, "print the report as JSON")
			cmd.Flags().DurationVar(&o.timeout, "timeout", providercheck.DefaultTimeout, "bound on each request (HTTP request or Redis PING)")
			cmd.RunE = func(c *cobra.Command, _ []string) error {
				// go-redis logs failed dials to stderr on its own; the
				// report says it better.
				redis.SetLogger(quietRedisLogger{})
				return caddycmd.WrapCommandFuncForCobra(func(caddycmd.Flags) (int, error) {
					return runCheck(c.Context(), o, c.OutOrStdout(), c.ErrOrStderr())
				})(c, nil)
			}
		},
	})
}

// checkOptions are the flags of `check`.
type checkOptions struct {
	config, adapter string
	json            bool
	timeout         time.Duration
}

// errChecksFailed is returned (exit status 1) when a check failed.
var errChecksFailed = errors.New("check: some checks failed")

// runCheck runs `check` and returns its exit status: checkExitOK,
// checkExitFailed (with an error wrapping errChecksFailed) or
// checkExitConfig (with the reason).
func runCheck(ctx context.Context, o checkOptions, stdout, stderr io.Writer) (int, error) {
	if o.config == "" {
		return checkExitConfig, errors.New("check: --config is required")
	}
	if o.timeout <= 0 {
		return checkExitConfig, fmt.Errorf("check: --timeout %v must be positive", o.timeout)
	}
	app, err := loadAppConfig(o.config, o.adapter, stderr)
	if err != nil {
		return checkExitConfig, fmt.Errorf("check: %w", err)
	}
	cfg, err := app.checkConfig()
	if err != nil {
		return checkExitConfig, fmt.Errorf("check: %s: %w (`portcullis validate` shows where)", o.config, err)
	}
	cfg.Timeout = o.timeout
	if ctx == nil {
		ctx = context.Background()
	}
	rep := providercheck.Run(ctx, cfg)
	if o.json {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return checkExitFailed, fmt.Errorf("check: %w", err)
	}
	if rep.Failed() {
		return checkExitFailed, fmt.Errorf("%w (%d of %d; see the FAIL lines)", errChecksFailed, rep.Count(providercheck.Fail), len(rep.Results))
	}
	return checkExitOK, nil
}

// checkConfig checks the configuration as Provision does (resolving
// secrets) and translates what the checks need: the Redis store, the
// OIDC provider and the JWT issuers.
func (a *App) checkConfig() (providercheck.Config, error) {
	var cfg providercheck.Config
	if err := a.compile(); err != nil {
		return cfg, err
	}
	for _, k := range a.sessionKeys {
		cfg.Secrets = append(cfg.Secrets, string(k))
	}
	if storeKind(a.Store) == "redis" {
		rc, err := a.Store.redisConfig()
		if err != nil {
			return cfg, err
		}
		cfg.Redis = append(cfg.Redis, providercheck.Redis{Config: rc})
	}
	cfgs, err := a.oidcConfigs()
	if err != nil {
		return cfg, err
	}
	for _, o := range cfgs {
		secret := ""
		if o.ClientSecret != "" {
			if secret, err = resolveSecret("oidc: client_secret", o.ClientSecret); err != nil {
				return cfg, err
			}
		}
		name := o.Name
		if len(cfgs) == 1 {
			name = ""
		}
		cfg.OIDC = append(cfg.OIDC, providercheck.OIDC{
			Name:   name,
			Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: secret,
			RedirectURL: o.RedirectURL, PostLogoutRedirectURL: o.PostLogoutRedirectURL,
			Scopes: o.Scopes, Prompt: o.Prompt, Claims: o.Claims, AuthParams: o.AuthParams,
			DisableUserInfo: o.DisableUserInfo, DisableRevocation: o.DisableRevocation,
			EndpointPrefix: a.endpointPrefix,
		})
	}
	if len(a.JWT) > 0 {
		opts, err := a.jwtOptions()
		if err != nil {
			return cfg, err
		}
		for _, c := range opts.Issuers {
			cfg.JWT = append(cfg.JWT, providercheck.JWTIssuer{Issuer: c.Issuer, JWKSURI: c.JWKSURL, Algorithms: c.EffectiveAlgorithms()})
			if len(c.SharedSecret) > 0 {
				cfg.Secrets = append(cfg.Secrets, string(c.SharedSecret))
			}
		}
	}
	return cfg, nil
}

// quietRedisLogger drops go-redis's own log lines.
type quietRedisLogger struct{}

// Printf discards the line.
func (quietRedisLogger) Printf(context.Context, string, ...any) {}

package caddymodule

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/apikey"
)

// The `apikey` subcommand lives with the module rather than in cmd/, so
// a Caddy built with xcaddy gets it too.
func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "apikey",
		Short: "Creates and manages Portcullis API keys",
		Long: `
Portcullis stores only a hash of each API key.

Keys in the configuration: 'apikey new' creates a key and prints it with
the Caddyfile block to paste into the api_keys block of the portcullis
global option; 'apikey hash' reads an existing key on stdin and prints
that block. When the configuration sets a pepper, pass the name of the
environment variable holding it with --pepper-env.

Keys in the shared store (Redis), which every gateway sharing the store
accepts without a reload: 'apikey create', 'list', 'show', 'revoke' and
'rotate' read the gateway's configuration (--config) for the store, the
prefix and the pepper, and talk to the store directly. A revocation
reaches every gateway within a second.

--expires reads the same in 'new' and 'create': a duration from now
(90d, 12h), an RFC 3339 time, or never ('create' requires it; 'new'
defaults to never).`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(apikeyCommand("new", "Creates a new API key", runAPIKeyNew))
			cmd.AddCommand(apikeyCommand("hash", "Reads an API key on stdin and prints its configuration block", runAPIKeyHash))
			cmd.AddCommand(apikeyStoreCommands()...)
		},
	})
}

// apikeyOptions are the flags of the apikey subcommands.
type apikeyOptions struct {
	prefix, subject, name, scopes, expires, pepperEnv string
}

func apikeyCommand(use, short string, run func(apikeyOptions, io.Reader, io.Writer) error) *cobra.Command {
	var o apikeyOptions
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(o, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	c.Flags().StringVar(&o.prefix, "prefix", apikey.DefaultPrefix, "key prefix, as in the api_keys block")
	c.Flags().StringVar(&o.subject, "subject", "", "subject the key acts for (default apikey:<id>)")
	c.Flags().StringVar(&o.name, "name", "", "human-readable label")
	c.Flags().StringVar(&o.scopes, "scopes", "", "space-separated scopes granted to the key")
	c.Flags().StringVar(&o.expires, "expires", "", "expiry: a duration such as 90d or 12h, an RFC 3339 time, or never (default never)")
	c.Flags().StringVar(&o.pepperEnv, "pepper-env", "", "environment variable holding the api_keys pepper")
	return c
}

func runAPIKeyNew(o apikeyOptions, _ io.Reader, out io.Writer) error {
	k, err := apikey.Generate(o.prefix)
	if err != nil {
		return err
	}
	snippet, err := keySnippet(o, k)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "# The key (shown once; hand it to its user, store it nowhere else):\n%s\n\n# Paste into the api_keys block:\n%s", k, snippet)
	return err
}

func runAPIKeyHash(o apikeyOptions, in io.Reader, out io.Writer) error {
	line, err := bufio.NewReader(io.LimitReader(in, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the key from stdin: %w", err)
	}
	k, err := apikey.Parse(o.prefix, strings.TrimSpace(line))
	if err != nil {
		return fmt.Errorf("stdin does not hold a valid %s_ key (wrong prefix, or mistyped: the checksum does not match)", o.prefix)
	}
	snippet, err := keySnippet(o, k)
	if err != nil {
		return err
	}
	_, err = io.WriteString(out, snippet)
	return err
}

// keySnippet renders the Caddyfile block that declares k.
func keySnippet(o apikeyOptions, k apikey.Key) (string, error) {
	var h apikey.Hasher
	if o.pepperEnv != "" {
		p, ok := os.LookupEnv(o.pepperEnv)
		if !ok || len(p) < minSecretBytes {
			return "", fmt.Errorf("environment variable %s must hold the pepper (at least %d bytes)", o.pepperEnv, minSecretBytes)
		}
		h = apikey.NewHasher([]byte(p))
	}
	// The same --expires syntax as `apikey create`, written down as the
	// RFC 3339 time the Caddyfile's expires takes.
	var expires string
	if o.expires != "" {
		t, err := parseExpiry(o.expires, time.Now())
		if err != nil {
			return "", err
		}
		if !t.IsZero() {
			expires = t.UTC().Format(time.RFC3339)
		}
	}
	cfg := APIKeyConfig{ID: k.ID, Hash: h.Hash(k.String()), Subject: o.subject, Name: o.name, Scopes: strings.Fields(o.scopes), Expires: expires}
	if cfg.Subject == "" {
		cfg.Subject = "apikey:" + k.ID
	}
	if _, err := cfg.record(h); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "key %s {\n\thash %s\n\tsubject %s\n", cfg.ID, cfg.Hash, quoteArg(cfg.Subject))
	if cfg.Name != "" {
		fmt.Fprintf(&b, "\tname %s\n", quoteArg(cfg.Name))
	}
	if len(cfg.Scopes) > 0 {
		fmt.Fprintf(&b, "\tscopes %s\n", strings.Join(cfg.Scopes, " "))
	}
	if cfg.Expires != "" {
		fmt.Fprintf(&b, "\texpires %s\n", cfg.Expires)
	}
	b.WriteString("}\n")
	return b.String(), nil
}

// quoteArg quotes a Caddyfile argument when it holds spaces or quotes.
func quoteArg(s string) string {
	if !strings.ContainsAny(s, " \t\"{}") {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

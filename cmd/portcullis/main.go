// Command portcullis is Caddy with the standard modules and the
// Portcullis authentication gateway module: what
// `xcaddy build --with github.com/portcullis-auth/portcullis/caddymodule`
// produces. Every caddy subcommand works (run, validate, adapt, reload,
// list-modules, version …), plus `portcullis apikey` and `portcullis check`.
package main

import (
	_ "time/tzdata"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/portcullis-auth/portcullis/caddymodule"
)

func main() {
	// Help and usage lines name this binary ("Usage: portcullis apikey
	// …"), not caddy.
	caddy.CustomBinaryName = "portcullis"
	caddy.CustomLongDescription = longDescription
	caddycmd.Main()
}

const longDescription = `Portcullis is an authentication gateway for APIs and web apps: Caddy
with its standard modules and the portcullis module (API keys, bearer
JWTs, OpenID Connect single sign-on, scopes, rate limits).

To run it, use:

	- 'portcullis run --config Caddyfile' to run it in the foreground;
	- 'portcullis stop' to stop it through its admin endpoint
	  (localhost:2019 unless the Caddyfile's admin option says otherwise);
	- 'portcullis validate --config Caddyfile' to check a configuration;
	- 'portcullis check --config Caddyfile' to test the identity provider,
	  JWT issuers and Redis it names, online;
	- 'portcullis apikey --help' to create and manage API keys.

Every caddy subcommand works the same way under this name.`

// Command portcullis is Caddy with the standard modules and the
// Portcullis authentication gateway module: what
// `xcaddy build --with github.com/portcullis-auth/portcullis/caddymodule`
// produces. Every caddy subcommand works (run, validate, adapt, reload,
// list-modules, version …), plus `portcullis apikey`.
package main

import (
	_ "time/tzdata"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/portcullis-auth/portcullis/caddymodule"
)

func main() {
	caddycmd.Main()
}

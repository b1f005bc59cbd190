package caddymodule

import (
	"errors"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("portcullis_forward_auth", parseForwardAuth)
	// It answers every request it gets; it runs after request rewriting
	// and before the other handlers that answer, so users never need an
	// `order` line.
	httpcaddyfile.RegisterDirectiveOrder("portcullis_forward_auth", httpcaddyfile.Before, "respond")
}

// parseForwardAuth sets up the portcullis_forward_auth directive. Syntax:
//
//	portcullis_forward_auth [<matcher>] {
//		path_prefix <prefix>            # Envoy ext_authz HTTP service
//		policy [<host…>] [<path…>] {
//			<portcullis subdirectives: require, accept, rate_limit,
//			 allow_anonymous, identity_headers, assertion, route …>
//		}
//		…
//	}
//
// Arguments of `policy` that start with '/' (or `*`) are paths, the
// others hosts; without hosts a policy covers every host, without paths
// every path. Policies are tried in order; the first that matches the
// original request decides. Every mistake is reported, each at its line.
func parseForwardAuth(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	g, err := declaredIn(h)
	if err != nil {
		return nil, err
	}
	var f ForwardAuth
	if err := f.unmarshal(h.Dispenser, g); err != nil {
		return nil, err
	}
	for _, p := range f.Policies {
		if err := p.checkMFADeclared(h); err != nil {
			return nil, err
		}
	}
	return &f, nil
}

// UnmarshalCaddyfile reads the directive into f. What it names in the
// portcullis app is checked in Provision and Validate.
func (f *ForwardAuth) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return f.unmarshal(d, nil)
}

// unmarshal reads the directive, keeping each mistake and going on at
// the next subdirective; g, when not nil, is what the global option
// declares.
func (f *ForwardAuth) unmarshal(d *caddyfile.Dispenser, g *declared) error {
	d.Next() // consume directive name
	at := errAtStart(d)
	var errs mistakes
	if d.NextArg() {
		errs.add(d.ArgErr())
		for d.NextArg() {
		}
	}
	errs.add(readBlock(d, 0, func() error {
		switch d.Val() {
		case "path_prefix":
			if err := stringArg(d, &f.PathPrefix); err != nil {
				return err
			}
			if err := checkPathPrefix(f.PathPrefix); err != nil {
				return d.Err(err.Error())
			}
		case "policy":
			// A dispenser of its own, so that the portcullis
			// subdirectives read their nested blocks at the levels they
			// expect.
			p, err := unmarshalPolicy(d.NewFromNextSegment(), g)
			f.Policies = append(f.Policies, p)
			return err
		default:
			return d.Errf("unrecognized portcullis_forward_auth subdirective %q (route settings go inside a `policy [<host…>] [<path…>] { … }` block)", d.Val())
		}
		return nil
	}))
	if len(f.Policies) == 0 && len(errs) == 0 {
		errs.add(at(errors.New("portcullis_forward_auth needs at least one `policy [<host…>] [<path…>] { … }` block")))
	}
	return errs.err()
}

// unmarshalPolicy reads `policy [<host…>] [<path…>] { … }` from a
// dispenser that holds that segment only.
func unmarshalPolicy(d *caddyfile.Dispenser, g *declared) (*ForwardAuthPolicy, error) {
	d.Next() // "policy"
	at := errAtStart(d)
	p := &ForwardAuthPolicy{}
	var errs mistakes
	for d.NextArg() {
		v := d.Val()
		switch {
		case strings.HasPrefix(v, "/") || v == "*":
			p.Paths = append(p.Paths, v)
		case len(p.Paths) > 0:
			errs.add(d.Errf("policy: host %q comes after a path; write the hosts first", v))
		case strings.ContainsAny(v, "/:"):
			errs.add(d.Errf("policy: host %q must be a host name without scheme, port or path", v))
		default:
			p.Hosts = append(p.Hosts, v)
		}
	}
	errs.add(readBlock(d, 0, func() error { return p.Handler.unmarshalLine(d, g) }))
	errs.add(g.checkIssuerChoice(at, &p.Handler))
	return p, errs.err()
}

// Interface guards
var _ caddyfile.Unmarshaler = (*ForwardAuth)(nil)

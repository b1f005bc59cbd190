package caddymodule

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/request"
)

// IdentityHeaders names the request headers that carry the caller's
// identity to the upstream. Names must be hyphenated (letters, digits
// and '-'): Caddy and many servers drop or mangle names with '_' or '.'.
//
// Values reach the upstream exactly as the credential states them: a
// credential whose subject, email, name, key id, issuer, groups or
// scopes hold a control character (tab, CR, LF, NUL, DEL, C1, U+2028,
// U+2029, bidirectional controls) or invalid UTF-8, whose subject, email,
// key id or issuer starts or ends with a space, or whose scopes are not
// RFC 6749 scope-tokens is refused (401, reason `malformed_identity`),
// never cleaned up into someone else's identity. Groups are
// percent-encoded (see Groups); a name may have surrounding spaces,
// which HTTP parsers trim.
type IdentityHeaders struct {
	// Subject header. Default: `X-Auth-Subject`.
	Subject string `json:"subject,omitempty"`
	// Email header. Default: `X-Auth-Email`.
	Email string `json:"email,omitempty"`
	// Name header. Default: `X-Auth-Name`.
	Name string `json:"name,omitempty"`
	// Groups header. Default: `X-Auth-Groups`. Groups are joined with
	// `,`, each percent-encoded so that no group can look like several or
	// like another: `%`, `,`, every byte outside printable ASCII
	// (UTF-8 bytes of non-ASCII letters included) and a space at the
	// start or end of a group are sent as `%XX` (upper-case hex); other
	// characters, spaces inside a group included, as they are. Split at
	// `,` and percent-decode each part to read them back:
	// `staff,CN=Admins%2COU=Groups`.
	Groups string `json:"groups,omitempty"`
	// Scopes header (the effective scopes, space-separated). Default: `X-Auth-Scopes`.
	Scopes string `json:"scopes,omitempty"`
	// Method header (api_key, jwt, session). Default: `X-Auth-Method`.
	Method string `json:"method,omitempty"`
	// KeyID header (API key id). Default: `X-Auth-Key-Id`.
	KeyID string `json:"key_id,omitempty"`
	// Issuer header: the issuer URL (`iss`) of a JWT, the OpenID
	// provider's issuer for a browser session, nothing for an API key.
	// Default: `X-Auth-Issuer`.
	Issuer string `json:"issuer,omitempty"`
	// Provider header: the name of the login provider of a browser
	// session (`oidc <name>`; "oidc" for a single unnamed one), nothing
	// for other credentials. Default: `X-Auth-Provider`.
	Provider string `json:"provider,omitempty"`
	// Omit lists identity fields not to send upstream: `subject`,
	// `email`, `name`, `groups`, `scopes`, `method`, `key_id`, `issuer`, `provider` (to keep
	// personal data from an upstream that does not need it, or to save
	// the cost of a header). Client copies of an omitted header are still
	// removed, and its `{http.auth.user.*}` placeholder still answers.
	Omit []string `json:"omit,omitempty"`

	// omitted marks, by index of names, the headers not sent.
	omitted [idCount]bool
	// keepGroups, when set, limits the groups sent (identity_groups).
	keepGroups *groupSet
}

// identityFields are the identity field names of the Caddyfile and of
// Omit, in the order of names.
var identityFields = [idCount]string{"subject", "email", "name", "groups", "scopes", "method", "key_id", "issuer", "provider"}

// defaultIdentityHeaders are the default names, in the order of names.
var defaultIdentityHeaders = [idCount]string{"X-Auth-Subject", "X-Auth-Email", "X-Auth-Name", "X-Auth-Groups",
	"X-Auth-Scopes", "X-Auth-Method", "X-Auth-Key-Id", "X-Auth-Issuer", "X-Auth-Provider"}

// fields points at the configured names, in the order of names.
func (ih *IdentityHeaders) fields() [idCount]*string {
	return [idCount]*string{&ih.Subject, &ih.Email, &ih.Name, &ih.Groups, &ih.Scopes, &ih.Method, &ih.KeyID, &ih.Issuer, &ih.Provider}
}

// withDefaults fills unset names and checks them.
func (ih IdentityHeaders) withDefaults() (IdentityHeaders, error) {
	out := ih
	for i, dst := range out.fields() {
		if *dst == "" {
			*dst = defaultIdentityHeaders[i]
		}
		*dst = http.CanonicalHeaderKey(*dst) // set directly in the header map on every request
	}
	for _, f := range ih.Omit {
		i, err := omitIndex(f)
		if err != nil {
			return out, err
		}
		if given := ih.names()[i]; given != "" {
			return out, fmt.Errorf("identity_headers: %s is both named (%s) and omitted", f, given)
		}
		out.omitted[i] = true
	}
	seen := map[string]bool{}
	for _, n := range out.names() {
		if err := validHeaderName(n); err != nil {
			return out, err
		}
		if seen[normalizeHeaderName(n)] {
			return out, fmt.Errorf("identity_headers: %s is used twice", n)
		}
		seen[normalizeHeaderName(n)] = true
	}
	return out, nil
}

// omitIndex returns the index (in names) of an identity field to omit.
func omitIndex(field string) (int, error) {
	i := slices.Index(identityFields[:], field)
	if i < 0 {
		return 0, fmt.Errorf("identity_headers: cannot omit %q (want one of %s)", field, strings.Join(identityFields[:], ", "))
	}
	return i, nil
}

func (ih IdentityHeaders) names() []string {
	return []string{ih.Subject, ih.Email, ih.Name, ih.Groups, ih.Scopes, ih.Method, ih.KeyID, ih.Issuer, ih.Provider}
}

// validHeaderName accepts hyphenated header names.
func validHeaderName(n string) error {
	if n == "" || n[0] == '-' || n[len(n)-1] == '-' {
		return fmt.Errorf("identity_headers: %q is not a header name", n)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("identity_headers: %q must use only letters, digits and '-'", n)
		}
	}
	return nil
}

// normalizeHeaderName folds a header name the way the most lenient
// upstream would: lower case, with '_' read as '-' (CGI, PHP and some
// proxies treat them alike), so `x_auth_subject` cannot slip through as
// a lookalike of `X-Auth-Subject`.
func normalizeHeaderName(name string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "_", "-")
}

// identityNames are the names whose client copies are removed from
// every request: the identity headers and X-Request-Id, read as the most
// lenient upstream reads a name (see request.HeaderSet).
func identityNames(ih IdentityHeaders) request.HeaderSet {
	return request.HeaderSet{}.With(append(ih.names(), "X-Request-Id")...)
}

// setIdentity writes the principal's identity into the request headers
// sent upstream and makes the `http.auth.user.*` placeholders (the same
// names Caddy's basic_auth uses, so log and header_up work unchanged)
// answer for it. The placeholders are served by one provider per request,
// registered on the first call; a later portcullis handler in the chain
// updates what it answers. The request's identity record is kept in its
// principal variable (vars, the request's variables).
//
// p must have passed principal.Validate: values are sent as they are
// (groups percent-encoded, see IdentityHeaders.Groups), never cleaned
// up, so no value can turn into another principal's.
func setIdentity(vars map[string]any, r *http.Request, repl *caddy.Replacer, ih IdentityHeaders, p principal.Principal) {
	id, ok := vars[principalVar].(*requestIdentity)
	fresh := !ok
	if fresh {
		id = &requestIdentity{}
		if vars != nil {
			vars[principalVar] = id
		}
		// Values an earlier handler set (basic_auth, vars) would answer
		// before a provider; the identity we allowed must win, as when
		// these were Set.
		repl.DeleteByPrefix(placeholderPrefix)
		repl.Map(id.placeholder)
	}
	id.p = p
	v := &id.values
	v[idSubject], v[idMethod], v[idKeyID], v[idIssuer], v[idProvider] = p.Subject, string(p.Method), p.KeyID, p.Issuer, p.Provider
	v[idName], v[idEmail] = p.Name, p.Email
	v[idScopes], v[idGroups] = strings.Join(p.Scopes, " "), encodeGroups(ih.forwardedGroups(p.Groups))
	// One backing array for every header value, instead of one allocation
	// per header; the names are canonical already.
	// A later handler of the same request (chained routes) gets an array
	// of its own: the headers an earlier one set keep their values.
	hdr := &id.headers
	if !fresh {
		hdr = new([idCount]string)
	}
	*hdr = *v
	for i, name := range ih.names() {
		if v[i] != "" && !ih.omitted[i] {
			r.Header[name] = hdr[i : i+1 : i+1]
		}
	}
}

// Indexes of requestIdentity.values, in the order of
// IdentityHeaders.names.
const (
	idSubject = iota
	idEmail
	idName
	idGroups
	idScopes
	idMethod
	idKeyID
	idIssuer
	idProvider
	idCount
)

// requestIdentity is the principal a request was allowed as. It answers
// the `http.auth.user.*` placeholders lazily: registering one provider
// costs less than writing seven entries into the replacer's map on every
// request, most of which nothing reads.
type requestIdentity struct {
	p principal.Principal
	// values are the identity as sent upstream (groups encoded).
	values [idCount]string
	// headers backs the upstream request's header values: a copy of
	// values, so a later handler editing a header in place cannot change
	// the placeholders (in this struct to save an allocation).
	headers [idCount]string
}

// placeholderPrefix starts every identity placeholder.
const placeholderPrefix = "http.auth.user."

// placeholder is a caddy.ReplacerFunc for the identity placeholders.
func (id *requestIdentity) placeholder(key string) (any, bool) {
	name, ok := strings.CutPrefix(key, placeholderPrefix)
	if !ok {
		return nil, false
	}
	i, ok := placeholderIndex[name]
	if !ok {
		return nil, false
	}
	return id.values[i], true
}

// placeholderIndex maps `http.auth.user.<name>` to requestIdentity.values.
var placeholderIndex = map[string]int{
	"id": idSubject, "method": idMethod, "key_id": idKeyID, "name": idName,
	"email": idEmail, "scopes": idScopes, "groups": idGroups, "issuer": idIssuer, "provider": idProvider,
}

// encodeGroups joins groups with ',' after percent-encoding in each
// '%', ',', every byte outside printable ASCII, and a space at its start
// or end (see IdentityHeaders.Groups), so the list splits back into
// exactly the groups, whatever they contain, and no header parser trims
// or splits one. Groups that need no encoding (the common case) cost one
// strings.Join.
func encodeGroups(groups []string) string {
	clean := true
	for _, g := range groups {
		if groupNeedsEncoding(g) {
			clean = false
			break
		}
	}
	if clean {
		return strings.Join(groups, ",")
	}
	var b strings.Builder
	for i, g := range groups {
		if i > 0 {
			b.WriteByte(',')
		}
		for j := 0; j < len(g); j++ {
			c := g[j]
			if groupByteNeedsEncoding(c) || (c == ' ' && (j == 0 || j == len(g)-1)) {
				const hex = "0123456789ABCDEF"
				b.WriteByte('%')
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0x0f])
				continue
			}
			b.WriteByte(c)
		}
	}
	return b.String()
}

// groupNeedsEncoding reports whether encodeGroups changes g.
func groupNeedsEncoding(g string) bool {
	if g != "" && (g[0] == ' ' || g[len(g)-1] == ' ') {
		return true
	}
	for i := 0; i < len(g); i++ {
		if groupByteNeedsEncoding(g[i]) {
			return true
		}
	}
	return false
}

// groupByteNeedsEncoding reports whether c is sent as %XX wherever it is
// in a group: '%', ',', and bytes outside printable ASCII (space aside).
func groupByteNeedsEncoding(c byte) bool {
	return c < 0x20 || c > 0x7e || c == '%' || c == ','
}

package clientreg

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"
)

// Limits on client metadata, shared by documents and registrations.
const (
	maxRedirectURIs = 20
	maxURILength    = 2048
	maxNameLength   = 200 // bytes
	maxScopeLength  = 1024
	maxListLength   = 8 // grant_types, response_types
)

// Grant types, response types and authentication methods understood.
const (
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	responseCode           = "code"
	authNone               = "none"
	authSecretBasic        = "client_secret_basic"
	authSecretPost         = "client_secret_post"
	authPrivateKeyJWT      = "private_key_jwt"
)

// metadata is client metadata (RFC 7591 §2) as read from a document or a
// registration request, before defaults.
type metadata struct {
	clientID                string
	clientName              string
	clientURI               string
	logoURI                 string
	scope                   string
	tokenEndpointAuthMethod string
	redirectURIs            []string
	grantTypes              []string
	responseTypes           []string
	// hasSecret: client_secret or client_secret_expires_at is present.
	hasSecret bool
	// hasKeys: jwks or jwks_uri is present.
	hasKeys bool
}

// fieldError is a problem with one metadata member, phrased for the
// client (it is the error_description).
type fieldError struct {
	field string
	msg   string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// parseMetadata reads data strictly (see readObject) and takes the members
// this package uses, each of the type RFC 7591 gives it; other members are
// ignored, as RFC 7591 §2 asks. A null member counts as absent.
func parseMetadata(data []byte) (metadata, error) {
	members, err := readObject(data)
	if err != nil {
		return metadata{}, err
	}
	var m metadata
	strs := []struct {
		name string
		dst  *string
	}{
		{"client_id", &m.clientID},
		{"client_name", &m.clientName},
		{"client_uri", &m.clientURI},
		{"logo_uri", &m.logoURI},
		{"scope", &m.scope},
		{"token_endpoint_auth_method", &m.tokenEndpointAuthMethod},
	}
	for _, s := range strs {
		if raw, ok := members[s.name]; ok {
			if err := json.Unmarshal(raw, s.dst); err != nil {
				return metadata{}, &fieldError{s.name, "must be a string"}
			}
		}
	}
	lists := []struct {
		name string
		dst  *[]string
	}{
		{"redirect_uris", &m.redirectURIs},
		{"grant_types", &m.grantTypes},
		{"response_types", &m.responseTypes},
	}
	for _, l := range lists {
		if raw, ok := members[l.name]; ok {
			if err := json.Unmarshal(raw, l.dst); err != nil {
				return metadata{}, &fieldError{l.name, "must be an array of strings"}
			}
		}
	}
	_, secret := members["client_secret"]
	_, secretExp := members["client_secret_expires_at"]
	m.hasSecret = secret || secretExp
	_, jwks := members["jwks"]
	_, jwksURI := members["jwks_uri"]
	m.hasKeys = jwks || jwksURI
	return m, nil
}

// validate checks what documents and registrations share and fills in the
// defaults for grant and response types. An invalid redirect URI is
// reported as *redirectError, anything else as *fieldError.
func (m *metadata) validate() error {
	if len(m.redirectURIs) == 0 {
		return &fieldError{"redirect_uris", "at least one redirect URI is required"}
	}
	if len(m.redirectURIs) > maxRedirectURIs {
		return &fieldError{"redirect_uris", fmt.Sprintf("at most %d redirect URIs are allowed", maxRedirectURIs)}
	}
	for _, u := range m.redirectURIs {
		if err := validRedirectURI(u); err != nil {
			return err
		}
	}
	if len(m.grantTypes) == 0 {
		m.grantTypes = []string{grantAuthorizationCode}
	}
	if len(m.responseTypes) == 0 {
		m.responseTypes = []string{responseCode}
	}
	if len(m.grantTypes) > maxListLength || len(m.responseTypes) > maxListLength {
		return &fieldError{"grant_types", "too many values"}
	}
	for _, g := range m.grantTypes {
		if g != grantAuthorizationCode && g != grantRefreshToken {
			return &fieldError{"grant_types", "only authorization_code and refresh_token are supported"}
		}
	}
	for _, r := range m.responseTypes {
		if r != responseCode {
			return &fieldError{"response_types", "only code is supported"}
		}
	}
	// RFC 7591 §2.1: authorization_code goes with the code response type.
	if !slices.Contains(m.grantTypes, grantAuthorizationCode) {
		return &fieldError{"grant_types", "authorization_code is required (response type code)"}
	}
	if err := checkText("client_name", m.clientName, maxNameLength); err != nil {
		return err
	}
	for _, f := range []struct{ name, val string }{{"client_uri", m.clientURI}, {"logo_uri", m.logoURI}} {
		if f.val == "" {
			continue
		}
		if err := checkWebURL(f.name, f.val); err != nil {
			return err
		}
	}
	if err := checkScope(m.scope); err != nil {
		return err
	}
	return nil
}

// checkText refuses a display string that is too long or holds control or
// bidirectional formatting characters (which could make a consent page
// show another name than the one stored). Everything else, HTML included,
// is kept verbatim: escaping is the renderer's job.
func checkText(field, s string, max int) error {
	if len(s) > max {
		return &fieldError{field, fmt.Sprintf("longer than %d bytes", max)}
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029' {
			return &fieldError{field, "must not contain control characters"}
		}
	}
	return nil
}

// checkWebURL requires an absolute https URL without user information or
// fragment.
func checkWebURL(field, s string) error {
	if len(s) > maxURILength || !plainURIChars(s) {
		return &fieldError{field, "must be an https URL"}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || strings.Contains(s, "#") {
		return &fieldError{field, "must be an https URL"}
	}
	return nil
}

// checkScope requires space-separated RFC 6749 §3.3 scope tokens.
func checkScope(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > maxScopeLength {
		return &fieldError{"scope", fmt.Sprintf("longer than %d bytes", maxScopeLength)}
	}
	for _, tok := range strings.Split(s, " ") {
		if tok == "" {
			return &fieldError{"scope", "scope tokens are separated by single spaces"}
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
				return &fieldError{"scope", "invalid character in a scope token"}
			}
		}
	}
	return nil
}

// plainURIChars reports whether s holds only characters RFC 3986 allows in
// a URI (unreserved, reserved and '%'), so that no two URL parsers can
// read it differently because of spaces, backslashes or control bytes.
func plainURIChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}

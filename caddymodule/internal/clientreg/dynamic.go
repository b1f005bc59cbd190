package clientreg

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// MaxRegistrationBytes bounds an RFC 7591 registration request body.
const MaxRegistrationBytes = 16 << 10

// Dynamic client ids are idPrefix and idBytes random bytes in base64url;
// anything else is no dynamic client and is never looked up.
const (
	idPrefix     = "dcr_"
	idBytes      = 18
	secretBytes  = 32
	storeKind    = "dcr"
	recordFormat = 1
)

// record is a dynamic registration as stored: the client and, for a
// confidential client, the SHA-256 of its secret (secrets are 256 random
// bits, so a fast hash suffices; the secret itself is never stored).
type record struct {
	V                       int      `json:"v"`
	Name                    string   `json:"client_name,omitempty"`
	URI                     string   `json:"client_uri,omitempty"`
	LogoURI                 string   `json:"logo_uri,omitempty"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	Scope                   string   `json:"scope,omitempty"`
	IssuedAt                int64    `json:"iat"`
	SecretHash              string   `json:"secret_sha256,omitempty"`
}

// registrationResponse is the RFC 7591 §3.2.1 answer: the client
// information and every registered metadata value.
type registrationResponse struct {
	ClientID                string   `json:"client_id"`
	ClientSecret            string   `json:"client_secret,omitempty"`
	ClientIDIssuedAt        int64    `json:"client_id_issued_at"`
	ClientSecretExpiresAt   *int64   `json:"client_secret_expires_at,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	LogoURI                 string   `json:"logo_uri,omitempty"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	Scope                   string   `json:"scope,omitempty"`
}

// key is the store key of a dynamic client.
func (r *Registry) key(id string) string { return store.Key(r.opts.KeyPrefix, storeKind, id) }

// validDynamicID reports whether id has the shape of an id Register issues.
func validDynamicID(id string) bool {
	rest, ok := strings.CutPrefix(id, idPrefix)
	if !ok || len(rest) != base64.RawURLEncoding.EncodedLen(idBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}

// randomText returns n random bytes in base64url.
func randomText(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashSecret returns the hex SHA-256 of secret, domain-separated.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte("portcullis/clientreg/secret\x00" + secret))
	return hex.EncodeToString(sum[:])
}

// Register performs RFC 7591 registration of the JSON body (at most
// MaxRegistrationBytes); it returns the client, the client secret when
// one was issued (empty for public clients), and the JSON response body to
// send with 201 (RFC 7591 §3.2.1). The registration lives
// RegistrationLifetime, restarted by every Resolve.
//
// Metadata is checked strictly: redirect_uris required (https, loopback
// http, or a private-use scheme; no fragment), grant types
// authorization_code and refresh_token only, response type code only,
// token_endpoint_auth_method none, client_secret_basic (the default, as
// in RFC 7591 §2) or client_secret_post; client_uri and logo_uri https.
// client_id and client_secret in the request are ignored. Errors are
// *Error: CodeInvalidClientMetadata or CodeInvalidRedirectURI (RFC 7591
// §3.2.2), CodeAccessDenied when registration is off
// (ErrRegistrationDisabled), CodeTemporarilyUnavailable when the store
// fails.
func (r *Registry) Register(ctx context.Context, body []byte) (c Client, secret string, response []byte, err error) {
	if !r.opts.DynamicRegistration {
		return Client{}, "", nil, newError(CodeAccessDenied, ReasonRegistrationDisabled,
			"dynamic client registration is not enabled on this server", ErrRegistrationDisabled)
	}
	if len(body) > MaxRegistrationBytes {
		return Client{}, "", nil, newError(CodeInvalidClientMetadata, ReasonRegistrationTooLarge,
			fmt.Sprintf("the registration request is larger than %d bytes", MaxRegistrationBytes), nil)
	}
	m, err := parseMetadata(body)
	if err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			return Client{}, "", nil, newError(CodeInvalidClientMetadata, ReasonInvalidRegistration, fe.Error(), err)
		}
		return Client{}, "", nil, newError(CodeInvalidClientMetadata, ReasonRegistrationMalformed,
			"the registration request is not a valid JSON object", err)
	}
	switch m.tokenEndpointAuthMethod {
	case "":
		m.tokenEndpointAuthMethod = authSecretBasic
	case authNone, authSecretBasic, authSecretPost:
	default:
		return Client{}, "", nil, newError(CodeInvalidClientMetadata, ReasonInvalidRegistration,
			"token_endpoint_auth_method must be none, client_secret_basic or client_secret_post", nil)
	}
	if err := m.validate(); err != nil {
		var re *redirectError
		if errors.As(err, &re) {
			return Client{}, "", nil, newError(CodeInvalidRedirectURI, ReasonInvalidRedirectURI, re.Error(), err)
		}
		return Client{}, "", nil, newError(CodeInvalidClientMetadata, ReasonInvalidRegistration, err.Error(), err)
	}

	now := r.now().Truncate(time.Second).UTC()
	rec := record{
		V:                       recordFormat,
		Name:                    m.clientName,
		URI:                     m.clientURI,
		LogoURI:                 m.logoURI,
		RedirectURIs:            m.redirectURIs,
		GrantTypes:              m.grantTypes,
		ResponseTypes:           m.responseTypes,
		TokenEndpointAuthMethod: m.tokenEndpointAuthMethod,
		Scope:                   m.scope,
		IssuedAt:                now.Unix(),
	}
	if m.tokenEndpointAuthMethod != authNone {
		secret = randomText(secretBytes)
		rec.SecretHash = hashSecret(secret)
	}
	value, err := json.Marshal(rec)
	if err != nil {
		return Client{}, "", nil, fmt.Errorf("clientreg: encoding registration: %w", err)
	}
	var id string
	for attempt := 0; ; attempt++ {
		id = idPrefix + randomText(idBytes)
		ok, err := r.opts.Store.SetNX(ctx, r.key(id), value, r.opts.RegistrationLifetime)
		if err != nil {
			return Client{}, "", nil, unavailable(fmt.Errorf("storing registration: %w", err))
		}
		if ok {
			break
		}
		if attempt == 2 {
			return Client{}, "", nil, unavailable(errors.New("storing registration: id collisions"))
		}
	}

	c = m.client(id, KindDynamic)
	c.IssuedAt = now
	resp := registrationResponse{
		ClientID:                id,
		ClientSecret:            secret,
		ClientIDIssuedAt:        now.Unix(),
		ClientName:              c.Name,
		ClientURI:               c.URI,
		LogoURI:                 c.LogoURI,
		RedirectURIs:            c.RedirectURIs,
		GrantTypes:              c.GrantTypes,
		ResponseTypes:           c.ResponseTypes,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		Scope:                   c.Scope,
	}
	if secret != "" {
		never := int64(0) // the secret lives as long as the registration
		resp.ClientSecretExpiresAt = &never
	}
	response, err = json.Marshal(resp)
	if err != nil {
		return Client{}, "", nil, fmt.Errorf("clientreg: encoding registration response: %w", err)
	}
	return c.clone(), secret, response, nil
}

// unavailable is the *Error for a store failure.
func unavailable(cause error) error {
	return newError(CodeTemporarilyUnavailable, ReasonStoreUnavailable,
		"client registrations are temporarily unavailable", fmt.Errorf("%w: %w", ErrUnavailable, cause))
}

// unknownClient is the *Error for an id that names no client.
func unknownClient() error {
	return newError(CodeInvalidClient, ReasonUnknownClient, "unknown client", ErrUnknownClient)
}

// load reads the record of dynamic client id.
func (r *Registry) load(ctx context.Context, id string) (record, error) {
	if !r.opts.DynamicRegistration || !validDynamicID(id) {
		return record{}, unknownClient()
	}
	value, err := r.opts.Store.Get(ctx, r.key(id))
	if errors.Is(err, store.ErrNotFound) {
		return record{}, unknownClient()
	}
	if err != nil {
		return record{}, unavailable(fmt.Errorf("loading registration: %w", err))
	}
	var rec record
	if err := json.Unmarshal(value, &rec); err != nil || rec.V != recordFormat {
		return record{}, unavailable(fmt.Errorf("decoding registration: format %d: %v", rec.V, err))
	}
	return rec, nil
}

// resolveDynamic loads a dynamic client and restarts its lifetime (best
// effort: a failed restart does not fail the resolution). With dynamic
// registration turned off, no dynamic client resolves.
func (r *Registry) resolveDynamic(ctx context.Context, id string) (Client, error) {
	rec, err := r.load(ctx, id)
	if err != nil {
		return Client{}, err
	}
	_, _ = r.opts.Store.Expire(ctx, r.key(id), r.opts.RegistrationLifetime)
	return Client{
		ID:                      id,
		Kind:                    KindDynamic,
		Name:                    rec.Name,
		URI:                     rec.URI,
		LogoURI:                 rec.LogoURI,
		RedirectURIs:            rec.RedirectURIs,
		GrantTypes:              rec.GrantTypes,
		ResponseTypes:           rec.ResponseTypes,
		TokenEndpointAuthMethod: rec.TokenEndpointAuthMethod,
		Scope:                   rec.Scope,
		IssuedAt:                time.Unix(rec.IssuedAt, 0).UTC(),
	}, nil
}

// Authenticate checks a confidential dynamic client's secret (constant
// time, against the stored hash); public clients (method none) pass with
// an empty secret and fail with any other. For a dynamic client the
// stored registration decides the method, not c. The caller checks that
// the secret arrived the way the method says (Basic header or form).
// private_key_jwt is not supported yet and always fails. Errors are
// *Error with CodeInvalidClient, or CodeTemporarilyUnavailable when the
// store fails.
func (r *Registry) Authenticate(ctx context.Context, c Client, secret string) error {
	fail := func(reason string) error {
		return newError(CodeInvalidClient, reason, "client authentication failed", nil)
	}
	method, hash := c.TokenEndpointAuthMethod, ""
	if c.Kind == KindDynamic {
		rec, err := r.load(ctx, c.ID)
		if err != nil {
			return err
		}
		method, hash = rec.TokenEndpointAuthMethod, rec.SecretHash
	}
	switch method {
	case authNone:
		if secret != "" {
			return fail(ReasonInvalidSecret)
		}
		return nil
	case authSecretBasic, authSecretPost:
		if hash == "" || secret == "" ||
			subtle.ConstantTimeCompare([]byte(hash), []byte(hashSecret(secret))) != 1 {
			return fail(ReasonInvalidSecret)
		}
		return nil
	default:
		return fail(ReasonAuthMethodUnsupported)
	}
}

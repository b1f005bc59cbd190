package authserver

import (
	"encoding/json"
	"slices"
)

// Endpoints are the absolute URLs the metadata names.
type Endpoints struct {
	Authorization string
	Token         string
	Revocation    string
	JWKS          string
	// Registration is the RFC 7591 endpoint; empty when dynamic
	// registration is off.
	Registration string
	// MetadataDocuments says whether client ids may be Client ID
	// Metadata Document URLs.
	MetadataDocuments bool
}

// metadata is the RFC 8414 authorization server metadata document.
type metadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	RegistrationEndpoint              string   `json:"registration_endpoint,omitempty"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	ScopesSupported                   []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethods          []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethods     []string `json:"revocation_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	AuthorizationResponseISSSupported bool     `json:"authorization_response_iss_parameter_supported"`
	ClientIDMetadataDocumentSupported bool     `json:"client_id_metadata_document_supported"`
}

// Metadata returns the RFC 8414 metadata document for e.
func (s *Server) Metadata(e Endpoints) []byte {
	var scopes []string
	for _, sc := range s.o.Resources {
		for _, x := range sc {
			if !slices.Contains(scopes, x) {
				scopes = append(scopes, x)
			}
		}
	}
	slices.Sort(scopes)
	auth := []string{"none", "client_secret_basic", "client_secret_post"}
	m := metadata{
		Issuer: s.o.Issuer, AuthorizationEndpoint: e.Authorization, TokenEndpoint: e.Token,
		RegistrationEndpoint: e.Registration, RevocationEndpoint: e.Revocation, JWKSURI: e.JWKS,
		ScopesSupported: scopes, ResponseTypesSupported: []string{"code"}, ResponseModesSupported: []string{"query"},
		GrantTypesSupported: []string{"authorization_code", "refresh_token"}, TokenEndpointAuthMethods: auth,
		RevocationEndpointAuthMethods: auth, CodeChallengeMethodsSupported: []string{"S256"},
		AuthorizationResponseISSSupported: true, ClientIDMetadataDocumentSupported: e.MetadataDocuments,
	}
	raw, _ := json.Marshal(m) // plain strings and slices: cannot fail
	return raw
}

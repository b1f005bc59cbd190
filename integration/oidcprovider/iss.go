package oidcprovider

import (
	"net/http"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// The op package has no option for RFC 9207 (OAuth 2.0 Authorization
// Server Issuer Identification). Every authorization response it sends,
// code or error, in the query, the fragment or a form_post page, is encoded
// by its Authorizer's Encoder. In the strict profile the provider serves
// the authorization endpoint and its login callback itself, through
// op.Authorize and op.AuthorizeCallback with an Authorizer whose Encoder
// adds iss; its login page reports errors through the same Authorizer.

// pathAuthorizeCallback is where the login page sends the browser once the
// user is authenticated; op answers it with the redirect to the client.
const pathAuthorizeCallback = PathAuthorize + "/callback"

// issAuthorizer is the op.Provider with an Encoder that adds iss.
type issAuthorizer struct {
	*op.Provider
	issuer string
}

var _ op.Authorizer = issAuthorizer{}

// Encoder implements op.Authorizer.
func (a issAuthorizer) Encoder() httphelper.Encoder {
	return issEncoder{next: a.Provider.Encoder(), issuer: a.issuer}
}

// issEncoder encodes authorization responses with iss (RFC 9207, §2).
type issEncoder struct {
	next   httphelper.Encoder
	issuer string
}

// Encode implements httphelper.Encoder.
func (e issEncoder) Encode(src any, dst map[string][]string) error {
	if err := e.next.Encode(src, dst); err != nil {
		return err
	}
	dst["iss"] = []string{e.issuer}
	return nil
}

// serveAuthorize is the strict profile's authorization endpoint.
func (p *Provider) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	r = r.WithContext(op.ContextWithIssuer(r.Context(), p.issuer))
	op.Authorize(w, r, p.authorizer)
}

// serveAuthorizeCallback is the strict profile's login callback.
func (p *Provider) serveAuthorizeCallback(w http.ResponseWriter, r *http.Request) {
	r = r.WithContext(op.ContextWithIssuer(r.Context(), p.issuer))
	op.AuthorizeCallback(w, r, p.authorizer)
}

package oidcprovider

import (
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// The op package has no option for RFC 9207 (OAuth 2.0 Authorization
// Server Issuer Identification). Every authorization response it redirects
// with, code or error, is encoded by its Authorizer's Encoder. In the
// strict profile the provider serves the authorization endpoint and its
// login callback itself, through op.Authorize and op.AuthorizeCallback with
// an Authorizer whose Encoder adds iss; its login page reports errors
// through the same Authorizer. The op package's form_post page renders a
// fixed list of fields without iss, so the strict callback renders
// response_mode=form_post code responses itself. (Errors always go back as
// query redirects: the op package sends them so for form_post too.)

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
	if id, err := op.ParseAuthorizeCallbackRequest(r); err == nil {
		ar, err := p.store.AuthRequestByID(r.Context(), id)
		if err == nil && ar.Done() && ar.GetResponseMode() == oidc.ResponseModeFormPost &&
			ar.GetResponseType() == oidc.ResponseTypeCode {
			p.formPostCode(w, r, ar)
			return
		}
	}
	op.AuthorizeCallback(w, r, p.authorizer)
}

// formPostPage submits an authorization response to the client with
// response_mode=form_post (OAuth 2.0 Form Post Response Mode), every
// parameter included.
var formPostPage = template.Must(template.New("form_post").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Submit</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="{{.Action}}">
{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<noscript><button type="submit">Continue</button></noscript>
</form>
</body>
</html>
`))

// formField is one hidden input of formPostPage.
type formField struct{ Name, Value string }

// formPostCode issues the code of a completed auth request and answers with
// formPostPage.
func (p *Provider) formPostCode(w http.ResponseWriter, r *http.Request, ar op.AuthRequest) {
	resp, err := op.BuildAuthResponseCodeResponsePayload(r.Context(), ar, p.authorizer)
	if err != nil {
		op.AuthRequestError(w, r, ar, err, p.authorizer)
		return
	}
	params := url.Values{}
	if err := p.authorizer.Encoder().Encode(resp, params); err != nil {
		op.AuthRequestError(w, r, ar, oidc.ErrServerError().WithParent(err), p.authorizer)
		return
	}
	view := struct {
		Action string
		Fields []formField
	}{Action: ar.GetRedirectURI()}
	for _, name := range slices.Sorted(maps.Keys(params)) {
		for _, v := range params[name] {
			view.Fields = append(view.Fields, formField{name, v})
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := formPostPage.Execute(w, view); err != nil && p.logf != nil {
		p.logf("oidcprovider: rendering form_post page: %v", err)
	}
}

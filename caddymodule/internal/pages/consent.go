package pages

import (
	"fmt"
	"net/http"
)

// ConsentFile asks a signed-in user whether an OAuth client may act for
// them at a resource (the gateway's authorization server); it sees
// ConsentData.
const ConsentFile = "consent.html"

// The form fields of the consent page.
const (
	// FieldRequest carries ConsentData.Request back: the authorization
	// request being consented to.
	FieldRequest = "request"
	// FieldDecision is "allow" or "deny": the button pressed.
	FieldDecision = "decision"
)

// ConsentData is what consent.html sees. ClientName, ClientURI and
// ClientID come from the client (its metadata document or registration)
// and are UNTRUSTED: the template shows them as text only.
type ConsentData struct {
	// Title is the page title and heading; "Allow access?" when empty.
	Title string
	// ClientName is the client's name (untrusted); may be empty.
	ClientName string
	// ClientID is the client's id (untrusted, may be a URL).
	ClientID string
	// ClientURI is the client's home page (untrusted), shown as text,
	// never as a link; may be empty.
	ClientURI string
	// Unverified marks a client that registered itself (RFC 7591): its
	// name is whatever it chose.
	Unverified bool
	// Resource is the resource (URI) the client will get access to.
	Resource string
	// ResourceName is the resource's human-readable name; may be empty.
	ResourceName string
	// Scopes are the permissions it will get.
	Scopes []string
	// User names who is signed in (email, name or subject).
	User string
	// Action is the consent endpoint the form POSTs to: a path on this
	// origin.
	Action string
	// Request is the authorization request, sent back in the request field.
	Request string
	// CSRF is the anti-forgery token sent back in the csrf field.
	CSRF string
	// RequestID identifies the request in the gateway's log.
	RequestID string
}

func init() {
	samples[consent] = []any{
		ConsentData{Title: "Allow access?", ClientName: "<b>Inspector</b>", ClientID: "https://client.example.com/meta.json",
			ClientURI: "https://client.example.com/", Unverified: true, Resource: "https://mcp.example.com/mcp", ResourceName: "Tools",
			Scopes: []string{"tools:read", "tools:deploy"}, User: "alice@example.com", Action: "/.portcullis/oauth/consent",
			Request: "client_id=a&redirect_uri=b", CSRF: "csrf-sample", RequestID: "req-sample"},
		ConsentData{Action: "/.portcullis/oauth/consent"},
	}
}

// Consent returns the consent page (200): who asks, for what, and two
// buttons that POST the decision to d.Action, which must be a path on
// this origin (ErrUnsafeURL otherwise).
func (s *Set) Consent(d ConsentData) (Page, error) {
	if err := checkURL(d.Action, pathOnly); err != nil {
		return Page{}, fmt.Errorf("%w: consent action: %v", ErrUnsafeURL, err)
	}
	if d.Title == "" {
		d.Title = "Allow access?"
	}
	return s.render(consent, http.StatusOK, d)
}

package pages

import (
	"fmt"
	"net/http"
)

// ConnectionsFile lists the signed-in user's upstream connections (the
// credential vault) and confirms a new one; it sees ConnectionsData.
const ConnectionsFile = "connections.html"

// FieldCSRF carries ConnectionsData.CSRF back with the connections
// page's forms.
const FieldCSRF = "csrf"

// Connection is one upstream provider on the connections page.
type Connection struct {
	// Name is the provider's configured name.
	Name string
	// Label is what people read ("GitHub").
	Label string
	// Scopes are the access the gateway asks for, or was granted.
	Scopes []string
	// Connected is set when the user has connected the provider.
	Connected bool
	// NeedsReconnect is set when the connection no longer gives tokens.
	NeedsReconnect bool
	// Since is when it was connected, in words; may be empty.
	Since string
	// ConnectAction is the endpoint the connect form POSTs to: a path on
	// this origin.
	ConnectAction string
	// DisconnectAction is the endpoint the disconnect form POSTs to: a
	// path on this origin.
	DisconnectAction string
}

// ConnectionsData is what connections.html sees.
type ConnectionsData struct {
	// Title is the page title and heading; "Connected accounts" when
	// empty.
	Title string
	// Confirm shows one provider about to be connected (its connect
	// page) rather than the list.
	Confirm bool
	// Connections are the providers, in order.
	Connections []Connection
	// CSRF is the anti-forgery token the forms send back (csrf field).
	CSRF string
	// ReturnTo is where to go after connecting, sent back in the
	// return_to field; the caller MUST have validated it.
	ReturnTo string
	// RequestID identifies the request in the gateway's log.
	RequestID string
}

func init() {
	samples[connections] = []any{
		ConnectionsData{Title: "Connect GitHub", Confirm: true, CSRF: "csrf-sample", ReturnTo: "/app?a=1&b=2", RequestID: "req-sample",
			Connections: []Connection{{Name: "github", Label: "GitHub", Scopes: []string{"repo", "read:user"}, ConnectAction: "/.portcullis/connect/github"}}},
		ConnectionsData{Title: "Connected accounts", CSRF: "csrf-sample", Connections: []Connection{
			{Name: "github", Label: "GitHub", Connected: true, Since: "2026-12-07", ConnectAction: "/.portcullis/connect/github", DisconnectAction: "/.portcullis/disconnect/github"},
			{Name: "notion", Label: "Notion", Connected: true, NeedsReconnect: true, ConnectAction: "/.portcullis/connect/notion", DisconnectAction: "/.portcullis/disconnect/notion"},
			{Name: "figma", Label: "Figma", ConnectAction: "/.portcullis/connect/figma", DisconnectAction: "/.portcullis/disconnect/figma"},
		}},
		ConnectionsData{Title: "Connected accounts"},
	}
}

// Connections returns the connections page (200): the list of d's
// providers with connect and disconnect forms, or with d.Confirm the
// page that confirms connecting one. Every action must be a path on
// this origin (ErrUnsafeURL otherwise).
func (s *Set) Connections(d ConnectionsData) (Page, error) {
	for _, c := range d.Connections {
		for _, u := range []string{c.ConnectAction, c.DisconnectAction} {
			if u == "" {
				continue
			}
			if err := checkURL(u, pathOnly); err != nil {
				return Page{}, fmt.Errorf("%w: connections action of %q: %v", ErrUnsafeURL, c.Name, err)
			}
		}
	}
	if d.Title == "" {
		d.Title = "Connected accounts"
	}
	return s.render(connections, http.StatusOK, d)
}

package browser_test

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/browser"
)

// TestBrowserHelpers drives a real Chromium through a small form and checks
// every helper against what the server saw.
func TestBrowserHelpers(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/form", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "s-1", Path: "/", HttpOnly: true})
		http.SetCookie(w, &http.Cookie{Name: "theme", Value: "dark", Path: "/"})
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<form action="/hello"><input id="name" name="name"><button id="go">Go</button></form>`)
	})
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<p id="greeting">Hello %s</p>`, html.EscapeString(r.URL.Query().Get("name")))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	b := browser.New(t)
	b.Navigate(srv.URL + "/form")
	if u := b.CurrentURL(); u != srv.URL+"/form" {
		t.Errorf("CurrentURL = %q", u)
	}
	if !b.Has("#name") || b.Has("#greeting") {
		t.Errorf("Has: #name %v, #greeting %v", b.Has("#name"), b.Has("#greeting"))
	}
	b.Fill("#name", "Ada")
	b.Click("#go")
	if u := b.WaitURL(srv.URL + "/hello"); !strings.Contains(u, "name=Ada") {
		t.Errorf("WaitURL = %q", u)
	}
	if got := b.Text("#greeting"); got != "Hello Ada" {
		t.Errorf("Text(#greeting) = %q", got)
	}
	if !strings.Contains(b.BodyText(), "Hello Ada") {
		t.Errorf("BodyText = %q", b.BodyText())
	}

	sid, ok := b.Cookie("127.0.0.1", "sid")
	if !ok || sid.Value != "s-1" || !sid.HTTPOnly || !sid.Session {
		t.Errorf("HttpOnly cookie sid = %+v, %v", sid, ok)
	}
	if theme, ok := b.Cookie("", "theme"); !ok || theme.HTTPOnly {
		t.Errorf("cookie theme = %+v, %v", theme, ok)
	}
	b.ClearCookies()
	if c := b.Cookies(); len(c) != 0 {
		t.Errorf("cookies after ClearCookies = %+v", c)
	}
	if png := b.Screenshot(); len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Errorf("Screenshot is not a PNG (%d bytes)", len(png))
	}
}

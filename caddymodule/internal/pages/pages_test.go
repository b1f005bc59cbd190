package pages

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// eventHandler finds an inline event handler attribute.
var eventHandler = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)

// renderAll renders every page of s with ordinary data.
func renderAll(t *testing.T, s *Set) map[string]Page {
	t.Helper()
	out := map[string]Page{}
	var err error
	if out[ChooserFile], err = s.Chooser(ChooserData{
		Action:    "/.portcullis/login",
		Providers: []Provider{{Name: "staff", Label: "Staff", URL: "/.portcullis/login?provider=staff"}, {Name: "partners", Label: "Partners", URL: "/.portcullis/login?provider=partners"}},
		ReturnTo:  "/app", RememberMe: true, RememberFor: "30 days", RequestID: "rid-1",
	}); err != nil {
		t.Fatalf("Chooser: %v", err)
	}
	if out[LandingFile], err = s.Landing("/app?a=1&b=2"); err != nil {
		t.Fatalf("Landing: %v", err)
	}
	if out[SignOutFile], err = s.SignOut(SignOutData{Action: "/.portcullis/logout", Everywhere: true, RequestID: "rid-1"}); err != nil {
		t.Fatalf("SignOut: %v", err)
	}
	if out[RedirectFile], err = s.ProviderRedirect("https://idp.example/logout?id_token_hint=a.b.c&client_id=gw"); err != nil {
		t.Fatalf("ProviderRedirect: %v", err)
	}
	if out[ErrorFile], err = s.Error(ErrorData{Status: http.StatusUnauthorized, Message: "Sign in to continue.", RequestID: "rid-1"}); err != nil {
		t.Fatalf("Error: %v", err)
	}
	return out
}

func TestDefaultsRender(t *testing.T) {
	t.Parallel()
	for name, p := range renderAll(t, Default()) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body := string(p.Body)
			wantStatus := http.StatusOK
			if name == ErrorFile {
				wantStatus = http.StatusUnauthorized
			}
			if p.Status != wantStatus {
				t.Errorf("status = %d, want %d", p.Status, wantStatus)
			}
			for _, want := range []string{"<!doctype html>", `<html lang="en">`, `<meta charset="utf-8">`, "<title>", "<h1>", "<main>", `<meta name="referrer" content="` + referrerPolicy(kindOf(name)) + `">`} {
				if !strings.Contains(body, want) {
					t.Errorf("body lacks %q:\n%s", want, body)
				}
			}
			if strings.Contains(strings.ToLower(body), "<script") || eventHandler.MatchString(body) {
				t.Errorf("default page has script:\n%s", body)
			}
			if !strings.Contains(body, ":focus-visible{outline:") {
				t.Error("default page has no visible focus style")
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	hostile, err := Load("testdata/hostile")
	if err != nil {
		t.Fatal(err)
	}
	for setName, s := range map[string]*Set{"default": Default(), "operator": hostile} {
		for name, p := range renderAll(t, s) {
			t.Run(setName+"/"+name, func(t *testing.T) {
				t.Parallel()
				want := map[string]string{
					"Content-Type":           "text/html; charset=utf-8",
					"Cache-Control":          "no-store",
					"Referrer-Policy":        referrerPolicy(kindOf(name)),
					"X-Content-Type-Options": "nosniff",
				}
				for k, v := range want {
					if got := p.Header.Get(k); got != v {
						t.Errorf("%s = %q, want %q", k, got, v)
					}
				}
				csp := p.Header.Get("Content-Security-Policy")
				for _, d := range []string{"default-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "img-src data:"} {
					if !strings.Contains(csp, d) {
						t.Errorf("CSP %q lacks %q", csp, d)
					}
				}
				for _, bad := range []string{"unsafe-inline", "unsafe-eval", "unsafe-hashes", "script-src", "*"} {
					if strings.Contains(csp, bad) {
						t.Errorf("CSP %q has %q", csp, bad)
					}
				}
				wantForm := "form-action 'none'"
				if name == ChooserFile || name == SignOutFile {
					wantForm = "form-action 'self'"
				}
				if !strings.Contains(csp, wantForm) {
					t.Errorf("CSP %q lacks %q", csp, wantForm)
				}
			})
		}
	}
}

func TestHeaderIsFreshPerPage(t *testing.T) {
	t.Parallel()
	a, _ := Default().Landing("/a")
	a.Header.Set("X-Request-Id", "changed")
	b, _ := Default().Landing("/a")
	if b.Header.Get("X-Request-Id") != "" {
		t.Fatal("pages share their header map")
	}
}

func TestChooser(t *testing.T) {
	t.Parallel()
	providers := []Provider{
		{Name: "staff", Label: "Staff (Entra ID)", URL: "/.portcullis/login?provider=staff"},
		{Name: "partners", Label: "Partners", URL: "https://auth.example.com/.portcullis/login?provider=partners"},
	}
	tests := []struct {
		name    string
		data    ChooserData
		want    []string
		notWant []string
	}{
		{
			name: "remember me offered",
			data: ChooserData{Action: "/.portcullis/login", Providers: providers, ReturnTo: "/app?a=1&b=2", RememberMe: true, RememberFor: "30 days"},
			want: []string{
				"<title>Sign in</title>", "<h1>Sign in</h1>",
				`<form method="get" action="/.portcullis/login">`,
				`<input type="hidden" name="` + FieldReturnTo + `" value="/app?a=1&amp;b=2">`,
				`<input type="checkbox" id="remember" name="` + FieldRemember + `" value="1"><label for="remember">Remember me on this device for 30 days</label>`,
				`<button type="submit" name="` + FieldProvider + `" value="staff">Sign in with Staff (Entra ID)</button>`,
				`<button type="submit" name="` + FieldProvider + `" value="partners">Sign in with Partners</button>`,
				// Enter on the checkbox must not pick the first provider.
				`<form method="get" action="/.portcullis/login">` + "\n" + `<button type="submit" hidden tabindex="-1"></button>`,
			},
		},
		{
			name:    "no remember me, no return URL, own title",
			data:    ChooserData{Title: "Welcome to Example", Action: "/.portcullis/login", Providers: providers},
			want:    []string{"<title>Welcome to Example</title>", "<h1>Welcome to Example</h1>", `value="staff"`},
			notWant: []string{`type="checkbox"`, "Remember me", FieldReturnTo},
		},
		{
			name:    "remember me without a duration",
			data:    ChooserData{Action: "/l", Providers: providers, RememberMe: true},
			want:    []string{`<label for="remember">Remember me on this device</label>`},
			notWant: []string{"checked"},
		},
		{
			name: "remember me checked",
			data: ChooserData{Action: "/l", Providers: providers, RememberMe: true, Remembered: true},
			want: []string{`<input type="checkbox" id="remember" name="remember" value="1" checked>`},
		},
		{
			name: "no providers",
			data: ChooserData{Action: "/l"},
			want: []string{"No sign-in method is available."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Default().Chooser(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			body := string(p.Body)
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(body, w) {
					t.Errorf("body has %q:\n%s", w, body)
				}
			}
		})
	}
}

func TestChooserRefusesUnsafeURLs(t *testing.T) {
	t.Parallel()
	ok := Provider{Name: "a", Label: "A", URL: "/login?provider=a"}
	tests := []struct {
		name string
		data ChooserData
	}{
		{name: "empty action", data: ChooserData{Providers: []Provider{ok}}},
		{name: "absolute action", data: ChooserData{Action: "https://auth.example.com/login", Providers: []Provider{ok}}},
		{name: "scheme-relative action", data: ChooserData{Action: "//evil.example/login", Providers: []Provider{ok}}},
		{name: "javascript provider URL", data: ChooserData{Action: "/login", Providers: []Provider{{Name: "a", URL: "javascript:alert(1)"}}}},
		{name: "data provider URL", data: ChooserData{Action: "/login", Providers: []Provider{{Name: "a", URL: "data:text/html,x"}}}},
		{name: "relative provider URL", data: ChooserData{Action: "/login", Providers: []Provider{{Name: "a", URL: "login?provider=a"}}}},
		{name: "empty provider URL", data: ChooserData{Action: "/login", Providers: []Provider{{Name: "a"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Default().Chooser(tt.data); !errors.Is(err, ErrUnsafeURL) {
				t.Fatalf("Chooser error = %v, want ErrUnsafeURL", err)
			}
		})
	}
}

func TestLanding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		next     string
		wantHref string
		wantErr  bool
	}{
		{name: "path", next: "/app?a=1&b=2", wantHref: `"/app?a=1&amp;b=2"`},
		{name: "another host of the domain", next: "https://app.example.com/x?y=1", wantHref: `"https://app.example.com/x?y=1"`},
		{name: "quote injection is escaped", next: `/x"><script>alert(1)</script>`, wantHref: `"/x%22%3e%3cscript%3ealert%281%29%3c/script%3e"`},
		{name: "javascript", next: "javascript:alert(1)", wantErr: true},
		{name: "scheme-relative", next: "//evil.example/", wantErr: true},
		{name: "backslash", next: `/\evil.example/`, wantErr: true},
		{name: "relative", next: "app", wantErr: true},
		{name: "CRLF", next: "/app\r\nSet-Cookie: x=y", wantErr: true},
		{name: "tab in scheme", next: "java\tscript:alert(1)", wantErr: true},
		{name: "userinfo", next: "https://user@app.example.com/", wantErr: true},
		{name: "empty", next: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Default().Landing(tt.next)
			if tt.wantErr {
				if !errors.Is(err, ErrUnsafeURL) {
					t.Fatalf("Landing error = %v, want ErrUnsafeURL", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			body := string(p.Body)
			if p.Status != http.StatusOK || !strings.Contains(body, `<a id="next" href=`+tt.wantHref+`>Continue</a>`) {
				t.Fatalf("page = %d\n%s", p.Status, body)
			}
			if !strings.Contains(body, `<meta http-equiv="refresh" content="0;url=`) {
				t.Fatal("page does not continue the navigation")
			}
			if strings.Contains(body, "<script") {
				t.Fatal("landing page has a script")
			}
		})
	}
}

func TestSignOut(t *testing.T) {
	t.Parallel()
	p, err := Default().SignOut(SignOutData{Action: "/.portcullis/logout", Everywhere: true})
	if err != nil {
		t.Fatal(err)
	}
	body := string(p.Body)
	for _, w := range []string{
		`<form method="post" action="/.portcullis/logout">`,
		`<input type="checkbox" id="everywhere" name="` + FieldEverywhere + `" value="1"><label for="everywhere">Sign out on every device</label>`,
		`<button type="submit">Sign out</button>`,
		"<h1>Sign out</h1>",
	} {
		if !strings.Contains(body, w) {
			t.Errorf("body lacks %q:\n%s", w, body)
		}
	}
	p, err = Default().SignOut(SignOutData{Action: "/.portcullis/logout"})
	if err != nil || strings.Contains(string(p.Body), `type="checkbox"`) {
		t.Fatalf("without Everywhere: %v\n%s", err, p.Body)
	}
	for _, action := range []string{"", "https://evil.example/logout", "//evil.example/logout", "javascript:alert(1)"} {
		if _, err := Default().SignOut(SignOutData{Action: action}); !errors.Is(err, ErrUnsafeURL) {
			t.Errorf("SignOut(%q) error = %v, want ErrUnsafeURL", action, err)
		}
	}
}

func TestProviderRedirect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		target  string
		wantErr bool
	}{
		{name: "logout URL", target: "https://idp.example/logout?id_token_hint=a.b.c&client_id=gw"},
		{name: "relative", target: "/logout", wantErr: true},
		{name: "javascript", target: "javascript:alert(1)", wantErr: true},
		{name: "javascript upper case", target: "JAVASCRIPT:alert(1)", wantErr: true},
		{name: "data", target: "data:text/html,<script>alert(1)</script>", wantErr: true},
		{name: "scheme-relative", target: "//idp.example/logout", wantErr: true},
		{name: "CRLF", target: "https://idp.example/\r\nX: y", wantErr: true},
		{name: "LF", target: "https://idp.example/\nx", wantErr: true},
		{name: "tab", target: "https://idp.example/\tx", wantErr: true},
		{name: "no host", target: "https:idp.example/logout", wantErr: true},
		{name: "backslash host", target: `https:\\idp.example/logout`, wantErr: true},
		{name: "userinfo", target: "https://user:pw@idp.example/logout", wantErr: true},
		{name: "ftp", target: "ftp://idp.example/logout", wantErr: true},
		{name: "empty", target: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Default().ProviderRedirect(tt.target)
			if tt.wantErr {
				if !errors.Is(err, ErrUnsafeURL) {
					t.Fatalf("ProviderRedirect error = %v, want ErrUnsafeURL", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			body := string(p.Body)
			const want = `https://idp.example/logout?id_token_hint=a.b.c&amp;client_id=gw`
			if !strings.Contains(body, `<a href="`+want+`">Continue</a>`) || !strings.Contains(body, `content="0;url=`+want+`"`) {
				t.Fatalf("body = %s", body)
			}
		})
	}
}

func TestError(t *testing.T) {
	t.Parallel()
	p, err := Default().Error(ErrorData{Status: http.StatusForbidden, Message: "This route needs the admin role.", RequestID: "rid-42"})
	if err != nil {
		t.Fatal(err)
	}
	body := string(p.Body)
	// The same content as the page caddymodule/respond.go wrote: status
	// and text in the title, the text as heading, the sentence, the id.
	for _, w := range []string{"<title>403 Forbidden</title>", "<h1>Forbidden</h1>", "<p>This route needs the admin role.</p>", "Request id: <code>rid-42</code>"} {
		if !strings.Contains(body, w) {
			t.Errorf("body lacks %q:\n%s", w, body)
		}
	}
	if p.Status != http.StatusForbidden {
		t.Errorf("status = %d", p.Status)
	}
	p, err = Default().Error(ErrorData{Status: 499, Title: ""})
	if err != nil || !strings.Contains(string(p.Body), "<title>499 Error</title>") || strings.Contains(string(p.Body), "Request id") {
		t.Errorf("unknown status: %v\n%s", err, p.Body)
	}
	for _, status := range []int{0, 200, 302, 600} {
		if _, err := Default().Error(ErrorData{Status: status}); err == nil {
			t.Errorf("Error(status %d) accepted", status)
		}
	}
}

// kindOf returns the kind of a template file name.
func kindOf(file string) kind {
	for k, f := range files {
		if f == file {
			return kind(k)
		}
	}
	panic("unknown page file " + file)
}

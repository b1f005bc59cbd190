package pages

import (
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// styleElement finds <style> elements, independently of styleSpans.
var styleElement = regexp.MustCompile(`(?is)<style\b[^>]*>(.*?)</style\s*>`)

// styleSources returns the sources of the style-src directive of csp.
func styleSources(csp string) []string {
	for d := range strings.SplitSeq(csp, ";") {
		if f := strings.Fields(d); len(f) > 0 && f[0] == "style-src" {
			return f[1:]
		}
	}
	return nil
}

// wantStyleSources hashes the <style> elements of body as a browser
// does (after turning CRLF and CR into LF).
func wantStyleSources(body string) []string {
	var out []string
	for _, m := range styleElement.FindAllStringSubmatch(body, -1) {
		css := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(m[1])
		sum := sha256.Sum256([]byte(css))
		if src := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !slices.Contains(out, src) {
			out = append(out, src)
		}
	}
	return out
}

func TestStyleHashesMatchTheStyleElements(t *testing.T) {
	t.Parallel()
	operator, err := Load(writeFiles(t, map[string]string{
		// Two styles, CRLF line ends, comments html/template removes, a
		// style only in one branch, upper-case tags and attributes.
		ErrorFile: "<!doctype html>\r\n<STYLE media=\"screen and (min-width: 1px)\">\r\nh1 { color: red } /* brand red */\r\n</STYLE >\r\n" +
			"{{if .RequestID}}<style>code { font-weight: bold }</style>{{end}}<h1>{{.Title}}</h1><p>{{.RequestID}}</p>",
		// No style at all.
		LandingFile: `<a href="{{.Next}}">Continue</a>`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	for setName, s := range map[string]*Set{"default": Default(), "operator": operator} {
		for name, p := range renderAll(t, s) {
			t.Run(setName+"/"+name, func(t *testing.T) {
				t.Parallel()
				got := styleSources(p.Header.Get("Content-Security-Policy"))
				want := wantStyleSources(string(p.Body))
				if !slices.Equal(got, want) {
					t.Fatalf("style-src %v, want %v for\n%s", got, want, p.Body)
				}
				if setName == "default" && len(got) != 1 {
					t.Errorf("a default page has %d styles, want 1", len(got))
				}
			})
		}
	}
	// The style of the branch not taken is still allowed (hashes come
	// from the template, not from one rendering).
	p, err := operator.Error(ErrorData{Status: 500})
	if err != nil {
		t.Fatal(err)
	}
	if got := styleSources(p.Header.Get("Content-Security-Policy")); len(got) != 2 || len(wantStyleSources(string(p.Body))) != 1 {
		t.Errorf("style-src %v", got)
	}
}

func TestStyleHashOfCommentsAndLineEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		css  string
		want string // the text the browser hashes
	}{
		{name: "plain", css: "a{color:red}", want: "a{color:red}"},
		{name: "comment removed", css: "a{color:red}/* x */", want: "a{color:red} "},
		{name: "CRLF", css: "\r\na{color:red}\r\n", want: "\na{color:red}\n"},
		{name: "lone CR", css: "a{}\rb{}", want: "a{}\nb{}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := styleHash(tt.css)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256([]byte(tt.want))
			if want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; got != want {
				t.Fatalf("styleHash(%q) = %s, want %s", tt.css, got, want)
			}
		})
	}
}

func TestPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		k      kind
		hashes []string
		want   string
	}{
		{name: "chooser", k: chooser, hashes: []string{"'sha256-A'"}, want: "default-src 'none'; style-src 'sha256-A'; img-src data:; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"},
		{name: "sign-out, two styles", k: signOut, hashes: []string{"'sha256-A'", "'sha256-B'"}, want: "default-src 'none'; style-src 'sha256-A' 'sha256-B'; img-src data:; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"},
		{name: "landing, no style", k: landing, want: "default-src 'none'; img-src data:; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"},
		{name: "redirect", k: redirect, hashes: []string{"'sha256-A'"}, want: "default-src 'none'; style-src 'sha256-A'; img-src data:; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"},
		{name: "error", k: errorPage, want: "default-src 'none'; img-src data:; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := policy(tt.k, tt.hashes); got != tt.want {
				t.Fatalf("policy = %q\nwant     %q", got, tt.want)
			}
		})
	}
}

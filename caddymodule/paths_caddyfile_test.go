package caddymodule

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestCaddyfileUncoveredParents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		patterns []string
		want     []string
	}{
		{"collection below", []string{"/orders/*"}, []string{"/orders"}},
		{"prefix without slash", []string{"/orders*"}, nil},
		{"parent listed too", []string{"/orders", "/orders/*"}, nil},
		{"parent with slash only", []string{"/orders/", "/orders/*"}, []string{"/orders"}},
		{"parent by a wider pattern", []string{"/orders/*", "/ord*"}, nil},
		{"two collections", []string{"/orders/*", "/users/*", "/users"}, []string{"/orders"}},
		{"nested", []string{"/api/v1/orders/*"}, []string{"/api/v1/orders"}},
		{"wildcard segment", []string{"/api/*/items/*"}, []string{"/api/*/items"}},
		{"case insensitive", []string{"/Orders/*", "/orders"}, nil},
		{"whole site", []string{"/*"}, nil},
		{"exact path", []string{"/orders"}, nil},
		{"suffix", []string{"*.json"}, nil},
		{"placeholder", []string{"/{vars.base}/*"}, nil},
		{"escaped", []string{"/a%2Fb/*"}, nil},
		{"duplicate", []string{"/orders/*", "/orders/*"}, []string{"/orders"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := uncoveredParents(tt.patterns); !slices.Equal(got, tt.want) {
				t.Fatalf("uncoveredParents(%q) = %q, want %q", tt.patterns, got, tt.want)
			}
		})
	}
}

func TestCaddyfileOwnPaths(t *testing.T) {
	t.Parallel()
	const wk = "/.well-known/oauth-protected-resource"
	tests := []struct {
		name     string
		patterns []string
		hd       Handler
		want     []string
	}{
		{"endpoints", []string{"/orders/*"}, Handler{}, []string{"/.portcullis/*"}},
		{"resource", []string{"/mcp*"}, Handler{Resource: "https://mcp.example.com/mcp"}, []string{"/.portcullis/*", wk + "/mcp"}},
		{"resource at the root", []string{"/mcp*"}, Handler{Resource: "https://mcp.example.com"}, []string{"/.portcullis/*", wk}},
		{"assertion", []string{"/api/*"}, Handler{Assertion: &AssertionRoute{Audience: "api"}}, []string{"/.portcullis/*", AssertionJWKSPath}},
		{"covered", []string{"/*"}, Handler{Resource: "https://mcp.example.com/mcp"}, nil},
		{"endpoints covered", []string{"/.portcullis/*", "/mcp*"}, Handler{Resource: "https://mcp.example.com/mcp"}, []string{wk + "/mcp"}},
		{"well-known covered", []string{"/.well-known/*", "/mcp*"}, Handler{Resource: "https://mcp.example.com/mcp"}, []string{"/.portcullis/*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ownPaths(tt.patterns, &tt.hd, DefaultEndpointPrefix); !slices.Equal(got, tt.want) {
				t.Fatalf("ownPaths(%q) = %q, want %q", tt.patterns, got, tt.want)
			}
		})
	}
}

// TestCaddyfileDocumentedExamples checks that no Caddyfile the project
// documents (the fenced caddyfile blocks of README.md and
// deploy/README.md, Caddyfile.example, and every Caddyfile under deploy/)
// has a `portcullis` directive whose path matcher leaves a collection
// uncovered: examples are copied as written. It reads the directives'
// matchers from the tokens (inline paths and named `path` matchers), as
// the adapter would, without needing the examples' secrets.
func TestCaddyfileDocumentedExamples(t *testing.T) {
	t.Parallel()
	docs := map[string][]byte{}
	for _, readme := range []string{"../README.md", "../deploy/README.md"} {
		raw, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		blocks := regexp.MustCompile("(?s)```caddyfile\n(.*?)```").FindAllSubmatch(raw, -1)
		for i, b := range blocks {
			docs[fmt.Sprintf("%s, caddyfile block %d", readme, i+1)] = b[1]
		}
	}
	files := []string{"../Caddyfile.example"}
	err := filepath.WalkDir("../deploy", func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() && (e.Name() == "Caddyfile" || strings.EqualFold(filepath.Ext(e.Name()), ".caddyfile")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[f] = raw
	}
	directives := 0
	for name, body := range docs {
		blocks, err := caddyfile.Parse(name, body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, d := range portcullisMatchers(blocks) {
			directives++
			if bad := uncoveredParents(d.patterns); len(bad) > 0 {
				t.Errorf("%s:%d: portcullis with path %s leaves %s uncovered", name, d.line, strings.Join(d.patterns, " "), strings.Join(bad, ", "))
			}
		}
	}
	if directives < 5 {
		t.Fatalf("found %d portcullis directives in the documented Caddyfiles, want at least 5", directives)
	}
}

// docDirective is a `portcullis` directive of a documented Caddyfile.
type docDirective struct {
	line     int
	patterns []string // its path matcher; nil without one
}

// portcullisMatchers finds the `portcullis` directives of the site blocks
// (nested ones too) and their path matchers: an inline path, or the
// `path` of a named matcher of the same site.
func portcullisMatchers(blocks []caddyfile.ServerBlock) []docDirective {
	var out []docDirective
	for bi, b := range blocks {
		var tokens []caddyfile.Token
		for _, seg := range b.Segments {
			tokens = append(tokens, seg...)
		}
		first := func(i int) bool {
			return i == 0 || tokens[i-1].Line != tokens[i].Line || tokens[i-1].File != tokens[i].File
		}
		named := map[string][]string{}
		for i, tok := range tokens {
			if !strings.HasPrefix(tok.Text, "@") || !first(i) {
				continue
			}
			// @name path a b … on one line, or @name { … path a b … }.
			rest := func(j int) (args []string) {
				for k := j + 1; k < len(tokens) && !first(k); k++ {
					args = append(args, tokens[k].Text)
				}
				return args
			}
			switch {
			case i+1 >= len(tokens) || first(i+1):
			case tokens[i+1].Text == "path":
				named[tok.Text] = rest(i + 1)
			case tokens[i+1].Text == "{":
				for j, depth := i+2, 1; j < len(tokens) && depth > 0; j++ {
					switch {
					case tokens[j].Text == "{":
						depth++
					case tokens[j].Text == "}":
						depth--
					case depth == 1 && first(j) && tokens[j].Text == "path":
						named[tok.Text] = append(named[tok.Text], rest(j)...)
					}
				}
			}
		}
		if bi == 0 && len(b.Keys) == 0 {
			continue // the global options
		}
		for i, tok := range tokens {
			if tok.Text != "portcullis" || !first(i) {
				continue
			}
			d := docDirective{line: tok.Line}
			if i+1 < len(tokens) && !first(i+1) {
				switch m := tokens[i+1].Text; {
				case strings.HasPrefix(m, "/"):
					d.patterns = []string{m}
				case strings.HasPrefix(m, "@"):
					d.patterns = named[m]
				}
			}
			out = append(out, d)
		}
	}
	return out
}

// TestCaddyfileDocumentedMatchersRead checks the token reader of
// TestCaddyfileDocumentedExamples on the forms it must understand.
func TestCaddyfileDocumentedMatchersRead(t *testing.T) {
	t.Parallel()
	blocks, err := caddyfile.Parse("Caddyfile", []byte(`{
	portcullis {
		rate_limit per_user 1/1s
	}
}

a.example.com {
	@api path /api/* /v2/*
	@docs {
		method GET
		path /docs/*
	}
	portcullis /orders/* {
		require orders:read
	}
	portcullis @api
	handle /x/* {
		portcullis @docs
	}
	portcullis
}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := portcullisMatchers(blocks)
	want := []docDirective{{13, []string{"/orders/*"}}, {16, []string{"/api/*", "/v2/*"}}, {18, []string{"/docs/*"}}, {20, nil}}
	if !slices.EqualFunc(got, want, func(a, b docDirective) bool { return a.line == b.line && slices.Equal(a.patterns, b.patterns) }) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

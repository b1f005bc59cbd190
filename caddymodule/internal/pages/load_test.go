package pages

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeFiles creates a directory with the given files.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// brandedChooser is an operator's chooser with its own style and logo.
const brandedChooser = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Example Corp · {{.Title}}</title>
<style>body { font-family: serif }</style></head>
<body><img src="data:image/png;base64,iVBORw0KGgo=" alt="Example Corp">
<h1>{{.Title}}</h1>
<form method="get" action="{{.Action}}">
{{range .Providers}}<button type="submit" name="provider" value="{{.Name}}">{{.Label}}</button>{{end}}
</form>
<ul>{{range .Providers}}<li><a href="{{.URL}}">{{.Label}}</a></li>{{end}}</ul>
</body></html>
`

func TestLoadOverridesOnePage(t *testing.T) {
	t.Parallel()
	s, err := Load(writeFiles(t, map[string]string{ChooserFile: brandedChooser}))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Custom(); !slices.Equal(got, []string{ChooserFile}) {
		t.Errorf("Custom() = %v", got)
	}
	p, err := s.Chooser(ChooserData{Action: "/login", Providers: []Provider{{Name: "staff", Label: "Staff", URL: "/login?provider=staff"}}})
	if err != nil {
		t.Fatal(err)
	}
	if body := string(p.Body); !strings.Contains(body, "<title>Example Corp · Sign in</title>") || !strings.Contains(body, `<a href="/login?provider=staff">Staff</a>`) {
		t.Fatalf("chooser is not the operator's:\n%s", body)
	}
	if p.Header.Get("Content-Security-Policy") == mustPage(Default().Chooser(ChooserData{Action: "/login"})).Header.Get("Content-Security-Policy") {
		t.Error("the operator's style is allowed by the default's hash")
	}
	// The others are the defaults.
	mine, defaults := renderAll(t, s), renderAll(t, Default())
	for _, name := range []string{LandingFile, SignOutFile, RedirectFile, ErrorFile} {
		if !bytes.Equal(mine[name].Body, defaults[name].Body) || mine[name].Header.Get("Content-Security-Policy") != defaults[name].Header.Get("Content-Security-Policy") {
			t.Errorf("%s is not the default", name)
		}
	}
	if Default().Custom() != nil {
		t.Error("Default().Custom() is not nil")
	}
}

// mustPage returns p, or panics on err.
func mustPage(p Page, err error) Page {
	if err != nil {
		panic(err)
	}
	return p
}

func TestLoadEveryDefaultAsOperatorFile(t *testing.T) {
	t.Parallel()
	// The embedded files are the operator's starting point: copied as
	// they are, they load and render the same pages.
	files := map[string]string{}
	for _, name := range files {
		b, err := embedded.ReadFile("templates/" + name)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(b)
	}
	s, err := Load(writeFiles(t, files))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Custom()) != len(files) {
		t.Errorf("Custom() = %v", s.Custom())
	}
	mine, defaults := renderAll(t, s), renderAll(t, Default())
	for name := range files {
		if !bytes.Equal(mine[name].Body, defaults[name].Body) {
			t.Errorf("%s renders differently", name)
		}
	}
}

func TestLoadIgnoresHiddenEntries(t *testing.T) {
	t.Parallel()
	// A Kubernetes ConfigMap volume: the files are symbolic links into a
	// hidden, timestamped directory, through "..data".
	dir := t.TempDir()
	data := filepath.Join(dir, "..2026_01_01_00_00_00.000000001")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, ErrorFile), []byte(`<!doctype html><title>{{.Status}}</title><h1>Oops: {{.Title}}</h1><p>{{.RequestID}}</p>`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, link := range [][2]string{{filepath.Base(data), "..data"}, {filepath.Join("..data", ErrorFile), ErrorFile}} {
		if err := os.Symlink(link[0], filepath.Join(dir, link[1])); err != nil {
			t.Fatalf("creating the symbolic link %s: %v", link[1], err) // Linux always can
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ".DS_Store"), []byte{0, 1}, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Error(ErrorData{Status: 503, RequestID: "rid-7"})
	if err != nil || !strings.Contains(string(p.Body), "<h1>Oops: Service Unavailable</h1><p>rid-7</p>") {
		t.Fatalf("%v\n%s", err, p.Body)
	}
	if strings.Contains(p.Header.Get("Content-Security-Policy"), "style-src") {
		t.Error("a page without <style> allows styles")
	}
}

func TestLoadRefuses(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", maxTemplateSize+1)
	tests := []struct {
		name  string
		files map[string]string
		dir   string // a subdirectory to create
		want  []string
	}{
		{name: "unknown file name", files: map[string]string{"choser.html": brandedChooser}, want: []string{"choser.html", "unknown template name", ChooserFile}},
		{name: "a layout file", files: map[string]string{"layout.html": "x"}, want: []string{"layout.html", "unknown template name"}},
		{name: "a subdirectory", dir: "partials", want: []string{"partials", "unknown template name"}},
		{name: "a directory named like a template", dir: ChooserFile, want: []string{ChooserFile, "not a regular file"}},
		{name: "too large", files: map[string]string{LandingFile: big}, want: []string{LandingFile, "larger than"}},
		{name: "syntax error", files: map[string]string{SignOutFile: "<h1>{{.Title</h1>"}, want: []string{SignOutFile + ":1:"}},
		{name: "unknown field", files: map[string]string{ErrorFile: "<h1>{{.Title}}</h1>\n<p>{{.Details}}</p>"}, want: []string{ErrorFile + ":2", "Details"}},
		{name: "unknown field in an else branch", files: map[string]string{ChooserFile: "{{if .RememberMe}}x{{else}}{{.Remember}}{{end}}"}, want: []string{ChooserFile, "Remember"}},
		{name: "unknown function", files: map[string]string{ChooserFile: `{{safeHTML .Title}}`}, want: []string{ChooserFile, "safeHTML"}},
		{name: "escaper error", files: map[string]string{LandingFile: `<a href="{{.Next}}>x</a>`}, want: []string{LandingFile, "ends in a non-text context"}},
		{name: "script element", files: map[string]string{LandingFile: "<p>x</p>\n<SCRIPT src=\"/x.js\"></SCRIPT>"}, want: []string{LandingFile + ":2:", "<script>"}},
		{name: "javascript URL", files: map[string]string{ChooserFile: `<a href="javascript:go({{.ReturnTo}})">x</a>`}, want: []string{ChooserFile + ":1:", "javascript:"}},
		{name: "srcdoc", files: map[string]string{ErrorFile: `<iframe srcdoc="{{.Message}}"></iframe>`}, want: []string{ErrorFile, "srcdoc"}},
		{name: "dynamic meta content", files: map[string]string{LandingFile: `<meta http-equiv="refresh" content="{{.Next}}">`}, want: []string{LandingFile, "<meta>"}},
		{name: "dynamic meta name", files: map[string]string{LandingFile: `<meta name="{{.Next}}" content="0;url=/">`}, want: []string{LandingFile, "<meta>"}},
		{name: "style with an action", files: map[string]string{ErrorFile: "<style>\nh1 { color: {{.Title}} }\n</style>"}, want: []string{ErrorFile + ":2:", "<style>", "static"}},
		{name: "unclosed style", files: map[string]string{ErrorFile: "<p>x</p><style>h1 { color: red }"}, want: []string{ErrorFile, "</style>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writeFiles(t, tt.files)
			if tt.dir != "" {
				if err := os.Mkdir(filepath.Join(dir, tt.dir), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Load(dir)
			if err == nil {
				t.Fatalf("Load accepted it (custom %v)", s.Custom())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "pages: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestLoadMissingDirectory(t *testing.T) {
	t.Parallel()
	if _, err := Load(filepath.Join(t.TempDir(), "absent")); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Fatalf("Load error = %v", err)
	}
}

func TestLoadAcceptsMetaRefreshURL(t *testing.T) {
	t.Parallel()
	// The one dynamic <meta> allowed: a refresh URL after a literal
	// "url=", which html/template checks as a URL.
	_, err := Load(writeFiles(t, map[string]string{LandingFile: `<meta http-equiv="refresh" content="1; url={{.Next}}"><a href="{{.Next}}">Go</a>`}))
	if err != nil {
		t.Fatal(err)
	}
}

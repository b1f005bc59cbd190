package pages

import (
	"errors"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// xssPayloads are values an attacker might put in request data (a return
// URL, a request id from a proxy) or that a careless configuration might
// hold (a provider label, a message).
var xssPayloads = []string{
	`"><script>alert(1)</script>`,
	`'><img src=x onerror=alert(1)>`,
	`<svg/onload=alert(1)>`,
	`javascript:alert(1)`,
	`JaVaScRiPt:alert(1)`,
	` javascript:alert(1)`,
	"java\tscript:alert(1)",
	"\x01javascript:alert(1)",
	`&#106;avascript:alert(1)`,
	`vbscript:msgbox(1)`,
	`data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==`,
	`</style><script>alert(1)</script>`,
	`</title><script>alert(1)</script>`,
	`</textarea><script>alert(1)</script>`,
	`</script><script>alert(1)</script>`,
	`" onmouseover="alert(1)`,
	`' onmouseover='alert(1)`,
	"` onmouseover=alert(1)",
	`x onmouseover=alert(1)`,
	"x\u2028alert(1)\u2029",
	`';alert(1);//`,
	`\";alert(1);//`,
	`${alert(1)}`,
	`<!--`,
	`--><script>alert(1)</script>`,
	`<![CDATA[<script>alert(1)</script>]]>`,
	`expression(alert(1))`,
	`red;background:url(javascript:alert(1))`,
	`{{.RequestID}}`,
	`%3Cscript%3Ealert(1)%3C/script%3E`,
	"\x00<script>alert(1)</script>",
	`<base href="https://evil.example/">`,
	`<meta http-equiv="refresh" content="0;url=https://evil.example/">`,
	`<form action="https://evil.example/"><button>x</button></form>`,
}

// field sets one value of one page's data and renders the page.
type field struct {
	page   string
	name   string
	benign string
	render func(s *Set, v string) (Page, error)
}

// asPath makes a payload pass the checks of a path-only field, so that
// escaping is what is tested.
func asPath(v string) string { return "/" + v }

// asAbsolute makes a payload pass the checks of an absolute-URL field.
func asAbsolute(v string) string { return "https://idp.example/" + v }

// fields are every data field of every page, each with the contexts it
// is tested in: as given, and made into a path or URL the method's own
// checks let through.
var fields = []field{
	{ChooserFile, "Title", "Sign in", func(s *Set, v string) (Page, error) {
		return s.Chooser(chooserWith(func(d *ChooserData) { d.Title = v }))
	}},
	{ChooserFile, "Action", "/login", func(s *Set, v string) (Page, error) {
		return s.Chooser(chooserWith(func(d *ChooserData) { d.Action = v }))
	}},
	{ChooserFile, "ReturnTo", "/app", func(s *Set, v string) (Page, error) {
		return s.Chooser(chooserWith(func(d *ChooserData) { d.ReturnTo = v }))
	}},
	{ChooserFile, "RememberFor", "30 days", func(s *Set, v string) (Page, error) {
		return s.Chooser(chooserWith(func(d *ChooserData) { d.RememberFor = v }))
	}},
	{ChooserFile, "RequestID", "rid-1", func(s *Set, v string) (Page, error) {
		return s.Chooser(chooserWith(func(d *ChooserData) { d.RequestID = v }))
	}},
	{ChooserFile, "Provider.Name", "staff", func(s *Set, v string) (Page, error) {
		return s.Chooser(chooserWith(func(d *ChooserData) { d.Providers[0].Name = v }))
	}},
	{ChooserFile, "Provider.Label", "Staff", func(s *Set, v string) (Page, error) {
		return s.Chooser(chooserWith(func(d *ChooserData) { d.Providers[0].Label = v }))
	}},
	{ChooserFile, "Provider.URL", "/login?provider=staff", func(s *Set, v string) (Page, error) {
		return s.Chooser(chooserWith(func(d *ChooserData) { d.Providers[0].URL = v }))
	}},
	{LandingFile, "Next", "/app", func(s *Set, v string) (Page, error) { return s.Landing(v) }},
	{SignOutFile, "Title", "Sign out", func(s *Set, v string) (Page, error) {
		return s.SignOut(signOutWith(func(d *SignOutData) { d.Title = v }))
	}},
	{SignOutFile, "Action", "/logout", func(s *Set, v string) (Page, error) {
		return s.SignOut(signOutWith(func(d *SignOutData) { d.Action = v }))
	}},
	{SignOutFile, "RequestID", "rid-1", func(s *Set, v string) (Page, error) {
		return s.SignOut(signOutWith(func(d *SignOutData) { d.RequestID = v }))
	}},
	{RedirectFile, "Target", "https://idp.example/logout", func(s *Set, v string) (Page, error) { return s.ProviderRedirect(v) }},
	{ErrorFile, "Title", "Forbidden", func(s *Set, v string) (Page, error) {
		return s.Error(ErrorData{Status: 403, Title: v, Message: "m", RequestID: "r"})
	}},
	{ErrorFile, "Message", "No.", func(s *Set, v string) (Page, error) {
		return s.Error(ErrorData{Status: 403, Message: v, RequestID: "r"})
	}},
	{ErrorFile, "RequestID", "rid-1", func(s *Set, v string) (Page, error) {
		return s.Error(ErrorData{Status: 403, Message: "m", RequestID: v})
	}},
}

// chooserWith returns ordinary chooser data changed by set.
func chooserWith(set func(*ChooserData)) ChooserData {
	d := ChooserData{
		Title: "Sign in", Action: "/login", ReturnTo: "/app", RememberMe: true, RememberFor: "30 days", RequestID: "rid-1",
		Providers: []Provider{{Name: "staff", Label: "Staff", URL: "/login?provider=staff"}, {Name: "partners", Label: "Partners", URL: "/login?provider=partners"}},
	}
	set(&d)
	return d
}

// signOutWith returns ordinary sign-out data changed by set.
func signOutWith(set func(*SignOutData)) SignOutData {
	d := SignOutData{Title: "Sign out", Action: "/logout", Everywhere: true, RequestID: "rid-1"}
	set(&d)
	return d
}

// unsafeScheme matches a URL that would run script or load a document.
var unsafeScheme = regexp.MustCompile(`(?i)^(javascript|vbscript|data):`)

// attr is one attribute of a tag of a document.
type attr struct{ tag, name, value string }

// structure returns the tags of doc, each with its attribute names, and
// every attribute with its decoded value: a small tokenizer for the
// documents html/template writes (the text of <style> elements and
// comments is read as text, which is enough here).
func structure(doc string) (tags []string, attrs []attr) {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' }
	isLetter := func(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }
	for i := 0; i < len(doc); i++ {
		if doc[i] != '<' || i+1 >= len(doc) {
			continue
		}
		j := i + 1
		if doc[j] == '/' {
			j++
		}
		if j >= len(doc) || !isLetter(doc[j]) {
			continue
		}
		k := j
		for k < len(doc) && !isSpace(doc[k]) && doc[k] != '>' && doc[k] != '/' {
			k++
		}
		tag := strings.ToLower(doc[i+1 : k])
		var names []string
		for k < len(doc) && doc[k] != '>' {
			if isSpace(doc[k]) || doc[k] == '/' {
				k++
				continue
			}
			n := k
			for k < len(doc) && !isSpace(doc[k]) && doc[k] != '=' && doc[k] != '>' && doc[k] != '/' {
				k++
			}
			name := strings.ToLower(doc[n:k])
			for k < len(doc) && isSpace(doc[k]) {
				k++
			}
			var value string
			if k < len(doc) && doc[k] == '=' {
				k++
				for k < len(doc) && isSpace(doc[k]) {
					k++
				}
				if k < len(doc) && (doc[k] == '"' || doc[k] == '\'') {
					q := doc[k]
					e := strings.IndexByte(doc[k+1:], q)
					if e < 0 {
						e = len(doc) - k - 1
					}
					value = doc[k+1 : k+1+e]
					k += e + 2
				} else {
					v := k
					for k < len(doc) && !isSpace(doc[k]) && doc[k] != '>' {
						k++
					}
					value = doc[v:k]
				}
			}
			names = append(names, name)
			attrs = append(attrs, attr{tag, name, html.UnescapeString(value)})
		}
		tags = append(tags, tag+"("+strings.Join(names, ",")+")")
		i = k
	}
	return tags, attrs
}

// navigable returns the URL an attribute navigates to or loads, if any,
// as the browser reads it (leading spaces and controls dropped, tabs and
// newlines removed).
func navigable(a attr) (string, bool) {
	v := a.value
	switch a.name {
	case "href", "src", "action", "formaction", "xlink:href", "poster", "background":
	case "content":
		i := strings.Index(strings.ToLower(v), "url=")
		if i < 0 {
			return "", false
		}
		v = v[i+len("url="):]
	default:
		return "", false
	}
	v = strings.TrimLeft(v, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\v\f\r ")
	return strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(v), true
}

// TestTemplatesEscapeEveryField feeds every payload through every field
// of every page, with the default templates and with an operator's
// template that puts every field in every context (testdata/hostile:
// text, RCDATA, quoted and unquoted attributes, URLs, a meta refresh, an
// event handler, a style attribute, a comment), and checks that no
// payload comes out able to do anything.
func TestTemplatesEscapeEveryField(t *testing.T) {
	t.Parallel()
	hostile, err := Load("testdata/hostile")
	if err != nil {
		t.Fatal(err)
	}
	for setName, s := range map[string]*Set{"default": Default(), "operator": hostile} {
		for _, f := range fields {
			t.Run(setName+"/"+f.page+"/"+f.name, func(t *testing.T) {
				t.Parallel()
				base, err := f.render(s, f.benign)
				if err != nil {
					t.Fatalf("benign value: %v", err)
				}
				baseTags, _ := structure(string(base.Body))
				var rendered int
				for _, payload := range xssPayloads {
					for _, v := range []string{payload, asPath(payload), asAbsolute(payload)} {
						p, err := f.render(s, v)
						if errors.Is(err, ErrUnsafeURL) {
							continue // refused before rendering
						}
						if err != nil {
							t.Fatalf("%q: %v", v, err)
						}
						rendered++
						for _, problem := range escapeProblems(v, p, baseTags) {
							t.Errorf("%q: %s:\n%s", v, problem, p.Body)
						}
					}
				}
				if rendered < len(xssPayloads)/2 {
					t.Errorf("only %d of the values were rendered", rendered)
				}
			})
		}
	}
}

// escapeProblems returns what is wrong with page p, rendered with the
// payload v, whose benign rendering has the tags baseTags.
func escapeProblems(v string, p Page, baseTags []string) []string {
	var out []string
	body := string(p.Body)
	if strings.ContainsAny(v, `<>"'`) && strings.Contains(body, v) {
		out = append(out, "appears unescaped")
	}
	if strings.Contains(strings.ToLower(body), "<script") {
		out = append(out, "a <script> in the page")
	}
	tags, attrs := structure(body)
	if strings.Join(tags, " ") != strings.Join(baseTags, " ") {
		out = append(out, fmt.Sprintf("changed the page's tags or attributes: %v, want %v", tags, baseTags))
	}
	for _, a := range attrs {
		if u, ok := navigable(a); ok && unsafeScheme.MatchString(u) {
			out = append(out, fmt.Sprintf("<%s %s=%q> survives", a.tag, a.name, a.value))
		}
		if strings.HasPrefix(a.name, "on") && strings.ContainsAny(a.value, "\u2028\u2029") {
			out = append(out, fmt.Sprintf("a raw line separator in <%s %s>", a.tag, a.name))
		}
	}
	for _, m := range styleElement.FindAllStringSubmatch(body, -1) {
		if !strings.Contains(p.Header.Get("Content-Security-Policy"), hashSource(m[1])) {
			out = append(out, "a <style> the policy does not allow")
		}
	}
	return out
}

// TestEscapeProblemsFindsInjections checks the checker: pages as a
// template without escaping would render them.
func TestEscapeProblemsFindsInjections(t *testing.T) {
	t.Parallel()
	base := `<p title="x">x</p><a href="/a">a</a>`
	baseTags, _ := structure(base)
	tests := []struct {
		name, v, body string
	}{
		{name: "tag", v: `"><script>alert(1)</script>`, body: `<p title="x">"><script>alert(1)</script></p><a href="/a">a</a>`},
		{name: "attribute breakout", v: `x onmouseover=alert(1)`, body: `<p title=x onmouseover=alert(1)>x</p><a href="/a">a</a>`},
		{name: "javascript URL", v: `javascript:alert(1)`, body: `<p title="x">x</p><a href="javascript:alert(1)">a</a>`},
		{name: "entity-encoded javascript URL", v: `&#106;avascript:alert(1)`, body: `<p title="x">x</p><a href="&#106;avascript:alert(1)">a</a>`},
		{name: "tab in scheme", v: "java\tscript:alert(1)", body: "<p title=\"x\">x</p><a href=\" java\tscript:alert(1)\">a</a>"},
		{name: "meta refresh", v: `javascript:alert(1)`, body: `<meta http-equiv="refresh" content="0;url=javascript:alert(1)">` + base},
		{name: "line separator in handler", v: "\u2028", body: "<p title=\"x\" onclick=\"a('\u2028')\">x</p><a href=\"/a\">a</a>"},
		{name: "style", v: `</title><style>*{}</style>`, body: `<p title="x">x</p><style>*{}</style><a href="/a">a</a>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := Page{Header: http.Header{"Content-Security-Policy": {"default-src 'none'"}}, Body: []byte(tt.body)}
			if problems := escapeProblems(tt.v, p, baseTags); len(problems) == 0 {
				t.Fatalf("no problem found in %s", tt.body)
			}
		})
	}
}

// TestUnsafeURLsBecomeZgotmplZ: in the operator's template, every field
// is also used as a link; html/template replaces an unsafe URL with
// "#ZgotmplZ" rather than emitting it.
func TestUnsafeURLsBecomeZgotmplZ(t *testing.T) {
	t.Parallel()
	hostile, err := Load("testdata/hostile")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		t.Run(f.page+"/"+f.name, func(t *testing.T) {
			t.Parallel()
			for _, v := range []string{"javascript:alert(1)", "JaVaScRiPt:alert(1)", "vbscript:msgbox(1)", "data:text/html,<script>alert(1)</script>"} {
				p, err := f.render(hostile, v)
				if errors.Is(err, ErrUnsafeURL) {
					continue // the method's own check refused it
				}
				if err != nil {
					t.Fatal(err)
				}
				body := string(p.Body)
				if !strings.Contains(body, `<a href="#ZgotmplZ">quoted URL</a>`) || !strings.Contains(body, `<a href=#ZgotmplZ>unquoted URL</a>`) ||
					!strings.Contains(body, `content="0;url=#ZgotmplZ"`) {
					t.Errorf("%q: no #ZgotmplZ:\n%s", v, body)
				}
			}
		})
	}
}

// TestURLFieldsRefuseUnsafeSchemes: the fields a default page navigates
// or submits to never reach a template with an unsafe scheme.
func TestURLFieldsRefuseUnsafeSchemes(t *testing.T) {
	t.Parallel()
	for _, f := range fields {
		if !strings.Contains("Action Provider.URL Next Target", f.name) {
			continue
		}
		t.Run(f.page+"/"+f.name, func(t *testing.T) {
			t.Parallel()
			for _, v := range []string{"javascript:alert(1)", " javascript:alert(1)", "java\nscript:alert(1)", "data:text/html,x", "//evil.example/", `/\evil.example/`, "https://a@evil.example/"} {
				if _, err := f.render(Default(), v); !errors.Is(err, ErrUnsafeURL) {
					t.Errorf("%q: error = %v, want ErrUnsafeURL", v, err)
				}
			}
		})
	}
}

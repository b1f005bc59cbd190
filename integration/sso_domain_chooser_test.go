package integration_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// TestSSODomainChooserPage: the chooser works without script and with
// the keyboard: no <script>, no event-handler attribute or javascript:
// URL, a Content-Security-Policy that allows no script and no inline
// style ('unsafe-inline'), each provider an enabled <button> or <a> in
// the tab order with its label, and the remember-me checkbox labelled.
// (TestSSODomainProviderChooser walks it with the Tab key in Chromium.)
func TestSSODomainChooserPage(t *testing.T) {
	t.Parallel()
	e := startDomainEnv(t, domainSetup{sessionExtra: "remember_me 30d"})
	gw := e.gw()
	a := newDomainAgent(t, e)
	resp, body := a.navigate(e.url(gw, "app", "/.portcullis/login?return_to=/reports"))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("chooser: %d %s at %s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Request.URL)
	}

	csp := resp.Header.Get("Content-Security-Policy")
	directives := map[string][]string{}
	for d := range strings.SplitSeq(csp, ";") {
		if f := strings.Fields(strings.ToLower(d)); len(f) > 0 {
			directives[f[0]] = f[1:]
		}
	}
	scripts := directives["script-src"]
	if scripts == nil {
		scripts = directives["default-src"]
	}
	switch {
	case csp == "":
		t.Fatal("the chooser has no Content-Security-Policy")
	case strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "unsafe-hashes"):
		t.Errorf("Content-Security-Policy %q allows inline code", csp)
	case !slices.Equal(scripts, []string{"'none'"}):
		t.Errorf("Content-Security-Policy %q allows scripts (%q)", csp, scripts)
	}

	doc := parsePage(t, body)
	if s := elementsOf(doc, "script"); len(s) > 0 {
		t.Errorf("the chooser has %d <script> elements", len(s))
	}
	for _, n := range elementsOf(doc, "") {
		for _, at := range n.Attr {
			if strings.HasPrefix(strings.ToLower(at.Key), "on") || strings.HasPrefix(strings.ToLower(strings.TrimSpace(at.Val)), "javascript:") {
				t.Errorf("<%s %s=%q>: script in the page", n.Data, at.Key, at.Val)
			}
		}
	}

	// The providers: elements the keyboard reaches, each with its label.
	providers := chooserProviders(doc)
	var names []string
	for _, p := range providers {
		name := attrOf(p, "value")
		if p.Data == "a" {
			name = attrOf(p, "href")
		}
		names = append(names, name)
		_, disabled := lookupAttr(p, "disabled")
		_, hidden := lookupAttr(p, "hidden")
		if disabled || hidden || strings.HasPrefix(strings.TrimSpace(attrOf(p, "tabindex")), "-") {
			t.Errorf("provider %s is out of the tab order: %v", name, p.Attr)
		}
		if p.Data == "button" && (attrOf(p, "type") == "button" || enclosing(p, "form") == nil) {
			t.Errorf("provider button %s does not submit a form", name)
		}
	}
	if len(providers) != 2 || !strings.Contains(names[0], staffIdP) || !strings.Contains(names[1], contractorIdP) {
		t.Fatalf("the chooser offers %q, want %s then %s", names, staffIdP, contractorIdP)
	}
	for i, label := range []string{"Staff", "Contractors"} {
		if !strings.Contains(textOf(providers[i]), label) {
			t.Errorf("provider %s reads %q, want its label %q", names[i], textOf(providers[i]), label)
		}
	}
	if form := enclosing(providers[0], "form"); form != nil && !strings.EqualFold(attrOf(form, "method"), "get") {
		t.Errorf("the chooser form uses method %q; a GET works without script and restarts cleanly", attrOf(form, "method"))
	}

	// The remember-me checkbox has a label.
	var boxes []*html.Node
	for _, in := range elementsOf(doc, "input") {
		if attrOf(in, "name") == "remember" {
			boxes = append(boxes, in)
		}
	}
	if len(boxes) != 1 || attrOf(boxes[0], "type") != "checkbox" {
		t.Fatalf("want one remember checkbox, got %d", len(boxes))
	}
	labelled := enclosing(boxes[0], "label") != nil
	if id := attrOf(boxes[0], "id"); id != "" {
		for _, l := range elementsOf(doc, "label") {
			if attrOf(l, "for") == id && strings.TrimSpace(textOf(l)) != "" {
				labelled = true
			}
		}
	}
	if !labelled {
		t.Error("the remember-me checkbox has no <label>")
	}
}

// enclosing returns the nearest ancestor of n named tag, or nil.
func enclosing(n *html.Node, tag string) *html.Node {
	for p := n.Parent; p != nil; p = p.Parent {
		if p.Type == html.ElementNode && p.Data == tag {
			return p
		}
	}
	return nil
}

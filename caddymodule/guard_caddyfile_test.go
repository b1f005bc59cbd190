package caddymodule

import (
	"strings"
	"testing"
)

// nestedSite is a site whose portcullis sits inside a handle block, with
// another block reaching the same upstream; guard is put first.
func nestedSite(guard string) string {
	return `{
	portcullis
}

:8080 {
	` + guard + `
	handle /orders/* {
		portcullis {
			require orders:read
		}
		reverse_proxy 127.0.0.1:9000
	}
	handle {
		reverse_proxy 127.0.0.1:9000
	}
}
`
}

func TestNestedPortcullisNeedsSiteGuard(t *testing.T) {
	setTestEnv(t)
	_, _, err := adapt(t, []byte(nestedSite("")))
	if err == nil || !strings.Contains(err.Error(), "portcullis inside a handle or route block") ||
		!strings.Contains(err.Error(), "portcullis_guard") || !strings.Contains(err.Error(), "Caddyfile:8,") {
		t.Fatalf("an unguarded nested portcullis: err = %v, want the refusal at line 8 naming portcullis_guard", err)
	}
	for _, guard := range []string{"portcullis_guard", "portcullis_guard {\n\t\tallow_method_override\n\t}", "portcullis /.portcullis/*"} {
		out, _, err := adapt(t, []byte(nestedSite(guard)))
		if err != nil {
			t.Fatalf("with %q first: %v", guard, err)
		}
		if !strings.Contains(string(out), `"handler":"portcullis_guard"`) {
			t.Fatalf("with %q first: no site guard in %s", guard, out)
		}
	}
}

func TestGuardDirectiveRunsBeforeHandle(t *testing.T) {
	setTestEnv(t)
	out, _, err := adapt(t, []byte(nestedSite("portcullis_guard")))
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	g, h := strings.Index(s, `"handler":"portcullis_guard"`), strings.Index(s, `"handler":"subroute"`)
	if g < 0 || h < 0 {
		t.Fatalf("adapted config lacks the guard or the handle subroutes: %s", s)
	}
	if g > h {
		t.Fatalf("the guard comes after the handle blocks: %s", s)
	}
}

func TestGuardDirectiveRejectsUnknown(t *testing.T) {
	setTestEnv(t)
	if _, _, err := adapt(t, []byte(nestedSite("portcullis_guard {\n\t\tstrict\n\t}"))); err == nil ||
		!strings.Contains(err.Error(), `unrecognized portcullis_guard subdirective "strict"`) {
		t.Fatalf("err = %v", err)
	}
}

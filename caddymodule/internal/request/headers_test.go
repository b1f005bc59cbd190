package request

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func TestStripHopByHop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       http.Header
		wantConn []string
		gone     []string
		kept     []string
	}{
		{
			name:     "identity nominated",
			in:       http.Header{"Connection": {"X-Auth-Subject, X-Auth-Scopes, X-Request-Id"}, "X-Auth-Subject": {"admin"}, "X-Other": {"1"}},
			wantConn: nil, gone: []string{"X-Auth-Subject"}, kept: []string{"X-Other"},
		},
		{
			name:     "close kept",
			in:       http.Header{"Connection": {"close, X-Auth-Subject"}},
			wantConn: []string{"close"},
		},
		{
			name:     "several lines and case",
			in:       http.Header{"Connection": {"x-auth-subject", "KEEP-ALIVE , Upgrade"}, "Upgrade": {"websocket"}, "Keep-Alive": {"timeout=5"}},
			wantConn: []string{"upgrade"}, gone: []string{"Keep-Alive"}, kept: []string{"Upgrade"},
		},
		{
			name:     "empty tokens",
			in:       http.Header{"Connection": {" , ,"}},
			wantConn: nil,
		},
		{
			name:     "no connection header",
			in:       http.Header{"X-A": {"1"}},
			wantConn: nil, kept: []string{"X-A"},
		},
		{
			name:     "proxy-connection",
			in:       http.Header{"Connection": {"close"}, "Proxy-Connection": {"X-Auth-Subject"}},
			wantConn: []string{"close"}, gone: []string{"Proxy-Connection"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.in.Clone()
			StripHopByHop(h)
			if got := h["Connection"]; !slices.Equal(got, tt.wantConn) {
				t.Errorf("Connection = %q, want %q", got, tt.wantConn)
			}
			for _, g := range tt.gone {
				if _, ok := h[g]; ok {
					t.Errorf("%s still present", g)
				}
			}
			for _, k := range tt.kept {
				if _, ok := h[k]; !ok {
					t.Errorf("%s removed", k)
				}
			}
		})
	}
}

func TestStripURLOverrides(t *testing.T) {
	t.Parallel()
	h := http.Header{"X-Original-Url": {"/admin"}, "X_rewrite_url": {"/admin"}, "X-Override-Url": {"/x"}, "X-Keep": {"1"}}
	StripURLOverrides(h)
	if len(h) != 1 || h.Get("X-Keep") != "1" {
		t.Fatalf("left %v", h)
	}
}

func TestCheckTrailers(t *testing.T) {
	t.Parallel()
	protect := func(n string) bool { return SameHeaderName(n, "X-Auth-Subject") }
	tests := []struct {
		name string
		r    *http.Request
		ok   bool
	}{
		{name: "declared map", r: &http.Request{Header: http.Header{}, Trailer: http.Header{"X-Auth-Subject": nil}}},
		{name: "declared header", r: &http.Request{Header: http.Header{"Trailer": {"X-Other, x_auth_subject"}}}},
		{name: "other trailer", r: &http.Request{Header: http.Header{"Trailer": {"X-Checksum"}}, Trailer: http.Header{"X-Checksum": nil}}, ok: true},
		{name: "none", r: &http.Request{Header: http.Header{}}, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckTrailers(tt.r, protect)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestStripLateTrailers sends a real chunked request with a declared
// trailer and an undeclared one naming a protected header, through a
// real net/http server, and checks what a proxy reading r.Trailer at EOF
// would copy on.
func TestStripLateTrailers(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		StripLateTrailers(r, func(n string) bool { return SameHeaderName(n, "X-Auth-Subject") })
		_, _ = io.Copy(io.Discard, r.Body)
		got <- r.Trailer.Clone()
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n" +
		"5\r\nhello\r\n0\r\nX-Checksum: 1\r\nX-Auth-Subject: admin\r\nx_auth_subject: admin\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	tr := <-got
	if tr.Get("X-Checksum") != "1" {
		t.Errorf("the declared trailer was lost: %v", tr)
	}
	for name := range tr {
		if SameHeaderName(name, "X-Auth-Subject") {
			t.Errorf("protected trailer %s kept: %v", name, tr)
		}
	}
}

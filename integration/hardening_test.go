package integration_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHardening is the adversarial end-to-end suite of issue 14: the
// built binary in front of an ordinary upstream that records what it
// receives, attacked as a client would, one subtest per class of the
// issue and one case per spelling (TestHardening/class2_path/…). Every
// case asserts what reached the upstream, not only the status: a request
// the policy forbids never reaches it (or reaches it without the
// forbidden effect), and a refusal is a 4xx with an X-Request-Id.
//
// Each class shares one gateway per configuration across its cases.
func TestHardening(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"class1_mcp", hardenMCPBody},
		{"class2_path", hardenPaths},
		{"class3_docs", hardenDocs},
		{"class4_headers", hardenHeaders},
		{"class5_logout", hardenKeyCooldown},
		{"class6_issuers", hardenIssuers},
		{"class7_client_ip", hardenClientIP},
		{"class8_logs", hardenLogs},
		{"class9_claims", hardenClaims},
		{"class10_deviations", hardenDeviations},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t)
		})
	}
}

// caseHeader tags every request a case sends, so the recorder can tell
// which case a request that reached the upstream belongs to.
const caseHeader = "X-Hardening-Case"

var caseSeq atomic.Int64

// newTag returns a tag no other request of the run carries.
func newTag(name string) string {
	return fmt.Sprintf("%s-%d", strings.NewReplacer("/", "-", " ", "-").Replace(name), caseSeq.Add(1))
}

// recorded is one request as the upstream received it.
type recorded struct {
	Method     string
	RequestURI string // the request target exactly as sent by the gateway
	Header     http.Header
	Trailer    http.Header
	Body       []byte
	Raw        []byte // head, body and trailers, as read off the wire
}

// recorder is an ordinary HTTP/1.1 upstream that records every request
// raw: it reads with http.ReadRequest (no server-side normalisation) and
// answers 200 {"recorded":true}.
type recorder struct {
	Addr string

	mu   sync.Mutex
	reqs []recorded
}

func startRecorder(t *testing.T) *recorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{Addr: l.Addr().String()}
	var conns sync.WaitGroup
	t.Cleanup(func() { l.Close(); conns.Wait() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { defer conns.Done(); rec.serve(c) }()
		}
	}()
	return rec
}

// tap keeps every byte read from the connection.
type tap struct {
	r   io.Reader
	buf []byte
}

func (t *tap) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	return n, err
}

func (rec *recorder) serve(c net.Conn) {
	defer c.Close()
	tp := &tap{r: c}
	br := bufio.NewReader(tp)
	for {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Minute))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(req.Body)
		used := len(tp.buf) - br.Buffered()
		raw := append([]byte(nil), tp.buf[:used]...)
		tp.buf = append(tp.buf[:0], tp.buf[used:]...)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{Method: req.Method, RequestURI: req.RequestURI, Header: req.Header,
			Trailer: req.Trailer, Body: body, Raw: raw})
		rec.mu.Unlock()
		const answer = `{"recorded":true}`
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(answer), answer)
	}
}

// tagged returns the requests that carried tag in caseHeader.
func (rec *recorder) tagged(tag string) []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []recorded
	for _, r := range rec.reqs {
		if r.Header.Get(caseHeader) == tag {
			out = append(out, r)
		}
	}
	return out
}

// rawResp is an answer read off a raw connection.
type rawResp struct {
	Status int
	Header http.Header
	Body   string
}

// rawSend writes req, exactly as given, to addr and reads one answer.
// The timeout only catches a hung gateway.
func rawSend(t *testing.T, addr, req string) rawResp {
	t.Helper()
	return rawSendFrom(t, "", addr, req)
}

// rawSendFrom is rawSend from a given loopback source address (e.g.
// 127.0.0.9), so a test can play several clients.
func rawSendFrom(t *testing.T, from, addr, req string) rawResp {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	// Written while the answer is read: a gateway may answer (413, 400)
	// before the whole body is sent.
	werr := make(chan error, 1)
	go func() { _, err := io.WriteString(c, req); werr <- err }()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v (writing: %v)", firstLine(req), err, <-werr)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResp{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\r\n"); return l }

// rawReq is a hand-written HTTP/1.1 request: headers are written as given
// (names, case, repetitions and order kept); a Content-Length is added
// for a body unless a Transfer-Encoding or Content-Length header is given.
type rawReq struct {
	method, target, host string
	headers              [][2]string
	body                 string
	proto                string // default HTTP/1.1
}

func (r rawReq) String() string {
	var b strings.Builder
	proto := r.proto
	if proto == "" {
		proto = "HTTP/1.1"
	}
	fmt.Fprintf(&b, "%s %s %s\r\nHost: %s\r\n", r.method, r.target, proto, r.host)
	framed := false
	for _, h := range r.headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
		n := strings.ToLower(h[0])
		framed = framed || n == "transfer-encoding" || n == "content-length"
	}
	if r.body != "" && !framed {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.body))
	}
	b.WriteString("\r\n" + r.body)
	return b.String()
}

// hdrs builds a header list from name/value pairs.
func hdrs(kv ...string) [][2]string {
	out := make([][2]string, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, [2]string{kv[i], kv[i+1]})
	}
	return out
}

// goParserRefusal reports whether an answer is the 400 Go's HTTP server
// writes itself for a request line or header it cannot parse, before
// Caddy (and so the gateway) sees the request: it carries no request id.
func goParserRefusal(r rawResp) bool {
	return r.Status == http.StatusBadRequest && strings.HasPrefix(r.Body, "400 Bad Request") && r.Header.Get("X-Request-Id") == ""
}

// checkRefusal checks that an answer is a refusal by the gateway: the
// status (any 4xx when want is 0), an X-Request-Id, and a JSON body whose
// request_id is that id. Go's own parser refusals are accepted (logged).
func checkRefusal(t *testing.T, r rawResp, want int) {
	t.Helper()
	if goParserRefusal(r) && (want == 0 || want == 400) {
		t.Logf("refused by Go's HTTP parser before Caddy (400, no request id)")
		return
	}
	if (want != 0 && r.Status != want) || (want == 0 && (r.Status < 400 || r.Status > 499)) {
		t.Errorf("status %d, want %s; body %.300s", r.Status, map[bool]string{true: "a 4xx", false: fmt.Sprint(want)}[want == 0], r.Body)
		return
	}
	id := r.Header.Get("X-Request-Id")
	if id == "" {
		t.Errorf("the %d refusal has no X-Request-Id", r.Status)
		return
	}
	var e struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(r.Body), &e); err != nil || e.RequestID != id {
		t.Errorf("the %d refusal's body is not JSON naming request id %s: %.300s", r.Status, id, r.Body)
	}
}

// checkNotForwarded checks that no request tagged tag reached rec.
func checkNotForwarded(t *testing.T, rec *recorder, tag string) {
	t.Helper()
	if got := rec.tagged(tag); len(got) > 0 {
		t.Errorf("the request reached the upstream as %s %s", got[0].Method, got[0].RequestURI)
	}
}

// forwardedOnce returns the one request tagged tag that reached rec, or
// fails the case.
func forwardedOnce(t *testing.T, rec *recorder, tag string, r rawResp) (recorded, bool) {
	t.Helper()
	got := rec.tagged(tag)
	if len(got) != 1 {
		t.Errorf("the upstream received %d requests for the case, want 1 (answer %d %.300s)", len(got), r.Status, r.Body)
		return recorded{}, false
	}
	return got[0], true
}

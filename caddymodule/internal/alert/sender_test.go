package alert

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/fakeclock"
)

const testSecret = "test-secret-of-at-least-24-bytes"

// hung guards waits that only a bug could make long; never a bound the
// test measures.
const hung = time.Minute

// delivery is one POST the receiver got.
type delivery struct {
	header http.Header
	events []CloudEvent
}

// receiver is a webhook that answers with the statuses of answers in
// turn (200 once they run out) and records what it got.
type receiver struct {
	t       *testing.T
	mu      sync.Mutex
	got     []delivery
	answers []int
	block   chan struct{} // when set, every request waits for it to close
	arrived chan struct{} // a value per request, as it arrives
	srv     *httptest.Server
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	rc := &receiver{t: t, answers: answers, arrived: make(chan struct{}, 1000)}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body) // read first: then a client that gives up cancels r.Context()
	rc.arrived <- struct{}{}
	if rc.block != nil {
		select {
		case <-rc.block:
		case <-r.Context().Done():
			return
		}
	}
	var evs []CloudEvent
	if err := json.Unmarshal(body, &evs); err != nil {
		rc.t.Errorf("body is not a CloudEvents batch: %v", err)
	}
	if ct := r.Header.Get("Content-Type"); ct != BatchContentType {
		rc.t.Errorf("Content-Type %q", ct)
	}
	// The senders' clock stands in 2030; the tolerance only needs to
	// cover the fake clock's moves.
	if err := verifyStandardWebhook(testSecret, r.Header, body, fakeclock.Start, time.Hour); err != nil {
		rc.t.Errorf("signature: %v", err)
	}
	rc.mu.Lock()
	rc.got = append(rc.got, delivery{header: r.Header.Clone(), events: evs})
	status := http.StatusOK
	if len(rc.answers) > 0 {
		status, rc.answers = rc.answers[0], rc.answers[1:]
	}
	rc.mu.Unlock()
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "7")
	}
	w.WriteHeader(status)
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// tally records what Count and Report were told.
type tally struct {
	mu       sync.Mutex
	counts   map[Result]int
	problems []Problem
	changed  chan struct{}
}

func newTally() *tally {
	return &tally{counts: map[Result]int{}, changed: make(chan struct{}, 1000)}
}

func (ta *tally) count(r Result, n int) {
	ta.mu.Lock()
	ta.counts[r] += n
	ta.mu.Unlock()
	ta.changed <- struct{}{}
}

func (ta *tally) report(p Problem) {
	ta.mu.Lock()
	ta.problems = append(ta.problems, p)
	ta.mu.Unlock()
}

func (ta *tally) get(r Result) int {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	return ta.counts[r]
}

// waitFor waits until r has reached n.
func (ta *tally) waitFor(t *testing.T, r Result, n int) {
	t.Helper()
	deadline := time.After(hung)
	for ta.get(r) < n {
		select {
		case <-ta.changed:
		case <-deadline:
			t.Fatalf("hung: %s = %d, want %d", r, ta.get(r), n)
		}
	}
}

func newTestSender(t *testing.T, url string, clk *fakeclock.Clock, ta *tally, o Options) *Sender {
	t.Helper()
	o.URL, o.Keys, o.Source, o.Events = url, [][]byte{[]byte(testSecret)}, "urn:portcullis:test", bit(TokenRejected)|bit(LoginFailed)
	o.Now, o.After, o.Rand, o.Count, o.Report = clk.Now, clk.After, func() float64 { return 0.5 }, ta.count, ta.report
	s, err := NewSender(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() { s.Close(); close(done) }()
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
				clk.Advance(time.Hour) // the shutdown bound, on the fake clock
			}
		}
	})
	return s
}

func ptr(e audit.Event) *audit.Event { return &e }

func rejected(i int) audit.Event {
	return audit.Event{Kind: audit.KindDecision, Result: audit.Deny, Reason: "invalid_credentials", RequestID: "req-" + string(rune('a'+i)),
		Subject: "ci-bot", ClientIP: "192.0.2.1", GrantedScopes: []string{"orders:read"}, SessionIDHash: "0123456789abcdef", GrantIDHash: "fedcba9876543210"}
}

func TestSenderBatchesOnSize(t *testing.T) {
	t.Parallel()
	clk, ta := fakeclock.New(), newTally()
	rc := newReceiver(t)
	s := newTestSender(t, rc.srv.URL, clk, ta, Options{BatchSize: 3})
	d := NewDispatcher(clk.Now, s)
	d.Start()
	for i := range 3 {
		d.Offer(ptr(rejected(i)))
	}
	ta.waitFor(t, Sent, 3)
	got := rc.deliveries()
	if len(got) != 1 || len(got[0].events) != 3 {
		t.Fatalf("deliveries %+v, want one batch of 3", got)
	}
	ev := got[0].events[0]
	if ev.SpecVersion != "1.0" || ev.Type != "dev.portcullis.token_rejected" || ev.Source != "urn:portcullis:test" ||
		len(ev.ID) != 32 || !ev.Time.Equal(fakeclock.Start) || ev.Subject != "ci-bot" || ev.DataContentType != "application/json" ||
		ev.Data.Reason != "invalid_credentials" || ev.Data.ClientIP != "192.0.2.1" || ev.Data.RequestID != "req-a" {
		t.Fatalf("event %+v", ev)
	}
	if got[0].events[1].ID == ev.ID {
		t.Fatal("two events share an id")
	}
	raw, _ := json.Marshal(ev)
	if strings.Contains(string(raw), "0123456789abcdef") || strings.Contains(string(raw), "session") || strings.Contains(string(raw), "fedcba9876543210") {
		t.Fatalf("the session or grant id hash is sent: %s", raw)
	}
}

func TestSenderFlushesOnInterval(t *testing.T) {
	t.Parallel()
	clk, ta := fakeclock.New(), newTally()
	rc := newReceiver(t)
	s := newTestSender(t, rc.srv.URL, clk, ta, Options{BatchSize: 100, FlushInterval: 2 * time.Second})
	d := NewDispatcher(clk.Now, s)
	d.Offer(ptr(rejected(0)))
	d.Offer(ptr(rejected(1)))
	d.Offer(&audit.Event{Kind: audit.KindDecision, Result: audit.Allow}) // no alert
	s.Start()
	clk.BlockUntilTimers(1)
	waitEmpty(t, s)
	if n := len(rc.deliveries()); n != 0 {
		t.Fatalf("%d deliveries before the flush interval", n)
	}
	clk.Advance(2 * time.Second)
	ta.waitFor(t, Sent, 2)
	if got := rc.deliveries(); len(got) != 1 || len(got[0].events) != 2 {
		t.Fatalf("deliveries %+v, want one batch of 2", got)
	}
}

// waitEmpty waits until the sender has taken everything from its queue.
func waitEmpty(t *testing.T, s *Sender) {
	t.Helper()
	deadline := time.Now().Add(hung)
	for len(s.queue) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("hung: the queue is not taken")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSenderRetries(t *testing.T) {
	t.Parallel()
	clk, ta := fakeclock.New(), newTally()
	rc := newReceiver(t, 503, 502, 200)
	s := newTestSender(t, rc.srv.URL, clk, ta, Options{BatchSize: 1, MinBackoff: time.Second, MaxBackoff: time.Minute})
	s.Start()
	NewDispatcher(clk.Now, s).Offer(ptr(rejected(0)))
	for range 2 {
		clk.BlockUntilTimers(1)
		clk.Advance(time.Minute)
	}
	ta.waitFor(t, Sent, 1)
	got := rc.deliveries()
	if len(got) != 3 {
		t.Fatalf("%d attempts, want 3", len(got))
	}
	id := got[0].header.Get(HeaderID)
	ts := map[string]bool{}
	for _, g := range got {
		if g.header.Get(HeaderID) != id {
			t.Fatalf("message ids differ across retries: %q, %q", id, g.header.Get(HeaderID))
		}
		ts[g.header.Get(HeaderTimestamp)] = true
		if g.events[0].ID != got[0].events[0].ID {
			t.Fatal("event ids differ across retries")
		}
	}
	if len(ts) != 3 {
		t.Fatalf("each attempt is signed at its own time; timestamps %v", ts)
	}
	if ta.get(Failed) != 0 {
		t.Fatalf("failed = %d", ta.get(Failed))
	}
}

func TestSenderRetryAfter(t *testing.T) {
	t.Parallel()
	clk, ta := fakeclock.New(), newTally()
	rc := newReceiver(t, 429, 200)
	s := newTestSender(t, rc.srv.URL, clk, ta, Options{BatchSize: 1, MinBackoff: time.Second})
	s.Start()
	NewDispatcher(clk.Now, s).Offer(ptr(rejected(0)))
	clk.BlockUntilTimers(1)
	clk.Advance(6 * time.Second)
	if clk.Timers() != 1 {
		t.Fatal("retried before Retry-After (7 s)")
	}
	clk.Advance(time.Second)
	ta.waitFor(t, Sent, 1)
}

func TestSenderDoesNotRetryClientErrors(t *testing.T) {
	t.Parallel()
	clk, ta := fakeclock.New(), newTally()
	rc := newReceiver(t, 400, 200)
	s := newTestSender(t, rc.srv.URL, clk, ta, Options{BatchSize: 1})
	s.Start()
	NewDispatcher(clk.Now, s).Offer(ptr(rejected(0)))
	ta.waitFor(t, Failed, 1)
	if n := len(rc.deliveries()); n != 1 || clk.Timers() != 0 {
		t.Fatalf("%d attempts, %d timers; want 1 attempt and no retry", n, clk.Timers())
	}
	ta.mu.Lock()
	defer ta.mu.Unlock()
	if len(ta.problems) != 1 || ta.problems[0].Status != 400 {
		t.Fatalf("problems %+v", ta.problems)
	}
}

func TestSenderGivesUpOnNetworkErrors(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/hooks/secret-path-token"
	_ = l.Close() // connection refused from now on
	clk, ta := fakeclock.New(), newTally()
	s := newTestSender(t, url, clk, ta, Options{BatchSize: 1, MaxRetries: 2})
	s.Start()
	NewDispatcher(clk.Now, s).Offer(ptr(rejected(0)))
	for range 2 {
		clk.BlockUntilTimers(1)
		clk.Advance(time.Minute)
	}
	ta.waitFor(t, Failed, 1)
	ta.mu.Lock()
	defer ta.mu.Unlock()
	p := ta.problems[0]
	if p.Attempts != 3 || p.Err == nil || strings.Contains(p.Err.Error(), "secret-path-token") {
		t.Fatalf("problem %+v (the error must not name the URL)", p)
	}
}

// TestSenderFullQueueDrops: with the receiver hung forever, offers
// return at once, drops are counted one by one and reported once per
// interval, and Close gives up at its bound.
func TestSenderFullQueueDrops(t *testing.T) {
	t.Parallel()
	clk, ta := fakeclock.New(), newTally()
	rc := newReceiver(t)
	rc.block = make(chan struct{}) // never closed: hung
	s := newTestSender(t, rc.srv.URL, clk, ta, Options{BatchSize: 1, QueueSize: 2, DropLogInterval: time.Minute, ShutdownTimeout: 5 * time.Second})
	d := NewDispatcher(clk.Now, s)
	s.Start()
	d.Offer(ptr(rejected(0)))
	<-rc.arrived // in flight, and hung
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10 {
			d.Offer(ptr(rejected(i + 1)))
		}
	}()
	select {
	case <-done:
	case <-time.After(hung):
		t.Fatal("hung: Offer blocked on a hung receiver")
	}
	if got := ta.get(Dropped); got != 8 {
		t.Fatalf("dropped = %d, want 8 (2 queued)", got)
	}
	ta.mu.Lock()
	if len(ta.problems) != 1 || ta.problems[0].Events != 1 {
		t.Fatalf("problems %+v, want one report of the first drop", ta.problems)
	}
	ta.mu.Unlock()
	clk.Advance(time.Minute)
	d.Offer(ptr(rejected(20)))
	ta.mu.Lock()
	if len(ta.problems) != 2 || ta.problems[1].Events != 8 {
		t.Fatalf("problems %+v, want a second report of the 8 drops since", ta.problems)
	}
	ta.mu.Unlock()

	closed := make(chan struct{})
	go func() { defer close(closed); s.Close() }()
	clk.BlockUntilTimers(1) // Close waits on its bound
	clk.Advance(5 * time.Second)
	select {
	case <-closed:
	case <-time.After(hung):
		t.Fatal("hung: Close did not give up at its bound")
	}
	if got := ta.get(Failed); got != 3 {
		t.Fatalf("failed = %d, want 3 (1 in flight, 2 queued)", got)
	}
}

func TestSenderCloseFlushes(t *testing.T) {
	t.Parallel()
	clk, ta := fakeclock.New(), newTally()
	rc := newReceiver(t)
	s := newTestSender(t, rc.srv.URL, clk, ta, Options{FlushInterval: time.Hour})
	d := NewDispatcher(clk.Now, s)
	d.Start()
	for i := range 5 {
		d.Offer(ptr(rejected(i)))
	}
	d.Close() // no clock moves: the batch goes out on Close, not on the interval
	if got := ta.get(Sent); got != 5 {
		t.Fatalf("sent = %d after Close, want 5", got)
	}
	var nilDispatcher *Dispatcher
	nilDispatcher.Offer(ptr(rejected(0)))
	nilDispatcher.Close()
}

func TestSenderOnlyWantedEvents(t *testing.T) {
	t.Parallel()
	clk, ta := fakeclock.New(), newTally()
	rc := newReceiver(t)
	s := newTestSender(t, rc.srv.URL, clk, ta, Options{BatchSize: 1})
	d := NewDispatcher(clk.Now, s)
	d.Offer(&audit.Event{Kind: audit.KindRateLimited, Result: audit.Deny}) // not subscribed
	d.Offer(&audit.Event{Kind: audit.KindLoginFailed, Result: audit.Deny, Reason: "state_mismatch"})
	if n := len(s.queue); n != 1 {
		t.Fatalf("queued %d, want only the login failure", n)
	}
}

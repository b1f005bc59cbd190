package logbatch

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// hung bounds waits for the flusher goroutine: only a hang reaches it.
const hung = 10 * time.Second

// sink records each Write it gets, and signals it.
type sink struct {
	mu     sync.Mutex
	writes []string
	fail   error
	wrote  chan struct{}
}

func newSink() *sink { return &sink{wrote: make(chan struct{}, 100)} }

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return 0, s.fail
	}
	s.writes = append(s.writes, string(p))
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (s *sink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.writes...)
}

// waitWrite waits for the sink's next write.
func (s *sink) waitWrite(t *testing.T) {
	t.Helper()
	select {
	case <-s.wrote:
	case <-time.After(hung):
		t.Fatal("no write reached the underlying writer")
	}
}

// manualTicker is a ticker the test ticks.
type manualTicker struct {
	c       chan time.Time
	stopped chan struct{}
}

func newManualTicker() *manualTicker {
	return &manualTicker{c: make(chan time.Time), stopped: make(chan struct{})}
}

func (m *manualTicker) new(time.Duration) (<-chan time.Time, func()) {
	return m.c, func() { close(m.stopped) }
}

// tick delivers one tick (the flusher takes it).
func (m *manualTicker) tick(t *testing.T) {
	t.Helper()
	select {
	case m.c <- time.Time{}:
	case <-time.After(hung):
		t.Fatal("the flusher did not take the tick")
	}
}

func newTestWriter(t *testing.T, maxSize int) (*Writer, *sink, *manualTicker) {
	t.Helper()
	s, m := newSink(), newManualTicker()
	w, err := New(s, Config{FlushInterval: time.Second, MaxSize: maxSize, NewTicker: m.new})
	if err != nil {
		t.Fatal(err)
	}
	return w, s, m
}

func TestWritesWaitForTheTick(t *testing.T) {
	t.Parallel()
	w, s, m := newTestWriter(t, MinMaxSize)
	for i := range 3 {
		if n, err := fmt.Fprintf(w, "line %d\n", i); err != nil || n != 7 {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got := s.got(); len(got) != 0 {
		t.Fatalf("written before any tick: %q", got)
	}
	m.tick(t)
	s.waitWrite(t)
	if got := s.got(); len(got) != 1 || got[0] != "line 0\nline 1\nline 2\n" {
		t.Fatalf("after a tick: %q, want one write of the three lines in order", got)
	}
	m.tick(t) // nothing pending: no empty write
	_, _ = w.Write([]byte("last\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := s.got(); len(got) != 2 || got[1] != "last\n" {
		t.Fatalf("after Close: %q", got)
	}
	select {
	case <-m.stopped:
	default:
		t.Fatal("Close did not stop the ticker")
	}
}

func TestFullBatchIsWrittenWithoutTick(t *testing.T) {
	t.Parallel()
	w, s, _ := newTestWriter(t, MinMaxSize)
	defer w.Close()
	line := strings.Repeat("x", 99) + "\n"
	for range MinMaxSize/len(line) - 1 {
		_, _ = w.Write([]byte(line))
	}
	if got := s.got(); len(got) != 0 {
		t.Fatalf("written below the size: %d writes", len(got))
	}
	_, _ = w.Write([]byte(line))
	_, _ = w.Write([]byte(line)) // past MaxSize
	s.waitWrite(t)
	if got := s.got(); len(got) != 1 || len(got[0]) < MinMaxSize || len(got[0])%len(line) != 0 {
		t.Fatalf("size flush: %d writes, first %d bytes", len(got), len(got[0]))
	}
}

func TestFlushAndSyncWriteNow(t *testing.T) {
	t.Parallel()
	w, s, _ := newTestWriter(t, MinMaxSize)
	_, _ = w.Write([]byte("a\n"))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte("b\n"))
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := s.got(); len(got) != 2 || got[0] != "a\n" || got[1] != "b\n" {
		t.Fatalf("writes: %q", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{"Close": w.Close(), "Flush": w.Flush()} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	if _, err := w.Write([]byte("late\n")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
}

func TestFailedBatchIsReportedByTheNextWrite(t *testing.T) {
	t.Parallel()
	w, s, _ := newTestWriter(t, MinMaxSize)
	defer w.Close()
	boom := errors.New("disk full")
	s.fail = boom
	_, _ = w.Write([]byte("a\n"))
	if err := w.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush = %v, want the write error", err)
	}
	s.mu.Lock()
	s.fail = nil
	s.mu.Unlock()
	if _, err := w.Write([]byte("b\n")); !errors.Is(err, boom) {
		t.Fatalf("next Write = %v, want the earlier error", err)
	}
	if _, err := w.Write([]byte("c\n")); err != nil {
		t.Fatalf("Write after the report = %v, want nil", err)
	}
}

// TestConcurrentWritersLoseNothing writes from several goroutines while
// the test ticks, then closes: every line arrives once, whole.
func TestConcurrentWritersLoseNothing(t *testing.T) {
	t.Parallel()
	w, s, m := newTestWriter(t, MinMaxSize)
	const writers, lines = 8, 2000
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				if _, err := fmt.Fprintf(w, "{\"g\":%d,\"i\":%d}\n", g, i); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for ticking := true; ticking; {
		select {
		case m.c <- time.Time{}:
		case <-done:
			ticking = false
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(s.got(), "")
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(all, "\n"), "\n") {
		if seen[l] || !strings.HasPrefix(l, "{\"g\":") || !strings.HasSuffix(l, "}") {
			t.Fatalf("line %q duplicated or torn", l)
		}
		seen[l] = true
	}
	if len(seen) != writers*lines {
		t.Fatalf("%d lines arrived, want %d", len(seen), writers*lines)
	}
}

func TestConfigBounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{}, true},
		{"smallest", Config{FlushInterval: time.Millisecond, MaxSize: MinMaxSize}, true},
		{"negative interval", Config{FlushInterval: -time.Second}, false},
		{"interval too long", Config{FlushInterval: 2 * time.Minute}, false},
		{"size too small", Config{MaxSize: 100}, false},
		{"size too large", Config{MaxSize: MaxMaxSize + 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// BenchmarkWrite measures one audit-sized line into the batch, the
// flusher writing to memory on a real ticker.
func BenchmarkWrite(b *testing.B) {
	var out bytes.Buffer
	var mu sync.Mutex
	w, err := New(writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); out.Reset(); return len(p), nil }), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	line := []byte(`{"level":"info","ts":1765130000.123,"logger":"portcullis.audit","msg":"decision","event":"decision","result":"allow","reason":"allowed","request_id":"KHPRAM0OUUMHJNDF-1","subject":"bench","auth_method":"api_key","key_id":"EeQTqz3VrxKW","required_scopes":["bench:read"],"granted_scopes":["bench:read"],"method":"GET","path":"/bench","client_ip":"127.0.0.1","user_agent":"wrk","upstream_status":200,"upstream_ms":1}` + "\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		_, _ = w.Write(line)
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

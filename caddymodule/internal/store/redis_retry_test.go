package store_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// fakeRedis is a minimal RESP2 server that counts the commands it gets and
// never answers the commands named in silent, so that their replies time
// out. It answers HELLO with an error (making go-redis fall back to RESP2)
// and everything else with +OK.
type fakeRedis struct {
	ln     net.Listener
	silent map[string]bool

	mu     sync.Mutex
	counts map[string]int
	conns  []net.Conn
}

func startFakeRedis(t *testing.T, silent ...string) *fakeRedis {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRedis{ln: ln, silent: map[string]bool{}, counts: map[string]int{}}
	for _, s := range silent {
		f.silent[s] = true
	}
	go f.serve()
	t.Cleanup(f.close)
	return f
}

func (f *fakeRedis) addr() string { return f.ln.Addr().String() }

func (f *fakeRedis) count(cmd string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[cmd]
}

func (f *fakeRedis) close() {
	f.ln.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
}

func (f *fakeRedis) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns = append(f.conns, c)
		f.mu.Unlock()
		go f.handle(c)
	}
}

func (f *fakeRedis) handle(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		args, err := redistest.ReadCommand(r)
		if err != nil {
			return
		}
		name := strings.ToLower(args[0])
		f.mu.Lock()
		f.counts[name]++
		f.mu.Unlock()
		switch {
		case f.silent[name]:
			// never reply
		case name == "hello":
			io.WriteString(c, "-ERR unknown command 'HELLO'\r\n")
		default:
			io.WriteString(c, "+OK\r\n")
		}
	}
}

// TestRedisSingleUseNotRetried checks that GetDel and SetNX are sent once
// even when their reply times out, while an idempotent Get is retried.
func TestRedisSingleUseNotRetried(t *testing.T) {
	t.Parallel()
	f := startFakeRedis(t, "getdel", "set", "get")
	r := newRedis(t, store.RedisConfig{Addrs: []string{f.addr()}, ReadTimeout: 100 * time.Millisecond})
	ctx := t.Context()

	tests := []struct {
		name, cmd string
		do        func() error
		wantSent  int
	}{
		{"GetDel", "getdel", func() error { _, err := r.GetDel(ctx, "k"); return err }, 1},
		{"SetNX", "set", func() error { _, err := r.SetNX(ctx, "k", []byte("v"), time.Minute); return err }, 1},
		{"Get (idempotent, retried once)", "get", func() error { _, err := r.Get(ctx, "k"); return err }, 2},
	}
	for _, tc := range tests { // sequential: they share the fake's counters
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); err == nil {
				t.Fatal("succeeded against a server that does not reply")
			}
			if got := f.count(tc.cmd); got != tc.wantSent {
				t.Errorf("%s sent %d times, want %d", strings.ToUpper(tc.cmd), got, tc.wantSent)
			}
		})
	}
}

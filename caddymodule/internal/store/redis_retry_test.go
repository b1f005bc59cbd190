package store_test

import (
	"bufio"
	"context"
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
// out, or, with hangUp, closes the connection on them, so that their
// replies are lost. It answers HELLO with an error (making go-redis fall
// back to RESP2) and everything else with +OK.
type fakeRedis struct {
	ln     net.Listener
	silent map[string]bool
	hangUp bool

	mu     sync.Mutex
	counts map[string]int
	conns  []net.Conn
}

func startFakeRedis(t *testing.T, hangUp bool, silent ...string) *fakeRedis {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRedis{ln: ln, silent: map[string]bool{}, hangUp: hangUp, counts: map[string]int{}}
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
		case f.silent[name] && f.hangUp:
			c.Close()
			return
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
// when their reply is lost, while an idempotent Get is retried once, for
// both ways a reply gets lost: the read times out (a server that never
// answers them) or the connection drops (a server that hangs up on them).
//
// Nothing here depends on how fast the machine is. The client connects
// (handshake) before the counted command, and the read timeout is one
// that a silent server always reaches but the fake's immediate answers
// to a handshake never do, even on a loaded machine; a dropped connection
// needs no timeout at all.
func TestRedisSingleUseNotRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cmd string
		do        func(ctx context.Context, r *store.Redis) error
		wantSent  int
	}{
		{"GetDel", "getdel", func(ctx context.Context, r *store.Redis) error { _, err := r.GetDel(ctx, "k"); return err }, 1},
		{"SetNX", "set", func(ctx context.Context, r *store.Redis) error {
			_, err := r.SetNX(ctx, "k", []byte("v"), time.Minute)
			return err
		}, 1},
		{"Get (idempotent, retried once)", "get", func(ctx context.Context, r *store.Redis) error { _, err := r.Get(ctx, "k"); return err }, 2},
	}
	for _, loss := range []struct {
		name        string
		hangUp      bool
		readTimeout time.Duration
	}{
		{"reply timed out", false, 2 * time.Second},
		{"connection dropped", true, relaxedTimeout},
	} {
		for _, tc := range tests {
			t.Run(loss.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				f := startFakeRedis(t, loss.hangUp, tc.cmd)
				r := newRedis(t, store.RedisConfig{Addrs: []string{f.addr()}, ReadTimeout: loss.readTimeout, WriteTimeout: relaxedTimeout})
				ctx := t.Context()
				if err := r.Ping(ctx); err != nil {
					t.Fatalf("connecting to the fake server: %v", err)
				}
				if err := tc.do(ctx, r); err == nil {
					t.Fatal("succeeded against a server that does not reply")
				}
				if got := f.count(tc.cmd); got != tc.wantSent {
					t.Errorf("%s sent %d times, want %d", strings.ToUpper(tc.cmd), got, tc.wantSent)
				}
			})
		}
	}
}

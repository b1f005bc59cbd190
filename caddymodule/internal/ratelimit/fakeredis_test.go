package ratelimit_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// silentRedis is a minimal RESP2 server that answers the connection
// handshake (HELLO with an error, so go-redis falls back to RESP2; anything
// else with +OK) but never answers scripts, so their replies time out. It
// counts the script commands it receives.
type silentRedis struct {
	ln net.Listener

	mu      sync.Mutex
	scripts int
	conns   []net.Conn
}

func startSilentRedis(t *testing.T) *silentRedis {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &silentRedis{ln: ln}
	go f.serve()
	t.Cleanup(f.close)
	return f
}

func (f *silentRedis) addr() string { return f.ln.Addr().String() }

// scriptCount returns how many EVAL and EVALSHA commands arrived.
func (f *silentRedis) scriptCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.scripts
}

func (f *silentRedis) close() {
	f.ln.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
}

func (f *silentRedis) serve() {
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

func (f *silentRedis) handle(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		args, err := redistest.ReadCommand(r)
		if err != nil {
			return
		}
		switch strings.ToLower(args[0]) {
		case "eval", "evalsha":
			f.mu.Lock()
			f.scripts++
			f.mu.Unlock()
		case "hello":
			io.WriteString(c, "-ERR unknown command 'HELLO'\r\n")
		default:
			io.WriteString(c, "+OK\r\n")
		}
	}
}

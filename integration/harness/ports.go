package harness

import (
	"net"
	"sync"
	"testing"
)

// handedOut holds every port FreePort returned in this process, so that
// two gateways of one test binary never get the same port (the kernel may
// hand a just-closed port out again, and Caddy's SO_REUSEPORT listeners
// would then share it without an error).
var handedOut struct {
	sync.Mutex
	ports map[int]bool
}

// FreePort returns a loopback TCP port that was free a moment ago and that
// FreePort has not returned before in this process. Another process can
// still take it before it is bound: Start checks for that.
func FreePort(t testing.TB) int {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	if handedOut.ports == nil {
		handedOut.ports = map[int]bool{}
	}
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return port
		}
	}
	t.Fatal("finding a free port: 100 ports in a row were handed out before")
	return 0
}

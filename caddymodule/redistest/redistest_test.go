package redistest

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

func TestStartStandalone(t *testing.T) {
	t.Parallel()
	s := StartStandalone(t)
	if strings.HasSuffix(s.Addr(), ":6379") {
		t.Fatalf("Addr() = %s, must never be the default port", s.Addr())
	}
	if want := "redis://" + s.Addr() + "/0"; s.URL() != want {
		t.Errorf("URL() = %q, want %q", s.URL(), want)
	}
	if _, err := do(s.Addr(), time.Second, "SET", "k", "v"); err != nil {
		t.Fatalf("SET: %v", err)
	}
	got, err := doString(s.Addr(), time.Second, "GET", "k")
	if err != nil || got != "v" {
		t.Fatalf("GET = %q, %v; want v", got, err)
	}
	for _, tc := range []struct{ name, param, want string }{
		{name: "no RDB snapshots", param: "save", want: ""},
		{name: "no AOF", param: "appendonly", want: "no"},
		{name: "loopback only", param: "bind", want: "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply, err := do(s.Addr(), time.Second, "CONFIG", "GET", tc.param)
			if err != nil {
				t.Fatalf("CONFIG GET %s: %v", tc.param, err)
			}
			items, _ := reply.([]any)
			if len(items) != 2 || items[1] != tc.want {
				t.Errorf("CONFIG GET %s = %v, want %q", tc.param, reply, tc.want)
			}
		})
	}
}

func TestStopRestart(t *testing.T) {
	t.Parallel()
	s := StartStandalone(t)
	if _, err := do(s.Addr(), time.Second, "SET", "k", "v"); err != nil {
		t.Fatalf("SET: %v", err)
	}
	s.Stop()
	if s.Running() {
		t.Fatal("Running() after Stop = true")
	}
	if _, err := do(s.Addr(), time.Second, "PING"); err == nil {
		t.Fatal("PING after Stop succeeded")
	}
	s.Stop() // stopping twice is harmless
	s.Restart(t)
	if !s.Running() {
		t.Fatal("Running() after Restart = false")
	}
	got, err := do(s.Addr(), time.Second, "GET", "k")
	if err != nil || got != nil {
		t.Fatalf("GET after Restart = %v, %v; want nil reply (nothing persisted)", got, err)
	}
	s.Restart(t) // restarting a running server kills it first
	if _, err := doString(s.Addr(), time.Second, "PING"); err != nil {
		t.Fatalf("PING after second Restart: %v", err)
	}
}

func TestShutdownLeavesNothing(t *testing.T) {
	t.Parallel()
	s, err := startServer(1, standaloneConf)
	if err != nil {
		t.Fatal(err)
	}
	pid := s.proc.cmd.Process.Pid
	s.shutdown()
	if _, err := os.Stat("/proc/" + itoa(pid)); !errors.Is(err, os.ErrNotExist) && isLinux() {
		t.Errorf("process %d still exists after shutdown (stat err %v)", pid, err)
	}
	if _, err := os.Stat(s.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory %s still exists after shutdown (stat err %v)", s.dir, err)
	}
}

func TestStartCluster(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := StartCluster(t)
	t.Logf("cluster of %d masters formed in %v", len(c.Addrs()), time.Since(start).Round(time.Millisecond))
	addrs := c.Addrs()
	if len(addrs) != 3 {
		t.Fatalf("Addrs() = %v, want 3 addresses", addrs)
	}
	for _, addr := range addrs {
		info, err := doString(addr, time.Second, "CLUSTER", "INFO")
		if err != nil {
			t.Fatalf("CLUSTER INFO on %s: %v", addr, err)
		}
		for _, want := range []string{"cluster_state:ok", "cluster_size:3", "cluster_known_nodes:3"} {
			if !strings.Contains(info, want) {
				t.Errorf("%s: CLUSTER INFO lacks %q:\n%s", addr, want, info)
			}
		}
		nodes, err := doString(addr, time.Second, "CLUSTER", "NODES")
		if err != nil {
			t.Fatalf("CLUSTER NODES on %s: %v", addr, err)
		}
		if n := strings.Count(nodes, "master"); n != 3 {
			t.Errorf("%s: CLUSTER NODES shows %d masters, want 3:\n%s", addr, n, nodes)
		}
	}
	// A key is served by exactly one node; the others redirect.
	var served, moved int
	for _, addr := range addrs {
		_, err := do(addr, time.Second, "SET", "{user1}:k", "v")
		switch {
		case err == nil:
			served++
		case strings.Contains(err.Error(), "MOVED"):
			moved++
		default:
			t.Fatalf("SET on %s: %v", addr, err)
		}
	}
	if served != 1 || moved != 2 {
		t.Errorf("served=%d moved=%d, want 1 and 2", served, moved)
	}
	wantURL := "redis://" + addrs[0] + "?addr=" + strings.ReplaceAll(addrs[1], ":", "%3A") +
		"&addr=" + strings.ReplaceAll(addrs[2], ":", "%3A")
	if c.URL() != wantURL {
		t.Errorf("URL() = %q, want %q", c.URL(), wantURL)
	}
}

func TestShared(t *testing.T) {
	t.Parallel()
	a, b := SharedStandalone(t), SharedStandalone(t)
	if a != b {
		t.Fatal("SharedStandalone returned two different servers")
	}
	if _, err := doString(a.Addr(), time.Second, "PING"); err != nil {
		t.Fatalf("PING: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Stop on a shared server did not panic")
		}
		if !a.Running() {
			t.Error("shared server stopped")
		}
	}()
	a.Stop()
}

func TestSharedCluster(t *testing.T) {
	t.Parallel()
	a, b := SharedCluster(t), SharedCluster(t)
	if a != b {
		t.Fatal("SharedCluster returned two different clusters")
	}
	for _, n := range a.Nodes() {
		if !n.Running() {
			t.Errorf("node %s not running", n.Addr())
		}
	}
}

func TestFindBinary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, bin, fallback string
		wantErr             bool
	}{
		{name: "in PATH", bin: "redis-server", fallback: "/nonexistent/redis-server"},
		{name: "fallback", bin: "no-such-redis-binary", fallback: fallbackBinary},
		{name: "missing", bin: "no-such-redis-binary", fallback: "/nonexistent/redis-server", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := findBinary(tc.bin, tc.fallback)
			if tc.wantErr {
				if !errors.Is(err, errNoBinary) || !strings.Contains(err.Error(), "install") {
					t.Fatalf("findBinary = %q, %v; want a clear not-installed error", got, err)
				}
				return
			}
			if err != nil || got == "" {
				t.Fatalf("findBinary = %q, %v", got, err)
			}
		})
	}
}

func TestFreePorts(t *testing.T) {
	t.Parallel()
	ports, err := freePorts(10)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p == 6379 || seen[p] {
			t.Fatalf("freePorts = %v: duplicate or default port", ports)
		}
		seen[p] = true
	}
}

// TestPortTakenByAnotherServer starts a second server on a port an
// existing one holds, as happens when two test binaries race for a free
// port: the newcomer must not be reported ready because the other server
// answers PING on that port.
func TestPortTakenByAnotherServer(t *testing.T) {
	t.Parallel()
	holder := StartStandalone(t)
	bin, err := serverBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &Server{bin: bin, dir: dir, port: holder.port, conf: standaloneConf([]int{holder.port})}
	err = s.start()
	if err == nil {
		s.stop()
		t.Fatal("start on a port another server holds succeeded")
	}
	if !bindFailed(dir) {
		t.Fatalf("start failed (%v) but the log does not say the port was taken:\n%s", err, logTail(dir))
	}
	if !holder.Running() {
		t.Fatal("the server holding the port stopped")
	}
}

package redistest

import (
	"flag"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

// registry holds the per-process shared instances.
// Each kind has its own lock so a test waiting for the cluster to form does
// not hold up one that wants the standalone server.
var registry struct {
	standaloneMu  sync.Mutex
	standalone    *Server
	standaloneErr error

	clusterMu  sync.Mutex
	cluster    *Cluster
	clusterErr error
}

// SharedStandalone returns the test binary's shared standalone server,
// starting it on first use (later calls, also from parallel tests, get the
// same one). If it failed to start, every caller fails with the same error.
// The server lives until Cleanup; do not stop or restart it, and use keys no
// other test uses.
func SharedStandalone(t testing.TB) *Server {
	t.Helper()
	registry.standaloneMu.Lock()
	defer registry.standaloneMu.Unlock()
	if registry.standalone == nil && registry.standaloneErr == nil {
		s, err := startServer(1, standaloneConf)
		if err != nil {
			registry.standaloneErr = err
		} else {
			s.shared = true
			registry.standalone = s
		}
	}
	if registry.standaloneErr != nil {
		t.Fatalf("redistest: shared standalone server: %v", registry.standaloneErr)
	}
	return registry.standalone
}

// SharedCluster returns the test binary's shared three-master cluster,
// starting it on first use; see SharedStandalone for the rules.
func SharedCluster(t testing.TB) *Cluster {
	t.Helper()
	registry.clusterMu.Lock()
	defer registry.clusterMu.Unlock()
	if registry.cluster == nil && registry.clusterErr == nil {
		c, err := startCluster()
		if err != nil {
			registry.clusterErr = err
		} else {
			c.shared = true
			for _, n := range c.nodes {
				n.shared = true
			}
			registry.cluster = c
		}
	}
	if registry.clusterErr != nil {
		t.Fatalf("redistest: shared cluster: %v", registry.clusterErr)
	}
	return registry.cluster
}

// Cleanup kills the shared instances and removes their directories. Call it
// from TestMain after m.Run; it is safe to call when nothing was started,
// and a later Shared call starts fresh instances.
func Cleanup() {
	registry.standaloneMu.Lock()
	if registry.standalone != nil {
		registry.standalone.shutdown()
	}
	registry.standalone, registry.standaloneErr = nil, nil
	registry.standaloneMu.Unlock()

	registry.clusterMu.Lock()
	if registry.cluster != nil {
		registry.cluster.shutdown()
	}
	registry.cluster, registry.clusterErr = nil, nil
	registry.clusterMu.Unlock()
}

// Main runs the tests, calls Cleanup and exits with the tests' status:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// MainParallel is Main for test binaries whose tests mostly wait (on
// TTLs, timeouts or Redis) rather than use the CPU: unless -parallel was
// given, it runs at least n parallel tests at a time instead of
// GOMAXPROCS.
func MainParallel(m *testing.M, n int) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if p := flag.Lookup("test.parallel"); p != nil && !explicit && runtime.GOMAXPROCS(0) < n {
		if err := p.Value.Set(strconv.Itoa(n)); err != nil {
			panic(err)
		}
	}
	Main(m)
}

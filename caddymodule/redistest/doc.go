// Package redistest starts real redis-server processes for tests, in the
// spirit of net/http/httptest.
//
// Every server listens on a free loopback port chosen at start (never 6379,
// so a system Redis is left alone), keeps its files in its own temporary
// directory and persists nothing (save "" and appendonly no). The binary is
// looked up as "redis-server" in PATH, then /usr/bin/redis-server; if it is
// missing the calling test fails with t.Fatalf (it is never skipped).
//
// There are two ways to get a server:
//
//   - StartStandalone and StartCluster start private instances that belong to
//     one test and are killed by t.Cleanup. Use them when a test stops or
//     restarts a server (outage tests) or needs an empty keyspace.
//   - SharedStandalone and SharedCluster return one instance per kind for the
//     whole test binary, started on first use. A cluster takes a moment to
//     form, so tests that only read and write keys should share. Shared
//     instances must not be stopped or restarted, and tests sharing them must
//     use distinct keys.
//
// Call Cleanup (or use Main) from TestMain so the shared instances are killed
// when the tests end:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
//
// or, when TestMain does more:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		redistest.Cleanup()
//		os.Exit(code)
//	}
//
// Outage tests stop a private server with Server.Stop (a SIGKILL, like a
// crash) and bring it back on the same port with Server.Restart.
//
// On Linux every redis-server is started in its own process group with a
// parent-death signal (SIGKILL), from one OS thread that lives as long as the
// test binary, so servers do not outlive a test binary that crashes, times
// out or forgets to call Cleanup; only their temporary directories are left
// behind then.
package redistest

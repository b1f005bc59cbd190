package integration_test

import (
	"os"
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
	"github.com/portcullis-auth/portcullis/integration/harness"
)

// TestMain kills the shared redis-server processes and removes the built
// binaries when the tests end.
func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Cleanup()
	harness.Cleanup()
	cleanupImageBuild()
	os.Exit(code)
}

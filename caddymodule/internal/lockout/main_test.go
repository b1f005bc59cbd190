package lockout_test

import (
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// TestMain kills the shared redis-server processes after the tests.
func TestMain(m *testing.M) { redistest.Main(m) }

package integration_test

import (
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// TestMain kills the shared redis-server processes when the tests end.
func TestMain(m *testing.M) { redistest.Main(m) }

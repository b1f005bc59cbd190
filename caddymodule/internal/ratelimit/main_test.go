package ratelimit_test

import (
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// TestMain raises test parallelism (most tests wait on time or Redis, not
// the CPU) and kills the shared redis-server processes after the tests.
func TestMain(m *testing.M) { redistest.MainParallel(m, minParallel) }

// minParallel is the least test parallelism TestMain sets.
const minParallel = 8

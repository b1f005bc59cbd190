package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// contenders is how many goroutines race for one record.
const contenders = 32

// testConcurrency checks the atomic operations under contention and mixed
// concurrent use (run with -race).
func (s *suite) testConcurrency(t *testing.T) {
	st := s.newStore(t)
	t.Run("GetDel single use", func(t *testing.T) {
		t.Parallel()
		for round := range 5 {
			k := s.key(t, "state", fmt.Sprint(round))
			mustSet(t, st, k, []byte("token"), longTTL)
			var wins, misses atomic.Int32
			race(t, func() error {
				v, err := st.GetDel(ctx(t), k)
				switch {
				case err == nil && string(v) == "token":
					wins.Add(1)
				case errors.Is(err, store.ErrNotFound):
					misses.Add(1)
				default:
					return fmt.Errorf("GetDel = %q, %v", v, err)
				}
				return nil
			})
			if wins.Load() != 1 || misses.Load() != contenders-1 {
				t.Fatalf("round %d: %d winners and %d misses, want 1 and %d", round, wins.Load(), misses.Load(), contenders-1)
			}
		}
	})
	t.Run("SetNX single winner", func(t *testing.T) {
		t.Parallel()
		for round := range 5 {
			k := s.key(t, "lock", fmt.Sprint(round))
			var wins atomic.Int32
			race(t, func() error {
				ok, err := st.SetNX(ctx(t), k, []byte("mine"), longTTL)
				if err != nil {
					return fmt.Errorf("SetNX: %v", err)
				}
				if ok {
					wins.Add(1)
				}
				return nil
			})
			if wins.Load() != 1 {
				t.Fatalf("round %d: %d SetNX winners, want 1", round, wins.Load())
			}
		}
	})
	t.Run("mixed", func(t *testing.T) {
		t.Parallel()
		var keys []string
		for i := range 4 {
			keys = append(keys, s.key(t, "mix", fmt.Sprint(i)))
		}
		var n atomic.Int64
		race(t, func() error {
			for i := range 40 {
				k := keys[(int(n.Add(1))+i)%len(keys)]
				var err error
				switch i % 6 {
				case 0:
					err = st.Set(ctx(t), k, []byte(k), longTTL)
				case 1:
					var v []byte
					v, err = st.Get(ctx(t), k)
					if err == nil && string(v) != k {
						return fmt.Errorf("Get(%q) = %q: values mixed up", k, v)
					}
				case 2:
					_, err = st.SetNX(ctx(t), k, []byte(k), longTTL)
				case 3:
					_, err = st.Expire(ctx(t), k, longTTL)
				case 4:
					_, err = st.GetDel(ctx(t), k)
				case 5:
					err = st.Delete(ctx(t), k, keys[(i+1)%len(keys)])
				}
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			return nil
		})
	})
}

// race runs fn in contenders goroutines released at once and fails the
// test with the first error.
func race(t *testing.T, fn func() error) {
	t.Helper()
	var (
		start sync.WaitGroup
		done  sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	start.Add(1)
	for range contenders {
		done.Go(func() {
			start.Wait()
			if err := fn(); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	start.Done()
	done.Wait()
	if first != nil {
		t.Fatal(first)
	}
}

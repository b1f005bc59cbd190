package apikey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// index is the set of ids of the keys in the store, which List walks.
// Create adds an id after writing its record and List removes ids whose
// record has expired, so the index always holds every stored key. Its TTL
// is only ever extended, to outlive every record. Verification never
// reads it.
type index interface {
	// add adds ids and extends the index TTL to at least ttl.
	add(ctx context.Context, ttl time.Duration, ids ...string) error
	// members returns every id.
	members(ctx context.Context) ([]string, error)
	// remove removes ids.
	remove(ctx context.Context, ids ...string) error
}

// newIndex returns a Redis SET index on Redis and a locked JSON index on
// any other store.
func newIndex(st store.Store, key string, now func() time.Time) index {
	if r, ok := st.(*store.Redis); ok {
		return redisIndex{client: r.Client(), key: key}
	}
	return &storeIndex{st: st, key: key, now: now}
}

// redisIndex keeps the ids in a Redis SET: each operation is one command
// or one single-key script, atomic under concurrent creates.
type redisIndex struct {
	client redis.UniversalClient
	key    string
}

// indexAddScript: KEYS[1] the set; ARGV[1] ttl in ms, ARGV[2..] ids. The
// expiry is only ever extended (a key without one gets one).
var indexAddScript = redis.NewScript(`
for i = 2, #ARGV do
	redis.call('SADD', KEYS[1], ARGV[i])
end
local ttl = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then
	redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
`)

func (x redisIndex) add(ctx context.Context, ttl time.Duration, ids ...string) error {
	args := make([]any, 0, len(ids)+1)
	args = append(args, max(ttl.Milliseconds(), 1))
	for _, id := range ids {
		args = append(args, id)
	}
	if err := indexAddScript.Run(ctx, x.client, []string{x.key}, args...).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("apikey: adding to the key index: %w", err)
	}
	return nil
}

func (x redisIndex) members(ctx context.Context) ([]string, error) {
	ids, err := x.client.SMembers(ctx, x.key).Result()
	if err != nil {
		return nil, fmt.Errorf("apikey: reading the key index: %w", err)
	}
	return ids, nil
}

func (x redisIndex) remove(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	members := make([]any, len(ids))
	for i, id := range ids {
		members[i] = id
	}
	if err := x.client.SRem(ctx, x.key, members...).Err(); err != nil {
		return fmt.Errorf("apikey: removing from the key index: %w", err)
	}
	return nil
}

// storeIndex keeps the ids in one JSON record changed under the store
// lock, for stores without sets (the in-memory store).
type storeIndex struct {
	st  store.Store
	key string
	now func() time.Time
}

// storedIndex is the JSON form of a storeIndex.
type storedIndex struct {
	IDs   []string  `json:"ids"`
	Until time.Time `json:"until"`
}

func (x *storeIndex) read(ctx context.Context) (storedIndex, error) {
	data, err := x.st.Get(ctx, x.key)
	if errors.Is(err, store.ErrNotFound) {
		return storedIndex{}, nil
	}
	if err != nil {
		return storedIndex{}, fmt.Errorf("apikey: reading the key index: %w", err)
	}
	var s storedIndex
	if err := json.Unmarshal(data, &s); err != nil {
		return storedIndex{}, fmt.Errorf("apikey: decoding the key index: %w", err)
	}
	return s, nil
}

// change applies fn to the index under the lock and writes it back.
func (x *storeIndex) change(ctx context.Context, ttl time.Duration, fn func(*storedIndex)) error {
	return withLock(ctx, x.st, x.key, func() error {
		s, err := x.read(ctx)
		if err != nil {
			return err
		}
		fn(&s)
		now := x.now()
		if until := now.Add(ttl); until.After(s.Until) {
			s.Until = until
		}
		data, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("apikey: encoding the key index: %w", err)
		}
		if err := x.st.Set(ctx, x.key, data, max(s.Until.Sub(now), time.Millisecond)); err != nil {
			return fmt.Errorf("apikey: writing the key index: %w", err)
		}
		return nil
	})
}

func (x *storeIndex) add(ctx context.Context, ttl time.Duration, ids ...string) error {
	return x.change(ctx, ttl, func(s *storedIndex) {
		for _, id := range ids {
			if !slices.Contains(s.IDs, id) {
				s.IDs = append(s.IDs, id)
			}
		}
	})
}

func (x *storeIndex) members(ctx context.Context) ([]string, error) {
	s, err := x.read(ctx)
	return s.IDs, err
}

func (x *storeIndex) remove(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	return x.change(ctx, time.Millisecond, func(s *storedIndex) {
		s.IDs = slices.DeleteFunc(s.IDs, func(id string) bool { return slices.Contains(ids, id) })
	})
}

package lockout

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix starts every key of a Redis store.
const DefaultRedisPrefix = "pcl"

// script is the counter script; see the file for its arguments.
//
//go:embed lockout.lua
var script string

// scriptSHA is script's SHA-1, the EVALSHA handle.
var scriptSHA = func() string {
	sum := sha1.Sum([]byte(script))
	return hex.EncodeToString(sum[:])
}()

// Script operations (ARGV[1]).
const (
	opStatus = "status"
	opFail   = "fail"
)

// RedisOptions configures NewRedis. The zero value is ready to use.
type RedisOptions struct {
	// Prefix starts every key, before the hash tag:
	// "<prefix>:{lo:<hash>}". Default: "pcl". It must not contain "{",
	// "}", whitespace or control characters.
	Prefix string
}

// Redis is a Store in Redis (standalone, Sentinel or Cluster), shared
// by every replica: each client's counters are one hash,
// "<prefix>:{lo:<hash>}", where hash is the first 128 bits of the
// SHA-256 of the client in hex (no address reaches Redis; the hash tag
// keeps the key in one Cluster slot). One Lua script (lockout.lua, by
// EVALSHA, then EVAL after NOSCRIPT) reads and updates it atomically,
// so concurrent failures on several replicas are all counted and
// exactly one of them starts a lockout. Every key expires once its
// window and the memory of its last lockout are over.
//
// The script is never sent twice (a reply lost to a timeout is an
// error, not a retry that would count the failure again). Redis is
// safe for concurrent use; it does not own the client.
type Redis struct {
	client redis.UniversalClient
	prefix string
}

var _ Store = (*Redis)(nil)

// NewRedis returns a Store on client, which should honour context
// deadlines (the store package's clients do). It does no I/O.
func NewRedis(client redis.UniversalClient, opts RedisOptions) (*Redis, error) {
	if client == nil {
		return nil, errors.New("lockout: the redis store needs a client")
	}
	p := opts.Prefix
	if p == "" {
		p = DefaultRedisPrefix
	}
	if strings.ContainsAny(p, "{}") || strings.IndexFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return nil, fmt.Errorf("lockout: redis key prefix %q must not contain braces, whitespace or control characters", p)
	}
	return &Redis{client: client, prefix: p}, nil
}

// Key returns the Redis key of client's counters, for tests and
// operators (to inspect or delete one client's record).
func (r *Redis) Key(client string) string {
	sum := sha256.Sum256([]byte(client))
	return r.prefix + ":{lo:" + hex.EncodeToString(sum[:16]) + "}"
}

// Status implements Store.
func (r *Redis) Status(ctx context.Context, client string, now time.Time) (Status, error) {
	return r.run(ctx, client, opStatus, now, Policy{})
}

// Fail implements Store.
func (r *Redis) Fail(ctx context.Context, client string, now time.Time, p Policy) (Status, error) {
	return r.run(ctx, client, opFail, now, p)
}

// onceCmd is a script command go-redis must not send twice: a retry after
// a lost reply would count the failure again.
type onceCmd struct{ *redis.Cmd }

// NoRetry tells go-redis not to retry the command.
func (onceCmd) NoRetry() bool { return true }

// run runs the script with EVALSHA, and with EVAL if Redis lacks it.
func (r *Redis) run(ctx context.Context, client, op string, now time.Time, p Policy) (Status, error) {
	key := r.Key(client)
	progressive := "0"
	if p.Progressive {
		progressive = "1"
	}
	args := []any{op, now.UnixMilli(), p.Limit, p.Window.Milliseconds(), p.Lockout.Milliseconds(), p.MaxLockout.Milliseconds(), progressive}
	cmd := r.eval(ctx, "evalsha", scriptSHA, key, args)
	if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		cmd = r.eval(ctx, "eval", script, key, args) // not run: safe to send again
	}
	vals, err := cmd.Int64Slice()
	if err != nil {
		return Status{}, fmt.Errorf("lockout: running the failure-counter script on redis: %w", err)
	}
	if len(vals) != 3 {
		return Status{}, fmt.Errorf("lockout: the failure-counter script returned %d values, want 3", len(vals))
	}
	return Status{Locked: time.Duration(vals[0]) * time.Millisecond, Started: vals[1] == 1, Strike: int(vals[2])}, nil
}

// eval sends one script command.
func (r *Redis) eval(ctx context.Context, name, body, key string, args []any) *redis.Cmd {
	cmdArgs := append([]any{name, body, 1, key}, args...)
	cmd := onceCmd{redis.NewCmd(ctx, cmdArgs...)}
	_ = r.client.Process(ctx, cmd)
	return cmd.Cmd
}

package ratelimit

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcraScript is the bucket script; see the file for its arguments.
//
//go:embed gcra.lua
var gcraScript string

// gcraSHA is gcraScript's SHA-1, the EVALSHA handle.
var gcraSHA = func() string {
	sum := sha1.Sum([]byte(gcraScript))
	return hex.EncodeToString(sum[:])
}()

// gcraSHAArg and gcraScriptArg are gcraSHA and gcraScript as command
// arguments, converted once rather than on every command.
var (
	gcraSHAArg    any = gcraSHA
	gcraScriptArg any = gcraScript
)

// noScript reports whether err is Redis's NOSCRIPT (the node lacks the
// script). A nil err is checked first: redis.HasErrorPrefix allocates.
func noScript(err error) bool {
	return err != nil && redis.HasErrorPrefix(err, "NOSCRIPT")
}

// Script operations (ARGV[1]).
const (
	opTake   = "take"
	opRefund = "refund"
)

// reply is one bucket's answer to the script.
type reply struct {
	cell cell // in microseconds
	err  error
}

// onceCmd is a script command go-redis must not send twice: retrying after
// a lost reply would charge the bucket again.
type onceCmd struct{ *redis.Cmd }

// NoRetry tells go-redis not to retry the command.
func (onceCmd) NoRetry() bool { return true }

// run runs the script with op for the buckets of reqs (those listed in
// idx, or all when idx is nil) in one pipeline, then once more with EVAL
// for the buckets whose node lacked the script (NOSCRIPT: not run, so
// safe to send again). replies has one entry per request; err is the
// first failure, if any.
func (r *Redis) run(ctx context.Context, op string, reqs []Request, keys []string, idx []int) (replies []reply, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if idx == nil {
		idx = make([]int, len(reqs))
		for i := range idx {
			idx[i] = i
		}
	}
	replies = make([]reply, len(reqs))
	r.pipeline(ctx, "evalsha", gcraSHAArg, op, reqs, keys, idx, replies)
	var missing []int
	for _, i := range idx {
		if noScript(replies[i].err) {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		r.pipeline(ctx, "eval", gcraScriptArg, op, reqs, keys, missing, replies)
	}
	for _, i := range idx {
		if replies[i].err != nil {
			return replies, replies[i].err
		}
	}
	return replies, nil
}

// pipeline sends one script command per listed request in one pipeline
// and stores the replies.
func (r *Redis) pipeline(ctx context.Context, cmd string, script any, op string, reqs []Request, keys []string, idx []int, replies []reply) {
	pipe := r.client.Pipeline()
	cmds := queueScripts(nil, ctx, pipe, cmd, script, op, reqs, keys, idx)
	start := time.Now()
	_, _ = pipe.Exec(ctx) // every command carries its own error
	r.obs.redisLatency(time.Since(start))
	collect(cmds, idx, replies)
}

// queueScripts queues on pipe one script command per listed request (all
// of them when idx is nil) and returns the commands, in idx's order, in
// dst's room when it has enough.
func queueScripts(dst []onceCmd, ctx context.Context, pipe redis.Pipeliner, cmd string, script any, op string, reqs []Request, keys []string, idx []int) []onceCmd {
	n := len(idx)
	if idx == nil {
		n = len(reqs)
	}
	cmds := grow(dst[:0], n)
	for j := range cmds {
		i := j
		if idx != nil {
			i = idx[j]
		}
		q := reqs[i].quota()
		cmds[j] = onceCmd{redis.NewCmd(ctx, cmd, script, 1, keys[i],
			op, intervalMicros(q.Rate), q.Capacity(), reqs[i].cost())}
		_ = pipe.Process(ctx, cmds[j])
	}
	return cmds
}

// collect stores the replies of the commands queueScripts returned for
// idx (all requests when nil). NOSCRIPT errors stay as Redis gave them,
// so the caller can tell them apart and send EVAL.
func collect(cmds []onceCmd, idx []int, replies []reply) {
	for j := range cmds {
		i := j
		if idx != nil {
			i = idx[j]
		}
		replies[i] = parseReply(cmds[j].Cmd)
		if replies[i].err != nil && !noScript(replies[i].err) {
			replies[i].err = fmt.Errorf("ratelimit: running the rate-limit script on redis: %w", replies[i].err)
		}
	}
}

// parseReply reads {allowed, remaining, retry_after_us, reset_after_us}.
func parseReply(cmd *redis.Cmd) reply {
	vals, err := cmd.Int64Slice()
	if err != nil {
		return reply{err: err}
	}
	if len(vals) != 4 {
		return reply{err: fmt.Errorf("ratelimit: rate-limit script returned %d values, want 4", len(vals))}
	}
	return reply{cell: cell{
		allowed:    vals[0] == 1,
		remaining:  vals[1],
		retryAfter: vals[2],
		resetAfter: vals[3],
	}}
}

// intervalMicros is r's emission interval in whole microseconds (rounded;
// at least 1), the script's time unit.
func intervalMicros(r Rate) int64 {
	return max(int64((r.Interval()+time.Microsecond/2)/time.Microsecond), 1)
}

// BucketKey returns the Redis key of the bucket of key in zone, for tests
// and operators (to inspect or delete one client's bucket):
// "<prefix>:{rl:<zone>:<32 hex digits>}".
func (r *Redis) BucketKey(zone, key string) string {
	return r.keys.get(zone, key, r.bucketKey)
}

// bucketKey computes BucketKey.
func (r *Redis) bucketKey(zone, key string) string {
	var sum []byte
	if r.secret != nil {
		m := hmac.New(sha256.New, r.secret)
		m.Write([]byte(key))
		sum = m.Sum(nil)
	} else {
		s := sha256.Sum256([]byte(key))
		sum = s[:]
	}
	var b strings.Builder
	b.Grow(len(r.prefix) + len(zone) + 2*16 + 7)
	b.WriteString(r.prefix)
	b.WriteString(":{rl:")
	b.WriteString(zone)
	b.WriteByte(':')
	var h [32]byte
	hex.Encode(h[:], sum[:16])
	b.Write(h[:])
	b.WriteByte('}')
	return b.String()
}

// checkPrefix refuses a key prefix that would move the hash tag or make
// keys hard to read in redis-cli.
func checkPrefix(p string) error {
	for _, c := range p {
		if c == '{' || c == '}' || c <= ' ' || c == 0x7f {
			return fmt.Errorf("ratelimit: redis key prefix %q must not contain braces, whitespace or control characters", p)
		}
	}
	return nil
}

// Bounds of keyCache.
const (
	// keyCacheShards spreads the lock; keyCacheShardSize bounds each
	// shard's entries (4096 in all).
	keyCacheShards    = 16
	keyCacheShardSize = 256
	// maxCachedKeyLen bounds the zone name plus request key worth
	// remembering, so the cache's memory is bounded in bytes too (about
	// 4096 × (maxCachedKeyLen + 100) bytes).
	maxCachedKeyLen = 256
)

// keyCache remembers the Redis keys of recent buckets: the bucket key is
// a SHA-256 (or HMAC) of the request's key, which is most of the local
// cost of a request on a zone, and a busy user or client asks for the
// same bucket on every request. An entry maps exactly one (zone, key)
// pair, compared whole, to the key BucketKey computes for it: a hit
// returns what computing it would. It is bounded (an arbitrary entry of
// a full shard makes room) and never holds a key longer than
// maxCachedKeyLen. Safe for concurrent use.
type keyCache struct {
	seed   maphash.Seed
	shards [keyCacheShards]keyShard
}

// keyShard is one lock's share of a keyCache.
type keyShard struct {
	mu sync.Mutex
	m  map[bucketID]string
}

// bucketID names a bucket: a zone and a request key.
type bucketID struct{ zone, key string }

// newKeyCache returns an empty cache.
func newKeyCache() *keyCache { return &keyCache{seed: maphash.MakeSeed()} }

// get returns the bucket key of (zone, key), computing it with compute
// and remembering it on a miss.
func (c *keyCache) get(zone, key string, compute func(zone, key string) string) string {
	if len(zone)+len(key) > maxCachedKeyLen {
		return compute(zone, key)
	}
	s := &c.shards[maphash.String(c.seed, key)%keyCacheShards]
	id := bucketID{zone, key}
	s.mu.Lock()
	v, ok := s.m[id]
	s.mu.Unlock()
	if ok {
		return v
	}
	v = compute(zone, key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[bucketID]string, keyCacheShardSize)
	}
	if _, ok := s.m[id]; !ok && len(s.m) >= keyCacheShardSize {
		for old := range s.m {
			delete(s.m, old)
			break
		}
	}
	s.m[id] = v
	return v
}

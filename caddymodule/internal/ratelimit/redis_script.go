package ratelimit

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strings"
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
	r.pipeline(ctx, "evalsha", gcraSHA, op, reqs, keys, idx, replies)
	var missing []int
	for _, i := range idx {
		if redis.HasErrorPrefix(replies[i].err, "NOSCRIPT") {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		r.pipeline(ctx, "eval", gcraScript, op, reqs, keys, missing, replies)
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
func (r *Redis) pipeline(ctx context.Context, cmd, script, op string, reqs []Request, keys []string, idx []int, replies []reply) {
	pipe := r.client.Pipeline()
	cmds := make([]onceCmd, len(idx))
	for n, i := range idx {
		q := reqs[i].quota()
		cmds[n] = onceCmd{redis.NewCmd(ctx, cmd, script, 1, keys[i],
			op, intervalMicros(q.Rate), q.Capacity(), reqs[i].cost())}
		_ = pipe.Process(ctx, cmds[n])
	}
	start := time.Now()
	_, _ = pipe.Exec(ctx) // every command carries its own error
	r.obs.redisLatency(time.Since(start))
	for n, i := range idx {
		replies[i] = parseReply(cmds[n].Cmd)
		if replies[i].err != nil && !redis.HasErrorPrefix(replies[i].err, "NOSCRIPT") {
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

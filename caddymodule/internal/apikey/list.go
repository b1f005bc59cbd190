package apikey

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// List returns the stored keys, of subject only unless it is empty,
// oldest first. It reads the index and every record (pipelined on
// Redis), and drops from the index the ids whose record has expired.
// Keys declared in the configuration are not listed.
func (r *Registry) List(ctx context.Context, subject string) ([]Record, error) {
	if r.st == nil {
		return nil, ErrNoStore
	}
	ids, err := r.idx.members(ctx)
	if err != nil {
		return nil, err
	}
	values, err := r.getMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []Record
	var gone []string
	for i, id := range ids {
		if values[i] == nil {
			gone = append(gone, id)
			continue
		}
		s, err := decodeRecord(id, values[i])
		if err != nil {
			return nil, err
		}
		if subject == "" || s.Subject == subject {
			out = append(out, s.record())
		}
	}
	if err := r.idx.remove(ctx, gone...); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Record) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// listBatch is how many GETs List pipelines at once on Redis.
const listBatch = 500

// getMany reads the records of ids; a missing record is nil. On Redis it
// pipelines the reads (go-redis sends each key to its cluster node);
// on other stores it reads one by one.
func (r *Registry) getMany(ctx context.Context, ids []string) ([][]byte, error) {
	out := make([][]byte, len(ids))
	rs, ok := r.st.(*store.Redis)
	if !ok {
		for i, id := range ids {
			v, err := r.st.Get(ctx, r.keys.record(id))
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return nil, fmt.Errorf("apikey: reading key %s: %w", id, err)
			default:
				out[i] = v
			}
		}
		return out, nil
	}
	for start := 0; start < len(ids); start += listBatch {
		chunk := ids[start:min(start+listBatch, len(ids))]
		cmds := make([]*redis.StringCmd, len(chunk))
		_, _ = rs.Client().Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range chunk {
				cmds[i] = p.Get(ctx, r.keys.record(id))
			}
			return nil
		}) // errors are read per command below
		for i, c := range cmds {
			v, err := c.Bytes()
			switch {
			case errors.Is(err, redis.Nil):
			case err != nil:
				return nil, fmt.Errorf("apikey: reading key %s: %w", chunk[i], err)
			default:
				out[start+i] = v
			}
		}
	}
	return out, nil
}

package store

import "context"

// SharedGetter is a Store that can hand out a stored value without
// copying it, for a hot read whose caller only reads the value.
type SharedGetter interface {
	// GetShared is Get, but the value may be the store's own: the caller
	// must not modify it.
	GetShared(ctx context.Context, key string) ([]byte, error)
}

// GetShared reads key through st's GetShared when it has one, else with
// Get. The caller must not modify the value.
func GetShared(ctx context.Context, st Store, key string) ([]byte, error) {
	if sg, ok := st.(SharedGetter); ok {
		return sg.GetShared(ctx, key)
	}
	return st.Get(ctx, key)
}

var _ SharedGetter = (*Memory)(nil)

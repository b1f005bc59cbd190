package session

import "sync"

// bounded is a map of at most a given number of entries, safe for
// concurrent use; when it is full, an arbitrary entry makes room. The zero
// value is empty and ready.
type bounded[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]V
}

// get returns k's value.
func (b *bounded[K, V]) get(k K) (V, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.m[k]
	return v, ok
}

// put sets k's value, evicting an arbitrary entry if a new key would make
// more than limit.
func (b *bounded[K, V]) put(k K, v V, limit int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = make(map[K]V)
	}
	if _, ok := b.m[k]; !ok && len(b.m) >= limit {
		for old := range b.m {
			delete(b.m, old)
			break
		}
	}
	b.m[k] = v
}

// remove deletes k.
func (b *bounded[K, V]) remove(k K) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, k)
}

// len returns the number of entries.
func (b *bounded[K, V]) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

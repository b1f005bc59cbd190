package apikey

import "container/list"

// evictScan is how many of the oldest entries a full boundedMap looks at
// for one its prefer function likes before evicting the oldest.
const evictScan = 8

// boundedMap is a map holding at most max entries. put moves an entry to
// the front; when a new key would exceed max, an old entry is evicted:
// among the evictScan least recently put entries the oldest that prefer
// approves of, or else the oldest. Every operation is O(1). It is not
// safe for concurrent use; its owners lock around it.
type boundedMap[V any] struct {
	max    int
	prefer func(V) bool
	order  *list.List // of *boundedItem[V]; front: most recently put
	items  map[string]*list.Element
}

type boundedItem[V any] struct {
	key string
	val V
}

// newBoundedMap returns an empty map of at most size (>= 1) entries;
// prefer may be nil.
func newBoundedMap[V any](size int, prefer func(V) bool) *boundedMap[V] {
	return &boundedMap[V]{max: size, prefer: prefer, order: list.New(), items: make(map[string]*list.Element)}
}

// get returns the value of key without changing its position.
func (b *boundedMap[V]) get(key string) (V, bool) {
	e, ok := b.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	return e.Value.(*boundedItem[V]).val, true
}

// put sets the value of key and moves it to the front, evicting an old
// entry if the map is full.
func (b *boundedMap[V]) put(key string, v V) {
	if e, ok := b.items[key]; ok {
		e.Value.(*boundedItem[V]).val = v
		b.order.MoveToFront(e)
		return
	}
	if len(b.items) >= b.max {
		b.evict()
	}
	b.items[key] = b.order.PushFront(&boundedItem[V]{key: key, val: v})
}

// evict removes one entry, as described on boundedMap.
func (b *boundedMap[V]) evict() {
	victim := b.order.Back()
	if b.prefer != nil {
		for e, n := victim, 0; e != nil && n < evictScan; e, n = e.Prev(), n+1 {
			if b.prefer(e.Value.(*boundedItem[V]).val) {
				victim = e
				break
			}
		}
	}
	if victim != nil {
		b.remove(victim)
	}
}

// delete removes key if present.
func (b *boundedMap[V]) delete(key string) {
	if e, ok := b.items[key]; ok {
		b.remove(e)
	}
}

func (b *boundedMap[V]) remove(e *list.Element) {
	delete(b.items, e.Value.(*boundedItem[V]).key)
	b.order.Remove(e)
}

// len returns the number of entries.
func (b *boundedMap[V]) len() int { return len(b.items) }

// Package ctequal compares secrets, such as a presented credential with a
// cached one, in constant time without allocating.
package ctequal

import (
	"crypto/subtle"
	"encoding/binary"
	"unsafe"
)

// Strings reports whether a and b are equal, in a time that depends only
// on their lengths (which are not secret here: a credential's length is
// visible on the wire), never on their contents. It is
// subtle.ConstantTimeCompare a word at a time (a byte at a time costs
// more than a SHA-256 of an 800-byte token): the differences are ORed
// together without a branch, and only the total is tested.
func Strings(a, b string) bool {
	n := len(a)
	if len(b) != n {
		return false
	}
	x := unsafe.Slice(unsafe.StringData(a), n)
	y := unsafe.Slice(unsafe.StringData(b), n)
	le := binary.LittleEndian
	var d0, d1, d2, d3 uint64
	i := 0
	for ; i+32 <= n; i += 32 {
		xs, ys := x[i:i+32], y[i:i+32]
		d0 |= le.Uint64(xs[0:]) ^ le.Uint64(ys[0:])
		d1 |= le.Uint64(xs[8:]) ^ le.Uint64(ys[8:])
		d2 |= le.Uint64(xs[16:]) ^ le.Uint64(ys[16:])
		d3 |= le.Uint64(xs[24:]) ^ le.Uint64(ys[24:])
	}
	for ; i+8 <= n; i += 8 {
		d0 |= le.Uint64(x[i:i+8]) ^ le.Uint64(y[i:i+8])
	}
	for ; i < n; i++ {
		d1 |= uint64(x[i] ^ y[i])
	}
	d := d0 | d1 | d2 | d3
	return subtle.ConstantTimeEq(int32(uint32(d)|uint32(d>>32)), 0) == 1
}

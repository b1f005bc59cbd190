package caddymodule

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// The Caddyfile unmarshalers report every mistake they can read past,
// not only the first: each subdirective's error is kept (with its file
// and line) and reading goes on at the next subdirective. Caddy stops at
// the first directive or global option that fails, so one run of
// `caddy validate` reports every mistake of the first portcullis block
// (global option or directive) that has any.

// mistakes collects the errors found while reading one block.
type mistakes []error

// add keeps err, if any; the mistakes of a nested block are kept one by
// one.
func (m *mistakes) add(err error) {
	switch e := err.(type) {
	case nil:
	case mistakeList:
		*m = append(*m, e...)
	default:
		*m = append(*m, err)
	}
}

// err returns nil, the only mistake, or all of them.
func (m mistakes) err() error {
	switch len(m) {
	case 0:
		return nil
	case 1:
		return m[0]
	}
	return mistakeList(m)
}

// mistakeList is several mistakes, reported one per line.
type mistakeList []error

// Error lists the mistakes in the order of the Caddyfile, one per line.
func (l mistakeList) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d mistakes:", len(l))
	for _, err := range l {
		b.WriteString("\n\t")
		b.WriteString(err.Error())
	}
	return b.String()
}

// Unwrap returns the mistakes, for errors.Is and errors.As.
func (l mistakeList) Unwrap() []error { return l }

// skipRest moves d past what is left of the subdirective being read in
// a `for d.NextBlock(level)` loop (its remaining arguments, and the rest
// of any block it opens or was reading), so that reading goes on at the
// next subdirective after a mistake. The subdirectives of that loop are
// at nesting level+1.
func skipRest(d *caddyfile.Dispenser, level int) {
	for d.NextArg() {
	}
	for d.NextBlock(level + 1) {
	}
}

// readBlock runs one for each subdirective of the block d is at (at
// nesting level), keeping each mistake and going on after it.
func readBlock(d *caddyfile.Dispenser, level int, one func() error) error {
	var errs mistakes
	for d.NextBlock(level) {
		if err := one(); err != nil {
			errs.add(err)
			skipRest(d, level)
		}
	}
	return errs.err()
}

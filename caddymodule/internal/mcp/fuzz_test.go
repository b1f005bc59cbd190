package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"testing"
)

// FuzzReadCalls checks, for any body, that ReadCalls does not panic,
// refuses with one of its errors and a short message, and that what it
// accepts is valid JSON without duplicate names, reads the same again
// from the body it put back, and is what encoding/json into structs
// (case-insensitive, last duplicate wins) reads too.
func FuzzReadCalls(f *testing.F) {
	for _, h := range hostile {
		f.Add([]byte(h.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := post(string(body), "Content-Type", "application/json")
		got, err := ReadCalls(r, DefaultMaxBody)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v is none of ReadCalls's own", err)
			}
			if len(err.Error()) > 300 {
				t.Fatalf("error text of %d bytes", len(err.Error()))
			}
			return
		}
		if len(got) == 0 {
			t.Fatal("accepted with no call")
		}
		restored, _ := io.ReadAll(r.Body)
		if !bytes.Equal(restored, body) {
			t.Fatalf("body not put back: %q", restored)
		}
		again, err := ReadCalls(post(string(restored), "Content-Type", "application/json"), DefaultMaxBody)
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("re-read: %+v, %v; first read %+v", again, err, got)
		}
		if !json.Valid(body) {
			t.Fatal("accepted a body encoding/json finds invalid")
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := noDuplicates(dec); err != nil {
			t.Fatalf("accepted: %v", err)
		}
		if theirs := goStructCalls(body); !reflect.DeepEqual(theirs, asJSON(t, got)) {
			t.Fatalf("accepted %+v, but encoding/json structs read %v", got, theirs)
		}
	})
}

// noDuplicates reads one value from dec and reports a member name that
// appears twice in one object.
func noDuplicates(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			if seen[k.(string)] {
				return fmt.Errorf("duplicate member %q", k)
			}
			seen[k.(string)] = true
			if err := noDuplicates(dec); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	case json.Delim('['):
		for dec.More() {
			if err := noDuplicates(dec); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	}
	return err
}

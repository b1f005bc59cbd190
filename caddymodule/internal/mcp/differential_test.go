package mcp

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestDifferential reads the corpus with ReadCalls and with the readers
// mainstream MCP servers use (Python's json, Node's JSON.parse in three
// common set-ups, Go's encoding/json into structs). Every body we accept
// must be read by all of them as exactly our calls; every body on which
// they disagree with each other must be refused.
func TestDifferential(t *testing.T) {
	t.Parallel()
	bodies := make([][]byte, len(hostile))
	for i, h := range hostile {
		bodies[i] = []byte(h.body)
	}
	results := runReaders(t, bodies,
		[]string{"python3", filepath.Join("testdata", "read.py")},
		[]string{"node", filepath.Join("testdata", "read.js")})
	var accepted, disputed int
	for i, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			theirs := results[i]
			theirs["go encoding/json structs"] = goStructCalls(bodies[i])
			got, err := ReadCalls(post(h.body, "Content-Type", "application/json"), DefaultMaxBody)
			if dispute := disagreement(theirs); dispute != "" {
				disputed++
				if err == nil {
					t.Fatalf("accepted %+v, but the readers disagree: %s", shortCalls(got), dispute)
				}
			}
			if err != nil {
				return
			}
			accepted++
			ours := asJSON(t, got)
			for reader, r := range theirs {
				if !reflect.DeepEqual(r, ours) {
					t.Errorf("accepted %+v, but %s reads %.200v", shortCalls(got), reader, r)
				}
			}
		})
	}
	readers := slices.Sorted(maps.Keys(results[0]))
	t.Logf("%d bodies: %d accepted, %d on which the readers disagree; readers: %s",
		len(bodies), accepted, disputed, strings.Join(readers, "; "))
}

// runReaders runs each command once, feeding it the bodies (base64, one
// per line), and merges the JSON object each prints per line.
func runReaders(t *testing.T, bodies [][]byte, cmds ...[]string) []map[string]any {
	t.Helper()
	var in bytes.Buffer
	for _, b := range bodies {
		in.WriteString(base64.StdEncoding.EncodeToString(b))
		in.WriteByte('\n')
	}
	results := make([]map[string]any, len(bodies))
	for i := range results {
		results[i] = map[string]any{}
	}
	for _, argv := range cmds {
		if _, err := exec.LookPath(argv[0]); err != nil {
			t.Fatalf("the differential test needs %s on PATH (python3 and node 20+): %v", argv[0], err)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdin = bytes.NewReader(in.Bytes())
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", strings.Join(argv, " "), err)
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(nil, 1<<24)
		n := 0
		for ; sc.Scan(); n++ {
			if n >= len(bodies) {
				t.Fatalf("%s printed more lines than bodies", argv[0])
			}
			if err := json.Unmarshal(sc.Bytes(), &results[n]); err != nil {
				t.Fatalf("%s line %d: %v", argv[0], n+1, err)
			}
		}
		if n != len(bodies) {
			t.Fatalf("%s printed %d lines for %d bodies", argv[0], n, len(bodies))
		}
	}
	return results
}

// disagreement describes two readers that read a body differently, or
// returns "".
func disagreement(results map[string]any) string {
	var first string
	for reader := range results {
		if first == "" || reader < first {
			first = reader
		}
	}
	for reader, r := range results {
		if !reflect.DeepEqual(r, results[first]) {
			return first + " reads " + short(results[first]) + ", " + reader + " reads " + short(r)
		}
	}
	return ""
}

// short renders a reader's result for messages.
func short(v any) string {
	b, _ := json.Marshal(v)
	return shorten(string(b))
}

// asJSON turns calls into the shape the readers print.
func asJSON(t *testing.T, calls []Call) any {
	t.Helper()
	pairs := make([][2]string, len(calls))
	for i, c := range calls {
		pairs[i] = [2]string{c.Method, c.Name}
	}
	b, err := json.Marshal(pairs)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// goStructCalls is what a Go server that decodes messages into structs
// with encoding/json (case-insensitive names, last duplicate wins,
// invalid UTF-8 replaced) would dispatch, in the readers' shape.
func goStructCalls(body []byte) any {
	var msgs []json.RawMessage
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		if json.Unmarshal(body, &msgs) != nil {
			return "error"
		}
	} else {
		var one json.RawMessage
		if json.Unmarshal(body, &one) != nil {
			return "error"
		}
		msgs = []json.RawMessage{one}
	}
	out := []any{}
	for _, raw := range msgs {
		var m struct {
			Method *string         `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		if json.Unmarshal(raw, &m) != nil {
			return "error"
		}
		if m.Method == nil {
			out = append(out, []any{"", ""})
			continue
		}
		name := ""
		if key, ok := nameParams[*m.Method]; ok && len(m.Params) > 0 {
			var p struct {
				Name *string `json:"name"`
				URI  *string `json:"uri"`
			}
			if json.Unmarshal(m.Params, &p) != nil {
				return "error"
			}
			v := p.Name
			if key == "uri" {
				v = p.URI
			}
			if v != nil {
				name = *v
			}
		}
		out = append(out, []any{*m.Method, name})
	}
	return out
}

package integration_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"testing"
)

// The differential half of class 1: every body the gateway forwarded on
// the MCP route is read again by the parsers mainstream MCP servers use
// (Python's json, Node's JSON.parse, Go's encoding/json into structs, as
// the Go SDK does); no forwarded body may be one they disagree on, or
// one any of them runs as a call the sender may not make.

// forwardedBody is a body that reached the upstream in a class 1 case.
type forwardedBody struct {
	name  string
	body  []byte
	admin bool // sent with the key that may do anything
}

// reading is what one parser makes of a body: whether it parses, and
// the (method, name) of each message.
type reading struct {
	OK    bool        `json:"ok"`
	Calls [][2]string `json:"calls"`
}

func (r reading) forbidden() bool {
	for _, c := range r.Calls {
		if c[0] == "logging/setLevel" {
			return true
		}
		if ok, _ := path.Match("deploy_*", c[1]); ok && c[0] == "tools/call" {
			return true
		}
	}
	return false
}

// readWith runs a reader script (testdata/hardening) over the bodies.
func readWith(t *testing.T, interpreter, script string, bodies [][]byte) []reading {
	t.Helper()
	var in bytes.Buffer
	for _, b := range bodies {
		in.WriteString(base64.StdEncoding.EncodeToString(b) + "\n")
	}
	cmd := exec.Command(interpreter, filepath.Join("testdata", "hardening", script))
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v", interpreter, script, err)
	}
	var rs []reading
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var r reading
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s output %q: %v", script, sc.Text(), err)
		}
		rs = append(rs, r)
	}
	if len(rs) != len(bodies) {
		t.Fatalf("%s read %d bodies of %d", script, len(rs), len(bodies))
	}
	return rs
}

// goMessage is a JSON-RPC message as a Go server decodes it into structs
// (encoding/json: member names matched case-insensitively, last wins).
type goMessage struct {
	Method string `json:"method"`
	Params struct {
		Name string `json:"name"`
		URI  string `json:"uri"`
	} `json:"params"`
}

func readWithGo(body []byte) reading {
	one := func(raw []byte) ([2]string, bool) {
		var m goMessage
		if json.Unmarshal(raw, &m) != nil {
			return [2]string{}, false
		}
		name := m.Params.Name
		if name == "" {
			name = m.Params.URI
		}
		return [2]string{m.Method, name}, true
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		var batch []json.RawMessage
		if json.Unmarshal(body, &batch) != nil {
			return reading{}
		}
		r := reading{OK: true}
		for _, e := range batch {
			c, ok := one(e)
			if !ok {
				return reading{}
			}
			r.Calls = append(r.Calls, c)
		}
		return r
	}
	c, ok := one(body)
	if !ok {
		return reading{}
	}
	return reading{OK: true, Calls: [][2]string{c}}
}

// checkDifferential reads the forwarded bodies with the three parsers.
func checkDifferential(t *testing.T, fwd []forwardedBody) {
	// The readers first prove they see what the gateway refuses.
	probe := []forwardedBody{{name: "probe_deploy", body: []byte(deployCall)}, {name: "probe_case_variant", body: []byte(rpcCall(`"name":"deploy_prod","Name":"safe_echo"`))}}
	all := append(probe, fwd...)
	bodies := make([][]byte, len(all))
	for i, f := range all {
		bodies[i] = f.body
	}
	py := readWith(t, "python3", "read_jsonrpc.py", bodies)
	node := readWith(t, "node", "read_jsonrpc.js", bodies)
	if !py[0].forbidden() || !node[0].forbidden() || !readWithGo(bodies[0]).forbidden() || !py[1].forbidden() || !node[1].forbidden() {
		t.Fatalf("the readers do not see deploy_prod in the probes: python %v node %v", py[:2], node[:2])
	}
	if readWithGo(bodies[1]).forbidden() {
		t.Log("as the issue says, Go's encoding/json reads safe_echo from the case-variant body")
	}
	for i := len(probe); i < len(all); i++ {
		f, g := all[i], readWithGo(all[i].body)
		views := map[string]reading{"python": py[i], "node": node[i], "go": g}
		for who, r := range views {
			if r.OK && r.forbidden() && !f.admin {
				t.Errorf("%s: forwarded, and %s runs a forbidden call: %v", f.name, who, r.Calls)
			}
		}
		if !sameReading(py[i], node[i]) || !sameReading(py[i], g) {
			t.Errorf("%s: forwarded although the parsers disagree: python %+v, node %+v, go %+v", f.name, py[i], node[i], g)
		}
	}
	t.Logf("%d forwarded bodies read by python, node and go", len(fwd))
}

func sameReading(a, b reading) bool {
	if a.OK != b.OK {
		return false
	}
	return !a.OK || slices.Equal(a.Calls, b.Calls)
}

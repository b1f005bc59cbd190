package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// wrkScript makes wrk print its summary as JSON and, when WRK_TOKENS
// names a file, send a different bearer token (one per line) on every
// request, each thread taking every n-th token from its own offset,
// after skipping the first WRK_TOKENS_FROM tokens (default none).
const wrkScript = `
local threads = {}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local tokens = nil
local i = 0
local step = 1
function init(args)
  local path = os.getenv("WRK_TOKENS")
  if path and path ~= "" then
    tokens = {}
    for line in io.lines(path) do tokens[#tokens + 1] = line end
    i = id + tonumber(os.getenv("WRK_TOKENS_FROM") or "0")
    step = tonumber(os.getenv("WRK_THREADS") or "1")
  end
end

function request()
  if tokens then
    i = i + step
    if i > #tokens then i = (i % step) + 1 end
    wrk.headers["Authorization"] = "Bearer " .. tokens[i]
  end
  return wrk.format()
end

function done(summary, latency, requests)
  io.write(string.format('JSON{"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(99)))
end
`

// wrkResult is what wrk measured in one window.
type wrkResult struct {
	Requests   int64 `json:"requests"`
	DurationUS int64 `json:"duration_us"`
	Errors     int64 `json:"errors"`
	Non2xx     int64 `json:"non2xx"`
	P50US      int64 `json:"p50_us"`
	P99US      int64 `json:"p99_us"`
}

// load describes one wrk run.
type load struct {
	url        string
	headers    map[string]string
	tokensFile string
	tokensFrom int // tokens to skip at the start of tokensFile
	// timeout is wrk's per-request timeout (default 5s); a response later
	// than that counts as a socket error.
	timeout     time.Duration
	threads     int
	connections int
	duration    time.Duration
}

// runWrk runs wrk in its own process and parses its JSON summary.
func runWrk(dir string, l load) (wrkResult, error) {
	script := filepath.Join(dir, "bench.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return wrkResult{}, err
	}
	args := []string{"-t", strconv.Itoa(l.threads), "-c", strconv.Itoa(l.connections),
		"-d", fmt.Sprintf("%ds", int(l.duration.Seconds())), "--timeout", fmt.Sprintf("%ds", int(l.timeoutOr(5*time.Second).Seconds())), "-s", script}
	for k, v := range l.headers {
		args = append(args, "-H", k+": "+v)
	}
	args = append(args, l.url)
	// wrk has been seen to hang past its duration; bound it.
	ctx, cancel := context.WithTimeout(context.Background(), l.duration+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "wrk", args...)
	cmd.Env = append(os.Environ(), "WRK_TOKENS="+l.tokensFile, "WRK_TOKENS_FROM="+strconv.Itoa(l.tokensFrom), "WRK_THREADS="+strconv.Itoa(l.threads))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	i := bytes.Index(out, []byte("JSON{"))
	if i < 0 {
		return wrkResult{}, fmt.Errorf("wrk printed no summary:\n%s", out)
	}
	line, _, _ := bytes.Cut(out[i+4:], []byte("\n"))
	var r wrkResult
	if err := json.Unmarshal(line, &r); err != nil {
		return wrkResult{}, fmt.Errorf("parsing wrk summary %q: %w", line, err)
	}
	return r, nil
}

// timeoutOr returns l.timeout, or def when it is not set.
func (l load) timeoutOr(def time.Duration) time.Duration {
	if l.timeout > 0 {
		return l.timeout
	}
	return def
}

package caddymodule

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
)

func TestBufferedWriterCaddyfile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, json, err string
	}{
		{name: "defaults", in: "portcullis_buffered", json: `{}`},
		{name: "all", in: "portcullis_buffered {\n flush_interval 250ms\n max_size 1MiB\n output file /var/log/audit.log {\n  roll_size 10MiB\n }\n}",
			json: `{"flush_interval":250000000,"max_size":1048576,"writer":{"filename":"/var/log/audit.log","output":"file","roll_size_mb":10}}`},
		{name: "stdout", in: "portcullis_buffered {\n output stdout\n}", json: `{"writer":{"output":"stdout"}}`},
		{name: "plain bytes", in: "portcullis_buffered {\n max_size 4096\n}", json: `{"max_size":4096}`},
		{name: "unknown", in: "portcullis_buffered {\n flush 1s\n}", err: `unrecognized subdirective "flush", at Testfile:2`},
		{name: "interval zero", in: "portcullis_buffered {\n flush_interval 0s\n}", err: "flush_interval 0s: must be above 0 and at most 1m0s, at Testfile:2"},
		{name: "interval too long", in: "portcullis_buffered {\n\n flush_interval 5m\n}", err: "must be above 0 and at most 1m0s, at Testfile:3"},
		{name: "size too small", in: "portcullis_buffered {\n max_size 100\n}", err: "max_size 100: must be between 1KiB and 64MiB, at Testfile:2"},
		{name: "size not a size", in: "portcullis_buffered {\n max_size lots\n}", err: `max_size "lots": not a size`},
		{name: "nested", in: "portcullis_buffered {\n output portcullis_buffered\n}", err: "batches twice"},
		{name: "argument", in: "portcullis_buffered now", err: "wrong argument count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bw BufferedWriter
			err := bw.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(bw)
			if string(got) != tc.json {
				t.Fatalf("JSON = %s, want %s", got, tc.json)
			}
		})
	}
}

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"1024": 1024, "64KiB": 65536, "1MiB": 1 << 20, "2KB": 2000, "1MB": 1000000, "512B": 512} {
		if got, err := parseByteSize(in); err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "KiB", "-1", "1.5MiB", "1GiB", "99999999999999MiB"} {
		if _, err := parseByteSize(bad); err == nil {
			t.Errorf("parseByteSize(%q) accepted", bad)
		}
	}
}

// provisionedWriter provisions a BufferedWriter from JSON, as Caddy does.
func provisionedWriter(t testing.TB, raw string) *BufferedWriter {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	var bw BufferedWriter
	if err := json.Unmarshal([]byte(raw), &bw); err != nil {
		t.Fatal(err)
	}
	if err := bw.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bw.Validate(); err != nil {
		t.Fatal(err)
	}
	return &bw
}

// TestBufferedWriterToFile opens the writer over Caddy's file writer: a
// line stays in memory until the interval (a minute here, so only Close
// writes it), and Close writes it and closes the file.
func TestBufferedWriterToFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	bw := provisionedWriter(t, `{"flush_interval":60000000000,"writer":{"output":"file","filename":"`+path+`"}}`)
	if got := bw.String(); got != "portcullis_buffered("+path+")" {
		t.Errorf("String = %q", got)
	}
	if k := bw.WriterKey(); !strings.HasPrefix(k, "portcullis_buffered:1m0s:65536:") || !strings.Contains(k, path) {
		t.Errorf("WriterKey = %q", k)
	}
	w, err := bw.OpenWriter()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("{\"event\":\"decision\"}\n")); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(path); len(raw) != 0 {
		t.Fatalf("written before Close: %q", raw)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(path); string(raw) != "{\"event\":\"decision\"}\n" {
		t.Fatalf("after Close: %q", raw)
	}
}

// TestBufferedWriterCleanupFlushes checks that unloading a configuration
// (Cleanup, which Caddy calls on reload and stop) writes the batch of the
// writer its key names, even from another instance of the same
// configuration (a reload keeps the writer), and leaves it open.
func TestBufferedWriterCleanupFlushes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	raw := `{"flush_interval":60000000000,"writer":{"output":"file","filename":"` + path + `"}}`
	opened := provisionedWriter(t, raw)
	w, err := opened.OpenWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_, _ = w.Write([]byte("one\n"))
	reloaded := provisionedWriter(t, raw) // the next configuration: Caddy does not open it again
	if err := opened.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "one\n" {
		t.Fatalf("after the old configuration's Cleanup: %q", got)
	}
	_, _ = w.Write([]byte("two\n"))
	if err := reloaded.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "one\ntwo\n" {
		t.Fatalf("after the new configuration's Cleanup: %q", got)
	}
	if _, err := w.Write([]byte("three\n")); err != nil {
		t.Fatalf("writer closed by Cleanup: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if openBatches.get(opened.WriterKey()) != nil {
		t.Fatal("a closed writer is still registered")
	}
	if err := reloaded.Cleanup(); err != nil {
		t.Fatalf("Cleanup after Close: %v", err)
	}
}

func TestBufferedWriterDefaultsAndBounds(t *testing.T) {
	t.Parallel()
	bw := provisionedWriter(t, `{}`)
	if time.Duration(bw.FlushInterval) != 100*time.Millisecond || bw.MaxSize != 64<<10 || bw.String() != "portcullis_buffered(stderr)" {
		t.Fatalf("defaults: %+v %s", bw, bw)
	}
	for _, raw := range []string{`{"max_size":10}`, `{"flush_interval":-1}`, `{"flush_interval":7200000000000}`} {
		var bad BufferedWriter
		_ = json.Unmarshal([]byte(raw), &bad)
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		if err := bad.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "portcullis_buffered") {
			t.Errorf("Validate(%s) = %v", raw, err)
		}
	}
}

// BenchmarkAuditEventBuffered measures one allowed decision's audit
// event end to end as the gateway writes it: zap's JSON encoding of the
// event, then the batching writer, with batches going to a real file
// (so the write system calls, one per 64 KiB, are counted, amortised).
func BenchmarkAuditEventBuffered(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "audit.log"))
	if err != nil {
		b.Fatal(err)
	}
	bw := provisionedWriter(b, `{}`)
	bw.writer = fileOpener{f}
	w, err := bw.OpenWriter()
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	benchAuditEvent(b, zapcore.AddSync(w))
}

// BenchmarkAuditEventDirect is the same event written straight to the
// file, one write system call per event (Caddy's file writer).
func BenchmarkAuditEventDirect(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "audit.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	benchAuditEvent(b, zapcore.AddSync(f))
}

// benchAuditEvent emits a typical allowed API-key decision to out.
func benchAuditEvent(b *testing.B, out zapcore.WriteSyncer) {
	app := &App{audit: zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), out, zap.InfoLevel)).Named(AuditLoggerName)}
	ev := audit.Event{Kind: audit.KindDecision, Result: audit.Allow, Reason: "allowed", RequestID: "KHPRAM0OUUMHJNDF-1", Subject: "bench",
		AuthMethod: "api_key", KeyID: "EeQTqz3VrxKW", RequiredScopes: []string{"bench:read"}, GrantedScopes: []string{"bench:read"},
		Method: "GET", Path: "/bench", ClientIP: "127.0.0.1", UserAgent: "wrk", UpstreamStatus: 200, UpstreamMS: 1}
	b.ReportAllocs()
	for b.Loop() {
		app.emit(ev, audit.AllowAll)
	}
}

// fileOpener opens an already open file (benchmarks).
type fileOpener struct{ f *os.File }

func (o fileOpener) String() string                      { return o.f.Name() }
func (o fileOpener) WriterKey() string                   { return "file:" + o.f.Name() }
func (o fileOpener) OpenWriter() (io.WriteCloser, error) { return o.f, nil }

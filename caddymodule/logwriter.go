package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/logbatch"
)

func init() {
	caddy.RegisterModule(BufferedWriter{})
}

// BufferedWriter is a Caddy log writer (`output portcullis_buffered`)
// that batches log lines in memory and hands them to another writer in
// one write per batch: after FlushInterval, as soon as MaxSize bytes are
// pending, and on shutdown or when a reload replaces it (a reload that
// keeps its configuration keeps the same writer, pending lines
// included). A log line then costs a copy into memory on the request
// path instead of a write system call; made for the `portcullis.audit`
// logger, which writes one line per decision.
//
// Caddy keeps one open writer per configuration (WriterKey) across
// reloads, and does not close log writers when a configuration is
// unloaded (Caddy 2.11: openLogs registers its close on a copy of the
// context); so Cleanup, which Caddy does call on every unload (reload
// and stop, after the servers have finished their requests), writes the
// pending batch of its writer.
//
// A graceful stop loses nothing. A crash (SIGKILL, power loss) loses the
// lines not yet written: at most FlushInterval's worth, and never more
// than MaxSize bytes plus the batch being written at that moment. Lower
// FlushInterval to narrow that window.
//
//	log audit {
//		include portcullis.audit
//		output portcullis_buffered {
//			flush_interval 100ms
//			max_size 64KiB
//			output file /var/log/portcullis/audit.log
//		}
//	}
type BufferedWriter struct {
	// FlushInterval is the longest a line waits in memory before it is
	// written: the crash-loss window. Default: 100ms; at most 1m.
	FlushInterval caddy.Duration `json:"flush_interval,omitempty"`
	// MaxSize is the batch size, in bytes, written without waiting for
	// the interval. Default: 65536 (64 KiB); between 1 KiB and 64 MiB.
	MaxSize int `json:"max_size,omitempty"`
	// WriterRaw is the writer the batches go to, any Caddy log writer
	// module (`output file …`, `output net …`). Default: stderr.
	WriterRaw json.RawMessage `json:"writer,omitempty" caddy:"namespace=caddy.logging.writers inline_key=output"`

	writer caddy.WriterOpener
}

// CaddyModule returns the Caddy module information.
func (BufferedWriter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "caddy.logging.writers.portcullis_buffered",
		New: func() caddy.Module { return new(BufferedWriter) },
	}
}

// Provision loads the underlying writer and fills defaults.
func (bw *BufferedWriter) Provision(ctx caddy.Context) error {
	if bw.FlushInterval == 0 {
		bw.FlushInterval = caddy.Duration(logbatch.DefaultFlushInterval)
	}
	if bw.MaxSize == 0 {
		bw.MaxSize = logbatch.DefaultMaxSize
	}
	if bw.WriterRaw == nil {
		bw.writer = caddy.StderrWriter{}
		return nil
	}
	mod, err := ctx.LoadModule(bw, "WriterRaw")
	if err != nil {
		return fmt.Errorf("loading the writer of portcullis_buffered: %w", err)
	}
	w, ok := mod.(caddy.WriterOpener)
	if !ok {
		return fmt.Errorf("portcullis_buffered: module %T is not a log writer", mod)
	}
	bw.writer = w
	return nil
}

// Cleanup writes the pending batch of this configuration's writer: on a
// reload (the next configuration may keep using the writer) and on
// stop. It leaves the writer open.
func (bw *BufferedWriter) Cleanup() error {
	w := openBatches.get(bw.WriterKey())
	if w == nil {
		return nil
	}
	if err := w.Flush(); err != nil && !errors.Is(err, logbatch.ErrClosed) {
		return fmt.Errorf("portcullis_buffered: writing the batch: %w", err)
	}
	return nil
}

// Validate checks the interval and size.
func (bw *BufferedWriter) Validate() error {
	if err := bw.config().Validate(); err != nil {
		return fmt.Errorf("portcullis_buffered: %w", err)
	}
	return nil
}

// config is the batching configuration.
func (bw *BufferedWriter) config() logbatch.Config {
	return logbatch.Config{FlushInterval: time.Duration(bw.FlushInterval), MaxSize: bw.MaxSize}
}

// String says where the lines go, for people.
func (bw *BufferedWriter) String() string {
	return "portcullis_buffered(" + bw.inner().String() + ")"
}

// WriterKey identifies this configuration: Caddy keeps one open writer
// per key, across reloads that do not change it.
func (bw *BufferedWriter) WriterKey() string {
	return "portcullis_buffered:" + time.Duration(bw.FlushInterval).String() + ":" + strconv.Itoa(bw.MaxSize) + ":" + bw.inner().WriterKey()
}

// inner is the underlying writer (stderr before Provision).
func (bw *BufferedWriter) inner() caddy.WriterOpener {
	if bw.writer == nil {
		return caddy.StderrWriter{}
	}
	return bw.writer
}

// OpenWriter opens the underlying writer and starts batching into it.
func (bw *BufferedWriter) OpenWriter() (io.WriteCloser, error) {
	out, err := bw.inner().OpenWriter()
	if err != nil {
		return nil, fmt.Errorf("portcullis_buffered: opening %s: %w", bw.inner(), err)
	}
	b, err := logbatch.New(out, bw.config())
	if err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("portcullis_buffered: %w", err)
	}
	w := &batchedWriteCloser{Writer: b, out: out, key: bw.WriterKey()}
	openBatches.put(w)
	return w, nil
}

// openBatches are the open writers by WriterKey, for Cleanup (Caddy
// holds the writers; the configuration that opened one may be gone).
var openBatches = batchRegistry{m: map[string]*batchedWriteCloser{}}

// batchRegistry maps writer keys to open writers.
type batchRegistry struct {
	mu sync.Mutex
	m  map[string]*batchedWriteCloser
}

func (r *batchRegistry) get(key string) *batchedWriteCloser {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[key]
}

func (r *batchRegistry) put(w *batchedWriteCloser) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[w.key] = w
}

// remove forgets w, unless another writer took its key since.
func (r *batchRegistry) remove(w *batchedWriteCloser) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[w.key] == w {
		delete(r.m, w.key)
	}
}

// batchedWriteCloser batches into out; Close writes what is left, then
// closes out.
type batchedWriteCloser struct {
	*logbatch.Writer
	out io.WriteCloser
	key string
}

// Close flushes the batch and closes the underlying writer.
func (w *batchedWriteCloser) Close() error {
	openBatches.remove(w)
	ferr := w.Writer.Close()
	cerr := w.out.Close()
	if ferr != nil {
		return fmt.Errorf("portcullis_buffered: writing the last batch: %w", ferr)
	}
	if cerr != nil {
		return fmt.Errorf("portcullis_buffered: closing the writer: %w", cerr)
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner  = (*BufferedWriter)(nil)
	_ caddy.CleanerUpper = (*BufferedWriter)(nil)
	_ caddy.Validator    = (*BufferedWriter)(nil)
	_ caddy.WriterOpener = (*BufferedWriter)(nil)
)

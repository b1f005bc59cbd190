// Package logbatch batches log lines in memory and writes them to the
// underlying writer in one write per batch: when the batch reaches a
// size, on a short interval, and when flushed or closed. A log line
// then costs a copy into memory on the request path instead of a write
// system call.
//
// What a crash loses: the lines written since the last flush, at most
// one flush interval's worth and never more than the size limit (plus
// the batch being written at that moment). A graceful Close loses
// nothing: it stops the timer and writes what is left.
package logbatch

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Defaults and bounds of a Config.
const (
	// DefaultFlushInterval is how often a batch is written when nothing
	// else writes it first.
	DefaultFlushInterval = 100 * time.Millisecond
	// DefaultMaxSize is the batch size, in bytes, that is written at once.
	DefaultMaxSize = 64 << 10
	// MinMaxSize and MaxMaxSize bound MaxSize.
	MinMaxSize = 1 << 10
	MaxMaxSize = 64 << 20
	// MaxFlushInterval bounds FlushInterval: a longer window would risk
	// losing more than a crash should.
	MaxFlushInterval = time.Minute
	// backlogFactor bounds memory when the underlying writer is slower
	// than the lines come: past backlogFactor×MaxSize pending, a Write
	// writes the batch itself (and waits for it) instead of only asking
	// the flusher to.
	backlogFactor = 4
)

// ErrClosed is returned by Write, Flush and Close after Close.
var ErrClosed = errors.New("logbatch: writer is closed")

// Config says when a Writer flushes.
type Config struct {
	// FlushInterval is the longest a line waits in memory before it is
	// written. Zero means DefaultFlushInterval.
	FlushInterval time.Duration
	// MaxSize is the batch size, in bytes, at which the batch is written
	// without waiting for the interval. Zero means DefaultMaxSize.
	MaxSize int
	// NewTicker, when set, replaces time.NewTicker (tests inject their
	// own ticks): it returns the tick channel and a stop function.
	NewTicker func(d time.Duration) (<-chan time.Time, func())
}

// withDefaults fills zero fields and checks the bounds.
func (c Config) withDefaults() (Config, error) {
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.MaxSize == 0 {
		c.MaxSize = DefaultMaxSize
	}
	if c.FlushInterval < 0 || c.FlushInterval > MaxFlushInterval {
		return c, fmt.Errorf("logbatch: flush interval %s is not between 0 and %s", c.FlushInterval, MaxFlushInterval)
	}
	if c.MaxSize < MinMaxSize || c.MaxSize > MaxMaxSize {
		return c, fmt.Errorf("logbatch: max size %d bytes is not between %d and %d", c.MaxSize, MinMaxSize, MaxMaxSize)
	}
	if c.NewTicker == nil {
		c.NewTicker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	return c, nil
}

// Validate checks a Config's bounds (zero fields take their defaults).
func (c Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

// Writer batches what is written to it. It is safe for concurrent use;
// each Write is kept whole (a log line is never split across batches).
type Writer struct {
	out io.Writer
	cfg Config

	mu      sync.Mutex
	pending []byte
	closed  bool
	// err is the last failed write of a batch, returned once by the next
	// Write so the logger reports it.
	err error

	// flushMu serializes writes to out; spare is the buffer the last
	// batch was written from, reused for the next one.
	flushMu sync.Mutex
	spare   []byte

	kick    chan struct{} // the batch reached MaxSize
	stop    chan struct{} // Close asks the flusher to end
	stopped chan struct{} // the flusher has ended
	ticker  func()        // stops the ticker
}

// New returns a Writer that batches into out and starts its flusher.
func New(out io.Writer, cfg Config) (*Writer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	w := &Writer{out: out, cfg: cfg, pending: make([]byte, 0, cfg.MaxSize), spare: make([]byte, 0, cfg.MaxSize),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	tick, stopTicker := cfg.NewTicker(cfg.FlushInterval)
	w.ticker = stopTicker
	go w.loop(tick)
	return w, nil
}

// loop flushes on every tick and whenever a batch is full, until Close.
func (w *Writer) loop(tick <-chan time.Time) {
	defer close(w.stopped)
	for {
		select {
		case <-tick:
		case <-w.kick:
		case <-w.stop:
			return
		}
		w.flush()
	}
}

// Write copies p into the batch. It writes to the underlying writer
// itself only when the flusher has fallen far behind (the batch is past
// four times MaxSize), so memory stays bounded. After Close it fails
// with ErrClosed.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return 0, ErrClosed
	}
	w.pending = append(w.pending, p...)
	size := len(w.pending)
	err := w.err
	w.err = nil
	w.mu.Unlock()
	switch {
	case size >= backlogFactor*w.cfg.MaxSize:
		if ferr := w.flush(); ferr != nil && err == nil {
			err = ferr
		}
	case size >= w.cfg.MaxSize:
		select {
		case w.kick <- struct{}{}:
		default: // a flush is already asked for
		}
	}
	if err != nil {
		return len(p), fmt.Errorf("logbatch: an earlier batch was not written: %w", err)
	}
	return len(p), nil
}

// Flush writes the batch now.
func (w *Writer) Flush() error {
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return w.flush()
}

// Sync writes the batch now (zap calls it before a fatal exit).
func (w *Writer) Sync() error { return w.Flush() }

// flush takes the batch and writes it in one Write. A failed write is
// remembered for the next Write to report; its lines are lost.
func (w *Writer) flush() error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	batch := w.pending
	w.pending = w.spare[:0]
	w.mu.Unlock()
	var err error
	if len(batch) > 0 {
		_, err = w.out.Write(batch)
	}
	// A burst may have grown the buffer past what the backlog bound lets
	// it reach (append doubles): let it go rather than keep it for good.
	if cap(batch) > 2*backlogFactor*w.cfg.MaxSize {
		batch = make([]byte, 0, w.cfg.MaxSize)
	}
	w.spare = batch[:0]
	if err != nil {
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
	}
	return err
}

// Close stops the flusher and writes what is left. It does not close
// the underlying writer. Later writes fail with ErrClosed.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.closed = true
	w.mu.Unlock()
	w.ticker()
	close(w.stop)
	<-w.stopped
	return w.flush()
}

// Package browser drives a real headless Chromium (Debian's /usr/bin/chromium)
// for end-to-end tests, through github.com/chromedp/chromedp.
//
// Each Browser is its own Chromium process with a fresh profile (a
// t.TempDir() user data dir), so cookies never leak between tests. Its
// helpers fail the test with t.Fatalf when something does not happen within
// Timeout, and say what they were waiting for and on which URL; they must be
// called from the test's goroutine. Use Context for anything else chromedp
// can do.
package browser

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ExecPath is the Chromium binary the package runs.
const ExecPath = "/usr/bin/chromium"

// DefaultTimeout bounds each helper (a navigation, a wait, a read).
const DefaultTimeout = 20 * time.Second

// startTimeout bounds the start of the Chromium process.
const startTimeout = 60 * time.Second

// closeTimeout bounds the graceful shutdown of Chromium.
const closeTimeout = 10 * time.Second

// Flags are the Chromium command-line switches the package starts Chromium
// with (chromedp adds only the DevTools pipe, --user-data-dir and
// about:blank). Without them Chromium can hang on a closed network.
var Flags = []string{
	"headless",
	"no-sandbox",
	"disable-gpu",
	"disable-quic",
	"no-first-run",
	"disable-background-networking",
	"disable-component-update",
	"disable-sync",
	"disable-dev-shm-usage",
}

// Browser is one headless Chromium with one tab.
type Browser struct {
	t testing.TB
	// Timeout bounds each helper call; New sets DefaultTimeout.
	Timeout time.Duration

	ctx         context.Context // the tab's chromedp context
	cancelTab   context.CancelFunc
	cancelAlloc context.CancelFunc
	output      *syncBuffer
	closeOnce   sync.Once
}

// New starts a headless Chromium for the test, with a fresh profile, and
// stops it in t.Cleanup. It fails the test (never skips) when ExecPath is
// missing or Chromium does not start.
func New(t testing.TB) *Browser {
	t.Helper()
	if _, err := os.Stat(ExecPath); err != nil {
		t.Fatalf("browser: Chromium is required at %s (install the Debian package: apt-get install -y chromium): %v", ExecPath, err)
	}
	out := &syncBuffer{}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ExecPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(out),
	}
	for _, f := range Flags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b := &Browser{t: t, Timeout: DefaultTimeout, ctx: ctx, cancelTab: cancelTab, cancelAlloc: cancelAlloc, output: out}
	t.Cleanup(b.Close)

	// The first run starts the browser and binds its life to ctx, so it must
	// not carry a timeout; bound it from outside instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			b.Close()
			t.Fatalf("browser: starting %s: %v\nChromium output:\n%s", ExecPath, err, out.String())
		}
	case <-time.After(startTimeout):
		b.Close()
		t.Fatalf("browser: starting %s: no DevTools connection after %s\nChromium output:\n%s", ExecPath, startTimeout, out.String())
	}
	return b
}

// Context returns the chromedp context of the browser's tab, for running
// any chromedp action (chromedp.Run, chromedp.Do, chromedp.Call). It has no
// deadline; derive one with context.WithTimeout.
func (b *Browser) Context() context.Context { return b.ctx }

// Close stops Chromium and waits for the process to exit. It is idempotent
// and runs automatically in t.Cleanup.
func (b *Browser) Close() {
	b.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(b.ctx, closeTimeout)
		defer cancel()
		if err := chromedp.Cancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
			b.t.Logf("browser: closing Chromium gracefully: %v", err)
		}
		b.cancelTab()
		b.cancelAlloc() // waits for the process to exit
	})
}

// Output returns what Chromium printed on stdout and stderr so far.
func (b *Browser) Output() string { return b.output.String() }

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// String returns the contents.
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

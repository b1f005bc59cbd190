package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
)

// Defaults of Options.
const (
	DefaultBatchSize       = 100
	DefaultFlushInterval   = time.Second
	DefaultQueueSize       = 1000
	DefaultMaxRetries      = 5
	DefaultMinBackoff      = time.Second
	DefaultMaxBackoff      = time.Minute
	DefaultTimeout         = 10 * time.Second
	DefaultShutdownTimeout = 5 * time.Second
	DefaultDropLogInterval = time.Minute
)

// Result is what became of alerts, for metrics.
type Result string

// Results.
const (
	// Sent alerts were accepted by the receiver (a 2xx answer).
	Sent Result = "sent"
	// Dropped alerts found the queue full and were never sent.
	Dropped Result = "dropped"
	// Failed alerts were given up: a 4xx answer, retries exhausted, or
	// the shutdown bound reached.
	Failed Result = "failed"
)

// Problem is something an operator should see in the log. Err never
// holds the webhook URL (it may carry a token in its path or query).
type Problem struct {
	// Result is Dropped (Events dropped since the last such report) or
	// Failed (a batch of Events given up after Attempts).
	Result   Result
	Events   int
	Attempts int
	// Status is the receiver's last answer; 0 when it gave none.
	Status int
	Err    error
}

// Options configure a Sender. Zero values take the defaults above.
type Options struct {
	// URL receives the POSTs.
	URL string
	// Keys sign every delivery (see Sign); the first is the current one.
	Keys [][]byte
	// Source is the CloudEvents source of every alert.
	Source string
	// Events are the alert names this webhook receives.
	Events Set
	// BatchSize is the most alerts in one POST.
	BatchSize int
	// FlushInterval is how long the first alert of a batch waits for
	// others before the batch is sent.
	FlushInterval time.Duration
	// QueueSize bounds the alerts waiting to be sent; beyond it new ones
	// are dropped.
	QueueSize int
	// MaxRetries is how many times a batch is sent again after a network
	// error, a 408, 429 or 5xx answer; negative: never.
	MaxRetries int
	// MinBackoff and MaxBackoff bound the wait between retries, which
	// doubles from MinBackoff (with jitter), or follows Retry-After.
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds one POST.
	Timeout time.Duration
	// ShutdownTimeout bounds Close: what is not sent by then is counted
	// as failed.
	ShutdownTimeout time.Duration
	// DropLogInterval is the least time between two Dropped problems.
	DropLogInterval time.Duration
	// Client posts; nil: a client that follows no redirects.
	Client *http.Client
	// Now and After are the clock; nil: the time package's.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// Rand returns a float in [0,1) for the backoff jitter; nil:
	// math/rand/v2.
	Rand func() float64
	// Count is called with every alert's fate; nil: nothing.
	Count func(Result, int)
	// Report is called with each Problem; nil: nothing.
	Report func(Problem)
}

// Sender delivers the alerts of one webhook. Offer never blocks; one
// goroutine (Start) batches and posts; Close flushes within a bound.
type Sender struct {
	o      Options
	queue  chan item
	stop   chan struct{}
	done   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	// dropped counts drops since the last Dropped problem; lastDrop is
	// when that was (Unix ns; 0: never).
	dropped  atomic.Int64
	lastDrop atomic.Int64
	started  atomic.Bool
	close    sync.Once
}

// item is one queued alert.
type item struct {
	name Name
	at   time.Time
	e    audit.Event
}

// NewSender checks o and returns a sender that is not started yet.
func NewSender(o Options) (*Sender, error) {
	if _, err := url.Parse(o.URL); err != nil || o.URL == "" {
		return nil, errors.New("alert: the webhook URL is not a URL")
	}
	if len(o.Keys) == 0 {
		return nil, errors.New("alert: a webhook needs a secret")
	}
	if o.Events == 0 {
		return nil, errors.New("alert: a webhook needs events")
	}
	o = o.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Sender{o: o, queue: make(chan item, o.QueueSize), stop: make(chan struct{}), done: make(chan struct{}), ctx: ctx, cancel: cancel}, nil
}

func (o Options) withDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.FlushInterval, DefaultFlushInterval)
	def(&o.MinBackoff, DefaultMinBackoff)
	def(&o.MaxBackoff, DefaultMaxBackoff)
	def(&o.Timeout, DefaultTimeout)
	def(&o.ShutdownTimeout, DefaultShutdownTimeout)
	def(&o.DropLogInterval, DefaultDropLogInterval)
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = DefaultMaxRetries
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.Client == nil {
		o.Client = &http.Client{
			Transport:     http.DefaultTransport.(*http.Transport).Clone(),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Count == nil {
		o.Count = func(Result, int) {}
	}
	if o.Report == nil {
		o.Report = func(Problem) {}
	}
	return o
}

// Start starts the goroutine that sends. Call it once.
func (s *Sender) Start() {
	if s.started.CompareAndSwap(false, true) {
		go s.run()
	}
}

// offer queues one alert, or drops it when the queue is full.
func (s *Sender) offer(it item) {
	select {
	case s.queue <- it:
		return
	default:
	}
	s.o.Count(Dropped, 1)
	s.dropped.Add(1)
	now, last := it.at.UnixNano(), s.lastDrop.Load()
	if (last == 0 || now-last >= int64(s.o.DropLogInterval)) && s.lastDrop.CompareAndSwap(last, now) {
		s.o.Report(Problem{Result: Dropped, Events: int(s.dropped.Swap(0))})
	}
}

// Close stops the sender after it has sent what is queued, or after
// ShutdownTimeout, whichever comes first; what is left is counted as
// failed. It is safe to call more than once, and on a sender never
// started (the queue is then counted as failed).
func (s *Sender) Close() {
	s.close.Do(func() {
		close(s.stop)
		if s.started.CompareAndSwap(false, true) { // never started
			close(s.done)
			if n := len(s.queue); n > 0 {
				s.o.Count(Failed, n)
			}
		} else {
			select {
			case <-s.done:
			case <-s.o.After(s.o.ShutdownTimeout):
				s.cancel()
				<-s.done
			}
		}
		s.cancel()
	})
}

// run batches the queue and sends until Close.
func (s *Sender) run() {
	defer close(s.done)
	var batch []item
	var flush <-chan time.Time
	for {
		select {
		case it := <-s.queue:
			batch = append(batch, it)
			if len(batch) >= s.o.BatchSize {
				s.deliver(batch)
				batch, flush = nil, nil
			} else if flush == nil {
				flush = s.o.After(s.o.FlushInterval)
			}
		case <-flush:
			s.deliver(batch)
			batch, flush = nil, nil
		case <-s.stop:
			// What is queued now, not what requests still being served
			// keep adding.
			for n := len(s.queue); n > 0; n-- {
				batch = append(batch, <-s.queue)
				if len(batch) >= s.o.BatchSize {
					s.deliver(batch)
					batch = nil
				}
			}
			if len(batch) > 0 {
				s.deliver(batch)
			}
			return
		}
	}
}

// deliver posts one batch, retrying with backoff.
func (s *Sender) deliver(batch []item) {
	events := make([]CloudEvent, len(batch))
	for i, it := range batch {
		events[i] = newCloudEvent(s.o.Source, it.name, it.at, it.e)
	}
	body, err := json.Marshal(events)
	if err != nil {
		s.fail(len(batch), 0, 0, fmt.Errorf("encoding alerts: %w", err))
		return
	}
	id := "msg_" + randomID()
	backoff := s.o.MinBackoff
	for attempt := 1; ; attempt++ {
		status, retryAfter, err := s.post(id, body)
		if err == nil && status >= 200 && status < 300 {
			s.o.Count(Sent, len(batch))
			return
		}
		if !retryable(status, err) || attempt > s.o.MaxRetries || s.ctx.Err() != nil {
			s.fail(len(batch), attempt, status, err)
			return
		}
		wait := backoff/2 + time.Duration(s.o.Rand()*float64(backoff/2))
		if retryAfter > wait {
			wait = min(retryAfter, s.o.MaxBackoff)
		}
		backoff = min(2*backoff, s.o.MaxBackoff)
		select {
		case <-s.o.After(wait):
		case <-s.stop: // shutting down: try again now, within the bound
		case <-s.ctx.Done():
			s.fail(len(batch), attempt, status, err)
			return
		}
	}
}

func (s *Sender) fail(n, attempts, status int, err error) {
	s.o.Count(Failed, n)
	if err == nil && status != 0 {
		err = fmt.Errorf("alert: the webhook answered %d", status)
	}
	s.o.Report(Problem{Result: Failed, Events: n, Attempts: attempts, Status: status, Err: err})
}

// post sends body once. It returns the status and Retry-After of the
// answer, or a transport error stripped of the URL.
func (s *Sender) post(id string, body []byte) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.o.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, errors.New("alert: building the request failed")
	}
	now := s.o.Now()
	req.Header.Set("Content-Type", BatchContentType)
	req.Header.Set("User-Agent", "Portcullis-Alerts/1")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(s.o.Keys, id, now, body))
	resp, err := s.o.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, 0, fmt.Errorf("alert: posting to the webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	var ra time.Duration
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		ra = time.Duration(secs) * time.Second
	}
	return resp.StatusCode, ra, nil
}

// retryable reports whether a failed attempt is worth repeating: a
// network error, or 408, 429, 5xx. Other answers (a 4xx: the receiver
// refuses the batch; a 3xx: redirects are not followed) are final.
func retryable(status int, err error) bool {
	return err != nil || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// Dispatcher maps audit events to alerts and offers them to the
// senders that want them. A nil *Dispatcher does nothing.
type Dispatcher struct {
	senders []*Sender
	now     func() time.Time
}

// NewDispatcher returns a dispatcher over senders; now stamps alerts
// (nil: time.Now).
func NewDispatcher(now func() time.Time, senders ...*Sender) *Dispatcher {
	if now == nil {
		now = time.Now
	}
	return &Dispatcher{senders: senders, now: now}
}

// Offer sends a copy of *e to every sender that wants it, without
// blocking; it keeps no reference to e. It is a few comparisons for
// events that raise no alert.
func (d *Dispatcher) Offer(e *audit.Event) {
	if d == nil {
		return
	}
	m := Match(e)
	if m == 0 {
		return
	}
	var it item
	for _, s := range d.senders {
		name, ok := (m & s.o.Events).first()
		if !ok {
			continue
		}
		if it.at.IsZero() {
			it.at, it.e = d.now(), *e
			// The scopes are shared with the caller; the sender reads
			// them later, on its own goroutine.
			it.e.RequiredScopes, it.e.GrantedScopes = slices.Clone(e.RequiredScopes), slices.Clone(e.GrantedScopes)
		}
		it.name = name
		s.offer(it)
	}
}

// Start starts every sender.
func (d *Dispatcher) Start() {
	for _, s := range d.senders {
		s.Start()
	}
}

// Close closes every sender at once and waits for them (each within its
// ShutdownTimeout).
func (d *Dispatcher) Close() {
	if d == nil {
		return
	}
	var wg sync.WaitGroup
	for _, s := range d.senders {
		wg.Go(s.Close)
	}
	wg.Wait()
}

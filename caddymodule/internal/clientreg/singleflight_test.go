package clientreg

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestSingleFlight: many concurrent resolutions of one id fetch the
// document once, and every caller gets the client.
func TestSingleFlight(t *testing.T) {
	t.Parallel()
	const callers = 16
	release, free := gate()
	var srv *docServer
	srv = newDocServer(t, map[string]http.HandlerFunc{
		"/c": func(w http.ResponseWriter, r *http.Request) {
			<-release
			serveJSON(doc(t, srv.URL+"/c", nil))(w, r)
		},
	})
	t.Cleanup(free) // before the server closes, so a failed test ends
	reg, _ := newDocRegistry(t, srv, Options{AllowPrivateAddresses: true})
	id := srv.URL + "/c"

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			c, err := reg.Resolve(context.Background(), id)
			if err == nil && c.ID != id {
				err = errors.New("wrong client " + c.ID)
			}
			errs <- err
		})
	}
	waitFor(t, func() bool { return reg.flights.waiting(id) == callers })
	free()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("%d fetches for %d concurrent callers, want 1", n, callers)
	}
}

// TestSingleFlightCallerGivesUp: a caller whose context ends gets an error
// at once, while the fetch goes on for the others and its result is
// cached (the cancellation does not poison it).
func TestSingleFlightCallerGivesUp(t *testing.T) {
	t.Parallel()
	release, free := gate()
	var srv *docServer
	srv = newDocServer(t, map[string]http.HandlerFunc{
		"/c": func(w http.ResponseWriter, r *http.Request) {
			<-release
			serveJSON(doc(t, srv.URL+"/c", nil))(w, r)
		},
	})
	t.Cleanup(free)
	reg, _ := newDocRegistry(t, srv, Options{AllowPrivateAddresses: true})
	id := srv.URL + "/c"

	patient := make(chan error, 1)
	go func() {
		_, err := reg.Resolve(context.Background(), id)
		patient <- err
	}()
	waitFor(t, func() bool { return reg.flights.waiting(id) == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	impatient := make(chan error, 1)
	go func() {
		_, err := reg.Resolve(ctx, id)
		impatient <- err
	}()
	waitFor(t, func() bool { return reg.flights.waiting(id) == 2 })
	cancel()
	select {
	case err := <-impatient:
		wantReason(t, err, CodeTemporarilyUnavailable, ReasonTimeout)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled caller: %v, want context.Canceled", err)
		}
	case <-time.After(hung):
		t.Fatal("hung: a cancelled caller kept waiting")
	}
	free()
	if err := <-patient; err != nil {
		t.Fatalf("patient caller: %v", err)
	}
	if _, err := reg.Resolve(t.Context(), id); err != nil {
		t.Fatalf("after the flight: %v", err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("%d fetches, want 1 (then cached)", n)
	}
}

// gate returns a channel and a function that closes it, safe to call
// more than once.
func gate() (<-chan struct{}, func()) {
	ch := make(chan struct{})
	var once sync.Once
	return ch, func() { once.Do(func() { close(ch) }) }
}

// waitFor polls cond until it holds; the deadline only catches a hang.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hung)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("hung: condition never held")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFetchesBounded: with MaxConcurrentFetches fetches in progress, a
// resolution that needs another is refused at once (not queued, not
// cached), and works once a slot is free.
func TestFetchesBounded(t *testing.T) {
	t.Parallel()
	var srv *docServer
	srv = newDocServer(t, map[string]http.HandlerFunc{
		"/c": func(w http.ResponseWriter, r *http.Request) { serveJSON(doc(t, srv.URL+"/c", nil))(w, r) },
	})
	reg, _ := newDocRegistry(t, srv, Options{AllowPrivateAddresses: true})
	for range MaxConcurrentFetches {
		reg.slots <- struct{}{} // fetches in progress elsewhere
	}
	_, err := reg.Resolve(t.Context(), srv.URL+"/c")
	wantReason(t, err, CodeTemporarilyUnavailable, ReasonFetchBusy)
	if !errors.Is(err, ErrUnavailable) || srv.hits.Load() != 0 {
		t.Fatalf("busy: %v, %d fetches", err, srv.hits.Load())
	}
	<-reg.slots
	if _, err := reg.Resolve(t.Context(), srv.URL+"/c"); err != nil {
		t.Fatalf("with a free slot: %v", err)
	}
}

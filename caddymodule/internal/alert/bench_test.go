package alert

import (
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
)

// BenchmarkOffer measures what the audit emitter pays per event: with no
// alerts configured (a nil dispatcher), and with a webhook for an event
// that raises no alert (an allowed decision) or that does.
func BenchmarkOffer(b *testing.B) {
	allowed := audit.Event{Kind: audit.KindDecision, Result: audit.Allow, Reason: "allowed"}
	denied := audit.Event{Kind: audit.KindDecision, Result: audit.Deny, Reason: "invalid_credentials"}
	s, err := NewSender(Options{URL: "http://127.0.0.1:1/", Keys: [][]byte{[]byte(testSecret)}, Events: bit(TokenRejected), QueueSize: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	d := NewDispatcher(nil, s) // not started: offers only queue
	var none *Dispatcher
	b.Run("no alerts", func(b *testing.B) {
		for b.Loop() {
			none.Offer(&denied)
		}
	})
	b.Run("allowed decision", func(b *testing.B) {
		for b.Loop() {
			d.Offer(&allowed)
		}
	})
	b.Run("alert queued", func(b *testing.B) {
		for b.Loop() {
			select {
			case <-s.queue:
			default:
			}
			d.Offer(&denied)
		}
	})
}

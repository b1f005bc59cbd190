package caddymodule

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
)

// TestCountDecisionSeries: cached and uncached decisions land on the
// same series WithLabelValues would name, and only used series exist.
func TestCountDecisionSeries(t *testing.T) {
	t.Parallel()
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	events := []audit.Event{
		{Result: audit.Allow, Reason: "allowed", AuthMethod: "api_key"},
		{Result: audit.Allow, Reason: "allowed", AuthMethod: "api_key"},
		{Result: audit.Allow, Reason: "anonymous"},
		{Result: audit.Allow, Reason: "allowed", AuthMethod: "session"},
		{Result: audit.Deny, Reason: "invalid_credentials", AuthMethod: "jwt"},
		{Result: audit.Allow, Reason: "allowed", AuthMethod: "other"},
	}
	for i := range events {
		m.countDecision(&events[i], start)
	}
	want := map[[3]string]float64{
		{"allow", "allowed", "api_key"}:        2,
		{"allow", "anonymous", "none"}:         1,
		{"allow", "allowed", "session"}:        1,
		{"deny", "invalid_credentials", "jwt"}: 1,
		{"allow", "allowed", "other"}:          1,
	}
	for labels, n := range want {
		if got := testutil.ToFloat64(m.decisions.WithLabelValues(labels[:]...)); got != n {
			t.Errorf("decisions%v = %v, want %v", labels, got, n)
		}
	}
	if got := testutil.CollectAndCount(m.decisions); got != len(want) {
		t.Errorf("%d decision series, want %d (no series for what did not happen)", got, len(want))
	}
	if got := testutil.CollectAndCount(m.authDuration); got != 5 {
		t.Errorf("%d duration series, want 5 (api_key, none, session, jwt, other)", got)
	}
}

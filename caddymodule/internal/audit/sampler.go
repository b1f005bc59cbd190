package audit

import (
	"fmt"
	"math/rand/v2"
)

// Sampler decides which allowed decisions are logged. Denials and
// security events are always logged; only allow decisions are sampled.
// The zero value logs everything.
type Sampler struct {
	set  bool    // false: the zero value, which logs everything
	rate float64 // fraction of allowed decisions to log, in [0,1]
	// rand returns a float in [0,1); nil uses math/rand/v2.
	rand func() float64
}

// NewSampler returns a sampler that logs the given fraction of allowed
// decisions: 1 logs all, 0 none.
func NewSampler(rate float64, rnd func() float64) (Sampler, error) {
	if rate < 0 || rate > 1 {
		return Sampler{}, fmt.Errorf("audit: sample rate %v must be between 0 and 1", rate)
	}
	return Sampler{set: true, rate: rate, rand: rnd}, nil
}

// AllowAll is a Sampler that logs every allowed decision.
var AllowAll = Sampler{set: true, rate: 1}

// Keep reports whether an event of this kind and result is logged.
func (s Sampler) Keep(kind Kind, result Result) bool {
	if kind != KindDecision || result != Allow || !s.set || s.rate >= 1 {
		return true
	}
	if s.rate <= 0 {
		return false
	}
	r := s.rand
	if r == nil {
		r = rand.Float64
	}
	return r() < s.rate
}

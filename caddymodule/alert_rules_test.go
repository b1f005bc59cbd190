package caddymodule

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// describingRegisterer records the descriptors of what is registered.
type describingRegisterer struct{ names map[string]bool }

func (r *describingRegisterer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		if m != nil {
			r.names[m[1]] = true
		}
	}
	return nil
}

func (r *describingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c)
	}
}

func (r *describingRegisterer) Unregister(prometheus.Collector) bool { return true }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// TestPrometheusRulesNameRegisteredMetrics: every portcullis_* name in
// deploy/prometheus/alerts.yml is a metric the gateway registers (a
// histogram's _bucket, _sum and _count included), so a renamed metric
// cannot leave an alert that never fires.
func TestPrometheusRulesNameRegisteredMetrics(t *testing.T) {
	t.Parallel()
	reg := &describingRegisterer{names: map[string]bool{}}
	if _, err := newMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := newAlertMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if len(reg.names) < 10 {
		t.Fatalf("read %d metric names: %v", len(reg.names), reg.names)
	}
	rules, err := os.ReadFile("../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, n := range regexp.MustCompile(`\bportcullis_[a-z0-9_]+`).FindAllString(string(rules), -1) {
		used[n] = true
	}
	if len(used) < 5 {
		t.Fatalf("the rules name %d metrics", len(used))
	}
	for n := range used {
		base := n
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suffix); ok {
				if _, known := reg.names[b]; known {
					base = b
				}
			}
		}
		if _, ok := reg.names[base]; !ok {
			t.Errorf("alerts.yml uses %s, which the gateway does not register", n)
		}
	}
}

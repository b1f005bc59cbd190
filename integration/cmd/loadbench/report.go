package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// row is one configuration's medians over rounds, and ratios to plain
// and to its reference row.
type row struct {
	name                         string
	rps, p50, p99, cpu, rss      float64
	rpsRatio, cpuRatio, p99Added float64
	// ref is the reference row's name ("" for none); refRatio the median
	// of throughput / the reference's in the same round, ownCPU the
	// median of CPU µs/req − the reference's in the same round.
	ref              string
	refRatio, ownCPU float64
}

// median returns the middle value of v (the mean of the two middle
// values when their number is even), 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summarize computes, per configuration, the median over rounds of each
// figure, of its ratio to plain and of its difference to its reference
// row in the same round.
func summarize(chosen []scenario, ms []measurement) []row {
	type key struct {
		name  string
		round int
	}
	byRound := map[key]measurement{}
	for _, m := range ms {
		byRound[key{m.name, m.round}] = m
	}
	var rows []row
	for _, s := range chosen {
		var rps, p50, p99, cpu, rss, rr, cr, pa, fr, oc []float64
		for _, m := range ms {
			if m.name != s.name {
				continue
			}
			b := byRound[key{"plain", m.round}]
			rps, p50, p99, cpu, rss = append(rps, m.rps), append(p50, m.p50ms), append(p99, m.p99ms), append(cpu, m.cpuUS), append(rss, m.rssMB)
			rr, cr, pa = append(rr, m.rps/b.rps), append(cr, m.cpuUS/b.cpuUS), append(pa, m.p99ms-b.p99ms)
			if ref, ok := byRound[key{s.ref, m.round}]; ok && s.ref != "" {
				fr, oc = append(fr, m.rps/ref.rps), append(oc, m.cpuUS-ref.cpuUS)
			}
		}
		r := row{name: s.name, rps: median(rps), p50: median(p50), p99: median(p99), cpu: median(cpu), rss: median(rss),
			rpsRatio: median(rr), cpuRatio: median(cr), p99Added: median(pa)}
		if len(fr) > 0 {
			r.ref, r.refRatio, r.ownCPU = s.ref, median(fr), median(oc)
		}
		rows = append(rows, r)
	}
	return rows
}

// machine describes where the benchmark ran.
func machine() string {
	cpu := "unknown CPU"
	if out, err := exec.Command("sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").Output(); err == nil {
		cpu = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%s, %d CPUs, %s/%s, %s", cpu, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// markdown renders the timing table, with a note under it when the
// reference row is there.
func markdown(rows []row, o options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Load benchmark, %s. Machine: %s. wrk %d threads, %d connections, %s windows after %s warm-up, %d interleaved rounds; medians over rounds, ratios against plain Caddy `reverse_proxy` in the same round.\n\n",
		time.Now().UTC().Format("2006-01-02"), machine(), o.threads, o.conns, o.duration, o.warmup, o.rounds)
	b.WriteString("| configuration | req/s | × plain | p50 ms | p99 ms | p99 added ms | gateway CPU µs/req | CPU × plain | peak RSS MiB | reference | × reference | own CPU µs/req |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|\n")
	for _, r := range rows {
		ref, ratio, own := "–", "–", "–"
		if r.ref != "" {
			ref, ratio, own = r.ref, fmt.Sprintf("%.2f", r.refRatio), fmt.Sprintf("%+.1f", r.ownCPU)
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.2f | %.2f | %+.2f | %.1f | %.2f | %.0f | %s | %s | %s |\n",
			r.name, r.rps, r.rpsRatio, r.p50, r.p99, r.p99Added, r.cpu, r.cpuRatio, r.rss, ref, ratio, own)
	}
	b.WriteString(notes(func(yield func(string) bool) {
		for _, r := range rows {
			if !yield(r.name) {
				return
			}
		}
	}))
	return b.String()
}

// chart draws throughput relative to plain as horizontal bars, one per
// configuration, with a line at 1 (plain Caddy); the reference row is
// labelled as such.
func chart(rows []row, path string) error {
	p := plot.New()
	p.Title.Text = "Portcullis throughput relative to plain Caddy reverse_proxy (median of rounds)"
	p.X.Label.Text = "× plain"
	vals := make(plotter.Values, len(rows))
	names := make([]string, len(rows))
	for i, r := range rows {
		// The first row is drawn on top.
		j := len(rows) - 1 - i
		vals[j], names[j] = r.rpsRatio, fmt.Sprintf("%s (%.2f×)", r.name, r.rpsRatio)
		if r.name != "plain" && isReference(r.name) {
			names[j] = fmt.Sprintf("%s (reference, %.2f×)", r.name, r.rpsRatio)
		}
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(14))
	if err != nil {
		return err
	}
	bars.Horizontal = true
	p.Add(bars)
	p.NominalY(names...)
	p.X.Min = 0
	one, err := plotter.NewLine(plotter.XYs{{X: 1, Y: -0.5}, {X: 1, Y: float64(len(rows)) - 0.5}})
	if err != nil {
		return err
	}
	one.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
	p.Add(one)
	return p.Save(180*vg.Millimeter, vg.Length(25+9*len(rows))*vg.Millimeter, path)
}

// redraw reads the table of a loadbench.md and draws its chart beside it.
func redraw(mdPath string) error {
	raw, err := os.ReadFile(mdPath)
	if err != nil {
		return err
	}
	var rows []row
	for _, line := range strings.Split(string(raw), "\n") {
		cells := strings.Split(strings.Trim(line, "| "), "|")
		if len(cells) < 3 || strings.HasPrefix(line, "|---") || strings.Contains(line, "configuration") {
			continue
		}
		ratio, err := strconv.ParseFloat(strings.TrimSpace(cells[2]), 64)
		if err != nil {
			continue
		}
		rows = append(rows, row{name: strings.TrimSpace(cells[0]), rpsRatio: ratio})
	}
	if len(rows) == 0 {
		return fmt.Errorf("no table rows in %s", mdPath)
	}
	return chart(rows, filepath.Join(filepath.Dir(mdPath), "loadbench.png"))
}

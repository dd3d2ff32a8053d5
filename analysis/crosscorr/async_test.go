package crosscorr

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/grainlab/grain/engine"
)

// rebind returns a copy of plan p of runner from for runner to, whose jobs
// were registered in the same order, its sweeps laid out for to's path.
func rebind(p *plan, from, to *runner) *plan {
	q := *p
	q.sweeps = make([]sweep, len(p.sweeps))
	q.panelCols = 0
	for s, sw := range p.sweeps {
		q.sweeps[s] = sw
		q.sweeps[s].tiles = make([]tile, len(sw.tiles))
		for k, tl := range sw.tiles {
			i := slices.Index(from.jobs, tl.j)
			if i < 0 {
				panic("rebind: a tile of another runner's job")
			}
			tl.j = to.jobs[i]
			q.sweeps[s].tiles[k] = tl
		}
		q.panelCols = max(q.panelCols, to.layOut(&q.sweeps[s]))
	}
	return &q
}

// TestDoubleBuffered runs the double-buffered path (asyncDevice: an
// engine.AsyncUploader and an engine.PreRounded on the CPU that check
// their contracts) and the uploading path with the same plan, and requires
// equal results in every precision — bitwise in FP32, within 1e-5 in TF32
// and BF16, where the double-buffered path multiplies neuron-major blocks
// (the CPU's GEMM may sum those products in another order; with OpenBLAS
// they were bitwise equal too) — Correlate's product with top-k
// partners and with the matrix, and Rank's kept products of three models
// (LinReg, SVCCA), under budgets that give several blocks, sweeps and
// downloads of the ring of block moments.
func TestDoubleBuffered(t *testing.T) {
	const T = 1500
	widths := []int{70, 50, 30}
	r := rng(12)
	acts := make([][]float32, len(widths))
	for m, n := range widths {
		acts[m] = randomActs(r, T, n)
	}
	for tk := range T {
		acts[0][tk*70+3] += 2 * acts[1][tk*50+7]
		acts[2][tk*30+5] -= acts[0][tk*70+60]
	}
	type config struct {
		name   string
		models int
		opt    Options
		jobs   func(r *runner)
	}
	configs := []config{
		{"top-k", 2, Options{TopK: 4}, func(r *runner) { r.addJob(0, 1, false, true) }},
		{"matrix", 2, Options{Matrix: true}, func(r *runner) { r.addJob(0, 1, true, true) }},
		{"rank", 3, Options{}, func(r *runner) {
			for a := range 3 {
				r.addJob(a, a, true, false)
			}
			for a := range 3 {
				for b := a + 1; b < 3; b++ {
					r.addJob(a, b, true, true)
				}
			}
		}},
	}
	var sweeps, blocks, flushes bool
	for _, c := range configs {
		for _, src := range []func(*Memory) Source{func(m *Memory) Source { return m }, func(m *Memory) Source { return readOnly{m} }} {
			for _, budget := range []int64{0, 512 << 10, 200 << 10, 96 << 10, 72 << 10} {
				for _, p := range []engine.Precision{engine.FP32, engine.TF32, engine.BF16} {
					runner := func(be engine.Backend) *runner {
						var ms []Model
						for m := range c.models {
							ms = append(ms, Model{string(rune('a' + m)), src(mem(t, acts[m], T, widths[m]))})
						}
						opt := c.opt
						opt.Memory, opt.Precision = budget, p
						r, err := newRunner(be, ms, opt)
						if err != nil {
							t.Fatal(err)
						}
						c.jobs(r)
						return r
					}
					async := newAsyncDevice()
					r0 := runner(async)
					pa, err := r0.plan()
					if err != nil {
						if !strings.Contains(err.Error(), "too small") && !strings.Contains(err.Error(), "more than half") {
							t.Fatal(err)
						}
						continue
					}
					if r0.up == nil || r0.pr == nil {
						t.Fatal("the double-buffered path was not chosen")
					}
					nb := (T + pa.blockRows - 1) / pa.blockRows
					sweeps = sweeps || len(pa.sweeps) > 1
					blocks = blocks || nb > 1
					flushes = flushes || pa.ringRows < nb
					// The planned ring, and one downloaded after every
					// block.
					for _, ring := range []int{pa.ringRows, 1} {
						what := func() string {
							return fmt.Sprintf("%s, %v, budget %d, %d-row blocks, %d sweeps, ring of %d", c.name, p, budget, pa.blockRows, len(pa.sweeps), ring)
						}
						ra := runner(async)
						pr := rebind(pa, r0, ra)
						pr.ringRows = min(ring, pa.ringRows)
						if err := ra.run(pr); err != nil {
							t.Fatalf("%s: %v", what(), err)
						}
						ru := runner(deviceOnly{async.Backend})
						pu := rebind(pr, ra, ru)
						pu.ringRows = 1
						if err := ru.run(pu); err != nil {
							t.Fatalf("%s, uploading path: %v", what(), err)
						}
						if async.live != 0 {
							t.Fatalf("%s: %d staging buffers not freed", what(), async.live)
						}
						for i, j := range ra.jobs {
							u := ru.jobs[i]
							ur := make([]float64, len(u.r))
							for k, v := range u.r {
								ur[k] = float64(v)
							}
							same := sameBits(j.r, u.r) && reflect.DeepEqual(j.rows, u.rows) && reflect.DeepEqual(j.cols, u.cols)
							if ra.neuronMajor() { // other products: other sums
								same = maxDiff(j.r, ur) <= 1e-5 && closeExtremes(j.rows, u.rows, 1e-5) && closeExtremes(j.cols, u.cols, 1e-5)
							}
							if !same {
								t.Fatalf("%s: job %d differs from the uploading path's (max |Δr| %.3g)", what(), i, maxDiff(j.r, ur))
							}
						}
					}
				}
			}
		}
	}
	if !sweeps || !blocks || !flushes {
		t.Errorf("no budget gave several sweeps (%v), blocks (%v) and ring downloads (%v)", sweeps, blocks, flushes)
	}
}

// closeExtremes reports whether a and b list the same partners with r
// within tol: the same neurons, except where a near tie (two of a's top
// partners whose |r| are within tol) lets another summation order break
// it the other way.
func closeExtremes(a, b []Extremes, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	// tied reports whether a's top partner k is within tol of a neighbour.
	tied := func(top []Link, k int) bool {
		near := func(i int) bool {
			return i >= 0 && i < len(top) && math.Abs(math.Abs(top[i].R)-math.Abs(top[k].R)) <= tol
		}
		return near(k-1) || near(k+1)
	}
	same := func(x, y Link, tie bool) bool {
		return math.Abs(x.R-y.R) <= tol && (x.Neuron == y.Neuron || tie)
	}
	for i, x := range a {
		y := b[i]
		if !same(x.Max, y.Max, len(x.Top) > 1 && tied(x.Top, 0)) || !same(x.Min, y.Min, false) || len(x.Top) != len(y.Top) {
			return false
		}
		for k := range x.Top {
			if !same(x.Top[k], y.Top[k], tied(x.Top, k)) {
				return false
			}
		}
	}
	return true
}

// TestDoubleBufferedNonFinite: on the double-buffered path, where block
// moments are checked only after the ring's download, a NaN or Inf is
// still named by model, token row and neuron, and no staging buffer is
// left behind; so it is when the rows sampled for the shifts hold it
// (SampleRow(158, 2000) is 1238; row 1235 is not sampled).
func TestDoubleBufferedNonFinite(t *testing.T) {
	const T, N, M = 2000, 5, 7
	r := rng(13)
	a := randomActs(r, T, N)
	for k := range sampleRows {
		if SampleRow(k, T) == 1235 {
			t.Fatal("row 1235 is sampled")
		}
	}
	be := newAsyncDevice()
	for _, c := range []struct {
		budget int64
		row    int
	}{{0, 1235}, {32 << 10, 1235}, {0, SampleRow(158, T)}} {
		budget, row := c.budget, c.row
		b := randomActs(r, T, M)
		b[row*M+4] = float32(math.Inf(-1))
		ma, mb := Model{"a", mem(t, a, T, N)}, Model{"b", readOnly{mem(t, b, T, M)}}
		if p := planFor(t, be, ma, mb, Options{Memory: budget}); budget != 0 && p.ringRows >= (T+p.blockRows-1)/p.blockRows {
			t.Errorf("budget %d: the ring holds all %d-row blocks", budget, p.blockRows)
		}
		_, err := Correlate(be, ma, mb, Options{Memory: budget})
		if err == nil {
			t.Fatalf("budget %d: -Inf accepted", budget)
		}
		for _, want := range []string{`"b"`, fmt.Sprintf("token row %d,", row), "neuron 4", "not finite"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("budget %d: error %q lacks %q", budget, err, want)
			}
		}
		if be.live != 0 {
			t.Errorf("budget %d: %d staging buffers not freed", budget, be.live)
		}
	}
}

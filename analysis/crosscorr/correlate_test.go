package crosscorr

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/cpu"
)

// TestCorrelateMatchesGonum compares the whole matrix and the extremes with
// gonum's float64 stat.Correlation, on every backend and source path, with
// one block and with many.
func TestCorrelateMatchesGonum(t *testing.T) {
	const T, N, M = 700, 9, 13
	r := rng(1)
	a, b := randomActs(r, T, N), randomActs(r, T, M)
	want := refCorr(a, N, b, M, T)
	for _, s := range setups() {
		for _, budget := range []int64{0, 8 << 10} {
			c, err := Correlate(s.be, Model{"a", s.src(mem(t, a, T, N))}, Model{"b", s.src(mem(t, b, T, M))},
				Options{Memory: budget, Matrix: true})
			if err != nil {
				t.Fatalf("%s, budget %d: %v", s.name, budget, err)
			}
			if d := maxDiff(c.R, want); d > 1e-5 {
				t.Errorf("%s, budget %d: max |r − gonum| = %.2g", s.name, budget, d)
			}
			for i := range N {
				checkExtremes(t, c.ANeurons[i], want[i*M:(i+1)*M])
			}
			for j := range M {
				col := make([]float64, N)
				for i := range N {
					col[i] = want[i*M+j]
				}
				checkExtremes(t, c.BNeurons[j], col)
			}
		}
	}
}

// TestKeptMatrixTiled: a kept matrix too large for one tile is
// accumulated in row panels, on both backend paths.
func TestKeptMatrixTiled(t *testing.T) {
	const T, N, M = 200, 40, 30
	r := rng(9)
	a, b := randomActs(r, T, N), randomActs(r, T, M)
	want := refCorr(a, N, b, M, T)
	for _, s := range setups() {
		ma, mb := Model{"a", s.src(mem(t, a, T, N))}, Model{"b", s.src(mem(t, b, T, M))}
		found := false
		for budget := int64(4 * N * M * 2); budget < 64<<10 && !found; budget += 512 {
			opt := Options{Memory: budget, Matrix: true}
			p := planFor(t, s.be, ma, mb, opt)
			if p == nil || len(p.sweeps[0].tiles) == 1 && len(p.sweeps) == 1 {
				continue
			}
			found = true
			c, err := Correlate(s.be, ma, mb, opt)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(c.R, want); d > 1e-5 {
				t.Errorf("%s, budget %d: max |r − gonum| = %.2g", s.name, budget, d)
			}
		}
		if !found && strings.HasPrefix(s.name, "device") {
			t.Errorf("%s: no budget tiles the kept matrix", s.name)
		}
	}
}

// checkExtremes compares e with the extremes of the reference row.
func checkExtremes(t *testing.T, e Extremes, row []float64) {
	t.Helper()
	mx, mn := 0, 0
	for j := range row {
		if math.Abs(row[j]) > math.Abs(row[mx]) {
			mx = j
		}
		if math.Abs(row[j]) < math.Abs(row[mn]) {
			mn = j
		}
	}
	if e.Max.Neuron != mx || math.Abs(e.Max.R-row[mx]) > 1e-5 {
		t.Errorf("max: got %+v, want neuron %d r %.6f", e.Max, mx, row[mx])
	}
	if e.Min.Neuron != mn || math.Abs(e.Min.R-row[mn]) > 1e-5 {
		t.Errorf("min: got %+v, want neuron %d r %.6f", e.Min, mn, row[mn])
	}
}

// TestBlockedMatchesUnblocked runs the same correlation under budgets that
// give one block and one tile, many blocks, and many tiles in several
// sweeps, and requires the same extremes and top-k partners.
func TestBlockedMatchesUnblocked(t *testing.T) {
	const T, N, M, K = 3000, 70, 50, 4
	r := rng(2)
	a, b := randomActs(r, T, N), randomActs(r, T, M)
	// Some strong correlations, so the top partners are well separated, and
	// constant neurons whose correlations all tie at 0 (the lowest partner
	// index must win across tiles).
	const ca, cb = 10, 33
	for tk := range T {
		a[tk*N+3] += 2 * b[tk*M+7]
		b[tk*M+40] -= a[tk*N+60]
		a[tk*N+ca], b[tk*M+cb] = 1.5, -2
	}
	want := refCorr(a, N, b, M, T)
	var ref *Correlation
	for _, s := range setups() {
		tiled := false
		for _, budget := range []int64{0, 256 << 10, 96 << 10, 48 << 10, 32 << 10, 24 << 10} {
			ma, mb := Model{"a", s.src(mem(t, a, T, N))}, Model{"b", s.src(mem(t, b, T, M))}
			opt := Options{Memory: budget, TopK: K}
			p := planFor(t, s.be, ma, mb, opt)
			if p == nil {
				continue // budget too small for this path
			}
			tiled = tiled || len(p.sweeps) > 1
			c, err := Correlate(s.be, ma, mb, opt)
			if err != nil {
				t.Fatalf("%s, budget %d: %v", s.name, budget, err)
			}
			for i := range N {
				checkExtremes(t, c.ANeurons[i], want[i*M:(i+1)*M])
			}
			for _, e := range []Extremes{c.ANeurons[ca], c.BNeurons[cb]} {
				if e.Max != (Link{}) || e.Min != (Link{}) || e.Top[K-1] != (Link{Neuron: K - 1}) {
					t.Errorf("%s, budget %d: constant neuron's extremes %+v, want partner 0 with r = 0", s.name, budget, e)
				}
			}
			if ref == nil {
				ref = c
				if p.blockRows != T || len(p.sweeps) != 1 {
					t.Fatalf("default budget: %d-row blocks in %d sweeps, want one block", p.blockRows, len(p.sweeps))
				}
				continue
			}
			if budget != 0 && p.blockRows == T {
				t.Errorf("%s, budget %d: not blocked", s.name, budget)
			}
			for _, side := range []struct{ got, want []Extremes }{{c.ANeurons, ref.ANeurons}, {c.BNeurons, ref.BNeurons}} {
				for i := range side.got {
					g, w := side.got[i], side.want[i]
					if len(g.Top) != K {
						t.Fatalf("%s, budget %d: %d top partners, want %d", s.name, budget, len(g.Top), K)
					}
					for k := range g.Top {
						if g.Top[k].Neuron != w.Top[k].Neuron || math.Abs(g.Top[k].R-w.Top[k].R) > 1e-5 {
							t.Errorf("%s, budget %d, neuron %d: top %d = %+v, unblocked %+v", s.name, budget, i, k, g.Top[k], w.Top[k])
						}
					}
					if g.Max.Neuron != w.Max.Neuron || math.Abs(g.Max.R-w.Max.R) > 1e-5 ||
						g.Min.Neuron != w.Min.Neuron || math.Abs(g.Min.R-w.Min.R) > 1e-5 {
						t.Errorf("%s, budget %d, neuron %d: %+v, unblocked %+v", s.name, budget, i, g, w)
					}
				}
			}
		}
		if !tiled {
			t.Errorf("%s: no budget split the correlation into several sweeps", s.name)
		}
	}
	// The top partners are the reference's.
	for i := range N {
		row := want[i*M : (i+1)*M]
		order := make([]int, M)
		for j := range order {
			order[j] = j
		}
		slices.SortStableFunc(order, func(x, y int) int {
			if math.Abs(row[x]) > math.Abs(row[y]) {
				return -1
			}
			return 1
		})
		for k := range K {
			if ref.ANeurons[i].Top[k].Neuron != order[k] {
				t.Fatalf("neuron %d: top partners %+v, want %v", i, ref.ANeurons[i].Top, order[:K])
			}
		}
	}
}

// planFor returns the plan Correlate would use, or nil when the budget is
// too small.
func planFor(t *testing.T, be engine.Backend, a, b Model, opt Options) *plan {
	t.Helper()
	r, err := newRunner(be, []Model{a, b}, opt)
	if err != nil {
		t.Fatal(err)
	}
	r.addJob(0, 1, opt.Matrix, true)
	p, err := r.plan()
	if err != nil {
		if !strings.Contains(err.Error(), "too small") && !strings.Contains(err.Error(), "more than half") {
			t.Fatal(err)
		}
		return nil
	}
	return p
}

// TestPlanWithinBudget checks the planned memory of the first sweep (the
// largest) against the budget for a range of shapes and budgets, on every backend path.
func TestPlanWithinBudget(t *testing.T) {
	for _, be := range []engine.Backend{cpu.New(), deviceOnly{cpu.New()}, newAsyncDevice()} {
		for _, shape := range [][3]int{{100000, 1024, 1024}, {10000, 8192, 8192}, {500, 3, 4000}, {1 << 20, 50000, 30000}} {
			T, N, M := shape[0], shape[1], shape[2]
			for _, budget := range []int64{64 << 20, 512 << 20, 2 << 30} {
				for _, topK := range []int{0, 5} {
					r := &runner{be: be, tokens: T, opt: Options{Memory: budget, TopK: topK}}
					r.detect()
					r.in = []*input{{n: N}, {n: M}}
					r.addJob(0, 1, false, true)
					p, err := r.plan()
					if err != nil {
						t.Errorf("%v budget %d: %v", shape, budget, err)
						continue
					}
					// The blocks, the ring of block moments (float64 mean
					// and m2 on the device and the host), the panels and
					// the tiles.
					var blocks, ring int64
					for _, in := range r.in {
						blocks += int64(p.blockRows) * 4 * int64(in.n) * r.rowFactor(in)
						ring += int64(p.ringRows) * 32 * int64(in.n)
					}
					if r.up == nil {
						ring = 0 // one row: the O(Σ n) vectors on top
					}
					used := blocks + ring + int64(p.arenaElems+p.stageElems)*4 + int64(p.blockRows)*4*int64(p.panelCols)
					if used > budget-min(processReserve, budget/4) {
						t.Errorf("%v budget %d topK %d: plan uses %d bytes", shape, budget, topK, used)
					}
					nb := (T + p.blockRows - 1) / p.blockRows
					if p.ringRows < 1 || p.ringRows > nb || r.up == nil && p.ringRows != 1 {
						t.Errorf("%v budget %d topK %d: %d ring rows for %d blocks", shape, budget, topK, p.ringRows, nb)
					}
					if r.up != nil && budget >= 512<<20 && N+M <= 2048 && p.ringRows != nb {
						t.Errorf("%v budget %d topK %d: %d ring rows for %d blocks, want one download", shape, budget, topK, p.ringRows, nb)
					}
					want := minBlockRows
					if budget >= 512<<20 && N+M <= 16384 {
						want = targetBlockRows // room for tall blocks
					}
					if p.blockRows < min(T, want) {
						t.Errorf("%v budget %d topK %d: only %d-row blocks", shape, budget, topK, p.blockRows)
					}
					covered := 0
					for _, s := range p.sweeps {
						for _, tl := range s.tiles {
							covered += tl.elems()
						}
					}
					if covered != N*M {
						t.Errorf("%v budget %d: tiles cover %d of %d elements", shape, budget, covered, N*M)
					}
				}
			}
		}
	}
}

// TestReducedPrecision runs the GEMM in TF32 and BF16.
func TestReducedPrecision(t *testing.T) {
	const T, N, M = 800, 12, 10
	r := rng(3)
	a, b := randomActs(r, T, N), randomActs(r, T, M)
	for tk := range T {
		b[tk*M+2] += a[tk*N+5] // a strong correlation, not only noise
	}
	want := refCorr(a, N, b, M, T)
	for _, c := range []struct {
		p   engine.Precision
		tol float64
	}{{engine.TF32, 3e-3}, {engine.BF16, 2e-2}} {
		got, err := Correlate(cpu.New(), Model{"a", mem(t, a, T, N)}, Model{"b", mem(t, b, T, M)},
			Options{Precision: c.p, Matrix: true, Memory: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		d := maxDiff(got.R, want)
		if d > c.tol {
			t.Errorf("%v: max |r − float64| = %.2g > %g", c.p, d, c.tol)
		}
		if d == 0 {
			t.Errorf("%v: result identical to float64: precision not in effect", c.p)
		}
	}
}

// TestConstantNeurons: zero-variance neurons get r = 0 and a warning.
func TestConstantNeurons(t *testing.T) {
	const T, N, M = 300, 6, 5
	r := rng(4)
	a, b := randomActs(r, T, N), randomActs(r, T, M)
	for tk := range T {
		a[tk*N+3] = 7.25
		b[tk*M+0] = 0
	}
	for _, s := range setups() {
		c, err := Correlate(s.be, Model{"a", s.src(mem(t, a, T, N))}, Model{"b", s.src(mem(t, b, T, M))}, Options{Matrix: true, TopK: 2})
		if err != nil {
			t.Fatal(err)
		}
		for i := range N {
			for j := range M {
				v := c.At(i, j)
				if math.IsNaN(v) || ((i == 3 || j == 0) && v != 0) {
					t.Errorf("%s: r(%d, %d) = %v", s.name, i, j, v)
				}
			}
		}
		if !slices.Equal(c.ConstantA, []int{3}) || !slices.Equal(c.ConstantB, []int{0}) {
			t.Errorf("%s: constant neurons %v %v", s.name, c.ConstantA, c.ConstantB)
		}
		w := strings.Join(c.Warnings, "\n")
		if !strings.Contains(w, `"a": 1 constant neurons`) || !strings.Contains(w, `"b": 1 constant`) {
			t.Errorf("%s: warnings %q", s.name, w)
		}
		if e := c.ANeurons[3]; e.Max.R != 0 || e.Min.R != 0 || e.Top[0].R != 0 {
			t.Errorf("%s: constant neuron's extremes %+v", s.name, e)
		}
	}
	rk, err := Rank(cpu.New(), []Model{{"a", mem(t, a, T, N)}, {"b", mem(t, b, T, M)}}, MaxCorr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range rk.Models[0].Ranking {
		if n.Neuron == 3 && (n.Score != 0 || n.Partner.Model != -1 || n.Partner.Neuron != -1) {
			t.Errorf("constant neuron ranked %+v", n)
		}
	}
	if last := rk.Models[0].Ranking[N-1]; last.Neuron != 3 {
		t.Errorf("constant neuron not last: %+v", rk.Models[0].Ranking)
	}
	// A Subset source's warning names the model's neuron, not the column.
	sub := subset{mem(t, a, T, N), 100}
	rk, err = Rank(cpu.New(), []Model{{"a", sub}, {"b", mem(t, b, T, M)}}, MaxCorr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(rk.Warnings, "\n"); !strings.Contains(w, `"a": 1 constant neurons (σ at most 1e-7 of |mean|, float32's resolution, or 0) have r = 0 with every neuron: 103`) {
		t.Errorf("warnings of a subset source: %q", w)
	}
}

// subset is a Source whose column i is neuron offset+i of a larger model.
type subset struct {
	*Memory
	offset int
}

func (s subset) Neuron(i int) int { return s.offset + i }

// TestNonFinite: a NaN or Inf is an error naming model, token row and
// neuron, on every path and in any block.
func TestNonFinite(t *testing.T) {
	const T, N, M = 400, 5, 7
	r := rng(5)
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		for _, s := range setups() {
			a, b := randomActs(r, T, N), randomActs(r, T, M)
			b[323*M+4] = bad
			_, err := Correlate(s.be, Model{"a", s.src(mem(t, a, T, N))}, Model{"b", s.src(mem(t, b, T, M))}, Options{Memory: 8 << 10})
			if err == nil {
				t.Fatalf("%s: %v accepted", s.name, bad)
			}
			for _, want := range []string{`"b"`, "token row 323", "neuron 4", "not finite"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s: error %q lacks %q", s.name, err, want)
				}
			}
		}
	}
}

// TestMisaligned: different token counts, sentence boundaries or tokens.
func TestMisaligned(t *testing.T) {
	r := rng(6)
	be := cpu.New()
	a := mem(t, randomActs(r, 100, 3), 100, 3)
	b := mem(t, randomActs(r, 101, 4), 101, 4)
	_, err := Correlate(be, Model{"first", a}, Model{"second", b}, Options{})
	if err == nil || !strings.Contains(err.Error(), `"first" has 100`) || !strings.Contains(err.Error(), `"second" has 101`) {
		t.Errorf("token count mismatch: %v", err)
	}
	sents := func(words ...string) [][]string {
		var s [][]string
		for _, w := range words {
			s = append(s, strings.Fields(w))
		}
		return s
	}
	base := sents("the cat sat", "on the mat", "it was warm")
	x := randomActs(r, 9, 2)
	y := randomActs(r, 9, 2)
	for _, c := range []struct {
		other [][]string
		want  []string
	}{
		{sents("the cat sat", "on the mat", "it is warm"), []string{"sentence 2", `token 1: "was" vs "is"`, `["it" "was" "warm"]`}},
		{sents("the cat", "sat on the mat", "it was warm"), []string{"sentence 0", `token 2: "sat" vs (end of sentence)`}},
		{sents("the cat sat", "on the mat it", "was warm"), []string{"sentence 1"}},
	} {
		ma, err := NewMemory(x, 9, 2, base)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := NewMemory(y, 9, 2, c.other)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Rank(be, []Model{{"a", ma}, {"b", mem(t, y, 9, 2)}, {"c", mb}}, MaxCorr, Options{})
		if err == nil {
			t.Fatalf("%v accepted", c.other)
		}
		for _, w := range append(c.want, `"a" and "c"`) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
	}
	if _, err := Rank(be, []Model{{"a", a}}, MaxCorr, Options{}); err == nil {
		t.Error("one model accepted")
	}
}

// TestBudgetErrors: a budget too small for the blocks, or for the matrix.
func TestBudgetErrors(t *testing.T) {
	r := rng(7)
	a, b := mem(t, randomActs(r, 1000, 40), 1000, 40), mem(t, randomActs(r, 1000, 30), 1000, 30)
	if _, err := Correlate(cpu.New(), Model{"a", a}, Model{"b", b}, Options{Memory: 1000}); err == nil || !strings.Contains(err.Error(), "too small") {
		t.Errorf("tiny budget: %v", err)
	}
	if _, err := Correlate(cpu.New(), Model{"a", a}, Model{"b", b}, Options{Memory: 8000, Matrix: true}); err == nil || !strings.Contains(err.Error(), "more than half") {
		t.Errorf("matrix over budget: %v", err)
	}
}

// TestProgressAndJSON: progress adds up, and the JSON field names are the
// documented ones.
func TestProgressAndJSON(t *testing.T) {
	const T = 200
	r := rng(8)
	models := []Model{{"a", mem(t, randomActs(r, T, 4), T, 4)}, {"b", mem(t, randomActs(r, T, 3), T, 3)}}
	rep := &countingReporter{t: t}
	rk, err := Rank(cpu.New(), models, SVCCA, Options{Progress: rep, Memory: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	rep.check()
	js, err := json.Marshal(rk)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"method":"svcca"`, `"tokens":200`, `"models":[{"model":"a","neurons":4,"ranking":[{"neuron":`,
		`"score":`, `"partner":{"model":1,"model_name":"b","neuron":`, `"r":`, `"svcca_dims":`, `"canonical":[{"a":0,"b":1,"dims_a":`, `"correlations":[`, `"mean":`} {
		if !strings.Contains(string(js), key) {
			t.Errorf("JSON lacks %s: %s", key, js)
		}
	}
}

// TestShiftedBlocks: the blocks are standardized with a sample's mean and
// σ and corrected with the exact moments afterwards, which must not cost
// accuracy where the sample is a poor guess: means 1000σ from 0, a step of
// 3σ in every neuron's mean half way through the tokens, and a pair of
// nearly constant neurons (σ = 1e-6·|μ|, a few float32 steps) that share
// a signal (with the means subtracted in float32, as grain did before the
// sampled shift, FP32 was off by 3.7e-5 here), and a neuron that is
// constant on the sampled rows (scale 1) but not elsewhere. Every backend
// path, FP32
// within 1e-5 of float64 and TF32 within 3e-3, the double-buffered path
// included (TF32 there: neuron-major, the moments from
// StandardizeRoundedTMoments).
func TestShiftedBlocks(t *testing.T) {
	const T, N, M = 3000, 7, 6
	r := rng(21)
	a, b := make([]float32, T*N), make([]float32, T*M)
	shared := make([]float64, T)
	for tk := range T {
		shared[tk] = r.NormFloat64()
	}
	fill := func(x []float32, n int, sign float64) {
		for j := range n {
			mu, sd := 1000*(1+float64(j)), 0.5+float64(j)/4
			for tk := range T {
				v := mu + sd*r.NormFloat64()
				if tk >= T/2 {
					v += 3 * sd
				}
				if j == 1 {
					v += sign * sd * shared[tk]
				}
				x[tk*n+j] = float32(v)
			}
		}
		for tk := range T { // nearly constant, sharing the signal
			x[tk*n+n-1] = float32(5000 + 0.005*(shared[tk]+0.3*r.NormFloat64()))
		}
	}
	fill(a, N, 1)
	fill(b, M, -1)
	sampled := map[int]bool{}
	for k := range sampleRows {
		sampled[SampleRow(k, T)] = true
	}
	for tk := range T { // 7 on the sampled rows, spikes on a third of the others
		a[tk*N+2] = 7
		if !sampled[tk] && tk%3 == 0 {
			a[tk*N+2] += float32(shared[tk] + 0.5*r.NormFloat64())
		}
	}
	std, err := SampleStandardization(mem(t, a, T, N))
	if err != nil {
		t.Fatal(err)
	}
	if std.Scale[2] != 1 || std.Shift[2] != 7 {
		t.Fatalf("sparse neuron: the sample gives shift %v, scale %v, want 7 and 1", std.Shift[2], std.Scale[2])
	}
	want := refCorr(a, N, b, M, T)
	if w := want[(N-1)*M+M-1]; w < 0.85 {
		t.Fatalf("the nearly constant neurons correlate by %.3f only", w)
	}
	all := append(setups(), setup{"async/read", newAsyncDevice(), func(m *Memory) Source { return readOnly{m} }})
	for _, s := range all {
		for _, c := range []struct {
			p   engine.Precision
			tol float64
		}{{engine.FP32, 1e-5}, {engine.TF32, 3e-3}} {
			got, err := Correlate(s.be, Model{"a", s.src(mem(t, a, T, N))}, Model{"b", s.src(mem(t, b, T, M))},
				Options{Precision: c.p, Matrix: true, Memory: 64 << 10})
			if err != nil {
				t.Fatal(err)
			}
			d := maxDiff(got.R, want)
			if d > c.tol {
				t.Errorf("%s, %v: max |r − float64| = %.2g > %g", s.name, c.p, d, c.tol)
			}
			t.Logf("%s, %v: max |r − float64| = %.2g", s.name, c.p, d)
		}
	}
}

// TestSampleRow: one row from each stretch of the tokens, in order, every
// row when there are at most sampleRows, and, for tokens in sentences of
// 40 tokens, 256·40·3 of them (each stretch three sentences long), rows at
// many positions within their sentences.
func TestSampleRow(t *testing.T) {
	for _, T := range []int{1, 7, sampleRows, sampleRows + 1, 2000, 3 * sampleRows * 40, 1<<31 - 1} {
		S, prev, positions := min(T, sampleRows), -1, map[int]bool{}
		for k := range S {
			row := SampleRow(k, T)
			lo, hi := (k*T+S-1)/S, ((k+1)*T+S-1)/S
			if row <= prev || row < lo || row >= hi {
				t.Fatalf("T = %d: row %d of stretch %d is outside [%d, %d) or not after %d", T, row, k, lo, hi, prev)
			}
			prev = row
			positions[row%40] = true
		}
		if T <= sampleRows && prev != T-1 {
			t.Errorf("T = %d: the sample is not every row", T)
		}
		if T == 3*sampleRows*40 && len(positions) < 30 {
			t.Errorf("T = %d: the sample has only %d of 40 positions in a sentence", T, len(positions))
		}
	}
}

// TestCentredOverflowIsAnError: a neuron whose finite activations, ±2e38,
// would overflow float32 once centred (x − μ beyond 3.4e38) is an error
// naming its model and neuron, for every method, instead of NaN
// correlations; the same neuron scaled by 1e-38 correlates as usual.
func TestCentredOverflowIsAnError(t *testing.T) {
	const T, N = 1200, 3
	r := rng(31)
	a, b := randomActs(r, T, N), randomActs(r, T, 2)
	for tk := range T {
		a[tk*N] = -2e38
		if tk%10 == 0 {
			a[tk*N] = 2e38
		}
		b[tk*2+1] = a[tk*N] / 1e38
	}
	models := []Model{{"a", mem(t, a, T, N)}, {"b", mem(t, b, T, 2)}}
	for _, m := range Methods {
		_, err := Rank(cpu.New(), models, m, Options{})
		if err == nil || !strings.Contains(err.Error(), `model "a", neuron 0: activations of mean -1.6e+38 and σ 1.2e+38 may lie beyond float32's range once centred`) {
			t.Errorf("%s: %v", m, err)
		}
	}
	for tk := range T {
		a[tk*N] /= 1e38
	}
	rk, err := Rank(cpu.New(), []Model{{"a", mem(t, a, T, N)}, {"b", mem(t, b, T, 2)}}, MaxCorr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rk.Models[0].Ranking {
		if e.Neuron == 0 && (e.Partner.Neuron != 1 || math.Abs(e.Partner.R-1) > 1e-5) {
			t.Errorf("rescaled neuron 0: partner %+v, want neuron 1 at r = 1", e.Partner)
		}
	}
}

// TestAtypicalSample: when the sampled rows are not typical of the tokens
// (one neuron whose spread there is 1e-20 of its spread elsewhere, which
// would overflow float32 products; or one 40σ from its mean there), the
// first sweep is made again with the exact moments, reported by a second
// progress bar, and r keeps float64's accuracy, on every path (TF32 on
// the double-buffered one: neuron-major) and with several blocks. Typical
// data take one pass: Gaussian neurons, and a sparse one (2 of 200,000
// tokens non-zero, one of them sampled: |g| ≈ 1.2).
func TestAtypicalSample(t *testing.T) {
	const N, M = 6, 5
	r := rng(31)
	type dataset struct {
		name     string
		T        int
		a, b     []float32
		atypical bool
	}
	build := func(name string, T int, atypical bool, edit func(a []float32, sampled map[int]bool, v []float64)) dataset {
		a, b := randomActs(r, T, N), randomActs(r, T, M)
		v := make([]float64, T)
		for tk := range T {
			v[tk] = r.NormFloat64()
			b[tk*M+1] = float32(v[tk] + 0.5*r.NormFloat64())
		}
		sampled := map[int]bool{}
		for k := range min(T, sampleRows) {
			sampled[SampleRow(k, T)] = true
		}
		edit(a, sampled, v)
		return dataset{name, T, a, b, atypical}
	}
	sets := []dataset{
		build("spread 1e-20 on the sample", 3000, true, func(a []float32, sampled map[int]bool, v []float64) {
			for tk := range v {
				a[tk*N+2] = float32(v[tk])
				if sampled[tk] {
					a[tk*N+2] *= 1e-20
				}
			}
		}),
		build("40σ off on the sample", 3000, true, func(a []float32, sampled map[int]bool, v []float64) {
			for tk := range v {
				a[tk*N+4] = float32(v[tk] + r.NormFloat64())
				if sampled[tk] {
					a[tk*N+4] += 40
				}
			}
		}),
		build("Gaussian", 3000, false, func([]float32, map[int]bool, []float64) {}),
		build("sparse", 200000, false, func(a []float32, sampled map[int]bool, v []float64) {
			hit := SampleRow(100, len(v))
			for tk := range v {
				a[tk*N+3] = 0
			}
			a[hit*N+3], a[(hit+1)*N+3] = 3, 5
			if sampled[hit+1] {
				t.Fatal("the sparse neuron's second row is sampled")
			}
		}),
	}
	for _, d := range sets {
		want := refCorr(d.a, N, d.b, M, d.T)
		for _, s := range append(setups(), setup{"async/read", newAsyncDevice(), func(m *Memory) Source { return readOnly{m} }}) {
			for _, c := range []struct {
				p   engine.Precision
				tol float64
			}{{engine.FP32, 1e-5}, {engine.TF32, 3e-3}} {
				for _, budget := range []int64{0, 24 << 10} {
					rep := &countingReporter{t: t}
					got, err := Correlate(s.be, Model{"a", s.src(mem(t, d.a, d.T, N))}, Model{"b", s.src(mem(t, d.b, d.T, M))},
						Options{Matrix: true, Memory: budget, Precision: c.p, Progress: rep})
					if err != nil {
						t.Fatal(err)
					}
					rep.check()
					what := fmt.Sprintf("%s: %s, %v, budget %d", d.name, s.name, c.p, budget)
					if again := len(rep.bars) > 1 && strings.Contains(rep.bars[1].label, "again"); again != d.atypical {
						t.Errorf("%s: first sweep made again: %v", what, again)
					}
					if dr := maxDiff(got.R, want); dr > c.tol {
						t.Errorf("%s: max |r − float64| = %.2g", what, dr)
					}
				}
			}
		}
	}
}

// TestFirstSweepReadsEveryModel: under budgets that split the MaxCorr
// products of three models into sweeps whose first uses two of the
// models only, the third model's moments still come from the first
// sweep, and the later sweeps, standardized with the exact moments, give
// the scores of one sweep (within 1e-5), on every backend path, with
// typical data and with a sample that is not typical; after such a run
// every model's standardization is the exact one.
func TestFirstSweepReadsEveryModel(t *testing.T) {
	const T, n = 600, 200
	r := rng(41)
	acts := [][]float32{randomActs(r, T, n), randomActs(r, T, n), randomActs(r, T, n)}
	for tk := range T {
		acts[2][tk*n+3] = acts[0][tk*n+5] + 0.3*acts[1][tk*n+7]
	}
	atypical := slices.Clone(acts[2])
	for k := range sampleRows {
		atypical[SampleRow(k, T)*n+3] += 1000
	}
	for _, be := range []engine.Backend{cpu.New(), deviceOnly{cpu.New()}, newAsyncDevice()} {
		for _, third := range [][]float32{acts[2], atypical} {
			var models []Model
			for m, x := range [][]float32{acts[0], acts[1], third} {
				models = append(models, Model{string(rune('a' + m)), mem(t, x, T, n)})
			}
			one, err := Rank(be, models, MaxCorr, Options{})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for budget := int64(256 << 10); budget <= 1<<20; budget += 32 << 10 {
				rn, err := newRunner(be, models, Options{Memory: budget})
				if err != nil {
					t.Fatal(err)
				}
				for a := range 3 {
					for b := a + 1; b < 3; b++ {
						rn.addJob(a, b, false, true)
					}
				}
				p, err := rn.plan()
				if err != nil || len(p.sweeps) < 2 || len(p.sweeps[0].inputs) == 3 {
					continue
				}
				found = true
				if err := rn.run(p); err != nil {
					t.Fatal(err)
				}
				for m, in := range rn.in {
					if ex := Exact(in.stats); !slices.Equal(in.std.Shift, ex.Shift) || !slices.Equal(in.std.Scale, ex.Scale) {
						t.Fatalf("%T, budget %d: model %d is not standardized exactly after %d sweeps", be, budget, m, len(p.sweeps))
					}
				}
				got, err := Rank(be, models, MaxCorr, Options{Memory: budget})
				if err != nil {
					t.Fatal(err)
				}
				for m := range models {
					want := map[int]float64{}
					for _, nr := range one.Models[m].Ranking {
						want[nr.Neuron] = nr.Score
					}
					for _, nr := range got.Models[m].Ranking {
						if d := math.Abs(nr.Score - want[nr.Neuron]); d > 1e-5 {
							t.Fatalf("%T, budget %d (%d sweeps, the first reads models %v): model %d neuron %d scores %g, one sweep %g",
								be, budget, len(p.sweeps), p.sweeps[0].inputs, m, nr.Neuron, nr.Score, want[nr.Neuron])
						}
					}
				}
			}
			if !found {
				t.Errorf("%T: no budget gave several sweeps whose first leaves a model out", be)
			}
		}
	}
}

// TestExactFits: the exact standardization fits, also for a neuron whose
// σ is near the constant threshold (1.3e-7·|μ|, 4 float32 steps), where
// rounding μ to float32 alone moves the shift by 0.45σ; so does a sample
// of every row.
func TestExactFits(t *testing.T) {
	const T = 200
	r := rng(51)
	x := randomActs(r, T, 3)
	one := math.Float32frombits(math.Float32bits(1) + 1) // just above 1: ulps of 2^-23
	for tk := range T {
		x[tk*3+1] = math.Float32frombits(math.Float32bits(one) + uint32(tk%4))
	}
	std, err := SampleStandardization(mem(t, x, T, 3))
	if err != nil {
		t.Fatal(err)
	}
	st := engine.NewColumnStats(3)
	for tk := range T {
		row := make([]float64, 3)
		for j := range row {
			row[j] = float64(x[tk*3+j])
		}
		st.Merge(1, row, make([]float64, 3))
	}
	if inv, _ := st.InvStd(); inv[1] == 0 {
		t.Fatalf("the near-constant neuron counts as constant (σ/μ = %.3g)", math.Sqrt(st.Variance(1))/st.Mean[1])
	}
	if !Exact(st).Fits(st) {
		t.Error("the exact standardization does not fit")
	}
	if !std.Fits(st) { // the sample is every row
		t.Error("the sample of every row does not fit")
	}
}

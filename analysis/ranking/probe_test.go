package ranking

import (
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

func mustRanker(t testing.TB, w [][]float32) *Ranker {
	t.Helper()
	var flat []float32
	for _, row := range w {
		flat = append(flat, row...)
	}
	r, err := NewRanker(flat, len(w), len(w[0]))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantLists(t *testing.T, what string, got [][]int, want ...[]int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d lists, want %d", what, len(got), len(want))
	}
	for l := range want {
		if !slices.Equal(got[l], want[l]) {
			t.Errorf("%s: label %d: %v, want %v", what, l, got[l], want[l])
		}
	}
}

func TestTopNeuronsSpec(t *testing.T) {
	r := mustRanker(t, [][]float32{{5, 1, 1}, {1, 10, 1}})
	wantLists(t, "p=0.5", r.TopNeurons(0.5).PerLabel, []int{0}, []int{1})

	r = mustRanker(t, [][]float32{{4, 1, -5}, {1, -1, 10}}) // signs do not matter
	if u := r.TopNeurons(0).Union; !slices.Equal(u, []int{2}) {
		t.Errorf("p=0 union %v, want [2]", u)
	}
	s := r.TopNeurons(0.51)
	wantLists(t, "p=0.51", s.PerLabel, []int{2, 0}, []int{2})
	if !slices.Equal(s.Union, []int{0, 2}) {
		t.Errorf("p=0.51 union %v", s.Union)
	}
	// Ties come out higher index first: label 1 is 10 (2), 1 (1), 1 (0).
	wantLists(t, "p=1.5", r.TopNeurons(1.5).PerLabel, []int{2, 0, 1}, []int{2, 1, 0})
	o := r.Ordering(DefaultStride)
	if !slices.Equal(o.Neurons, []int{2, 0, 1}) || len(o.Cutoffs) != 101 {
		t.Fatalf("ordering %v with %d cutoffs", o.Neurons, len(o.Cutoffs))
	}
	// Label 0 (cum 5, 9, 10) adds neuron 0 once p > 0.5; label 1 (cum 10,
	// 11, 12) adds neuron 1 once 12p > 10, first at p = 0.84.
	for k, c := range o.Cutoffs {
		want := 1
		switch {
		case k >= 84:
			want = 3
		case k >= 51:
			want = 2
		}
		if c != want {
			t.Errorf("cutoff %d = %d, want %d", k, c, want)
		}
	}
}

func TestBottomNeuronsSpec(t *testing.T) {
	r := mustRanker(t, [][]float32{{5, 4, 1}, {10, 1, 1}})
	s := r.BottomNeurons(0.1)
	wantLists(t, "p=0.1", s.PerLabel, []int{2}, []int{1, 2})
	if !slices.Equal(s.Union, []int{1, 2}) {
		t.Errorf("union %v", s.Union)
	}
	wantLists(t, "p=0", r.BottomNeurons(0).PerLabel, []int{2}, []int{1})
}

func TestHardThresholdSpec(t *testing.T) {
	r := mustRanker(t, [][]float32{{5, 1, 2, 1}, {1, 10, 1, 6}})
	s := r.HardThreshold(2)
	wantLists(t, "fraction 2", s.PerLabel, []int{0}, []int{1, 3})
	if !slices.Equal(s.Union, []int{0, 1, 3}) {
		t.Errorf("union %v, want [0 1 3]", s.Union)
	}
	// Strictly greater: with fraction 1 only the maximum... and its ties.
	r = mustRanker(t, [][]float32{{3, 3, 1}})
	wantLists(t, "fraction 1", r.HardThreshold(1).PerLabel, []int{})
}

func TestAboveOneSelectsAll(t *testing.T) {
	r := mustRanker(t, [][]float32{{1, 2, 3, 0}, {0, 0, 4, 0}})
	for _, p := range []float64{1.01, 2, math.Inf(1)} {
		for _, s := range []Selection{r.TopNeurons(p), r.BottomNeurons(p)} {
			for l, list := range s.PerLabel {
				if len(list) != 4 {
					t.Errorf("p=%v label %d: %v, want all", p, l, list)
				}
			}
			if len(s.Union) != 4 {
				t.Errorf("p=%v union %v", p, s.Union)
			}
		}
	}
	// An all-zero row reaches its zero total at once, even for p > 1: the
	// top neuron only, which for all-equal weights is the highest index.
	r = mustRanker(t, [][]float32{{0, 0, 0, 0}})
	wantLists(t, "zero row", r.TopNeurons(2).PerLabel, []int{3})
	wantLists(t, "zero row", r.BottomNeurons(2).PerLabel, []int{0})
	// At p = 1 both labels stop before their zero weight, which no step
	// selects: it ends the ordering, after the last cutoff.
	r = mustRanker(t, [][]float32{{1, 2, 3, 0}, {1, 1, 1, 0}})
	o := r.Ordering(DefaultStride)
	if !slices.Equal(o.Neurons, []int{2, 1, 0, 3}) || o.Cutoffs[100] != 3 {
		t.Errorf("ordering %v, last cutoff %d", o.Neurons, o.Cutoffs[100])
	}
}

func TestNewRankerErrors(t *testing.T) {
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
		if _, err := NewRanker([]float32{1, v}, 1, 2); err == nil {
			t.Errorf("weight %v accepted", v)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("size mismatch did not panic")
		}
	}()
	NewRanker([]float32{1, 2, 3}, 2, 2)
}

func TestNumPySumSmall(t *testing.T) {
	// 2^24 absorbs each 1 added to it (float32 spacing 2 there), but the
	// eight accumulators sum the ones among themselves first (NumPy gives
	// 16777230 too).
	x := []float32{1 << 24, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	seq := float32(0)
	for _, v := range x {
		seq += v
	}
	if got := NumPySum(x); got != 16777230 || seq != 1<<24 {
		t.Errorf("NumPySum = %v (sequential %v), want 16777230", got, seq)
	}
	if got := NumPySum(x[:7]); got != 1<<24 {
		t.Errorf("n < 8 is sequential: %v", got)
	}
	if NumPySum(nil) != 0 {
		t.Error("empty sum")
	}
}

// naiveTop is NeuroX's get_top_neurons / get_bottom_neurons for one row,
// written out literally: stable argsort (reversed for top), a linear
// cumulative sum and a linear search for the first crossing.
func naiveTop(row []float32, p float64, top bool) []int {
	idx := make([]int, len(row))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return row[idx[a]] < row[idx[b]] })
	if top {
		slices.Reverse(idx)
	}
	total := NumPySum(row)
	var cum float32
	for i, j := range idx {
		cum += row[j]
		if float64(cum) >= float64(float32(float64(total)*p)) {
			return idx[:i+1]
		}
	}
	return idx
}

func naiveMassOrder(w [][]float32, set map[int]bool) []int {
	mass := make([]float64, len(w[0]))
	for _, row := range w {
		for j, v := range row {
			mass[j] += math.Abs(float64(v))
		}
	}
	out := slices.Sorted(maps.Keys(set))
	sort.SliceStable(out, func(a, b int) bool { return mass[out[a]] > mass[out[b]] })
	return out
}

// naiveOrdering is NeuroX's get_neuron_ordering (granularity 0) or
// get_neuron_ordering_granular with sets, plus grain's tail.
func naiveOrdering(w [][]float32, stride, granularity int) Ordering {
	n := len(w[0])
	var unions []map[int]bool
	for k := 0; k <= stride; k++ {
		u := map[int]bool{}
		for _, row := range w {
			abs := make([]float32, n)
			for j, v := range row {
				abs[j] = float32(math.Abs(float64(v)))
			}
			for _, j := range naiveTop(abs, float64(k)/float64(stride), true) {
				u[j] = true
			}
		}
		unions = append(unions, u)
	}
	considered := map[int]bool{}
	var o Ordering
	add := func(u map[int]bool) {
		fresh := map[int]bool{}
		for j := range u {
			if !considered[j] {
				fresh[j], considered[j] = true, true
			}
		}
		o.Neurons = append(o.Neurons, naiveMassOrder(w, fresh)...)
		if granularity == 0 || len(fresh) > 0 {
			o.Cutoffs = append(o.Cutoffs, len(o.Neurons))
		}
	}
	if granularity == 0 {
		for _, u := range unions {
			add(u)
		}
	} else {
		s := 0
	loop:
		for i := 0; i < n+1; i += granularity {
			for len(unions[s]) < i {
				s++
				if s > stride {
					break loop
				}
			}
			add(unions[s])
		}
	}
	rest := map[int]bool{}
	for j := range n {
		if !considered[j] {
			rest[j] = true
		}
	}
	o.Neurons = append(o.Neurons, naiveMassOrder(w, rest)...)
	return o
}

// randomWeights draws a matrix with many exact ties (quantized values, both
// signs), zeros and occasionally an all-zero row.
func randomWeights(g *rand.Rand, labels, neurons int) [][]float32 {
	levels := 1 + g.IntN(20)
	w := make([][]float32, labels)
	for l := range w {
		w[l] = make([]float32, neurons)
		if g.IntN(8) == 0 {
			continue
		}
		for j := range w[l] {
			v := float32(g.IntN(levels)) * 0.37
			if g.IntN(3) == 0 {
				v = float32(g.NormFloat64())
			}
			if g.IntN(2) == 0 {
				v = -v
			}
			w[l][j] = v
		}
	}
	return w
}

// TestMatchesNaiveDefinition checks the sorted-once, binary-search
// implementation against the literal definitions.
func TestMatchesNaiveDefinition(t *testing.T) {
	g := rand.New(rand.NewPCG(11, 12))
	for trial := 0; trial < 60; trial++ {
		labels, neurons := 1+g.IntN(6), 1+g.IntN(300)
		w := randomWeights(g, labels, neurons)
		r := mustRanker(t, w)
		for _, p := range []float64{0, 0.05, 0.25, 1.0 / 3, 0.5, 0.51, 0.9, 0.999, 1, 1.2} {
			top, bottom := r.TopNeurons(p), r.BottomNeurons(p)
			for l, row := range w {
				abs := make([]float32, neurons)
				for j, v := range row {
					abs[j] = float32(math.Abs(float64(v)))
				}
				if want := naiveTop(abs, p, true); !slices.Equal(top.PerLabel[l], want) {
					t.Fatalf("trial %d top p=%v label %d: %v, want %v", trial, p, l, top.PerLabel[l], want)
				}
				if want := naiveTop(abs, p, false); !slices.Equal(bottom.PerLabel[l], want) {
					t.Fatalf("trial %d bottom p=%v label %d: %v, want %v", trial, p, l, bottom.PerLabel[l], want)
				}
			}
		}
		stride := []int{1, 7, 100}[g.IntN(3)]
		if got, want := r.Ordering(stride), naiveOrdering(w, stride, 0); !slices.Equal(got.Neurons, want.Neurons) || !slices.Equal(got.Cutoffs, want.Cutoffs) {
			t.Fatalf("trial %d ordering(%d):\n%v\n%v\nwant\n%v\n%v", trial, stride, got.Neurons, got.Cutoffs, want.Neurons, want.Cutoffs)
		}
		gran := 1 + g.IntN(60)
		if got, want := r.GranularOrdering(gran, stride), naiveOrdering(w, stride, gran); !slices.Equal(got.Neurons, want.Neurons) || !slices.Equal(got.Cutoffs, want.Cutoffs) {
			t.Fatalf("trial %d granular(%d, %d):\n%v\n%v\nwant\n%v\n%v", trial, gran, stride, got.Neurons, got.Cutoffs, want.Neurons, want.Cutoffs)
		}
	}
}

func isPermutation(o []int, n int) bool {
	return len(o) == n && slices.Equal(slices.Sorted(slices.Values(o)), naturals(n))
}

func naturals(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestGranularOrdering(t *testing.T) {
	// Small integers sum exactly, so each label's running sum reaches its
	// total exactly at its last non-zero weight.
	g := rand.New(rand.NewPCG(1, 1))
	w := make([][]float32, 4)
	for l := range w {
		w[l] = make([]float32, 500)
		for j := range w[l] {
			w[l][j] = float32(1 + g.IntN(1000))
		}
	}
	r := mustRanker(t, w)
	o := r.GranularOrdering(DefaultGranularity, DefaultStride)
	if !isPermutation(o.Neurons, 500) || o.Cutoffs[len(o.Cutoffs)-1] != 500 {
		t.Fatalf("granular ordering not complete: %d cutoffs, last %d", len(o.Cutoffs), o.Cutoffs[len(o.Cutoffs)-1])
	}
	for i := 1; i < len(o.Cutoffs); i++ {
		if o.Cutoffs[i] <= o.Cutoffs[i-1] {
			t.Fatalf("cutoffs not increasing: %v", o.Cutoffs)
		}
	}
	// Half the neurons are zero everywhere: no step selects them, so NeuroX
	// would index past the last union; grain stops and appends them.
	for l := range w {
		for j := 250; j < 500; j++ {
			w[l][j] = 0
		}
	}
	r = mustRanker(t, w)
	o = r.GranularOrdering(DefaultGranularity, DefaultStride)
	last := o.Cutoffs[len(o.Cutoffs)-1]
	if !isPermutation(o.Neurons, 500) || last > 250 || !slices.Equal(slices.Sorted(slices.Values(o.Neurons[250:])), naturals(500)[250:]) {
		t.Errorf("zero neurons not appended at the end (last cutoff %d)", last)
	}
}

func TestFixedBottomAndPercent(t *testing.T) {
	g := rand.New(rand.NewPCG(2, 2))
	w := randomWeights(g, 3, 200)
	r := mustRanker(t, w)
	o := r.Ordering(DefaultStride)
	if !isPermutation(o.Neurons, 200) {
		t.Fatal("ordering is not a permutation")
	}
	if b := r.FixedBottom(7); !slices.Equal(b, o.Neurons[193:]) {
		t.Errorf("FixedBottom(7) = %v, want %v", b, o.Neurons[193:])
	}
	if b := r.FixedBottom(0); len(b) != 0 {
		t.Errorf("FixedBottom(0) = %v", b)
	}
	for _, c := range []struct {
		n       int
		percent float64
		want    int
	}{{2048, 10, 205}, {1001, 50, 501}, {10, 0, 0}, {10, 100, 10}, {3, 50, 2}, {200, 2.5, 5}} {
		if got := PercentCount(c.n, c.percent); got != c.want {
			t.Errorf("PercentCount(%d, %v) = %d, want %d", c.n, c.percent, got, c.want)
		}
	}
	if top := TopPercent(o.Neurons, 200, 10); !slices.Equal(top, o.Neurons[:20]) {
		t.Errorf("TopPercent = %v", top)
	}
	if bottom := BottomPercent(o.Neurons, 200, 10); !slices.Equal(bottom, o.Neurons[180:]) {
		t.Errorf("BottomPercent = %v", bottom)
	}
	for name, f := range map[string]func(){
		"percent > 100":   func() { PercentCount(10, 101) },
		"percent NaN":     func() { PercentCount(10, math.NaN()) },
		"short ordering":  func() { TopPercent([]int{1}, 10, 50) },
		"fixed bottom":    func() { r.FixedBottom(201) },
		"stride 0":        func() { r.Ordering(0) },
		"granularity 0":   func() { r.GranularOrdering(0, 10) },
		"bottom too many": func() { BottomPercent([]int{1}, 10, 50) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestRandom(t *testing.T) {
	a, b := Random(10000, 0.3, 42), Random(10000, 0.3, 42)
	if !slices.Equal(a, b) {
		t.Error("same seed, different selection")
	}
	if c := Random(10000, 0.3, 43); slices.Equal(a, c) {
		t.Error("different seeds, same selection")
	}
	if n := len(a); n < 2800 || n > 3200 || !slices.IsSorted(a) {
		t.Errorf("%d of 10000 selected at q = 0.3", n)
	}
	if len(Random(100, 1, 1)) != 100 || len(Random(100, 0, 1)) != 0 {
		t.Error("q = 1 must select all, q = 0 none")
	}
}

// BenchmarkOrdering45x10000 times Ordering(100) on a 45 × 10,000 probe,
// including building the Ranker.
func BenchmarkOrdering45x10000(b *testing.B) {
	g := rand.New(rand.NewPCG(3, 3))
	w := make([]float32, 45*10000)
	for i := range w {
		w[i] = float32(g.NormFloat64())
	}
	for b.Loop() {
		r, err := NewRanker(w, 45, 10000)
		if err != nil {
			b.Fatal(err)
		}
		r.Ordering(DefaultStride)
	}
}

func TestPickNeurons(t *testing.T) {
	ord := []int{4, 2, 0, 1, 3, 9, 8, 7, 6, 5}
	top, _ := PickNeurons(PickTop, ord, 10, 20, 1)
	bot, _ := PickNeurons(PickBottom, ord, 10, 20, 1)
	rnd, _ := PickNeurons(PickRandom, ord, 10, 20, 1)
	if !slices.Equal(top, []int{2, 4}) || !slices.Equal(bot, []int{5, 6}) || len(rnd) != 2 || rnd[0] >= rnd[1] {
		t.Fatalf("top %v bottom %v random %v", top, bot, rnd)
	}
	// Random depends on the seed and the percentage only, not the ordering.
	again, _ := PickNeurons(PickRandom, nil, 10, 20, 1)
	other, _ := PickNeurons(PickRandom, nil, 10, 20, 2)
	if !slices.Equal(again, rnd) || slices.Equal(other, rnd) && len(other) != 2 {
		t.Fatalf("random: %v, again %v, other seed %v", rnd, again, other)
	}
	for name, f := range map[string]func() ([]int, error){
		"short ordering": func() ([]int, error) { return PickNeurons(PickTop, ord[:1], 10, 20, 1) },
		"unknown pick":   func() ([]int, error) { return PickNeurons("middle", ord, 10, 20, 1) },
		"percent > 100":  func() ([]int, error) { return PickNeurons(PickBottom, ord, 10, 120, 1) },
	} {
		if _, err := f(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

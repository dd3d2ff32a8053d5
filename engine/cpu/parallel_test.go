package cpu

import (
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"

	"github.com/grainlab/grain/engine"
)

// TestParallelSumIndependentOfCores: a sum whose rounding depends on how
// it is cut gives the same bits on 1, 2, 3 and 8 cores.
func TestParallelSumIndependentOfCores(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x := make([]float64, 300_000)
	for i := range x {
		x[i] = math.Ldexp(r.NormFloat64(), r.IntN(60)-30)
	}
	sum := func(lo, hi int) float64 {
		var s float64
		for _, v := range x[lo:hi] {
			s += v
		}
		return s
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var want float64
	for i, procs := range []int{1, 2, 3, 8} {
		runtime.GOMAXPROCS(procs)
		got := parallelSum(len(x), 1, sum)
		if i == 0 {
			want = got
		} else if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("GOMAXPROCS %d: sum %v, on 1 core %v", procs, got, want)
		}
	}
	if sumParts(len(x), 1) < 2 || sumParts(0, 1) != 0 || sumParts(10, 1) != 1 {
		t.Fatalf("sumParts %d, %d, %d", sumParts(len(x), 1), sumParts(0, 1), sumParts(10, 1))
	}
}

// TestVectorKernelsIndependentOfCores: Adam and ColMoments, whose AVX2
// loops round differently from their scalar tails, give the same bits on 1,
// 2, 3 and 8 cores at sizes that are not multiples of their vector widths
// (on 2 cores Adam's m and v differed by an ulp at 10,010 elements, and
// ColMoments' m2 on data spanning 2^±20, before parallelAligned).
func TestVectorKernelsIndependentOfCores(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	randn := func(n, spread int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(math.Ldexp(r.NormFloat64(), r.IntN(2*spread+1)-spread))
		}
		return x
	}
	const n, rows, cols = 10_010, 4_001, 11
	p0, g, x := randn(n, 2), randn(n, 2), randn(rows*cols, 20)
	run := func() (p, m, v []float32, mean, m2 []float64) {
		b := New()
		tp, _ := engine.AllocFrom(b, 1, n, p0)
		tg, _ := engine.AllocFrom(b, 1, n, g)
		tm, _ := b.Alloc(1, n, engine.Float32)
		tv, _ := b.Alloc(1, n, engine.Float32)
		for step := 1; step <= 5; step++ {
			b.AdamUpdate(tp, tg, tm, tv, engine.Adam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: step, L1: 1e-4, L2Scale: 1e-4})
		}
		tx, _ := engine.AllocFrom(b, rows, cols, x)
		tmean, _ := b.Alloc(1, cols, engine.Float64)
		tm2, _ := b.Alloc(1, cols, engine.Float64)
		b.ColMoments(tx, tmean, tm2)
		return Float32s(tp), Float32s(tm), Float32s(tv), Float64s(tmean), Float64s(tm2)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(1)
	wp, wm, wv, wmean, wm2 := run()
	for _, procs := range []int{2, 3, 8} {
		runtime.GOMAXPROCS(procs)
		p, m, v, mean, m2 := run()
		for _, c := range []struct {
			what      string
			got, want any
		}{{"Adam p", p, wp}, {"Adam m", m, wm}, {"Adam v", v, wv}, {"ColMoments mean", mean, wmean}, {"ColMoments m2", m2, wm2}} {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("GOMAXPROCS %d: %s differs from 1 core", procs, c.what)
			}
		}
	}
}

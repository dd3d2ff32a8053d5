package cpu

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
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

package cpu

import (
	"runtime"
	"sync"
)

// minWork is the number of element-operations below which an operation runs
// on the calling goroutine: splitting smaller work costs more than it saves.
const minWork = 1 << 15

// workers returns how many contiguous ranges [0, n) is split into: one per
// core (GOMAXPROCS), or one when n·cost (the work) is below minWork. The
// split depends only on n, cost and GOMAXPROCS, never on scheduling.
func workers(n, cost int) int {
	w := min(runtime.GOMAXPROCS(0), n)
	if n*cost < minWork {
		w = min(1, n)
	}
	return w
}

// parallel calls fn on each of workers(n, cost) equal, contiguous ranges of
// [0, n) concurrently. cost is the work per index (e.g. the row length).
func parallel(n, cost int, fn func(lo, hi int)) {
	w := workers(n, cost)
	parallelParts(w, func(p int) { fn(n*p/w, n*(p+1)/w) })
}

// parallelAligned is parallel with every range boundary but n a multiple of
// align, for kernels whose vector loop and scalar tail round differently
// (the AVX2 code is compiled with FMA contraction): each index then takes
// the same path on any number of cores, the scalar tail only the last
// n mod align indices, as on one core.
func parallelAligned(n, align, cost int, fn func(lo, hi int)) {
	w := workers(n, cost)
	cut := func(p int) int {
		if p == w {
			return n
		}
		return n * p / w / align * align
	}
	parallelParts(w, func(p int) { fn(cut(p), cut(p+1)) })
}

// parallelSum is parallel for range functions that return a float64 partial
// sum. [0, n) is cut into sumParts(n, cost) equal ranges, which depend on n
// and cost only (not on GOMAXPROCS), the ranges are shared among the cores,
// and the partials are added in range order: the total is the same on any
// number of cores.
func parallelSum(n, cost int, fn func(lo, hi int) float64) float64 {
	parts := sumParts(n, cost)
	sums := make([]float64, parts)
	w := min(runtime.GOMAXPROCS(0), parts)
	parallelParts(w, func(p int) {
		for q := p; q < parts; q += w {
			sums[q] = fn(n*q/parts, n*(q+1)/parts)
		}
	})
	var s float64
	for _, v := range sums {
		s += v
	}
	return s
}

// sumParts is the number of ranges parallelSum cuts [0, n) into: one per
// minWork element-operations, at least 1 (0 when n is 0) and at most 64.
func sumParts(n, cost int) int {
	if n == 0 {
		return 0
	}
	return max(1, min(n, n*cost/minWork, 64))
}

// parallelParts calls fn(0), ..., fn(parts−1) concurrently (fn(0) alone on
// the calling goroutine when parts is 1; nothing when it is 0).
func parallelParts(parts int, fn func(p int)) {
	switch parts {
	case 0:
		return
	case 1:
		fn(0)
		return
	}
	var wg sync.WaitGroup
	for p := 0; p < parts; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(p)
		}()
	}
	wg.Wait()
}

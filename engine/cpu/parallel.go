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

// parallelSum is parallel for range functions that return a float64 partial
// sum; the partials are added in range order, so the total is deterministic.
func parallelSum(n, cost int, fn func(lo, hi int) float64) float64 {
	w := workers(n, cost)
	parts := make([]float64, w)
	parallelParts(w, func(p int) { parts[p] = fn(n*p/w, n*(p+1)/w) })
	var s float64
	for _, v := range parts {
		s += v
	}
	return s
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

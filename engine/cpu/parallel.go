package cpu

import (
	"runtime"
	"sync"
)

// minWork is the number of element-operations below which an operation runs
// on the calling goroutine: splitting smaller work costs more than it saves.
const minWork = 1 << 15

// parallel splits [0, n) into at most GOMAXPROCS contiguous, equal ranges and
// calls fn on each concurrently. cost is the work per index (e.g. the row
// length), used only to decide whether splitting pays. The ranges depend only
// on n and GOMAXPROCS, never on scheduling.
func parallel(n, cost int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	if workers <= 1 || n*cost < minWork {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

// parallelSum is parallel for range functions that return a float64 partial
// sum; the partials are added in range order, so the total is deterministic.
func parallelSum(n, cost int, fn func(lo, hi int) float64) float64 {
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	if workers <= 1 || n*cost < minWork {
		if n == 0 {
			return 0
		}
		return fn(0, n)
	}
	parts := make([]float64, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[w] = fn(lo, hi)
		}()
	}
	wg.Wait()
	var s float64
	for _, p := range parts {
		s += p
	}
	return s
}

// parallelParts calls fn(0), ..., fn(parts−1) concurrently.
func parallelParts(parts int, fn func(p int)) {
	if parts <= 1 {
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

package main

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/grainlab/grain/analysis/crosscorr"
	"github.com/grainlab/grain/engine"
)

// poolSource serves T tokens of pool rows repeated (token t is pool row
// t mod P) as a crosscorr source in host memory.
type poolSource struct {
	data               []float32
	pool, tokens, cols int
	scratch            []float32
}

func (s *poolSource) NumTokens() int  { return s.tokens }
func (s *poolSource) NumNeurons() int { return s.cols }

// ReadRows copies rows [start, start+n) into dst.
func (s *poolSource) ReadRows(start, n int, dst []float32) error {
	if start < 0 || n < 0 || start+n > s.tokens || len(dst) < n*s.cols {
		return fmt.Errorf("rows [%d, %d) of %d", start, start+n, s.tokens)
	}
	for n > 0 {
		p := start % s.pool
		k := min(n, s.pool-p)
		parallelCopy(dst[:k*s.cols], s.data[p*s.cols:(p+k)*s.cols])
		dst, start, n = dst[k*s.cols:], start+k, n-k
	}
	return nil
}

// parallelCopy copies large slices with several goroutines (one core's
// memcpy is slower than the GPU's host link).
func parallelCopy(dst, src []float32) {
	const parts = 8
	if len(src) < 1<<20 {
		copy(dst, src)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < parts; i++ {
		lo, hi := len(src)*i/parts, len(src)*(i+1)/parts
		wg.Add(1)
		go func() {
			defer wg.Done()
			copy(dst[lo:hi], src[lo:hi])
		}()
	}
	wg.Wait()
}

// ViewRows returns rows in place when they do not wrap around the pool,
// else a copy in a buffer reused by the next call.
func (s *poolSource) ViewRows(start, n int) ([]float32, error) {
	if p := start % s.pool; p+n <= s.pool && start+n <= s.tokens {
		return s.data[p*s.cols : (p+n)*s.cols], nil
	}
	if cap(s.scratch) < n*s.cols {
		s.scratch = make([]float32, n*s.cols)
	}
	s.scratch = s.scratch[:n*s.cols]
	return s.scratch, s.ReadRows(start, n, s.scratch)
}

// uploading hides a backend's optional interfaces (engine.AsyncUploader,
// engine.PreRounded), so that crosscorr takes its uploading path: blocks
// copied with Upload from pageable memory, moments downloaded after every
// block, rounding copies in every reduced-precision GEMM.
type uploading struct{ engine.Backend }

func correlateCmd(args []string) error {
	fs := flags("correlate")
	device := fs.String("device", "cuda", "grain device")
	n := fs.Int("n", 4096, "neurons of model A")
	m := fs.Int("m", 4096, "neurons of model B")
	tokenList := fs.String("tokens", "100000", "token counts T")
	prec := fs.String("prec", "tf32", "GEMM precision")
	pool := fs.Int("pool", 32768, "distinct tokens")
	memory := fs.Int64("memory", 8<<30, "crosscorr memory budget in bytes")
	sample := fs.Int("sample", 16, "neurons of A checked against float64")
	fs.Parse(args)
	tokens, err := ints(*tokenList)
	if err != nil {
		return err
	}
	p, err := engine.ParsePrecision(*prec)
	if err != nil {
		return err
	}
	b, err := open(*device)
	if err != nil {
		return err
	}
	_, async := b.(engine.AsyncUploader)
	_, rounded := b.(engine.PreRounded)
	fmt.Printf("crosscorr on %s (engine.AsyncUploader %v: the double-buffered path; engine.PreRounded %v), then on its uploading path (both hidden)\n",
		b.Name(), async, rounded)
	pa, pb, err := latentPools(b, *pool, *n, *m, 1)
	if err != nil {
		return err
	}
	rows := make([]int, *sample)
	for k := range rows {
		rows[k] = k * *n / *sample
	}
	for _, T := range tokens {
		ref := reference(pa, pb, *pool, *n, *m, T, rows)
		src := func(data []float32, cols int) crosscorr.Model {
			return crosscorr.Model{Name: fmt.Sprint(cols), Source: &poolSource{data: data, pool: *pool, tokens: T, cols: cols}}
		}
		gb := float64(T) * float64(*n+*m) * 4 / 1e9
		for _, path := range []struct {
			name string
			be   engine.Backend
		}{{"grain-crosscorr", b}, {"grain-crosscorr-uploading", uploading{b}}} {
			start := time.Now()
			res, err := crosscorr.Correlate(path.be, src(pa, *n), src(pb, *m), crosscorr.Options{Memory: *memory, Precision: p})
			if err != nil {
				return fmt.Errorf("%s, T = %d: %w", path.name, T, err)
			}
			el := since(start)
			var dr float64
			for k, i := range rows {
				var want float64
				for j := 0; j < *m; j++ {
					want = math.Max(want, math.Abs(ref[k**m+j]))
				}
				dr = math.Max(dr, math.Abs(math.Abs(res.ANeurons[i].Max.R)-want))
			}
			fmt.Printf("%-26s T=%-8d %-5s %8.3f s  (%.1f GB read twice: %.1f GB/s)  max|Δ max r| %.2e\n", path.name, T, p, el, gb, 2*gb/el, dr)
			fmt.Printf("RESULT correlate %s T=%d prec=%s s=%.3f maxdr=%.3g\n", path.name, T, p, el, dr)
		}
	}
	return b.Close()
}

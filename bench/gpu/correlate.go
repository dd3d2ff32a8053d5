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

func correlateCmd(args []string) error {
	fs := flags("correlate")
	device := fs.String("device", "cuda", "grain device")
	n := fs.Int("n", 4096, "neurons of model A")
	m := fs.Int("m", 4096, "neurons of model B")
	tokenList := fs.String("tokens", "100000", "token counts T")
	prec := fs.String("prec", "tf32", "GEMM precision")
	pool := fs.Int("pool", 32768, "distinct tokens")
	block := fs.Int("block", 16384, "tokens per block of the AsyncUploader stream")
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
		check := func(best func(i int) float64) float64 {
			var worst float64
			for k, i := range rows {
				var want float64
				for j := 0; j < *m; j++ {
					want = math.Max(want, math.Abs(ref[k**m+j]))
				}
				worst = math.Max(worst, math.Abs(best(i)-want))
			}
			return worst
		}
		src := func(data []float32, cols int) crosscorr.Model {
			return crosscorr.Model{Name: fmt.Sprint(cols), Source: &poolSource{data: data, pool: *pool, tokens: T, cols: cols}}
		}
		start := time.Now()
		res, err := crosscorr.Correlate(b, src(pa, *n), src(pb, *m), crosscorr.Options{Memory: *memory, Precision: p})
		if err != nil {
			return fmt.Errorf("crosscorr.Correlate, T = %d: %w", T, err)
		}
		el := since(start)
		dr := check(func(i int) float64 { return math.Abs(res.ANeurons[i].Max.R) })
		gb := float64(T) * float64(*n+*m) * 4 / 1e9
		fmt.Printf("crosscorr.Correlate  T=%-8d %-5s %8.3f s  (%.1f GB read twice: %.1f GB/s)  max|Δ max r| %.2e\n", T, p, el, gb, 2*gb/el, dr)
		fmt.Printf("RESULT correlate grain-crosscorr T=%d prec=%s s=%.3f maxdr=%.3g\n", T, p, el, dr)

		up, ok := b.(engine.AsyncUploader)
		if !ok {
			fmt.Printf("%s has no engine.AsyncUploader: streaming variant skipped\n", b.Name())
			continue
		}
		sa := &poolSource{data: pa, pool: *pool, tokens: T, cols: *n}
		sb := &poolSource{data: pb, pool: *pool, tokens: T, cols: *m}
		start = time.Now()
		best, err := streamMaxCorr(b, up, sa, sb, min(*block, T), p)
		if err != nil {
			return fmt.Errorf("streamed MaxCorr, T = %d: %w", T, err)
		}
		el = since(start)
		dr = check(func(i int) float64 { return math.Abs(float64(best[i])) })
		fmt.Printf("AsyncUploader stream T=%-8d %-5s %8.3f s  (%.1f GB read twice: %.1f GB/s)  max|Δ max r| %.2e\n", T, p, el, gb, 2*gb/el, dr)
		fmt.Printf("RESULT correlate grain-async T=%d prec=%s s=%.3f maxdr=%.3g\n", T, p, el, dr)
	}
	return b.Close()
}

// streamMaxCorr computes each neuron of A's max |r| with B from host
// sources in two passes over token blocks, double-buffered through
// engine.AsyncUploader so that reading a block, copying it and computing on
// the previous one overlap: pass 1 keeps every block's column moments on
// the device (merged on the host at the end), pass 2 standardizes each
// block in place (rounded for the GEMM) and accumulates Z_Aᵀ·Z_B.
func streamMaxCorr(b engine.Backend, up engine.AsyncUploader, sa, sb *poolSource, block int, p engine.Precision) ([]float32, error) {
	T := sa.tokens
	nb := (T + block - 1) / block
	srcs := []*poolSource{sa, sb}
	type side struct {
		stage [2]engine.Staging
		dev   [2]*engine.Tensor
		mean  *engine.Tensor // nb × cols float64: each block's moments
		m2    *engine.Tensor
		mu    *engine.Tensor
		inv   *engine.Tensor
	}
	var sides [2]side
	var owned []*engine.Tensor
	var stages []engine.Staging
	defer func() {
		for _, t := range owned {
			b.Free(t)
		}
		for _, s := range stages {
			s.Free()
		}
	}()
	alloc := func(r, c int, dt engine.DType) (*engine.Tensor, error) {
		t, err := b.Alloc(r, c, dt)
		if err == nil {
			owned = append(owned, t)
		}
		return t, err
	}
	var err error
	for k, s := range srcs {
		sd := &sides[k]
		for i := range 2 {
			if sd.stage[i], err = up.NewStaging(block * s.cols); err != nil {
				return nil, err
			}
			stages = append(stages, sd.stage[i])
			if sd.dev[i], err = alloc(block, s.cols, engine.Float32); err != nil {
				return nil, err
			}
		}
		if sd.mean, err = alloc(nb, s.cols, engine.Float64); err != nil {
			return nil, err
		}
		if sd.m2, err = alloc(nb, s.cols, engine.Float64); err != nil {
			return nil, err
		}
	}
	c, err := alloc(sa.cols, sb.cols, engine.Float32)
	if err != nil {
		return nil, err
	}
	// stream calls work(i, k, dev blocks) for every block i, double
	// buffered (k = i % 2), reading the two sources concurrently.
	stream := func(work func(i, k, rows int)) error {
		var used [2]engine.Event
		for i := 0; i < nb; i++ {
			k, t0 := i%2, i*block
			rows := min(block, T-t0)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for s := range srcs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st := sides[s].stage[k]
					if errs[s] = st.Wait(); errs[s] == nil {
						errs[s] = srcs[s].ReadRows(t0, rows, st.Float32s()[:rows*srcs[s].cols])
					}
				}()
			}
			wg.Wait()
			for _, e := range errs {
				if e != nil {
					return e
				}
			}
			for s := range srcs {
				up.UploadAsync(sides[s].dev[k].Slice(0, rows), sides[s].stage[k], used[k])
			}
			work(i, k, rows)
			if used[k], err = up.Record(); err != nil {
				return err
			}
		}
		return b.Sync()
	}
	// Pass 1: moments of every block.
	err = stream(func(i, k, rows int) {
		for s := range srcs {
			sd := &sides[s]
			b.ColMoments(sd.dev[k].Slice(0, rows), sd.mean.Slice(i, i+1), sd.m2.Slice(i, i+1))
		}
	})
	if err != nil {
		return nil, err
	}
	for s, src := range srcs {
		sd := &sides[s]
		mean, m2 := make([]float64, nb*src.cols), make([]float64, nb*src.cols)
		if err := b.Download(mean, sd.mean); err != nil {
			return nil, err
		}
		if err := b.Download(m2, sd.m2); err != nil {
			return nil, err
		}
		st := engine.NewColumnStats(src.cols)
		for i := 0; i < nb; i++ {
			st.Merge(int64(min(block, T-i*block)), mean[i*src.cols:(i+1)*src.cols], m2[i*src.cols:(i+1)*src.cols])
		}
		inv, _ := st.InvStd()
		if sd.mu, err = engine.AllocFrom(b, 1, src.cols, st.MeanFloat32()); err != nil {
			return nil, err
		}
		owned = append(owned, sd.mu)
		if sd.inv, err = engine.AllocFrom(b, 1, src.cols, inv); err != nil {
			return nil, err
		}
		owned = append(owned, sd.inv)
	}
	// Pass 2: standardize in place and accumulate the product.
	pr, rounded := b.(engine.PreRounded)
	err = stream(func(i, k, rows int) {
		za, zb := sides[0].dev[k].Slice(0, rows), sides[1].dev[k].Slice(0, rows)
		beta := float32(1)
		if i == 0 {
			beta = 0
		}
		if rounded {
			pr.StandardizeRounded(za, za, sides[0].mu, sides[0].inv, p)
			pr.StandardizeRounded(zb, zb, sides[1].mu, sides[1].inv, p)
			pr.GemmPreRounded(true, false, 1, za, zb, beta, c, p)
			return
		}
		b.Standardize(za, za, sides[0].mu, sides[0].inv)
		b.Standardize(zb, zb, sides[1].mu, sides[1].inv)
		b.Gemm(true, false, 1, za, zb, beta, c, p)
	})
	if err != nil {
		return nil, err
	}
	b.Scale(c, float32(1/float64(T)))
	rv, err := alloc(sa.cols, 1, engine.Float32)
	if err != nil {
		return nil, err
	}
	b.ReduceRows(engine.MaxAbs, c, rv, nil)
	best := make([]float32, sa.cols)
	return best, b.Download(best, rv)
}

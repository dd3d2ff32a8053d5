package main

import (
	"fmt"
	"math"
	"time"

	"github.com/grainlab/grain/engine"
)

// resident holds two models' activations in device memory and the buffers
// of one MaxCorr computation.
type resident struct {
	b                engine.Backend
	n, m, tokens     int
	chunk            int
	a, bm            *engine.Tensor // tokens × n, tokens × m
	za, zb           *engine.Tensor // chunk × n, chunk × m: standardized chunks
	meanA, m2A       *engine.Tensor // 1×n float64
	meanB, m2B       *engine.Tensor
	muA, invA        *engine.Tensor // 1×n float32
	muB, invB        *engine.Tensor
	c                *engine.Tensor // n × m correlations
	rv, cv           *engine.Tensor // per-row and per-column max |r|
	ri, ci           *engine.Tensor
	hostMean, hostM2 [2][]float64
}

func maxcorrCmd(args []string) error {
	fs := flags("maxcorr")
	device := fs.String("device", "cuda", "grain device")
	n := fs.Int("n", 4096, "neurons of model A")
	m := fs.Int("m", 4096, "neurons of model B")
	tokenList := fs.String("tokens", "100000,1000000", "token counts T")
	precs := fs.String("prec", "fp32,tf32,bf16", "GEMM precisions")
	pool := fs.Int("pool", 32768, "distinct tokens (the data repeat with this period)")
	chunk := fs.Int("chunk", 32768, "tokens standardized and multiplied per GEMM")
	reps := fs.Int("reps", 3, "timed runs per case (after one warm-up)")
	sample := fs.Int("sample", 16, "neurons of A checked against float64")
	phases := fs.Bool("phases", true, "also time the phases alone (moments, standardization, products)")
	fs.Parse(args)
	tokens, err := ints(*tokenList)
	if err != nil {
		return err
	}
	b, err := open(*device)
	if err != nil {
		return err
	}
	t0 := time.Now()
	pa, pb, err := latentPools(b, *pool, *n, *m, 1)
	if err != nil {
		return err
	}
	fmt.Printf("data: pool of %d tokens × (%d, %d) neurons built in %.2f s\n", *pool, *n, *m, since(t0))
	fmt.Printf("%-9s %-5s %10s %10s %12s %12s\n", "T", "prec", "median ms", "min ms", "TFLOP/s-eq", "max|Δr|")
	for _, T := range tokens {
		t1 := time.Now()
		rs, err := newResident(b, pa, pb, *pool, *n, *m, T, min(*chunk, T))
		if err != nil {
			return fmt.Errorf("T = %d: %w", T, err)
		}
		fmt.Printf("# T = %d: activations (%.1f GB) in GPU memory after %.2f s\n", T, float64(T)*float64(*n+*m)*4/1e9, since(t1))
		rows := make([]int, *sample)
		for k := range rows {
			rows[k] = k * *n / *sample
		}
		var ref []float64
		for _, ps := range list(*precs) {
			p, err := engine.ParsePrecision(ps)
			if err != nil {
				return err
			}
			if err := rs.run(p); err != nil { // warm-up
				return err
			}
			times := make([]float64, *reps)
			for i := range times {
				start := time.Now()
				if err := rs.run(p); err != nil {
					return err
				}
				times[i] = since(start)
			}
			if ref == nil {
				t2 := time.Now()
				ref = reference(pa, pb, *pool, *n, *m, T, rows)
				fmt.Printf("# float64 reference for %d × %d pairs in %.2f s\n", len(rows), *m, since(t2))
			}
			dr, err := rs.maxDelta(rows, ref)
			if err != nil {
				return err
			}
			med, best := median(times), minOf(times)
			fmt.Printf("%-9d %-5s %10.2f %10.2f %12.1f %12.2e\n", T, p, 1e3*med, 1e3*best, 2*float64(*n)*float64(*m)*float64(T)/med/1e12, dr)
			fmt.Printf("RESULT maxcorr grain T=%d prec=%s ms=%.3f tflops=%.1f maxdr=%.3g\n", T, p, 1e3*med, 2*float64(*n)*float64(*m)*float64(T)/med/1e12, dr)
			if *phases {
				if err := rs.timePhases(p); err != nil {
					return err
				}
			}
		}
		rs.free()
	}
	return b.Close()
}

func newResident(b engine.Backend, pa, pb []float32, pool, n, m, tokens, chunk int) (*resident, error) {
	rs := &resident{b: b, n: n, m: m, tokens: tokens, chunk: chunk}
	var err error
	alloc := func(r, c int, dt engine.DType) *engine.Tensor {
		if err != nil {
			return nil
		}
		var t *engine.Tensor
		t, err = b.Alloc(r, c, dt)
		return t
	}
	rs.a, rs.bm = alloc(tokens, n, engine.Float32), alloc(tokens, m, engine.Float32)
	rs.za, rs.zb = alloc(chunk, n, engine.Float32), alloc(chunk, m, engine.Float32)
	rs.meanA, rs.m2A = alloc(1, n, engine.Float64), alloc(1, n, engine.Float64)
	rs.meanB, rs.m2B = alloc(1, m, engine.Float64), alloc(1, m, engine.Float64)
	rs.muA, rs.invA = alloc(1, n, engine.Float32), alloc(1, n, engine.Float32)
	rs.muB, rs.invB = alloc(1, m, engine.Float32), alloc(1, m, engine.Float32)
	rs.c = alloc(n, m, engine.Float32)
	rs.rv, rs.ri = alloc(n, 1, engine.Float32), alloc(n, 1, engine.Int32)
	rs.cv, rs.ci = alloc(1, m, engine.Float32), alloc(1, m, engine.Int32)
	if err != nil {
		rs.free()
		return nil, err
	}
	// Fill T tokens with the pool, repeated: device-to-device copies.
	ppa, err := engine.AllocFrom(b, pool, n, pa)
	if err != nil {
		rs.free()
		return nil, err
	}
	defer b.Free(ppa)
	ppb, err := engine.AllocFrom(b, pool, m, pb)
	if err != nil {
		rs.free()
		return nil, err
	}
	defer b.Free(ppb)
	for t0 := 0; t0 < tokens; t0 += pool {
		k := min(pool, tokens-t0)
		b.Copy(rs.a.Slice(t0, t0+k), ppa.Slice(0, k))
		b.Copy(rs.bm.Slice(t0, t0+k), ppb.Slice(0, k))
	}
	rs.hostMean = [2][]float64{make([]float64, n), make([]float64, m)}
	rs.hostM2 = [2][]float64{make([]float64, n), make([]float64, m)}
	return rs, b.Sync()
}

func (rs *resident) free() {
	for _, t := range []*engine.Tensor{rs.a, rs.bm, rs.za, rs.zb, rs.meanA, rs.m2A, rs.meanB, rs.m2B,
		rs.muA, rs.invA, rs.muB, rs.invB, rs.c, rs.rv, rs.ri, rs.cv, rs.ci} {
		if t != nil {
			rs.b.Free(t)
		}
	}
}

// neuronMajor reports whether the chunks are standardized neuron-major,
// as analysis/crosscorr does on a device in TF32 and BF16 (an
// engine.PreRounded backend without host memory).
func (rs *resident) neuronMajor(p engine.Precision) bool {
	_, rounded := rs.b.(engine.PreRounded)
	_, host := rs.b.(engine.HostMemory)
	return rounded && !host && p != engine.FP32
}

// standardize writes chunk [t0, t0+k) of both inputs standardized into
// the chunk buffers, as crosscorr's sweep does: neuron-major (n × k, m ×
// k) when neuronMajor, else token-major, rounded to p's input format on an
// engine.PreRounded backend.
func (rs *resident) standardize(p engine.Precision, t0, k int) (za, zb *engine.Tensor) {
	b := rs.b
	major := rs.neuronMajor(p)
	za, zb = rs.buffers(k, major)
	xa, xb := rs.a.Slice(t0, t0+k), rs.bm.Slice(t0, t0+k)
	pr, rounded := b.(engine.PreRounded)
	switch {
	case major:
		pr.StandardizeRoundedT(za, xa, rs.muA, rs.invA, p)
		pr.StandardizeRoundedT(zb, xb, rs.muB, rs.invB, p)
	case rounded:
		pr.StandardizeRounded(za, xa, rs.muA, rs.invA, p)
		pr.StandardizeRounded(zb, xb, rs.muB, rs.invB, p)
	default:
		b.Standardize(za, xa, rs.muA, rs.invA)
		b.Standardize(zb, xb, rs.muB, rs.invB)
	}
	return za, zb
}

// buffers returns the chunk buffers of k tokens: k × n and k × m, or
// neuron-major n × k and m × k.
func (rs *resident) buffers(k int, neuronMajor bool) (za, zb *engine.Tensor) {
	za, zb = rs.za.Slice(0, k), rs.zb.Slice(0, k)
	if neuronMajor {
		return za.Reshape(rs.n, k), zb.Reshape(rs.m, k)
	}
	return za, zb
}

// eachChunk calls fn for every chunk [t0, t0+k) of the tokens.
func (rs *resident) eachChunk(fn func(t0, k int)) {
	for t0 := 0; t0 < rs.tokens; t0 += rs.chunk {
		fn(t0, min(rs.chunk, rs.tokens-t0))
	}
}

// multiply accumulates the chunk's product into rs.c (beta 0 for the
// first chunk): za, zb neuron-major when major, else token-major.
func (rs *resident) multiply(p engine.Precision, major bool, za, zb *engine.Tensor, beta float32) {
	if pr, rounded := rs.b.(engine.PreRounded); rounded {
		pr.GemmPreRounded(!major, major, 1, za, zb, beta, rs.c, p)
		return
	}
	rs.b.Gemm(!major, major, 1, za, zb, beta, rs.c, p)
}

// run is one MaxCorr: moments, standardization, the accumulated product,
// 1/T, and the abs-max reductions, waited for.
func (rs *resident) run(p engine.Precision) error {
	b := rs.b
	b.ColMoments(rs.a, rs.meanA, rs.m2A)
	b.ColMoments(rs.bm, rs.meanB, rs.m2B)
	for k, t := range [][2]*engine.Tensor{{rs.meanA, rs.m2A}, {rs.meanB, rs.m2B}} {
		if err := b.Download(rs.hostMean[k], t[0]); err != nil {
			return err
		}
		if err := b.Download(rs.hostM2[k], t[1]); err != nil {
			return err
		}
		st := &engine.ColumnStats{N: int64(rs.tokens), Mean: rs.hostMean[k], M2: rs.hostM2[k]}
		inv, _ := st.InvStd()
		mu, iv := rs.muA, rs.invA
		if k == 1 {
			mu, iv = rs.muB, rs.invB
		}
		b.Upload(mu, st.MeanFloat32())
		b.Upload(iv, inv)
	}
	major := rs.neuronMajor(p)
	rs.eachChunk(func(t0, k int) {
		za, zb := rs.standardize(p, t0, k)
		rs.multiply(p, major, za, zb, float32(min(t0, 1)))
	})
	b.Scale(rs.c, float32(1/float64(rs.tokens)))
	b.ReduceRows(engine.MaxAbs, rs.c, rs.rv, rs.ri)
	b.ReduceCols(engine.MaxAbs, rs.c, rs.cv, rs.ci)
	return b.Sync()
}

// timePhases times run's phases alone, each waited for: the column
// moments of both inputs, the standardization of every chunk (bytes read
// and written), the products of every chunk (on the last standardized
// chunk: same shapes and work), and the scaling and reductions; then the
// products alone with the chunk buffers read in the other layout
// (neuron-major ↔ token-major), and for BF16 through Gemm's packed
// bfloat16 copies (conversion included) in both.
func (rs *resident) timePhases(p engine.Precision) error {
	b := rs.b
	timed := func(fn func()) (float64, error) {
		if err := b.Sync(); err != nil {
			return 0, err
		}
		start := time.Now()
		fn()
		err := b.Sync()
		return since(start), err
	}
	each := func(fn func(t0, k int)) func() { return func() { rs.eachChunk(fn) } }
	major := rs.neuronMajor(p)
	moments, err := timed(func() {
		b.ColMoments(rs.a, rs.meanA, rs.m2A)
		b.ColMoments(rs.bm, rs.meanB, rs.m2B)
	})
	if err != nil {
		return err
	}
	standardize, err := timed(each(func(t0, k int) { rs.standardize(p, t0, k) }))
	if err != nil {
		return err
	}
	products, err := timed(each(func(t0, k int) {
		za, zb := rs.buffers(k, major)
		rs.multiply(p, major, za, zb, float32(min(t0, 1)))
	}))
	if err != nil {
		return err
	}
	reductions, err := timed(func() {
		b.Scale(rs.c, float32(1/float64(rs.tokens)))
		b.ReduceRows(engine.MaxAbs, rs.c, rs.rv, rs.ri)
		b.ReduceCols(engine.MaxAbs, rs.c, rs.cv, rs.ci)
	})
	if err != nil {
		return err
	}
	layoutName := map[bool]string{true: "neuron-major", false: "token-major"}
	flops := 2 * float64(rs.n) * float64(rs.m) * float64(rs.tokens)
	values := float64(rs.tokens) * float64(rs.n+rs.m)
	fmt.Printf("  phases alone (%s): moments %.2f ms (%.0f GB/s read), standardize %.2f ms (%.0f GB/s read+written), products %.2f ms (%.1f TFLOP/s), scale+reductions %.2f ms\n",
		layoutName[major], 1e3*moments, 4*values/moments/1e9, 1e3*standardize, 8*values/standardize/1e9,
		1e3*products, flops/products/1e12, 1e3*reductions)
	type layout struct {
		name string
		fn   func(k int, beta float32)
	}
	layouts := []layout{{layoutName[!major], func(k int, beta float32) {
		za, zb := rs.buffers(k, !major)
		rs.multiply(p, !major, za, zb, beta)
	}}}
	if p == engine.BF16 {
		for _, nm := range []bool{false, true} {
			layouts = append(layouts, layout{"packed-bf16 " + layoutName[nm], func(k int, beta float32) {
				za, zb := rs.buffers(k, nm)
				b.Gemm(!nm, nm, 1, za, zb, beta, rs.c, p)
			}})
		}
	}
	for _, l := range layouts {
		secs, err := timed(each(func(t0, k int) { l.fn(k, float32(min(t0, 1))) }))
		if err != nil {
			return err
		}
		fmt.Printf("  products alone, %s operands: %.2f ms (%.1f TFLOP/s)\n", l.name, 1e3*secs, flops/secs/1e12)
	}
	return nil
}

// maxDelta compares the sampled rows of the last result and their max |r|
// with the float64 reference.
func (rs *resident) maxDelta(rows []int, ref []float64) (float64, error) {
	row := make([]float32, rs.m)
	rv := make([]float32, rs.n)
	if err := rs.b.Download(rv, rs.rv); err != nil {
		return 0, err
	}
	var worst float64
	for k, i := range rows {
		if err := rs.b.Download(row, rs.c.Slice(i, i+1)); err != nil {
			return 0, err
		}
		var best float64
		for j, g := range row {
			want := ref[k*rs.m+j]
			worst = math.Max(worst, math.Abs(float64(g)-want))
			best = math.Max(best, math.Abs(want))
		}
		worst = math.Max(worst, math.Abs(math.Abs(float64(rv[i]))-best))
	}
	return worst, nil
}

func minOf(x []float64) float64 {
	m := x[0]
	for _, v := range x {
		m = math.Min(m, v)
	}
	return m
}

package main

import (
	"fmt"
	"math"
	"time"

	"github.com/grainlab/grain/analysis/crosscorr"
	"github.com/grainlab/grain/engine"
)

// resident holds two models' activations in device memory and the buffers
// of one MaxCorr computation as analysis/crosscorr does it (see run).
type resident struct {
	b      engine.Backend
	tokens int
	chunk  int
	in     [2]*residentModel
	c      *engine.Tensor // n × m correlations
	rv, cv *engine.Tensor // per-row and per-column max |r|
	ri, ci *engine.Tensor
}

// residentModel is one model of a resident computation.
type residentModel struct {
	n                int
	src              crosscorr.Source // the data's host rows, for the sample
	x                *engine.Tensor   // tokens × n
	z                *engine.Tensor   // chunk × n: a standardized chunk (n × chunk neuron-major)
	ringMean, ringM2 *engine.Tensor   // chunks × n Float64: every chunk's mean and m2
	hostMean, hostM2 []float64        // their host copies
	shift, scale     *engine.Tensor   // 1×n Float32
	w, g             *engine.Tensor   // n×1 Float32: the Correction
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
	phases := fs.Bool("phases", true, "also time the phases alone (sample, standardization, products, finish)")
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
	rs := &resident{b: b, tokens: tokens, chunk: chunk}
	chunks := (tokens + chunk - 1) / chunk
	var err error
	alloc := func(r, c int, dt engine.DType) *engine.Tensor {
		if err != nil {
			return nil
		}
		var t *engine.Tensor
		t, err = b.Alloc(r, c, dt)
		return t
	}
	for k, host := range [][]float32{pa, pb} {
		w := []int{n, m}[k]
		rm := &residentModel{n: w, src: &poolSource{data: host, pool: pool, tokens: tokens, cols: w}}
		rm.x, rm.z = alloc(tokens, w, engine.Float32), alloc(chunk, w, engine.Float32)
		rm.ringMean, rm.ringM2 = alloc(chunks, w, engine.Float64), alloc(chunks, w, engine.Float64)
		rm.hostMean, rm.hostM2 = make([]float64, chunks*w), make([]float64, chunks*w)
		rm.shift, rm.scale = alloc(1, w, engine.Float32), alloc(1, w, engine.Float32)
		rm.w, rm.g = alloc(w, 1, engine.Float32), alloc(w, 1, engine.Float32)
		rs.in[k] = rm
	}
	rs.c = alloc(n, m, engine.Float32)
	rs.rv, rs.ri = alloc(n, 1, engine.Float32), alloc(n, 1, engine.Int32)
	rs.cv, rs.ci = alloc(1, m, engine.Float32), alloc(1, m, engine.Int32)
	if err != nil {
		rs.free()
		return nil, err
	}
	// Fill T tokens with the pool, repeated: device-to-device copies.
	for k, host := range [][]float32{pa, pb} {
		rm := rs.in[k]
		pp, err := engine.AllocFrom(b, pool, rm.n, host)
		if err != nil {
			rs.free()
			return nil, err
		}
		for t0 := 0; t0 < tokens; t0 += pool {
			k := min(pool, tokens-t0)
			b.Copy(rm.x.Slice(t0, t0+k), pp.Slice(0, k))
		}
		b.Free(pp)
	}
	return rs, b.Sync()
}

func (rs *resident) free() {
	ts := []*engine.Tensor{rs.c, rs.rv, rs.ri, rs.cv, rs.ci}
	for _, rm := range rs.in {
		if rm != nil {
			ts = append(ts, rm.x, rm.z, rm.ringMean, rm.ringM2, rm.shift, rm.scale, rm.w, rm.g)
		}
	}
	for _, t := range ts {
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

// sample sets both models' standardization from a sample of their host
// rows (crosscorr.SampleStandardization) and uploads it, and returns it.
func (rs *resident) sample() ([2]crosscorr.Standardization, error) {
	var std [2]crosscorr.Standardization
	for k, rm := range rs.in {
		var err error
		if std[k], err = crosscorr.SampleStandardization(rm.src); err != nil {
			return std, err
		}
		rs.b.Upload(rm.shift, std[k].Shift)
		rs.b.Upload(rm.scale, std[k].Scale)
	}
	return std, nil
}

// standardize writes chunk i = [t0, t0+k) of both models standardized into
// the chunk buffers, as crosscorr's first sweep does: neuron-major (n × k,
// m × k) when neuronMajor, with the chunk's moments from the same loads
// into ring row i, else token-major, after ColMoments, rounded to p's
// input format on an engine.PreRounded backend. Without moments (the
// phase timing) it only standardizes.
func (rs *resident) standardize(p engine.Precision, i, t0, k int, moments bool) (za, zb *engine.Tensor) {
	b := rs.b
	major := rs.neuronMajor(p)
	za, zb = rs.buffers(k, major)
	pr, rounded := b.(engine.PreRounded)
	for m, z := range []*engine.Tensor{za, zb} {
		rm := rs.in[m]
		x := rm.x.Slice(t0, t0+k)
		mean, m2 := rm.ringMean.Slice(i, i+1), rm.ringM2.Slice(i, i+1)
		switch {
		case major && moments:
			pr.StandardizeRoundedTMoments(z, x, rm.shift, rm.scale, mean, m2, p)
			continue
		case moments:
			b.ColMoments(x, mean, m2)
		}
		switch {
		case major:
			pr.StandardizeRoundedT(z, x, rm.shift, rm.scale, p)
		case rounded:
			pr.StandardizeRounded(z, x, rm.shift, rm.scale, p)
		default:
			b.Standardize(z, x, rm.shift, rm.scale)
		}
	}
	return za, zb
}

// buffers returns the chunk buffers of k tokens: k × n and k × m, or
// neuron-major n × k and m × k.
func (rs *resident) buffers(k int, neuronMajor bool) (za, zb *engine.Tensor) {
	za, zb = rs.in[0].z.Slice(0, k), rs.in[1].z.Slice(0, k)
	if neuronMajor {
		return za.Reshape(rs.in[0].n, k), zb.Reshape(rs.in[1].n, k)
	}
	return za, zb
}

// eachChunk calls fn for every chunk i = [t0, t0+k) of the tokens.
func (rs *resident) eachChunk(fn func(i, t0, k int)) {
	for i, t0 := 0, 0; t0 < rs.tokens; i, t0 = i+1, t0+rs.chunk {
		fn(i, t0, min(rs.chunk, rs.tokens-t0))
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

// finish merges the chunks' moments on the host (one download per ring,
// as crosscorr's ring when it holds every block), uploads the Correction
// and turns the products into correlations, and reduces them.
func (rs *resident) finish(std [2]crosscorr.Standardization) error {
	b := rs.b
	for k, rm := range rs.in {
		if err := b.Download(rm.hostMean, rm.ringMean); err != nil {
			return err
		}
		if err := b.Download(rm.hostM2, rm.ringM2); err != nil {
			return err
		}
		st := engine.NewColumnStats(rm.n)
		rs.eachChunk(func(i, _, n int) {
			st.Merge(int64(n), rm.hostMean[i*rm.n:(i+1)*rm.n], rm.hostM2[i*rm.n:(i+1)*rm.n])
		})
		if !std[k].Fits(st) { // crosscorr would make the products again
			return fmt.Errorf("model %d: the sampled standardization does not fit the benchmark's data", k)
		}
		w, g, _ := std[k].Correction(st)
		b.Upload(rm.w, w)
		b.Upload(rm.g, g)
	}
	a, bm := rs.in[0], rs.in[1]
	b.AffineOuter(rs.c, a.w.Reshape(1, a.n), bm.w.Reshape(1, bm.n), a.g.Reshape(1, a.n), bm.g.Reshape(1, bm.n))
	b.ReduceRows(engine.MaxAbs, rs.c, rs.rv, rs.ri)
	b.ReduceCols(engine.MaxAbs, rs.c, rs.cv, rs.ci)
	return b.Sync()
}

// run is one MaxCorr as crosscorr computes it in one streaming pass: the
// standardization sampled from the host rows, every chunk standardized
// with its moments and multiplied, then the moments merged, the
// correction and the abs-max reductions, waited for.
func (rs *resident) run(p engine.Precision) error {
	std, err := rs.sample()
	if err != nil {
		return err
	}
	major := rs.neuronMajor(p)
	rs.eachChunk(func(i, t0, k int) {
		za, zb := rs.standardize(p, i, t0, k, true)
		rs.multiply(p, major, za, zb, float32(min(t0, 1)))
	})
	return rs.finish(std)
}

// timePhases times run's phases alone, each waited for: the sample, the
// standardization of every chunk with its moments and without them (bytes
// read and written), the products of every chunk (on the last
// standardized chunk: same shapes and work), and the finish (moments
// merged, correction, reductions); then the products alone with the chunk
// buffers read in the other layout (neuron-major ↔ token-major), and for
// BF16 through Gemm's packed bfloat16 copies (conversion included) in
// both.
func (rs *resident) timePhases(p engine.Precision) error {
	b := rs.b
	timed := func(fn func() error) (float64, error) {
		if err := b.Sync(); err != nil {
			return 0, err
		}
		start := time.Now()
		if err := fn(); err != nil {
			return 0, err
		}
		err := b.Sync()
		return since(start), err
	}
	each := func(fn func(i, t0, k int)) func() error { return func() error { rs.eachChunk(fn); return nil } }
	major := rs.neuronMajor(p)
	var std [2]crosscorr.Standardization
	sample, err := timed(func() (err error) { std, err = rs.sample(); return err })
	if err != nil {
		return err
	}
	withMoments, err := timed(each(func(i, t0, k int) { rs.standardize(p, i, t0, k, true) }))
	if err != nil {
		return err
	}
	standardize, err := timed(each(func(i, t0, k int) { rs.standardize(p, i, t0, k, false) }))
	if err != nil {
		return err
	}
	products, err := timed(each(func(_, t0, k int) {
		za, zb := rs.buffers(k, major)
		rs.multiply(p, major, za, zb, float32(min(t0, 1)))
	}))
	if err != nil {
		return err
	}
	finish, err := timed(func() error { return rs.finish(std) })
	if err != nil {
		return err
	}
	layoutName := map[bool]string{true: "neuron-major", false: "token-major"}
	n, m := float64(rs.in[0].n), float64(rs.in[1].n)
	flops := 2 * n * m * float64(rs.tokens)
	values := float64(rs.tokens) * (n + m)
	fmt.Printf("  phases alone (%s): sample %.2f ms, standardize with moments %.2f ms (%.0f GB/s read+written), without %.2f ms (%.0f GB/s), products %.2f ms (%.1f TFLOP/s), finish %.2f ms\n",
		layoutName[major], 1e3*sample, 1e3*withMoments, 8*values/withMoments/1e9, 1e3*standardize, 8*values/standardize/1e9,
		1e3*products, flops/products/1e12, 1e3*finish)
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
		secs, err := timed(each(func(_, t0, k int) { l.fn(k, float32(min(t0, 1))) }))
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
	n, m := rs.in[0].n, rs.in[1].n
	row := make([]float32, m)
	rv := make([]float32, n)
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
			want := ref[k*m+j]
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

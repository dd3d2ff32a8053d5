//go:build grain_cuda

package cuda

import (
	"fmt"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/kernels"
	"gorgonia.org/cu"
)

// memsetZero queues the zeroing of n bytes at device address p.
func memsetZero(b *Backend, p uint64, n int64) error {
	return cu.MemsetD8Async(cu.DevicePtr(p), 0, n, b.stream)
}

// memcpyDtoD queues a device-to-device copy of n bytes.
func memcpyDtoD(dst, src uint64, n int64, b *Backend) error {
	return cu.MemcpyDtoDAsync(cu.DevicePtr(dst), cu.DevicePtr(src), n, b.stream)
}

func sameShape(what string, a, b *engine.Tensor) {
	if a.Rows() != b.Rows() || a.Cols() != b.Cols() || a.DType() != b.DType() {
		panic(fmt.Sprintf("cuda: %s: %v and %v differ", what, a, b))
	}
}

// elementwise queues a 1-D grid-stride kernel over t's n elements whose
// arguments follow the pointer and the count in order (ptr, n, rest...).
func (b *Backend) elementwise(op string, k int, t *engine.Tensor, rest ...any) {
	x, n := b.ptr(t, engine.Float32), int64(t.Len())
	if n == 0 {
		return
	}
	b.run(op, func() error {
		g, bl := b.grid1(n)
		return b.launch(k, g, bl, append([]any{x, n}, rest...)...)
	})
}

// Fill sets every element of t to v.
func (b *Backend) Fill(t *engine.Tensor, v float32) { b.elementwise("Fill", kFill, t, v) }

// Scale multiplies t by alpha.
func (b *Backend) Scale(t *engine.Tensor, alpha float32) { b.elementwise("Scale", kScale, t, alpha) }

// SoftThreshold applies x ← sign(x)·max(|x| − thresh, 0).
func (b *Backend) SoftThreshold(t *engine.Tensor, thresh float32) {
	b.elementwise("SoftThreshold", kSoftThreshold, t, thresh)
}

// Copy copies src into dst (same shape and dtype) on the device.
func (b *Backend) Copy(dst, src *engine.Tensor) {
	sameShape("Copy", dst, src)
	d, s := b.ptr(dst, dst.DType()), b.ptr(src, src.DType())
	n := int64(dst.Len()) * int64(dst.DType().Size())
	if n == 0 {
		return
	}
	b.run("Copy", func() error { return memcpyDtoD(d, s, n, b) })
}

// Axpy computes y ← alpha·x + y.
func (b *Backend) Axpy(alpha float32, x, y *engine.Tensor) {
	sameShape("Axpy", x, y)
	xp, yp, n := b.ptr(x, engine.Float32), b.ptr(y, engine.Float32), int64(x.Len())
	if n == 0 {
		return
	}
	b.run("Axpy", func() error {
		g, bl := b.grid1(n)
		return b.launch(kAxpy, g, bl, xp, yp, n, alpha)
	})
}

// Mul computes dst ← a ∘ c; dst may alias a or c.
func (b *Backend) Mul(dst, a, c *engine.Tensor) {
	sameShape("Mul", dst, a)
	sameShape("Mul", a, c)
	d, ap, cp, n := b.ptr(dst, engine.Float32), b.ptr(a, engine.Float32), b.ptr(c, engine.Float32), int64(dst.Len())
	if n == 0 {
		return
	}
	b.run("Mul", func() error {
		g, bl := b.grid1(n)
		return b.launch(kMul, g, bl, d, ap, cp, n)
	})
}

// AddRowVector adds the 1×cols v to every row of t.
func (b *Backend) AddRowVector(t, v *engine.Tensor) {
	v.MustBe("AddRowVector v", 1, t.Cols(), engine.Float32)
	x, vp := b.ptr(t, engine.Float32), b.ptr(v, engine.Float32)
	rows, cols := int64(t.Rows()), int64(t.Cols())
	if rows*cols == 0 {
		return
	}
	b.run("AddRowVector", func() error {
		g, bl := b.grid2(rows, cols)
		return b.launch(kAddRowVector, g, bl, x, vp, rows, cols)
	})
}

// ScaleColumns sets dst[:, j] = src[:, j]·s[j], exactly +0 where s[j] = 0;
// dst may alias src.
func (b *Backend) ScaleColumns(dst, src, s *engine.Tensor) {
	sameShape("ScaleColumns", dst, src)
	s.MustBe("ScaleColumns s", 1, src.Cols(), engine.Float32)
	d, x, sp := b.ptr(dst, engine.Float32), b.ptr(src, engine.Float32), b.ptr(s, engine.Float32)
	rows, cols := int64(src.Rows()), int64(src.Cols())
	if rows*cols == 0 {
		return
	}
	b.run("ScaleColumns", func() error {
		g, bl := b.grid2(rows, cols)
		return b.launch(kScaleColumns, g, bl, d, x, sp, rows, cols)
	})
}

// GatherColumns sets dst[i, k] = src[i, idx[k]]. The indices live on the
// device, so one outside [0, src.Cols()) cannot panic here as on the CPU:
// it is reported as an error by the next Sync or Download.
func (b *Backend) GatherColumns(dst, src, idx *engine.Tensor) {
	idx.MustBe("GatherColumns idx", 1, -1, engine.Int32)
	dst.MustBe("GatherColumns dst", src.Rows(), idx.Cols(), engine.Float32)
	d, x, ip := b.ptr(dst, engine.Float32), b.ptr(src, engine.Float32), b.ptr(idx, engine.Int32)
	rows, dcols, xcols := int64(src.Rows()), int64(dst.Cols()), int64(src.Cols())
	if rows*dcols == 0 {
		return
	}
	b.run("GatherColumns", func() error {
		g, bl := b.grid2(rows, dcols)
		return b.launch(kGatherColumns, g, bl, d, x, ip, rows, dcols, xcols, b.flags.dev)
	})
}

// Standardize sets dst = (src − mean)·invStd column-wise; dst may alias
// src.
func (b *Backend) Standardize(dst, src, mean, invStd *engine.Tensor) {
	b.standardize(dst, src, mean, invStd, 0)
}

// StandardizeRounded is Standardize with every result rounded to the input
// format of precision p (see engine.PreRounded).
func (b *Backend) StandardizeRounded(dst, src, mean, invStd *engine.Tensor, p engine.Precision) {
	b.standardize(dst, src, mean, invStd, dropBits(p))
}

// StandardizeRoundedT writes the transpose of StandardizeRounded's result
// into dst (src.Cols() × src.Rows()) with grain_standardize_round_t, which
// moves 32 × 32 tiles through shared memory (engine.PreRounded).
func (b *Backend) StandardizeRoundedT(dst, src, mean, invStd *engine.Tensor, p engine.Precision) {
	b.standardizeT("StandardizeRoundedT", dst, src, mean, invStd, nil, nil, p)
}

// StandardizeRoundedTMoments is StandardizeRoundedT and ColMoments from
// the same loads: grain_standardize_round_t_moments writes each chunk's
// moments (shifted by mean) and grain_col_moments_merge combines them
// (engine.PreRounded).
func (b *Backend) StandardizeRoundedTMoments(dst, src, mean, invStd, colMean, colM2 *engine.Tensor, p engine.Precision) {
	colMean.MustBe("StandardizeRoundedTMoments colMean", 1, src.Cols(), engine.Float64)
	colM2.MustBe("StandardizeRoundedTMoments colM2", 1, src.Cols(), engine.Float64)
	b.standardizeT("StandardizeRoundedTMoments", dst, src, mean, invStd, colMean, colM2, p)
}

// standardizeT queues grain_standardize_round_t, or with the moments of
// the columns into colMean and colM2 when they are not nil
// grain_standardize_round_t_moments.
func (b *Backend) standardizeT(op string, dst, src, mean, invStd, colMean, colM2 *engine.Tensor, p engine.Precision) {
	rows, cols := int64(src.Rows()), int64(src.Cols())
	dst.MustBe(op+" dst", src.Cols(), src.Rows(), engine.Float32)
	mean.MustBe(op+" mean", 1, src.Cols(), engine.Float32)
	invStd.MustBe(op+" invStd", 1, src.Cols(), engine.Float32)
	if dst.Storage() == src.Storage() {
		panic("cuda: " + op + " into its own source's storage")
	}
	drop := dropBits(p)
	d, x := b.ptr(dst, engine.Float32), b.ptr(src, engine.Float32)
	m, s := b.ptr(mean, engine.Float32), b.ptr(invStd, engine.Float32)
	var mp, vp uint64
	if colMean != nil {
		mp, vp = b.ptr(colMean, engine.Float64), b.ptr(colM2, engine.Float64)
	}
	if cols == 0 {
		return
	}
	b.run(op, func() error {
		if rows == 0 {
			if colMean == nil {
				return nil
			}
			if err := memsetZero(b, mp, cols*8); err != nil {
				return err
			}
			return memsetZero(b, vp, cols*8)
		}
		bands := (cols + 31) / 32
		chunks := max(min(int64(b.maxBlocks())/bands, (rows+31)/32), 1)
		chunkRows := (rows + chunks - 1) / chunks
		chunkRows = (chunkRows + 31) / 32 * 32
		chunks = (rows + chunkRows - 1) / chunkRows
		g := min(bands*chunks, int64(b.maxBlocks()))
		grid, block := dim3{int(g), 1, 1}, dim3{32, 8, 1}
		if colMean == nil {
			return b.launch(kStandardizeRoundT, grid, block, d, x, m, s, rows, cols, drop, chunkRows)
		}
		ws, err := b.scratchLocked(2 * chunks * cols * 8)
		if err != nil {
			return err
		}
		pm, pv := ws, ws+uint64(chunks*cols*8)
		if err := b.launch(kStandardizeRoundTMoments, grid, block, d, x, m, s, rows, cols, drop, chunkRows, pm, pv); err != nil {
			return err
		}
		g2, b2 := b.grid1(cols)
		b2.x = colThreads(cols)
		return b.launch(kColMomentsMerge, g2, b2, pm, pv, rows, cols, chunkRows, mp, vp)
	})
}

// AffineOuter sets t[i, j] ← (rowScale[i]·t[i, j])·colScale[j] −
// rowShift[i]·colShift[j] with grain_affine_outer.
func (b *Backend) AffineOuter(t, rowScale, colScale, rowShift, colShift *engine.Tensor) {
	rows, cols := int64(t.Rows()), int64(t.Cols())
	rowScale.MustBe("AffineOuter rowScale", 1, t.Rows(), engine.Float32)
	rowShift.MustBe("AffineOuter rowShift", 1, t.Rows(), engine.Float32)
	colScale.MustBe("AffineOuter colScale", 1, t.Cols(), engine.Float32)
	colShift.MustBe("AffineOuter colShift", 1, t.Cols(), engine.Float32)
	d := b.ptr(t, engine.Float32)
	rs, cs := b.ptr(rowScale, engine.Float32), b.ptr(colScale, engine.Float32)
	rh, ch := b.ptr(rowShift, engine.Float32), b.ptr(colShift, engine.Float32)
	if rows*cols == 0 {
		return
	}
	b.run("AffineOuter", func() error {
		g, bl := b.grid2(rows, cols)
		return b.launch(kAffineOuter, g, bl, d, rs, cs, rh, ch, rows, cols)
	})
}

func (b *Backend) standardize(dst, src, mean, invStd *engine.Tensor, drop uint32) {
	sameShape("Standardize", dst, src)
	mean.MustBe("Standardize mean", 1, src.Cols(), engine.Float32)
	invStd.MustBe("Standardize invStd", 1, src.Cols(), engine.Float32)
	d, x := b.ptr(dst, engine.Float32), b.ptr(src, engine.Float32)
	m, s := b.ptr(mean, engine.Float32), b.ptr(invStd, engine.Float32)
	rows, cols := int64(src.Rows()), int64(src.Cols())
	if rows*cols == 0 {
		return
	}
	b.run("Standardize", func() error {
		g, bl := b.grid2(rows, cols)
		if drop == 0 {
			return b.launch(kStandardize, g, bl, d, x, m, s, rows, cols)
		}
		return b.launch(kStandardizeRound, g, bl, d, x, m, s, rows, cols, drop)
	})
}

// dropBits is the number of float32 mantissa bits that precision p's
// inputs lose (0 for FP32).
func dropBits(p engine.Precision) uint32 {
	switch p {
	case engine.FP32:
		return 0
	case engine.TF32:
		return 13
	case engine.BF16:
		return 16
	}
	panic(fmt.Sprintf("cuda: precision %v", p))
}

// ReduceRows selects, per row, the value and column that op picks (ties:
// the lowest column; a NaN only in column 0 wins, as in the CPU scan).
func (b *Backend) ReduceRows(op engine.ReduceOp, src, vals, idx *engine.Tensor) {
	if src.Cols() == 0 {
		panic("cuda: ReduceRows over zero columns")
	}
	vals.MustBe("ReduceRows vals", src.Rows(), 1, engine.Float32)
	var ip uint64
	if idx != nil {
		idx.MustBe("ReduceRows idx", src.Rows(), 1, engine.Int32)
		ip = b.ptr(idx, engine.Int32)
	}
	x, vp := b.ptr(src, engine.Float32), b.ptr(vals, engine.Float32)
	rows, cols := int64(src.Rows()), int64(src.Cols())
	if rows == 0 {
		return
	}
	b.run("ReduceRows", func() error {
		g := dim3{int(min(rows, 1<<20)), 1, 1}
		return b.launch(kReduceRows, g, dim3{pow2Threads(cols, blockThreads), 1, 1}, int32(op), x, vp, ip, rows, cols)
	})
}

// ReduceCols is ReduceRows along columns.
func (b *Backend) ReduceCols(op engine.ReduceOp, src, vals, idx *engine.Tensor) {
	if src.Rows() == 0 {
		panic("cuda: ReduceCols over zero rows")
	}
	vals.MustBe("ReduceCols vals", 1, src.Cols(), engine.Float32)
	var ip uint64
	if idx != nil {
		idx.MustBe("ReduceCols idx", 1, src.Cols(), engine.Int32)
		ip = b.ptr(idx, engine.Int32)
	}
	x, vp := b.ptr(src, engine.Float32), b.ptr(vals, engine.Float32)
	rows, cols := int64(src.Rows()), int64(src.Cols())
	if cols == 0 {
		return
	}
	b.run("ReduceCols", func() error {
		g, bl, chunkRows, chunks := b.chunking(rows, cols)
		if chunks == 1 {
			return b.launch(kReduceColsPart, g, bl, int32(op), x, vp, ip, rows, cols, chunkRows)
		}
		ws, err := b.scratchLocked(chunks * cols * 8)
		if err != nil {
			return err
		}
		pv, pi := ws, ws+uint64(chunks*cols*4)
		if err := b.launch(kReduceColsPart, g, bl, int32(op), x, pv, pi, rows, cols, chunkRows); err != nil {
			return err
		}
		g2, b2 := b.grid1(cols)
		b2.x = colThreads(cols)
		return b.launch(kReduceColsMerge, g2, b2, int32(op), pv, pi, chunks, cols, vp, ip)
	})
}

// SumCols sets dst[0, j] = Σ_i src[i, j], accumulated in float64 and stored
// in dst's dtype (Float32 or Float64).
func (b *Backend) SumCols(dst, src *engine.Tensor) {
	rows, cols := int64(src.Rows()), int64(src.Cols())
	var d64, d32 uint64
	if dst.DType() == engine.Float64 {
		dst.MustBe("SumCols dst", 1, int(cols), engine.Float64)
		d64 = b.ptr(dst, engine.Float64)
	} else {
		dst.MustBe("SumCols dst", 1, int(cols), engine.Float32)
		d32 = b.ptr(dst, engine.Float32)
	}
	x := b.ptr(src, engine.Float32)
	if cols == 0 {
		return
	}
	b.run("SumCols", func() error {
		if rows == 0 {
			d := d64
			if d == 0 {
				d = d32
			}
			return memsetZero(b, d, cols*int64(dst.DType().Size()))
		}
		g, bl, chunkRows, chunks := b.chunking(rows, cols)
		part, err := b.scratchLocked(chunks * cols * 8)
		if err != nil {
			return err
		}
		if err := b.launch(kSumColsPart, g, bl, x, part, rows, cols, chunkRows); err != nil {
			return err
		}
		g2, b2 := b.grid1(cols)
		b2.x = colThreads(cols)
		return b.launch(kSumColsMerge, g2, b2, part, chunks, cols, d64, d32)
	})
}

// SumSquares sets the 1×1 Float64 dst to Σ x² over src.
func (b *Backend) SumSquares(dst, src *engine.Tensor) {
	dst.MustBe("SumSquares dst", 1, 1, engine.Float64)
	d, x, n := b.ptr(dst, engine.Float64), b.ptr(src, engine.Float32), int64(src.Len())
	b.run("SumSquares", func() error {
		if n == 0 {
			return memsetZero(b, d, 8)
		}
		g, bl := b.grid1(n)
		g.x = min(g.x, 1024)
		part, err := b.scratchLocked(int64(g.x) * 8)
		if err != nil {
			return err
		}
		if err := b.launch(kSumSquaresPart, g, bl, x, n, part); err != nil {
			return err
		}
		return b.launch(kSumF64, dim3{1, 1, 1}, dim3{blockThreads, 1, 1}, part, int64(g.x), d)
	})
}

// ColMoments computes each column's mean and centred sum of squares in
// float64, in one pass over the data (see kernels/reduce.cu).
func (b *Backend) ColMoments(src, mean, m2 *engine.Tensor) {
	rows, cols := int64(src.Rows()), int64(src.Cols())
	mean.MustBe("ColMoments mean", 1, int(cols), engine.Float64)
	m2.MustBe("ColMoments m2", 1, int(cols), engine.Float64)
	x, mp, vp := b.ptr(src, engine.Float32), b.ptr(mean, engine.Float64), b.ptr(m2, engine.Float64)
	if cols == 0 {
		return
	}
	b.run("ColMoments", func() error {
		if rows == 0 {
			if err := memsetZero(b, mp, cols*8); err != nil {
				return err
			}
			return memsetZero(b, vp, cols*8)
		}
		g, bl, chunkRows, chunks := b.chunking(rows, cols)
		ws, err := b.scratchLocked(2 * chunks * cols * 8)
		if err != nil {
			return err
		}
		pm, pv := ws, ws+uint64(chunks*cols*8)
		if err := b.launch(kColMomentsPart, g, bl, x, pm, pv, rows, cols, chunkRows); err != nil {
			return err
		}
		g2, b2 := b.grid1(cols)
		b2.x = colThreads(cols)
		return b.launch(kColMomentsMerge, g2, b2, pm, pv, rows, cols, chunkRows, mp, vp)
	})
}

// SoftmaxCrossEntropy computes the summed cross-entropy of the rows and,
// if grad is non-nil, gradScale·(softmax − onehot). A label outside [0, k)
// cannot panic here as on the CPU: it is reported as an error by the next
// Sync or Download.
func (b *Backend) SoftmaxCrossEntropy(logits, labels, grad, loss *engine.Tensor, gradScale float32) {
	b.softmaxXent("SoftmaxCrossEntropy", kSoftmaxXent, logits, labels, grad, loss, gradScale)
}

// softmaxXent checks the operands of SoftmaxCrossEntropy[Masked] and
// queues kernel k (one block per row, each writing its row's loss) and
// the float64 sum of the row losses.
func (b *Backend) softmaxXent(what string, k int, logits, labels, grad, loss *engine.Tensor, gradScale float32) {
	n, kk := int64(logits.Rows()), int64(logits.Cols())
	logits.MustBe(what+" logits", int(n), int(kk), engine.Float32)
	labels.MustBe(what+" labels", int(n), 1, engine.Int32)
	loss.MustBe(what+" loss", 1, 1, engine.Float64)
	var gp uint64
	if grad != nil {
		grad.MustBe(what+" grad", int(n), int(kk), engine.Float32)
		gp = b.ptr(grad, engine.Float32)
	}
	lp, lab, lossp := b.ptr(logits, engine.Float32), b.ptr(labels, engine.Int32), b.ptr(loss, engine.Float64)
	b.run(what, func() error {
		if n == 0 || kk == 0 {
			return memsetZero(b, lossp, 8)
		}
		rowLoss, err := b.scratchLocked(n * 8)
		if err != nil {
			return err
		}
		g, bl := rowBlocks(n, kk)
		if err := b.launch(k, g, bl, lp, lab, gp, rowLoss, n, kk, gradScale, b.flags.dev); err != nil {
			return err
		}
		return b.launch(kSumF64, dim3{1, 1, 1}, dim3{blockThreads, 1, 1}, rowLoss, n, lossp)
	})
}

// AdamUpdate applies one Adam step with the elastic-net terms of h (see
// engine.Adam) in the arithmetic of kernels.Adam.
func (b *Backend) AdamUpdate(param, grad, m, v *engine.Tensor, h engine.Adam) {
	sameShape("AdamUpdate grad", param, grad)
	sameShape("AdamUpdate m", param, m)
	sameShape("AdamUpdate v", param, v)
	if h.Step < 1 {
		panic(fmt.Sprintf("cuda: Adam step %d (steps count from 1)", h.Step))
	}
	p, g := b.ptr(param, engine.Float32), b.ptr(grad, engine.Float32)
	mp, vp, n := b.ptr(m, engine.Float32), b.ptr(v, engine.Float32), int64(param.Len())
	if n == 0 {
		return
	}
	step, bc := kernels.AdamScalars(h.LR, h.Beta1, h.Beta2, h.Step)
	b.run("AdamUpdate", func() error {
		gr, bl := b.grid1(n)
		return b.launch(kAdam, gr, bl, p, g, mp, vp, n, float32(1-h.Beta1), float32(h.Beta2), float32(1-h.Beta2),
			float32(step), float32(bc), float32(h.Eps), float32(h.L1), float32(h.L2Scale))
	})
}

package cpu

import (
	"fmt"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/kernels"
)

func sameShape(what string, a, b *engine.Tensor) {
	if a.Rows() != b.Rows() || a.Cols() != b.Cols() || a.DType() != b.DType() {
		panic(fmt.Sprintf("cpu: %s: %v and %v differ", what, a, b))
	}
}

// Fill sets every element to v.
func (b *Backend) Fill(t *engine.Tensor, v float32) {
	x := Float32s(t)
	parallel(len(x), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x[i] = v
		}
	})
}

// Copy copies src into dst.
func (b *Backend) Copy(dst, src *engine.Tensor) {
	sameShape("Copy", dst, src)
	switch dst.DType() {
	case engine.Float32:
		copy(Float32s(dst), Float32s(src))
	case engine.Float64:
		copy(Float64s(dst), Float64s(src))
	default:
		copy(Int32s(dst), Int32s(src))
	}
}

// Scale multiplies t by alpha.
func (b *Backend) Scale(t *engine.Tensor, alpha float32) {
	x := Float32s(t)
	parallel(len(x), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x[i] *= alpha
		}
	})
}

// Axpy computes y ← alpha·x + y.
func (b *Backend) Axpy(alpha float32, x, y *engine.Tensor) {
	sameShape("Axpy", x, y)
	xs, ys := Float32s(x), Float32s(y)
	parallel(len(xs), 1, func(lo, hi int) {
		xs, ys := xs[lo:hi], ys[lo:hi]
		for i, v := range xs {
			ys[i] += alpha * v
		}
	})
}

// Mul computes dst ← a ∘ b.
func (b *Backend) Mul(dst, a, c *engine.Tensor) {
	sameShape("Mul", dst, a)
	sameShape("Mul", a, c)
	ds, as, cs := Float32s(dst), Float32s(a), Float32s(c)
	parallel(len(ds), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ds[i] = as[i] * cs[i]
		}
	})
}

// AddRowVector adds v to every row of t.
func (b *Backend) AddRowVector(t, v *engine.Tensor) {
	v.MustBe("AddRowVector v", 1, t.Cols(), engine.Float32)
	x, vs := Float32s(t), Float32s(v)
	cols := t.Cols()
	parallel(t.Rows(), cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := x[r*cols : (r+1)*cols]
			for j, a := range vs {
				row[j] += a
			}
		}
	})
}

// AffineOuter sets t[i, j] ← (rowScale[i]·t[i, j])·colScale[j] −
// rowShift[i]·colShift[j], each product rounded to float32.
func (b *Backend) AffineOuter(t, rowScale, colScale, rowShift, colShift *engine.Tensor) {
	rows, cols := t.Rows(), t.Cols()
	t.MustBe("AffineOuter t", rows, cols, engine.Float32)
	rowScale.MustBe("AffineOuter rowScale", 1, rows, engine.Float32)
	rowShift.MustBe("AffineOuter rowShift", 1, rows, engine.Float32)
	colScale.MustBe("AffineOuter colScale", 1, cols, engine.Float32)
	colShift.MustBe("AffineOuter colShift", 1, cols, engine.Float32)
	x, rs, cs, rh, ch := Float32s(t), Float32s(rowScale), Float32s(colScale), Float32s(rowShift), Float32s(colShift)
	parallel(rows, cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			a, h := rs[r], rh[r]
			for j, v := range x[r*cols : (r+1)*cols] {
				// The conversions round each product, so none is fused.
				x[r*cols+j] = float32(float32(a*v)*cs[j]) - float32(h*ch[j])
			}
		}
	})
}

// ScaleColumns multiplies column j of src by s[j] into dst.
func (b *Backend) ScaleColumns(dst, src, s *engine.Tensor) {
	sameShape("ScaleColumns", dst, src)
	s.MustBe("ScaleColumns s", 1, src.Cols(), engine.Float32)
	ds, ss, sc := Float32s(dst), Float32s(src), Float32s(s)
	cols := src.Cols()
	parallel(src.Rows(), cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			d, x := ds[r*cols:(r+1)*cols], ss[r*cols:(r+1)*cols]
			for j, f := range sc {
				d[j] = x[j] * f
			}
		}
	})
	// A zero scale must give +0 even for negative or infinite inputs.
	for j, f := range sc {
		if f == 0 {
			for r := 0; r < src.Rows(); r++ {
				ds[r*cols+j] = 0
			}
		}
	}
}

// GatherColumns sets dst[i, k] = src[i, idx[k]].
func (b *Backend) GatherColumns(dst, src, idx *engine.Tensor) {
	idx.MustBe("GatherColumns idx", 1, -1, engine.Int32)
	dst.MustBe("GatherColumns dst", src.Rows(), idx.Cols(), engine.Float32)
	ds, ss, is := Float32s(dst), Float32s(src), Int32s(idx)
	sc, dc := src.Cols(), dst.Cols()
	for _, j := range is {
		if j < 0 || int(j) >= sc {
			panic(fmt.Sprintf("cpu: GatherColumns index %d outside [0, %d)", j, sc))
		}
	}
	parallel(src.Rows(), dc, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			d, x := ds[r*dc:(r+1)*dc], ss[r*sc:(r+1)*sc]
			for k, j := range is {
				d[k] = x[j]
			}
		}
	})
}

// ReduceRows reduces each row.
func (b *Backend) ReduceRows(op engine.ReduceOp, src, vals, idx *engine.Tensor) {
	if src.Cols() == 0 {
		panic("cpu: ReduceRows over zero columns")
	}
	vals.MustBe("ReduceRows vals", src.Rows(), 1, engine.Float32)
	var is []int32
	if idx != nil {
		idx.MustBe("ReduceRows idx", src.Rows(), 1, engine.Int32)
		is = Int32s(idx)
	}
	x, vs, cols := Float32s(src), Float32s(vals), src.Cols()
	parallel(src.Rows(), cols, func(lo, hi int) {
		kernels.ReduceRows(kernels.Reduction(op), x, cols, lo, hi, vs, is)
	})
}

// ReduceCols reduces each column.
func (b *Backend) ReduceCols(op engine.ReduceOp, src, vals, idx *engine.Tensor) {
	if src.Rows() == 0 {
		panic("cpu: ReduceCols over zero rows")
	}
	vals.MustBe("ReduceCols vals", 1, src.Cols(), engine.Float32)
	var is []int32
	if idx != nil {
		idx.MustBe("ReduceCols idx", 1, src.Cols(), engine.Int32)
		is = Int32s(idx)
	}
	x, vs, rows, cols := Float32s(src), Float32s(vals), src.Rows(), src.Cols()
	parallel(cols, rows, func(lo, hi int) {
		kernels.ReduceCols(kernels.Reduction(op), x, rows, cols, lo, hi, vs, is)
	})
}

// SumCols sets dst[0, j] = Σ_i src[i, j].
func (b *Backend) SumCols(dst, src *engine.Tensor) {
	x, rows, cols := Float32s(src), src.Rows(), src.Cols()
	acc := make([]float64, cols)
	parallel(cols, rows, func(lo, hi int) { kernels.SumCols(x, rows, cols, lo, hi, acc) })
	switch dst.DType() {
	case engine.Float64:
		dst.MustBe("SumCols dst", 1, cols, engine.Float64)
		copy(Float64s(dst), acc)
	default:
		dst.MustBe("SumCols dst", 1, cols, engine.Float32)
		d := Float32s(dst)
		for j, v := range acc {
			d[j] = float32(v)
		}
	}
}

// SumSquares sets dst = Σ x².
func (b *Backend) SumSquares(dst, src *engine.Tensor) {
	dst.MustBe("SumSquares dst", 1, 1, engine.Float64)
	x := Float32s(src)
	Float64s(dst)[0] = parallelSum(len(x), 1, func(lo, hi int) float64 { return kernels.SumSquares(x[lo:hi]) })
}

// ColMoments computes column means and centred sums of squares.
func (b *Backend) ColMoments(src, mean, m2 *engine.Tensor) {
	rows, cols := src.Rows(), src.Cols()
	mean.MustBe("ColMoments mean", 1, cols, engine.Float64)
	m2.MustBe("ColMoments m2", 1, cols, engine.Float64)
	x, ms, vs := Float32s(src), Float64s(mean), Float64s(m2)
	parallelAligned(cols, kernels.ColMomentsVectorWidth, rows, func(lo, hi int) { kernels.ColMoments(x, rows, cols, lo, hi, ms, vs) })
}

// Standardize sets dst = (src − mean)·invStd column-wise.
func (b *Backend) Standardize(dst, src, mean, invStd *engine.Tensor) {
	sameShape("Standardize", dst, src)
	mean.MustBe("Standardize mean", 1, src.Cols(), engine.Float32)
	invStd.MustBe("Standardize invStd", 1, src.Cols(), engine.Float32)
	ds, ss, ms, is := Float32s(dst), Float32s(src), Float32s(mean), Float32s(invStd)
	parallel(src.Rows(), src.Cols(), func(lo, hi int) { kernels.Standardize(ds, ss, lo, hi, ms, is) })
}

// SoftmaxCrossEntropy computes the summed loss and optionally the gradient.
func (b *Backend) SoftmaxCrossEntropy(logits, labels, grad, loss *engine.Tensor, gradScale float32) {
	// Labels are checked to be in [0, k), so the masked kernel (its C form
	// under cgo, with a fast exp) computes every row.
	softmaxXent("SoftmaxCrossEntropy", false, logits, labels, grad, loss, func(ls []float32, k int, lab []int32, gs []float32, lo, hi int) float64 {
		return kernels.SoftmaxCrossEntropyMasked(ls, k, lab, gs, gradScale, lo, hi)
	})
}

// softmaxXent checks the operands of a softmax cross-entropy op called op
// (labels in [0, k), or also negative — rows without loss — when masked)
// and sets loss to the sum of kernel over blocks of rows.
func softmaxXent(op string, masked bool, logits, labels, grad, loss *engine.Tensor, kernel func(ls []float32, k int, lab []int32, gs []float32, lo, hi int) float64) {
	n, k := logits.Rows(), logits.Cols()
	logits.MustBe(op+" logits", n, k, engine.Float32)
	labels.MustBe(op+" labels", n, 1, engine.Int32)
	loss.MustBe(op+" loss", 1, 1, engine.Float64)
	ls, lab := Float32s(logits), Int32s(labels)
	for i, l := range lab {
		switch {
		case masked && int(l) >= k:
			panic(fmt.Sprintf("cpu: %s label %d of row %d ≥ %d", op, l, i, k))
		case !masked && (l < 0 || int(l) >= k):
			panic(fmt.Sprintf("cpu: %s label %d of row %d outside [0, %d)", op, l, i, k))
		}
	}
	var gs []float32
	if grad != nil {
		grad.MustBe(op+" grad", n, k, engine.Float32)
		gs = Float32s(grad)
	}
	Float64s(loss)[0] = parallelSum(n, 8*k, func(lo, hi int) float64 { return kernel(ls, k, lab, gs, lo, hi) })
}

// AdamUpdate applies one Adam step.
func (b *Backend) AdamUpdate(param, grad, m, v *engine.Tensor, h engine.Adam) {
	sameShape("AdamUpdate grad", param, grad)
	sameShape("AdamUpdate m", param, m)
	sameShape("AdamUpdate v", param, v)
	if h.Step < 1 {
		panic(fmt.Sprintf("cpu: Adam step %d (steps count from 1)", h.Step))
	}
	p, g, ms, vs := Float32s(param), Float32s(grad), Float32s(m), Float32s(v)
	ss, bc := kernels.AdamScalars(h.LR, h.Beta1, h.Beta2, h.Step)
	parallelAligned(len(p), kernels.AdamVectorWidth, 4, func(lo, hi int) {
		kernels.Adam(p[lo:hi], g[lo:hi], ms[lo:hi], vs[lo:hi], h.Beta1, h.Beta2, ss, bc, h.Eps, h.L1, h.L2Scale)
	})
}

// SoftThreshold applies sign(x)·max(|x| − thresh, 0).
func (b *Backend) SoftThreshold(t *engine.Tensor, thresh float32) {
	x := Float32s(t)
	parallel(len(x), 1, func(lo, hi int) { kernels.SoftThreshold(x[lo:hi], thresh) })
}

var _ engine.Backend = (*Backend)(nil)
var _ engine.HostMemory = (*Backend)(nil)

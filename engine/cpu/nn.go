package cpu

import (
	"fmt"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/kernels"
)

// EmbeddingForward sets dst[r] = table[ids[r]]∘mask.
func (b *Backend) EmbeddingForward(dst, table, ids, mask *engine.Tensor) {
	n, e := ids.Rows(), table.Cols()
	ids.MustBe("EmbeddingForward ids", -1, 1, engine.Int32)
	dst.MustBe("EmbeddingForward dst", n, e, engine.Float32)
	mask.MustBe("EmbeddingForward mask", 1, e, engine.Float32)
	is := checkIDs("EmbeddingForward", ids, table.Rows())
	ds, ts, ms := Float32s(dst), Float32s(table), Float32s(mask)
	parallel(n, e, func(lo, hi int) { kernels.EmbeddingForward(ds, ts, is, ms, lo, hi) })
}

// EmbeddingBackward sets dTable to the scatter-added gradient.
func (b *Backend) EmbeddingBackward(dTable, dDst, ids, mask *engine.Tensor) {
	n, e := ids.Rows(), dTable.Cols()
	ids.MustBe("EmbeddingBackward ids", -1, 1, engine.Int32)
	dDst.MustBe("EmbeddingBackward dDst", n, e, engine.Float32)
	mask.MustBe("EmbeddingBackward mask", 1, e, engine.Float32)
	is := checkIDs("EmbeddingBackward", ids, dTable.Rows())
	dt, ds, ms := Float32s(dTable), Float32s(dDst), Float32s(mask)
	b.Fill(dTable, 0)
	// Split by columns: every worker visits the rows in order, so the sums
	// do not depend on the split.
	parallel(e, n, func(lo, hi int) { kernels.EmbeddingBackward(dt, ds, is, ms, lo, hi) })
}

func checkIDs(what string, ids *engine.Tensor, v int) []int32 {
	is := Int32s(ids)
	for r, id := range is {
		if id < 0 || int(id) >= v {
			panic(fmt.Sprintf("cpu: %s: id %d of row %d outside [0, %d)", what, id, r, v))
		}
	}
	return is
}

// LSTMCellForward computes one LSTM step.
func (b *Backend) LSTMCellForward(gates, cPrev, c, h, mask, valid *engine.Tensor) {
	rows, hid := engine.CheckLSTMCell("LSTMCellForward", gates, cPrev, c, mask, valid)
	h.MustBe("LSTMCellForward h", rows, hid, engine.Float32)
	var cp []float32
	if cPrev != nil {
		cp = Float32s(cPrev)
	}
	gs, cs, hs, ms, vs := Float32s(gates), Float32s(c), Float32s(h), Float32s(mask), Float32s(valid)
	parallel(rows, 16*hid, func(lo, hi int) { kernels.LSTMCellForward(gs, cp, cs, hs, ms, vs, lo, hi) })
}

// LSTMCellBackward is the gradient of LSTMCellForward.
func (b *Backend) LSTMCellBackward(gates, cPrev, c, mask, valid, dh, dc, dGates *engine.Tensor) {
	rows, hid := engine.CheckLSTMCell("LSTMCellBackward", gates, cPrev, c, mask, valid)
	dh.MustBe("LSTMCellBackward dh", rows, hid, engine.Float32)
	dc.MustBe("LSTMCellBackward dc", rows, hid, engine.Float32)
	dGates.MustBe("LSTMCellBackward dGates", rows, 4*hid, engine.Float32)
	var cp []float32
	if cPrev != nil {
		cp = Float32s(cPrev)
	}
	gs, cs, ms, vs := Float32s(gates), Float32s(c), Float32s(mask), Float32s(valid)
	dhs, dcs, dgs := Float32s(dh), Float32s(dc), Float32s(dGates)
	parallel(rows, 16*hid, func(lo, hi int) { kernels.LSTMCellBackward(gs, cp, cs, ms, vs, dhs, dcs, dgs, lo, hi) })
}

// AttentionForward computes attention probabilities and contexts.
func (b *Backend) AttentionForward(q, keys, values, lengths, probs, ctx *engine.Tensor) {
	bsz, s, d, dv := engine.CheckAttention("AttentionForward", q, keys, values, probs)
	lengths.MustBe("AttentionForward lengths", 1, bsz, engine.Int32)
	ctx.MustBe("AttentionForward ctx", bsz, dv, engine.Float32)
	ls := Int32s(lengths)
	for i, l := range ls {
		if l < 1 || int(l) > s {
			panic(fmt.Sprintf("cpu: AttentionForward: length %d of row %d outside [1, %d]", l, i, s))
		}
	}
	qs, ks, vs, ps, cs := Float32s(q), Float32s(keys), Float32s(values), Float32s(probs), Float32s(ctx)
	parallel(bsz, s*(d+dv), func(lo, hi int) { kernels.AttentionForward(qs, ks, vs, ls, ps, cs, bsz, s, d, dv, lo, hi) })
}

// AttentionBackward computes the attention gradients.
func (b *Backend) AttentionBackward(q, keys, values, probs, dCtx, dq, dKeys, dValues *engine.Tensor) {
	bsz, s, d, dv := engine.CheckAttention("AttentionBackward", q, keys, values, probs)
	dCtx.MustBe("AttentionBackward dCtx", bsz, dv, engine.Float32)
	dq.MustBe("AttentionBackward dq", bsz, d, engine.Float32)
	dKeys.MustBe("AttentionBackward dKeys", s*bsz, d, engine.Float32)
	dValues.MustBe("AttentionBackward dValues", s*bsz, dv, engine.Float32)
	ps := Float32s(probs)
	qs, ks, vs, dcs := Float32s(q), Float32s(keys), Float32s(values), Float32s(dCtx)
	dqs, dks, dvs := Float32s(dq), Float32s(dKeys), Float32s(dValues)
	parallel(bsz, 2*s*(d+dv), func(lo, hi int) {
		kernels.AttentionBackward(qs, ks, vs, ps, dcs, dqs, dks, dvs, bsz, s, d, dv, lo, hi)
	})
}

// TanhMask sets x ← mask∘tanh(x).
func (b *Backend) TanhMask(x, mask *engine.Tensor) {
	mask.MustBe("TanhMask mask", 1, x.Cols(), engine.Float32)
	xs, ms := Float32s(x), Float32s(mask)
	parallel(x.Rows(), 8*x.Cols(), func(lo, hi int) { kernels.TanhMask(xs, ms, lo, hi) })
}

// TanhMaskBackward sets dx = dy∘mask∘(1 − y²).
func (b *Backend) TanhMaskBackward(dx, dy, y, mask *engine.Tensor) {
	sameShape("TanhMaskBackward dy", dx, dy)
	sameShape("TanhMaskBackward y", dx, y)
	mask.MustBe("TanhMaskBackward mask", 1, dx.Cols(), engine.Float32)
	dxs, dys, ys, ms := Float32s(dx), Float32s(dy), Float32s(y), Float32s(mask)
	parallel(dx.Rows(), dx.Cols(), func(lo, hi int) { kernels.TanhMaskBackward(dxs, dys, ys, ms, lo, hi) })
}

// DropoutMask fills an inverted-dropout mask.
func (b *Backend) DropoutMask(mask *engine.Tensor, p float32, seed uint64) {
	if !(p >= 0 && p < 1) {
		panic(fmt.Sprintf("cpu: DropoutMask: p = %v outside [0, 1)", p))
	}
	ms := Float32s(mask)
	parallel(len(ms), 4, func(lo, hi int) { kernels.DropoutMask(ms, p, seed, engine.DropoutHash, lo, hi) })
}

// SoftmaxCrossEntropyMasked is SoftmaxCrossEntropy ignoring negative labels.
func (b *Backend) SoftmaxCrossEntropyMasked(logits, labels, grad, loss *engine.Tensor, gradScale float32) {
	softmaxXent("SoftmaxCrossEntropyMasked", true, logits, labels, grad, loss, func(ls []float32, k int, lab []int32, gs []float32, lo, hi int) float64 {
		return kernels.SoftmaxCrossEntropyMasked(ls, k, lab, gs, gradScale, lo, hi)
	})
}

// LogSoftmax sets dst to the row-wise log-softmax of src.
func (b *Backend) LogSoftmax(dst, src *engine.Tensor) {
	sameShape("LogSoftmax", dst, src)
	ds, ss := Float32s(dst), Float32s(src)
	parallel(src.Rows(), 4*src.Cols(), func(lo, hi int) { kernels.LogSoftmax(ds, ss, src.Cols(), lo, hi) })
}

// RowTopK writes each row's k first elements (kernels.RowTopK).
func (b *Backend) RowTopK(vals, idx, src *engine.Tensor) {
	_, c, k := engine.CheckRowTopK("RowTopK", vals, idx, src)
	vs, is, ss := Float32s(vals), Int32s(idx), Float32s(src)
	parallel(src.Rows(), 2*c, func(lo, hi int) { kernels.RowTopK(vs, is, ss, c, k, lo, hi) })
}

// CopyToColumns sets dst[:, col:col+w] = src.
func (b *Backend) CopyToColumns(dst *engine.Tensor, col int, src *engine.Tensor) {
	copyColumns("CopyToColumns", dst, src, col, true)
}

// CopyFromColumns sets dst = src[:, col:col+w].
func (b *Backend) CopyFromColumns(dst, src *engine.Tensor, col int) {
	copyColumns("CopyFromColumns", src, dst, col, false)
}

// copyColumns copies between the narrow tensor and columns [col, col+w) of
// the wide one, in the direction given by into.
func copyColumns(what string, wide, narrow *engine.Tensor, col int, into bool) {
	engine.CheckColumns(what, wide, narrow, col)
	w, wc := narrow.Cols(), wide.Cols()
	ws, ns := Float32s(wide), Float32s(narrow)
	parallel(narrow.Rows(), w, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			if into {
				copy(ws[r*wc+col:r*wc+col+w], ns[r*w:(r+1)*w])
			} else {
				copy(ns[r*w:(r+1)*w], ws[r*wc+col:r*wc+col+w])
			}
		}
	})
}

var _ engine.NN = (*Backend)(nil)

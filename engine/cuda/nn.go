//go:build grain_cuda

package cuda

import (
	"fmt"

	"github.com/grainlab/grain/engine"
)

// The engine.NN operations (the fused operations of grain's models) on the
// GPU, in kernels/nn.cu. Operand shapes are checked as on the CPU; values
// that live on the device and that the CPU checks by panicking (an id
// outside the embedding table, an attention length outside [1, S], a
// label ≥ k) are flagged by the kernels and reported by the next Sync or
// Download.

// EmbeddingForward sets dst[r] = table[ids[r]]∘mask.
func (b *Backend) EmbeddingForward(dst, table, ids, mask *engine.Tensor) {
	n, e, v := int64(ids.Rows()), int64(table.Cols()), int64(table.Rows())
	ids.MustBe("EmbeddingForward ids", -1, 1, engine.Int32)
	dst.MustBe("EmbeddingForward dst", int(n), int(e), engine.Float32)
	mask.MustBe("EmbeddingForward mask", 1, int(e), engine.Float32)
	d, tp, ip, mp := b.ptr(dst, engine.Float32), b.ptr(table, engine.Float32), b.ptr(ids, engine.Int32), b.ptr(mask, engine.Float32)
	if n*e == 0 {
		return
	}
	b.run("EmbeddingForward", func() error {
		g, bl := b.grid2(n, e)
		return b.launch(kEmbeddingFwd, g, bl, d, tp, ip, mp, n, e, v, b.flags.dev)
	})
}

// EmbeddingBackward sets dTable = 0, then dTable[ids[r]] += dDst[r]∘mask
// for r in order (one thread per column: deterministic, the CPU's order).
func (b *Backend) EmbeddingBackward(dTable, dDst, ids, mask *engine.Tensor) {
	n, e, v := int64(ids.Rows()), int64(dTable.Cols()), int64(dTable.Rows())
	ids.MustBe("EmbeddingBackward ids", -1, 1, engine.Int32)
	dDst.MustBe("EmbeddingBackward dDst", int(n), int(e), engine.Float32)
	mask.MustBe("EmbeddingBackward mask", 1, int(e), engine.Float32)
	dt, ds := b.ptr(dTable, engine.Float32), b.ptr(dDst, engine.Float32)
	ip, mp := b.ptr(ids, engine.Int32), b.ptr(mask, engine.Float32)
	b.run("EmbeddingBackward", func() error {
		if err := memsetZero(b, dt, v*e*4); err != nil || n*e == 0 {
			return err
		}
		g, bl := b.grid1(e)
		return b.launch(kEmbeddingBwd, g, bl, dt, ds, ip, mp, n, e, v, b.flags.dev)
	})
}

// lstmOperands checks what LSTMCellForward and LSTMCellBackward share and
// returns rows, H and the device address of cPrev (0 for nil: zeros).
func (b *Backend) lstmOperands(what string, gates, cPrev, c, mask, valid *engine.Tensor) (rows, hid int64, cp uint64) {
	r, h := engine.CheckLSTMCell(what, gates, cPrev, c, mask, valid)
	if cPrev != nil {
		cp = b.ptr(cPrev, engine.Float32)
	}
	return int64(r), int64(h), cp
}

// LSTMCellForward computes one LSTM step.
func (b *Backend) LSTMCellForward(gates, cPrev, c, h, mask, valid *engine.Tensor) {
	rows, hid, cp := b.lstmOperands("LSTMCellForward", gates, cPrev, c, mask, valid)
	h.MustBe("LSTMCellForward h", int(rows), int(hid), engine.Float32)
	gp, cc, hp := b.ptr(gates, engine.Float32), b.ptr(c, engine.Float32), b.ptr(h, engine.Float32)
	mp, vp := b.ptr(mask, engine.Float32), b.ptr(valid, engine.Float32)
	if rows*hid == 0 {
		return
	}
	b.run("LSTMCellForward", func() error {
		g, bl := b.grid2(rows, hid)
		return b.launch(kLSTMFwd, g, bl, gp, cp, cc, hp, mp, vp, rows, hid)
	})
}

// LSTMCellBackward is the gradient of LSTMCellForward.
func (b *Backend) LSTMCellBackward(gates, cPrev, c, mask, valid, dh, dc, dGates *engine.Tensor) {
	rows, hid, cp := b.lstmOperands("LSTMCellBackward", gates, cPrev, c, mask, valid)
	dh.MustBe("LSTMCellBackward dh", int(rows), int(hid), engine.Float32)
	dc.MustBe("LSTMCellBackward dc", int(rows), int(hid), engine.Float32)
	dGates.MustBe("LSTMCellBackward dGates", int(rows), 4*int(hid), engine.Float32)
	gp, cc, mp, vp := b.ptr(gates, engine.Float32), b.ptr(c, engine.Float32), b.ptr(mask, engine.Float32), b.ptr(valid, engine.Float32)
	dhp, dcp, dgp := b.ptr(dh, engine.Float32), b.ptr(dc, engine.Float32), b.ptr(dGates, engine.Float32)
	if rows*hid == 0 {
		return
	}
	b.run("LSTMCellBackward", func() error {
		g, bl := b.grid2(rows, hid)
		return b.launch(kLSTMBwd, g, bl, gp, cp, cc, mp, vp, dhp, dcp, dgp, rows, hid)
	})
}

// attentionDims checks the attention operands and returns B, S, D and Dv.
func attentionDims(what string, q, keys, values, probs *engine.Tensor) (bsz, s, d, dv int64) {
	nb, ns, nd, ndv := engine.CheckAttention(what, q, keys, values, probs)
	return int64(nb), int64(ns), int64(nd), int64(ndv)
}

// AttentionForward computes attention probabilities and contexts.
func (b *Backend) AttentionForward(q, keys, values, lengths, probs, ctx *engine.Tensor) {
	bsz, s, d, dv := attentionDims("AttentionForward", q, keys, values, probs)
	lengths.MustBe("AttentionForward lengths", 1, int(bsz), engine.Int32)
	ctx.MustBe("AttentionForward ctx", int(bsz), int(dv), engine.Float32)
	qp, kp, vp := b.ptr(q, engine.Float32), b.ptr(keys, engine.Float32), b.ptr(values, engine.Float32)
	lp, pp, cp := b.ptr(lengths, engine.Int32), b.ptr(probs, engine.Float32), b.ptr(ctx, engine.Float32)
	if bsz == 0 {
		return
	}
	b.run("AttentionForward", func() error {
		g, bl := rowBlocks(bsz, rowThreads)
		return b.launch(kAttentionFwd, g, bl, qp, kp, vp, lp, pp, cp, bsz, s, d, dv, b.flags.dev)
	})
}

// AttentionBackward computes the attention gradients.
func (b *Backend) AttentionBackward(q, keys, values, probs, dCtx, dq, dKeys, dValues *engine.Tensor) {
	bsz, s, d, dv := attentionDims("AttentionBackward", q, keys, values, probs)
	dCtx.MustBe("AttentionBackward dCtx", int(bsz), int(dv), engine.Float32)
	dq.MustBe("AttentionBackward dq", int(bsz), int(d), engine.Float32)
	dKeys.MustBe("AttentionBackward dKeys", int(s*bsz), int(d), engine.Float32)
	dValues.MustBe("AttentionBackward dValues", int(s*bsz), int(dv), engine.Float32)
	qp, kp, vp, pp := b.ptr(q, engine.Float32), b.ptr(keys, engine.Float32), b.ptr(values, engine.Float32), b.ptr(probs, engine.Float32)
	dcp, dqp, dkp, dvp := b.ptr(dCtx, engine.Float32), b.ptr(dq, engine.Float32), b.ptr(dKeys, engine.Float32), b.ptr(dValues, engine.Float32)
	if bsz == 0 {
		return
	}
	b.run("AttentionBackward", func() error {
		ds, err := b.scratchLocked(bsz * s * 4)
		if err != nil {
			return err
		}
		g, bl := rowBlocks(bsz, rowThreads)
		return b.launch(kAttentionBwd, g, bl, qp, kp, vp, pp, dcp, dqp, dkp, dvp, ds, bsz, s, d, dv)
	})
}

// TanhMask sets x ← mask∘tanh(x).
func (b *Backend) TanhMask(x, mask *engine.Tensor) {
	mask.MustBe("TanhMask mask", 1, x.Cols(), engine.Float32)
	xp, mp, rows, cols := b.ptr(x, engine.Float32), b.ptr(mask, engine.Float32), int64(x.Rows()), int64(x.Cols())
	if rows*cols == 0 {
		return
	}
	b.run("TanhMask", func() error {
		g, bl := b.grid2(rows, cols)
		return b.launch(kTanhMask, g, bl, xp, mp, rows, cols)
	})
}

// TanhMaskBackward sets dx = dy∘mask∘(1 − y²); dx may alias dy.
func (b *Backend) TanhMaskBackward(dx, dy, y, mask *engine.Tensor) {
	sameShape("TanhMaskBackward dy", dx, dy)
	sameShape("TanhMaskBackward y", dx, y)
	mask.MustBe("TanhMaskBackward mask", 1, dx.Cols(), engine.Float32)
	dxp, dyp, yp, mp := b.ptr(dx, engine.Float32), b.ptr(dy, engine.Float32), b.ptr(y, engine.Float32), b.ptr(mask, engine.Float32)
	rows, cols := int64(dx.Rows()), int64(dx.Cols())
	if rows*cols == 0 {
		return
	}
	b.run("TanhMaskBackward", func() error {
		g, bl := b.grid2(rows, cols)
		return b.launch(kTanhMaskBwd, g, bl, dxp, dyp, yp, mp, rows, cols)
	})
}

// DropoutMask fills an inverted-dropout mask (engine.NN.DropoutMask).
func (b *Backend) DropoutMask(mask *engine.Tensor, p float32, seed uint64) {
	if !(p >= 0 && p < 1) {
		panic(fmt.Sprintf("cuda: DropoutMask: p = %v outside [0, 1)", p))
	}
	b.elementwise("DropoutMask", kDropoutMask, mask, p, seed)
}

// SoftmaxCrossEntropyMasked is SoftmaxCrossEntropy ignoring rows with a
// negative label.
func (b *Backend) SoftmaxCrossEntropyMasked(logits, labels, grad, loss *engine.Tensor, gradScale float32) {
	b.softmaxXent("SoftmaxCrossEntropyMasked", kSoftmaxXentMasked, logits, labels, grad, loss, gradScale)
}

// LogSoftmax sets dst to the row-wise log-softmax of src; dst may alias
// src.
func (b *Backend) LogSoftmax(dst, src *engine.Tensor) {
	sameShape("LogSoftmax", dst, src)
	d, x, n, k := b.ptr(dst, engine.Float32), b.ptr(src, engine.Float32), int64(src.Rows()), int64(src.Cols())
	if n*k == 0 {
		return
	}
	b.run("LogSoftmax", func() error {
		g, bl := rowBlocks(n, k)
		return b.launch(kLogSoftmax, g, bl, d, x, n, k)
	})
}

// RowTopK writes each row's k first elements (kernels.RowTopK), one block
// per row.
func (b *Backend) RowTopK(vals, idx, src *engine.Tensor) {
	r, c, k := engine.CheckRowTopK("RowTopK", vals, idx, src)
	v, ix, x := b.ptr(vals, engine.Float32), b.ptr(idx, engine.Int32), b.ptr(src, engine.Float32)
	if r == 0 {
		return
	}
	b.run("RowTopK", func() error {
		g, bl := rowBlocks(int64(r), int64(c))
		return b.launch(kRowTopK, g, bl, v, ix, x, int64(r), int64(c), int64(k))
	})
}

// CopyToColumns sets dst[:, col:col+w] = src.
func (b *Backend) CopyToColumns(dst *engine.Tensor, col int, src *engine.Tensor) {
	b.copyColumns("CopyToColumns", dst, src, col, 1)
}

// CopyFromColumns sets dst = src[:, col:col+w].
func (b *Backend) CopyFromColumns(dst, src *engine.Tensor, col int) {
	b.copyColumns("CopyFromColumns", src, dst, col, 0)
}

// copyColumns copies between the narrow tensor and columns [col, col+w)
// of the wide one: into it when into is 1, out of it when 0.
func (b *Backend) copyColumns(what string, wide, narrow *engine.Tensor, col int, into int32) {
	engine.CheckColumns(what, wide, narrow, col)
	w, wc := narrow.Cols(), wide.Cols()
	wp, np, rows := b.ptr(wide, engine.Float32), b.ptr(narrow, engine.Float32), int64(narrow.Rows())
	if rows*int64(w) == 0 {
		return
	}
	b.run(what, func() error {
		g, bl := b.grid2(rows, int64(w))
		return b.launch(kCopyColumns, g, bl, wp, np, rows, int64(wc), int64(w), int64(col), into)
	})
}

var _ engine.NN = (*Backend)(nil)

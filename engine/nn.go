package engine

import "fmt"

// NN is implemented by backends that run the fused neural-network
// operations of grain's models (package nn): embedding lookup, one LSTM
// time step, attention over an encoded sequence, masked tanh layers, dropout
// masks and softmax cross-entropy over non-pad positions, each with its
// gradient. Callers check for it with a type assertion; the CPU backend
// implements it, and the conformance suite (enginetest.RunNN) checks every
// operation against a float64 reference.
//
// Sequences are stored time-major: a batch of B sequences of T steps with
// d features each is a (T·B)×d tensor whose row t·B+b is step t of sequence
// b, so the B rows of one step are a contiguous Slice(t·B, (t+1)·B).
//
// Neuron masks are 1×n Float32 tensors of 0s and 1s multiplied into a
// layer's output: a masked neuron's output is exactly ±0 and an all-ones
// mask leaves every value bit for bit unchanged (x·1 = x). Row validity
// (padding) is a B×1 Float32 tensor of 0s and 1s with the same rule.
//
// All operands are Float32 unless stated otherwise; as for Backend, shape
// and dtype errors panic, and outputs may not alias inputs unless stated.
type NN interface {
	// EmbeddingForward sets dst[r, :] = table[ids[r], :] ∘ mask for the
	// N×1 Int32 ids (each in [0, V)), the V×E table, the 1×E mask and the
	// N×E dst.
	EmbeddingForward(dst, table, ids, mask *Tensor)
	// EmbeddingBackward sets dTable (V×E) to the gradient of the lookup:
	// dTable = 0, then dTable[ids[r], :] += dDst[r, :] ∘ mask for
	// r = 0, 1, …, N−1 in that order (so the result is deterministic).
	EmbeddingBackward(dTable, dDst, ids, mask *Tensor)

	// LSTMCellForward computes one LSTM step for B rows. gates (B×4H)
	// holds the pre-activations [i f g o] (input, forget, cell, output
	// gate, H columns each, as in PyTorch) and is overwritten with the
	// activations σ(i), σ(f), tanh(g), σ(o). With v = valid[b] (B×1) and
	// the 1×H mask m:
	//
	//	c = v·(f∘cPrev + i∘g)
	//	h = v·m∘o∘tanh(c)
	//
	// cPrev (B×H) may be nil, meaning zeros. c and h are B×H.
	LSTMCellForward(gates, cPrev, c, h, mask, valid *Tensor)
	// LSTMCellBackward is the gradient of LSTMCellForward. gates, cPrev
	// and c are as LSTMCellForward left them; dh (B×H) is the gradient
	// with respect to h; dc (B×H) holds on entry the gradient with respect
	// to c that arrives from later steps and on return the gradient with
	// respect to cPrev. dGates (B×4H) receives the gradient with respect to
	// the pre-activations:
	//
	//	δh = v·m∘dh
	//	δc = v·(dc + δh∘o∘(1 − tanh²c))
	//	dGates = [δc∘g∘i(1−i), δc∘cPrev∘f(1−f), δc∘i∘(1−g²), δh∘tanh(c)∘o(1−o)]
	//	dc ← δc∘f
	LSTMCellBackward(gates, cPrev, c, mask, valid, dh, dc, dGates *Tensor)

	// AttentionForward attends from B queries over a time-major memory of
	// S steps. For the B×D query q, the (S·B)×D keys, the (S·B)×Dv values
	// and the 1×B Int32 lengths (each in [1, S]):
	//
	//	score[b, s] = q[b, :]·keys[s·B+b, :]            for s < len[b]
	//	probs[b, :] = softmax(score[b, :len[b]]), 0 for s ≥ len[b]
	//	ctx[b, :]   = Σ_s probs[b, s]·values[s·B+b, :]
	//
	// probs is B×S and ctx B×Dv.
	AttentionForward(q, keys, values, lengths, probs, ctx *Tensor)
	// AttentionBackward is the gradient of AttentionForward given dCtx
	// (B×Dv) and the probs it computed. It overwrites dq (B×D) and adds
	// into dKeys ((S·B)×D) and dValues ((S·B)×Dv):
	//
	//	dp[b, s]  = dCtx[b, :]·values[s·B+b, :]
	//	ds[b, s]  = probs[b, s]·(dp[b, s] − Σ_s' probs[b, s']·dp[b, s'])
	//	dq[b, :]  = Σ_s ds[b, s]·keys[s·B+b, :]
	//	dKeys[s·B+b, :]   += ds[b, s]·q[b, :]
	//	dValues[s·B+b, :] += probs[b, s]·dCtx[b, :]
	AttentionBackward(q, keys, values, probs, dCtx, dq, dKeys, dValues *Tensor)

	// TanhMask sets x ← mask∘tanh(x) in place for an n×H x and 1×H mask.
	TanhMask(x, mask *Tensor)
	// TanhMaskBackward sets dx = dy∘mask∘(1 − y²) where y is TanhMask's
	// output; dx may alias dy.
	TanhMaskBackward(dx, dy, y, mask *Tensor)

	// DropoutMask fills mask with inverted-dropout multipliers: element i
	// is 0 with probability p and 1/(1−p) otherwise, decided by
	// u < p for u = (DropoutHash(seed, i) >> 40)·2⁻²⁴, where i is the
	// element's index in row-major order. The result depends only on seed,
	// p and the shape, on every backend.
	DropoutMask(mask *Tensor, p float32, seed uint64)

	// SoftmaxCrossEntropyMasked is Backend.SoftmaxCrossEntropy for rows
	// whose label may be negative: such rows (padding) add nothing to the
	// loss and get a zero gradient row. Labels must be < k.
	SoftmaxCrossEntropyMasked(logits, labels, grad, loss *Tensor, gradScale float32)
	// LogSoftmax sets dst[i, :] = src[i, :] − log Σ_j exp(src[i, j]),
	// computed with the max-shift; dst may alias src.
	LogSoftmax(dst, src *Tensor)
	// RowTopK writes, for each row i of the r×c src, its k first elements
	// in the order of kernels.TopKBefore (larger values first, ties by the
	// lower column, NaN last) into the r×k vals (Float32, their values) and
	// idx (Int32, their columns), 1 ≤ k ≤ c: what a beam search needs of a
	// row of log-probabilities, without moving the row.
	RowTopK(vals, idx, src *Tensor)

	// CopyToColumns sets dst[:, col:col+src.Cols()] = src (same rows).
	CopyToColumns(dst *Tensor, col int, src *Tensor)
	// CopyFromColumns sets dst = src[:, col:col+dst.Cols()] (same rows).
	CopyFromColumns(dst, src *Tensor, col int)
}

// DropoutHash is the counter-based hash behind NN.DropoutMask: the
// SplitMix64 finaliser of seed + (i+1)·0x9E3779B97F4A7C15.
func DropoutHash(seed, i uint64) uint64 {
	z := seed + (i+1)*0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// The operand checks of the NN operations that every backend makes alike;
// like MustBe they panic on a shape or dtype error.

// CheckLSTMCell checks the operands that LSTMCellForward and
// LSTMCellBackward share (cPrev may be nil) and returns B and H.
func CheckLSTMCell(what string, gates, cPrev, c, mask, valid *Tensor) (rows, hid int) {
	rows, hid = c.Rows(), mask.Cols()
	mask.MustBe(what+" mask", 1, hid, Float32)
	gates.MustBe(what+" gates", rows, 4*hid, Float32)
	c.MustBe(what+" c", rows, hid, Float32)
	valid.MustBe(what+" valid", rows, 1, Float32)
	if cPrev != nil {
		cPrev.MustBe(what+" cPrev", rows, hid, Float32)
	}
	return rows, hid
}

// CheckAttention checks the operands that AttentionForward and
// AttentionBackward share and returns B, S, D and Dv.
func CheckAttention(what string, q, keys, values, probs *Tensor) (bsz, s, d, dv int) {
	bsz, d = q.Rows(), q.Cols()
	q.MustBe(what+" q", bsz, d, Float32)
	probs.MustBe(what+" probs", bsz, -1, Float32)
	s = probs.Cols()
	keys.MustBe(what+" keys", s*bsz, d, Float32)
	dv = values.Cols()
	values.MustBe(what+" values", s*bsz, dv, Float32)
	return bsz, s, d, dv
}

// CheckRowTopK checks the operands of RowTopK and returns r, c and k.
func CheckRowTopK(what string, vals, idx, src *Tensor) (r, c, k int) {
	r, c, k = src.Rows(), src.Cols(), vals.Cols()
	src.MustBe(what+" src", r, c, Float32)
	vals.MustBe(what+" vals", r, k, Float32)
	idx.MustBe(what+" idx", r, k, Int32)
	if k < 1 || k > c {
		panic(fmt.Sprintf("engine: %s: k = %d outside [1, %d]", what, k, c))
	}
	return r, c, k
}

// CheckColumns checks that columns [col, col+narrow.Cols()) lie within
// wide and that both have the same rows (CopyToColumns, CopyFromColumns).
func CheckColumns(what string, wide, narrow *Tensor, col int) {
	w := narrow.Cols()
	if col < 0 || col+w > wide.Cols() || wide.Rows() != narrow.Rows() {
		panic(fmt.Sprintf("engine: %s: columns [%d, %d) of %v and %v", what, col, col+w, wide, narrow))
	}
}

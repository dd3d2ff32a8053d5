package kernels

import "math"

// The kernels below implement engine.NN on row-major float32 slices; see
// engine/nn.go for the formulas. Each takes a row range [r0, r1) (or, for
// attention, a range of batch rows) so that the CPU backend can split the
// work across cores. The elementwise ones that dominate training time
// (LSTM cells, tanh layers, softmax) also have C versions in nn.h that gcc
// vectorises; the exported names run C in cgo builds (nn_cgo.go) and the
// Go versions here otherwise (nn_nocgo.go), and a test checks that the two
// agree.

// EmbeddingForward sets dst[r] = table[ids[r]]∘mask for rows [r0, r1),
// e = len(mask) columns.
func EmbeddingForward(dst, table []float32, ids []int32, mask []float32, r0, r1 int) {
	e := len(mask)
	for r := r0; r < r1; r++ {
		d, t := dst[r*e:(r+1)*e], table[int(ids[r])*e:(int(ids[r])+1)*e]
		for j, m := range mask {
			d[j] = t[j] * m
		}
	}
}

// EmbeddingBackward adds dDst[r]∘mask into dTable[ids[r]] for all rows r in
// order, over the columns [c0, c1) only (the caller zeroes dTable).
func EmbeddingBackward(dTable, dDst []float32, ids []int32, mask []float32, c0, c1 int) {
	e := len(mask)
	for r, id := range ids {
		d, s := dTable[int(id)*e:], dDst[r*e:]
		for j := c0; j < c1; j++ {
			d[j] += s[j] * mask[j]
		}
	}
}

// lstmCellForwardGo computes rows [r0, r1) of one LSTM step with h = len(mask)
// units: gates (rows of 4h pre-activations) become activations, and c, hOut
// receive the new states. cPrev may be nil (zeros).
func lstmCellForwardGo(gates, cPrev, c, hOut, mask, valid []float32, r0, r1 int) {
	h := len(mask)
	for r := r0; r < r1; r++ {
		g := gates[r*4*h : (r+1)*4*h]
		gi, gf, gg, og := g[:h], g[h:2*h], g[2*h:3*h], g[3*h:4*h]
		cr, hr := c[r*h:(r+1)*h], hOut[r*h:(r+1)*h]
		v := valid[r]
		var cp []float32
		if cPrev != nil {
			cp = cPrev[r*h : (r+1)*h]
		}
		for j, m := range mask {
			i, f, u, o := Sigmoid32(gi[j]), Sigmoid32(gf[j]), Tanh32(gg[j]), Sigmoid32(og[j])
			gi[j], gf[j], gg[j], og[j] = i, f, u, o
			var prev float32
			if cp != nil {
				prev = cp[j]
			}
			cc := v * (f*prev + i*u)
			cr[j] = cc
			hr[j] = v * m * o * Tanh32(cc)
		}
	}
}

// lstmCellBackwardGo is the gradient of LSTMCellForward for rows [r0, r1):
// dc is updated in place from the gradient w.r.t. c to that w.r.t. cPrev,
// and dGates receives the pre-activation gradients.
func lstmCellBackwardGo(gates, cPrev, c, mask, valid, dh, dc, dGates []float32, r0, r1 int) {
	h := len(mask)
	for r := r0; r < r1; r++ {
		g := gates[r*4*h : (r+1)*4*h]
		gi, gf, gg, og := g[:h], g[h:2*h], g[2*h:3*h], g[3*h:4*h]
		d := dGates[r*4*h : (r+1)*4*h]
		di, df, dg, od := d[:h], d[h:2*h], d[2*h:3*h], d[3*h:4*h]
		cr, dhr, dcr := c[r*h:(r+1)*h], dh[r*h:(r+1)*h], dc[r*h:(r+1)*h]
		v := valid[r]
		var cp []float32
		if cPrev != nil {
			cp = cPrev[r*h : (r+1)*h]
		}
		for j, m := range mask {
			i, f, u, o := gi[j], gf[j], gg[j], og[j]
			tc := Tanh32(cr[j])
			dhe := v * m * dhr[j]
			dct := v * (dcr[j] + dhe*o*(1-tc*tc))
			var prev float32
			if cp != nil {
				prev = cp[j]
			}
			di[j] = dct * u * i * (1 - i)
			df[j] = dct * prev * f * (1 - f)
			dg[j] = dct * i * (1 - u*u)
			od[j] = dhe * tc * o * (1 - o)
			dcr[j] = dct * f
		}
	}
}

// AttentionForward computes batch rows [b0, b1) of attention (see
// engine.NN.AttentionForward): q is B×d, keys (S·B)×d, values (S·B)×dv,
// probs B×S and ctx B×dv.
func AttentionForward(q, keys, values []float32, lengths []int32, probs, ctx []float32, B, S, d, dv, b0, b1 int) {
	for b := b0; b < b1; b++ {
		qb, p, cb := q[b*d:(b+1)*d], probs[b*S:(b+1)*S], ctx[b*dv:(b+1)*dv]
		n := int(lengths[b])
		mx := float32(math.Inf(-1))
		for s := 0; s < n; s++ {
			p[s] = dot32(qb, keys[(s*B+b)*d:(s*B+b+1)*d])
			if p[s] > mx {
				mx = p[s]
			}
		}
		var sum float64
		for s := 0; s < n; s++ {
			p[s] = Exp32(p[s] - mx)
			sum += float64(p[s])
		}
		inv := float32(1 / sum)
		clear(cb)
		for s := 0; s < n; s++ {
			p[s] *= inv
			axpy32(p[s], values[(s*B+b)*dv:(s*B+b+1)*dv], cb)
		}
		clear(p[n:])
	}
}

// AttentionBackward computes batch rows [b0, b1) of the attention gradient
// (see engine.NN.AttentionBackward). Positions with probability 0 (beyond a
// sequence's length) contribute nothing, so no lengths are needed. Rows of
// different b never overlap, so ranges may run concurrently.
func AttentionBackward(q, keys, values, probs, dCtx, dq, dKeys, dValues []float32, B, S, d, dv, b0, b1 int) {
	dp := make([]float32, S)
	for b := b0; b < b1; b++ {
		qb, p, dcb, dqb := q[b*d:(b+1)*d], probs[b*S:(b+1)*S], dCtx[b*dv:(b+1)*dv], dq[b*d:(b+1)*d]
		var dot float64
		for s := range p {
			if p[s] != 0 {
				dp[s] = dot32(dcb, values[(s*B+b)*dv:(s*B+b+1)*dv])
				dot += float64(p[s]) * float64(dp[s])
			}
		}
		clear(dqb)
		for s := range p {
			if p[s] == 0 {
				continue
			}
			ds := p[s] * (dp[s] - float32(dot))
			row := s*B + b
			axpy32(ds, keys[row*d:(row+1)*d], dqb)
			axpy32(ds, qb, dKeys[row*d:(row+1)*d])
			axpy32(p[s], dcb, dValues[row*dv:(row+1)*dv])
		}
	}
}

// tanhMaskGo sets x[r] ← mask∘tanh(x[r]) for rows [r0, r1).
func tanhMaskGo(x, mask []float32, r0, r1 int) {
	h := len(mask)
	for r := r0; r < r1; r++ {
		row := x[r*h : (r+1)*h]
		for j, m := range mask {
			row[j] = m * Tanh32(row[j])
		}
	}
}

// tanhMaskBackwardGo sets dx = dy∘mask∘(1 − y²) for rows [r0, r1); dx may
// alias dy.
func tanhMaskBackwardGo(dx, dy, y, mask []float32, r0, r1 int) {
	h := len(mask)
	for r := r0; r < r1; r++ {
		o, g, yr := dx[r*h:(r+1)*h], dy[r*h:(r+1)*h], y[r*h:(r+1)*h]
		for j, m := range mask {
			o[j] = g[j] * m * (1 - yr[j]*yr[j])
		}
	}
}

// DropoutMask fills mask[i] for i in [i0, i1) of the whole mask: 0 with
// probability p, else 1/(1−p), from hash(seed, i) (see
// engine.NN.DropoutMask).
func DropoutMask(mask []float32, p float32, seed uint64, hash func(seed, i uint64) uint64, i0, i1 int) {
	keep := 1 / (1 - p)
	for i := i0; i < i1; i++ {
		u := float32(hash(seed, uint64(i))>>40) * (1.0 / (1 << 24))
		if u < p {
			mask[i] = 0
		} else {
			mask[i] = keep
		}
	}
}

// softmaxCrossEntropyMaskedGo processes rows [r0, r1) of the n×k logits like
// SoftmaxCrossEntropy, except that rows with a negative label add nothing
// and get a zero gradient row. Exponentials use Exp32; the normaliser and
// the loss are accumulated in float64.
func softmaxCrossEntropyMaskedGo(logits []float32, k int, labels []int32, grad []float32, scale float32, r0, r1 int) float64 {
	var loss float64
	for r := r0; r < r1; r++ {
		row := logits[r*k : (r+1)*k]
		lab := labels[r]
		if lab < 0 {
			if grad != nil {
				clear(grad[r*k : (r+1)*k])
			}
			continue
		}
		mx := maxOf(row)
		target := row[lab] - mx
		var sum float64
		if grad == nil {
			for _, v := range row {
				sum += float64(Exp32(v - mx))
			}
		} else {
			g := grad[r*k : (r+1)*k]
			for j, v := range row {
				e := Exp32(v - mx)
				g[j] = e
				sum += float64(e)
			}
			f := scale * float32(1/sum)
			for j := range g {
				g[j] *= f
			}
			g[lab] -= scale
		}
		loss += math.Log(sum) - float64(target)
	}
	return loss
}

// logSoftmaxGo sets dst[r] = src[r] − log Σ exp(src[r]) for rows [r0, r1) of
// k columns; dst may alias src.
func logSoftmaxGo(dst, src []float32, k, r0, r1 int) {
	for r := r0; r < r1; r++ {
		row, d := src[r*k:(r+1)*k], dst[r*k:(r+1)*k]
		mx := maxOf(row)
		var sum float64
		for _, v := range row {
			sum += float64(Exp32(v - mx))
		}
		shift := mx + float32(math.Log(sum))
		for j, v := range row {
			d[j] = v - shift
		}
	}
}

func maxOf(x []float32) float32 {
	mx := x[0]
	for _, v := range x[1:] {
		if v > mx {
			mx = v
		}
	}
	return mx
}

func dot32(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func axpy32(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// TopKBefore reports whether element (a, ia) of a row ranks before (b, ib)
// in RowTopK's order: numbers before NaN, larger values first, equal
// values (and NaNs) by the lower index. nn.cu's grain_topk_before is the
// same order.
func TopKBefore(a float32, ia int, b float32, ib int) bool {
	na, nb := a != a, b != b
	switch {
	case na != nb:
		return nb
	case !na && a != b:
		return a > b
	}
	return ia < ib
}

// RowTopK writes, for rows [r0, r1) of the rows×c matrix src, the row's k
// = len(vals)/rows first elements in TopKBefore's order: their values into
// vals[r·k:(r+1)·k] and their column indices into idx (k ≤ c). It keeps
// the best k in a sorted list while scanning the row once; as columns
// only grow, an element enters a full list only if it beats the last
// value outright (x > last, or last is NaN and x is not).
func RowTopK(vals []float32, idx []int32, src []float32, c, k, r0, r1 int) {
	for r := r0; r < r1; r++ {
		row, v, ix := src[r*c:(r+1)*c], vals[r*k:(r+1)*k], idx[r*k:(r+1)*k]
		n := 0 // the list's length
		var last float32
		for j, x := range row {
			if n == k && !(x > last || (last != last && x == x)) {
				continue
			}
			i := min(n, k-1) // the slot x takes: after every element that ranks before it
			for i > 0 && TopKBefore(x, j, v[i-1], int(ix[i-1])) {
				v[i], ix[i] = v[i-1], ix[i-1]
				i--
			}
			v[i], ix[i] = x, int32(j)
			n = min(n+1, k)
			last = v[k-1]
		}
	}
}

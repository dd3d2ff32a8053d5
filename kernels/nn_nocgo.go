//go:build !cgo

package kernels

// Without cgo the exported NN kernels are the Go versions of nn.go.

// LSTMCellForward computes rows [r0, r1) of one LSTM step (see
// lstmCellForwardGo).
func LSTMCellForward(gates, cPrev, c, hOut, mask, valid []float32, r0, r1 int) {
	lstmCellForwardGo(gates, cPrev, c, hOut, mask, valid, r0, r1)
}

// LSTMCellBackward computes rows [r0, r1) of the gradient of one LSTM step
// (see lstmCellBackwardGo).
func LSTMCellBackward(gates, cPrev, c, mask, valid, dh, dc, dGates []float32, r0, r1 int) {
	lstmCellBackwardGo(gates, cPrev, c, mask, valid, dh, dc, dGates, r0, r1)
}

// TanhMask sets x[r] ← mask∘tanh(x[r]) for rows [r0, r1).
func TanhMask(x, mask []float32, r0, r1 int) { tanhMaskGo(x, mask, r0, r1) }

// TanhMaskBackward sets dx = dy∘mask∘(1 − y²) for rows [r0, r1); dx may
// alias dy.
func TanhMaskBackward(dx, dy, y, mask []float32, r0, r1 int) {
	tanhMaskBackwardGo(dx, dy, y, mask, r0, r1)
}

// SoftmaxCrossEntropyMasked processes rows [r0, r1) of the n×k logits (see
// softmaxCrossEntropyMaskedGo).
func SoftmaxCrossEntropyMasked(logits []float32, k int, labels []int32, grad []float32, scale float32, r0, r1 int) float64 {
	return softmaxCrossEntropyMaskedGo(logits, k, labels, grad, scale, r0, r1)
}

// LogSoftmax sets dst[r] = src[r] − log Σ exp(src[r]) for rows [r0, r1) of
// k columns; dst may alias src.
func LogSoftmax(dst, src []float32, k, r0, r1 int) { logSoftmaxGo(dst, src, k, r0, r1) }

//go:build cgo

package kernels

/*
#cgo CFLAGS: -O3
#cgo LDFLAGS: -lm
#include "nn.h"
*/
import "C"

import "unsafe"

// This build runs the C kernels of nn.h; nn.go has the same in Go (with
// the formulas), used by builds without cgo and checked against C by
// nn_cgo_test.go.

func fp(x []float32) *C.float {
	if len(x) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&x[0]))
}

// LSTMCellForward computes rows [r0, r1) of one LSTM step (see
// lstmCellForwardGo).
func LSTMCellForward(gates, cPrev, c, hOut, mask, valid []float32, r0, r1 int) {
	h := len(mask)
	_, _, _ = gates[r1*4*h-1], c[r1*h-1], hOut[r1*h-1]
	_ = valid[r1-1]
	if cPrev != nil {
		_ = cPrev[r1*h-1]
	}
	C.grain_lstm_fwd(fp(gates), fp(cPrev), fp(c), fp(hOut), fp(mask), fp(valid), C.long(r0), C.long(r1), C.long(h))
}

// LSTMCellBackward computes rows [r0, r1) of the gradient of one LSTM step
// (see lstmCellBackwardGo).
func LSTMCellBackward(gates, cPrev, c, mask, valid, dh, dc, dGates []float32, r0, r1 int) {
	h := len(mask)
	_, _, _ = gates[r1*4*h-1], c[r1*h-1], dGates[r1*4*h-1]
	_, _, _ = dh[r1*h-1], dc[r1*h-1], valid[r1-1]
	if cPrev != nil {
		_ = cPrev[r1*h-1]
	}
	C.grain_lstm_bwd(fp(gates), fp(cPrev), fp(c), fp(mask), fp(valid), fp(dh), fp(dc), fp(dGates), C.long(r0), C.long(r1), C.long(h))
}

// TanhMask sets x[r] ← mask∘tanh(x[r]) for rows [r0, r1).
func TanhMask(x, mask []float32, r0, r1 int) {
	if r1 > r0 {
		_ = x[r1*len(mask)-1]
		C.grain_tanh_mask(fp(x), fp(mask), C.long(r0), C.long(r1), C.long(len(mask)))
	}
}

// TanhMaskBackward sets dx = dy∘mask∘(1 − y²) for rows [r0, r1); dx may
// alias dy.
func TanhMaskBackward(dx, dy, y, mask []float32, r0, r1 int) {
	if r1 > r0 {
		n := r1 * len(mask)
		_, _, _ = dx[n-1], dy[n-1], y[n-1]
		C.grain_tanh_mask_bwd(fp(dx), fp(dy), fp(y), fp(mask), C.long(r0), C.long(r1), C.long(len(mask)))
	}
}

// SoftmaxCrossEntropyMasked processes rows [r0, r1) of the n×k logits (see
// softmaxCrossEntropyMaskedGo).
func SoftmaxCrossEntropyMasked(logits []float32, k int, labels []int32, grad []float32, scale float32, r0, r1 int) float64 {
	if r1 <= r0 {
		return 0
	}
	_, _ = logits[r1*k-1], labels[r1-1]
	var scratch []float32
	if grad == nil {
		scratch = make([]float32, k)
	} else {
		_ = grad[r1*k-1]
	}
	return float64(C.grain_xent(fp(logits), C.long(k), (*C.int32_t)(unsafe.Pointer(&labels[0])), fp(grad), C.float(scale),
		fp(scratch), C.long(r0), C.long(r1)))
}

// LogSoftmax sets dst[r] = src[r] − log Σ exp(src[r]) for rows [r0, r1) of
// k columns; dst may alias src.
func LogSoftmax(dst, src []float32, k, r0, r1 int) {
	if r1 > r0 {
		_, _ = dst[r1*k-1], src[r1*k-1]
		C.grain_logsoftmax(fp(dst), fp(src), C.long(k), fp(make([]float32, k)), C.long(r0), C.long(r1))
	}
}

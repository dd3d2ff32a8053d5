//go:build cgo

package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func randSlice(r *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * scale)
	}
	return x
}

// near fails unless a and b agree to 2e-6 of max(1, |b|): the C kernels
// may fuse multiply-adds where Go rounds twice.
func near(t *testing.T, what string, a, b []float32) {
	t.Helper()
	for i := range a {
		if d := math.Abs(float64(a[i] - b[i])); d > 2e-6*math.Max(1, math.Abs(float64(b[i]))) {
			t.Fatalf("%s[%d]: C %g, Go %g", what, i, a[i], b[i])
		}
	}
}

// TestCKernelsMatchGo runs every C kernel and its Go version on the same
// random inputs (awkward sizes, extreme values, masks and padding).
func TestCKernelsMatchGo(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	rows, h := 7, 37
	mask, valid := make([]float32, h), make([]float32, rows)
	for i := range mask {
		mask[i] = float32(r.IntN(2))
	}
	for i := range valid {
		valid[i] = float32(r.IntN(3) % 2)
	}
	valid[0] = 1
	for _, withPrev := range []bool{false, true} {
		pre := randSlice(r, rows*4*h, 4)
		pre[0], pre[1] = 100, -100
		var cPrev []float32
		if withPrev {
			cPrev = randSlice(r, rows*h, 2)
		}
		g1, g2 := slices.Clone(pre), slices.Clone(pre)
		c1, c2, h1, h2 := make([]float32, rows*h), make([]float32, rows*h), make([]float32, rows*h), make([]float32, rows*h)
		LSTMCellForward(g1, cPrev, c1, h1, mask, valid, 0, rows)
		lstmCellForwardGo(g2, cPrev, c2, h2, mask, valid, 0, rows)
		near(t, "lstm gates", g1, g2)
		near(t, "lstm c", c1, c2)
		near(t, "lstm h", h1, h2)
		dh := randSlice(r, rows*h, 1)
		dc1 := randSlice(r, rows*h, 1)
		dc2 := slices.Clone(dc1)
		dg1, dg2 := make([]float32, rows*4*h), make([]float32, rows*4*h)
		LSTMCellBackward(g1, cPrev, c1, mask, valid, dh, dc1, dg1, 0, rows)
		lstmCellBackwardGo(g1, cPrev, c1, mask, valid, dh, dc2, dg2, 0, rows)
		near(t, "lstm dGates", dg1, dg2)
		near(t, "lstm dc", dc1, dc2)
	}

	x := randSlice(r, rows*h, 3)
	x1, x2 := slices.Clone(x), slices.Clone(x)
	TanhMask(x1, mask, 0, rows)
	tanhMaskGo(x2, mask, 0, rows)
	near(t, "tanh", x1, x2)
	dy := randSlice(r, rows*h, 1)
	d1, d2 := make([]float32, rows*h), make([]float32, rows*h)
	TanhMaskBackward(d1, dy, x1, mask, 0, rows)
	tanhMaskBackwardGo(d2, dy, x1, mask, 0, rows)
	near(t, "tanh backward", d1, d2)

	k := 1003
	logits := randSlice(r, rows*k, 5)
	logits[3] = 300
	labels := []int32{3, -1, 0, 1002, 17, -1, 500}
	for _, withGrad := range []bool{false, true} {
		var gr1, gr2 []float32
		if withGrad {
			gr1, gr2 = make([]float32, rows*k), make([]float32, rows*k)
		}
		l1 := SoftmaxCrossEntropyMasked(logits, k, labels, gr1, 0.25, 0, rows)
		l2 := softmaxCrossEntropyMaskedGo(logits, k, labels, gr2, 0.25, 0, rows)
		if math.Abs(l1-l2) > 1e-6*math.Abs(l2) {
			t.Fatalf("softmax loss: C %g, Go %g", l1, l2)
		}
		near(t, "softmax grad", gr1, gr2)
	}
	o1, o2 := make([]float32, rows*k), make([]float32, rows*k)
	LogSoftmax(o1, logits, k, 0, rows)
	logSoftmaxGo(o2, logits, k, 0, rows)
	near(t, "log-softmax", o1, o2)
}

func BenchmarkLSTMCellForward(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	rows, h := 128, 256
	pre, cp := randSlice(r, rows*4*h, 1), randSlice(r, rows*h, 1)
	c, hh, mask, valid := make([]float32, rows*h), make([]float32, rows*h), make([]float32, h), make([]float32, rows)
	for i := range mask {
		mask[i] = 1
	}
	for i := range valid {
		valid[i] = 1
	}
	b.Run("C", func(b *testing.B) {
		for b.Loop() {
			LSTMCellForward(pre, cp, c, hh, mask, valid, 0, rows)
		}
	})
	b.Run("Go", func(b *testing.B) {
		for b.Loop() {
			lstmCellForwardGo(pre, cp, c, hh, mask, valid, 0, rows)
		}
	})
}

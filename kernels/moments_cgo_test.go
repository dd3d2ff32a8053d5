//go:build cgo

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestColMomentsMatchesGo compares the one-pass C kernel with the two-pass
// Go version on awkward widths (AVX2 body and scalar tail), column ranges
// and data far from zero.
func TestColMomentsMatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, sz := range [][4]int{{1, 1, 0, 1}, {3, 7, 0, 7}, {1000, 37, 5, 30}, {513, 64, 0, 64}} {
		rows, cols, c0, c1 := sz[0], sz[1], sz[2], sz[3]
		x := make([]float32, rows*cols)
		for i := range x {
			x[i] = float32(500 + float64(i%cols) + 0.3*r.NormFloat64())
		}
		m1, v1 := make([]float64, cols), make([]float64, cols)
		m2, v2 := make([]float64, cols), make([]float64, cols)
		ColMoments(x, rows, cols, c0, c1, m1, v1)
		colMomentsGo(x, rows, cols, c0, c1, m2, v2)
		for c := c0; c < c1; c++ {
			if math.Abs(m1[c]-m2[c]) > 1e-12*math.Abs(m2[c]) || math.Abs(v1[c]-v2[c]) > 1e-9*v2[c]+1e-12 {
				t.Fatalf("%v col %d: C (%g, %g), Go (%g, %g)", sz, c, m1[c], v1[c], m2[c], v2[c])
			}
		}
	}
}

func BenchmarkColMoments(b *testing.B) {
	rows, cols := 4096, 1024
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(i%97) * 0.01
	}
	m, v := make([]float64, cols), make([]float64, cols)
	b.SetBytes(int64(len(x)) * 4)
	b.Run("C", func(b *testing.B) {
		for b.Loop() {
			ColMoments(x, rows, cols, 0, cols, m, v)
		}
	})
	b.Run("Go", func(b *testing.B) {
		for b.Loop() {
			colMomentsGo(x, rows, cols, 0, cols, m, v)
		}
	})
}

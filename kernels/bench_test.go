package kernels

import "testing"

func BenchmarkAdam92k(b *testing.B) {
	n := 45 * 2048
	p, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range p {
		p[i], g[i] = float32(i%7)-3, float32(i%5)*0.01
	}
	ss, bc := AdamScalars(1e-3, 0.9, 0.999, 3)
	b.SetBytes(int64(n) * 4 * 7)
	for b.Loop() {
		Adam(p, g, m, v, 0.9, 0.999, ss, bc, 1e-8, 1e-5, 1e-6)
	}
}

package enginetest

import (
	"testing"

	"github.com/grainlab/grain/engine"
)

// BenchGemm measures an n×n×n GEMM on be and reports GFLOP/s (2n³ per op).
func BenchGemm(b *testing.B, be engine.Backend, n int, p engine.Precision) {
	r := rng(7)
	x, err := engine.AllocFrom(be, n, n, randn(r, n*n, 1))
	if err != nil {
		b.Fatal(err)
	}
	y, _ := engine.AllocFrom(be, n, n, randn(r, n*n, 1))
	c, _ := be.Alloc(n, n, engine.Float32)
	be.Gemm(false, false, 1, x, y, 0, c, p)
	be.Sync()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		be.Gemm(false, false, 1, x, y, 0, c, p)
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(2*float64(n)*float64(n)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchStandardize measures Standardize on a rows×cols block and reports
// GB/s (one read and one write of float32).
func BenchStandardize(b *testing.B, be engine.Backend, rows, cols int) {
	r := rng(8)
	x, err := engine.AllocFrom(be, rows, cols, randn(r, rows*cols, 1))
	if err != nil {
		b.Fatal(err)
	}
	mean, _ := engine.AllocFrom(be, 1, cols, randn(r, cols, 1))
	inv, _ := engine.AllocFrom(be, 1, cols, randn(r, cols, 1))
	d, _ := be.Alloc(rows, cols, engine.Float32)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		be.Standardize(d, x, mean, inv)
	}
	be.Sync()
	b.ReportMetric(8*float64(rows*cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

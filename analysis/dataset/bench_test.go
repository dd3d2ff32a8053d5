package dataset

import "testing"

// BenchmarkCheckFinite scans a 50,000 × 2,048 in-memory matrix (400 MB).
func BenchmarkCheckFinite(b *testing.B) {
	d := randDense(50000, 2048, 1)
	b.SetBytes(int64(len(d.Data) * 4))
	for b.Loop() {
		if err := CheckFinite(d); err != nil {
			b.Fatal(err)
		}
	}
}

package crosscorr

import (
	"fmt"
	"testing"

	"github.com/grainlab/grain/engine/cpu"
)

// BenchmarkMaxCorr ranks two in-memory models of N neurons over T tokens
// and reports GFLOP/s-equivalent (2·N·N·T per ranking). bench/crosscorr has
// the full-size comparison with NumPy.
func BenchmarkMaxCorr(b *testing.B) {
	for _, size := range [][2]int{{20000, 256}, {20000, 1024}} {
		T, N := size[0], size[1]
		b.Run(fmt.Sprintf("T=%d/N=%d", T, N), func(b *testing.B) {
			r := rng(20)
			models := []Model{{"a", mem(b, randomActs(r, T, N), T, N)}, {"b", mem(b, randomActs(r, T, N), T, N)}}
			be := cpu.New()
			b.ResetTimer()
			for range b.N {
				if _, err := Rank(be, models, MaxCorr, Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(2*float64(N)*float64(N)*float64(T)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

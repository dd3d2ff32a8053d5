package activations

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/grainlab/grain/kernels"
)

func BenchmarkDecodeHalves(b *testing.B) {
	src := make([]byte, 2*4096)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 4096; i++ {
		h := kernels.Float32ToHalf(float32(rng.NormFloat64()))
		src[2*i], src[2*i+1] = byte(h), byte(h>>8)
	}
	dst := make([]float32, 4096)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		decodeHalves(dst, src)
	}
}

// TestDecodeHalvesAllValues checks the table decoder against the
// conversion kernel on every half bit pattern.
func TestDecodeHalvesAllValues(t *testing.T) {
	all := make([]byte, 2*65536)
	for i := 0; i < 65536; i++ {
		all[2*i], all[2*i+1] = byte(i), byte(i>>8)
	}
	decoded := make([]float32, 65536)
	decodeHalves(decoded, all)
	for i := range decoded {
		if want := kernels.HalfToFloat32(uint16(i)); math.Float32bits(decoded[i]) != math.Float32bits(want) {
			t.Fatalf("decodeHalves(%#04x) = %#08x, want %#08x", i, math.Float32bits(decoded[i]), math.Float32bits(want))
		}
	}
}

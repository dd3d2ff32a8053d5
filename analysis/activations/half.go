package activations

import (
	"encoding/binary"
	"sync"

	"github.com/grainlab/grain/kernels"
)

// halfTable maps every half bit pattern to its float32 value (256 KiB,
// built on the first float16 read): a lookup decodes faster than the bit
// manipulation of HalfToFloat32.
var halfTable = sync.OnceValue(func() *[65536]float32 {
	var t [65536]float32
	for i := range t {
		t[i] = kernels.HalfToFloat32(uint16(i))
	}
	return &t
})

// decodeHalves converts len(dst) little-endian halves from src into dst.
func decodeHalves(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	tab := halfTable()
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		w := binary.LittleEndian.Uint64(src[2*i:])
		d := dst[i : i+4 : i+4]
		d[0] = tab[uint16(w)]
		d[1] = tab[uint16(w>>16)]
		d[2] = tab[uint16(w>>32)]
		d[3] = tab[uint16(w>>48)]
	}
	for ; i < len(dst); i++ {
		dst[i] = tab[binary.LittleEndian.Uint16(src[2*i:])]
	}
}

// gatherHalves sets dst[j] to element cols[j] of the float16 row src.
func gatherHalves(dst []float32, src []byte, cols []int) {
	tab := halfTable()
	for j, c := range cols {
		dst[j] = tab[binary.LittleEndian.Uint16(src[2*c:])]
	}
}

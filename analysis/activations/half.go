package activations

import (
	"encoding/binary"
	"math"
	"sync"
)

// Float32ToHalf converts f to an IEEE 754 binary16 ("half") bit pattern,
// rounding to nearest with ties to even. Values whose magnitude rounds above
// 65504 (the largest finite half) become ±Inf; values of magnitude at most
// 2^-25 (half the smallest subnormal) become ±0 with their sign. Inf is preserved, and NaN stays
// NaN: the top 10 bits of its payload are kept, and a payload that would be
// lost entirely is replaced by the quiet bit.
func Float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		m := uint16(mant >> 13)
		if m == 0 {
			m = 0x200
		}
		return sign | 0x7c00 | m
	}
	// e is the biased half exponent of f when f is normal.
	e := exp - 127 + 15
	if e >= 31 {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Half subnormal (or zero): the result is round(|f| / 2^-24).
		if e < -10 {
			// |f| < 2^-25: rounds to zero (2^-25 itself ties to even 0).
			return sign
		}
		m := mant | 0x800000
		shift := uint(14 - e)
		r := m >> shift
		rem := m & (1<<shift - 1)
		halfway := uint32(1) << (shift - 1)
		if rem > halfway || (rem == halfway && r&1 == 1) {
			r++ // may carry into the smallest normal, whose bits are 0x0400
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // a carry out of the mantissa bumps the exponent, up to Inf
	}
	return sign | uint16(r)
}

// HalfToFloat32 converts an IEEE 754 binary16 bit pattern to float32. Every
// half value is exactly representable, so the conversion is exact; NaN
// payloads and signs are preserved.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch exp {
	case 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: normalise the mantissa.
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// halfTable maps every half bit pattern to its float32 value (256 KiB,
// built on the first float16 read): a lookup decodes faster than the bit
// manipulation of HalfToFloat32.
var halfTable = sync.OnceValue(func() *[65536]float32 {
	var t [65536]float32
	for i := range t {
		t[i] = HalfToFloat32(uint16(i))
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

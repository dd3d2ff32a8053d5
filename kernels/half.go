package kernels

import "math"

// Conversions between float32 and the 16-bit floating-point formats grain
// stores: IEEE 754 binary16 ("half", activation files and safetensors F16)
// and bfloat16 (safetensors BF16, reduced-precision GEMM inputs).

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

// Float32RoundToOdd rounds x to float32 "to odd": toward zero, and when
// that loses anything, with the lowest mantissa bit set. Rounding its result
// to nearest in a format of at most 22 significant bits (half: 11, bfloat16:
// 8) gives the same value as rounding x there directly, because the odd bit
// stands for the discarded part: no tie is made or lost (Boldo & Melquiond,
// "Emulation of FMA and correctly rounded sums", IEEE TC 2008). Plain
// float32(x) followed by Float32ToHalf rounds twice and can be one half
// unit off at a tie. x beyond ±MaxFloat32 gives ±MaxFloat32 (outside every
// such format's finite range); NaN stays NaN and ±Inf stays ±Inf.
func Float32RoundToOdd(x float64) float32 {
	f := float32(x)
	if float64(f) == x || math.IsNaN(x) || math.IsInf(x, 0) {
		return f
	}
	if math.Abs(float64(f)) > math.Abs(x) { // rounded away from zero: step back
		f = math.Nextafter32(f, 0)
	}
	return math.Float32frombits(math.Float32bits(f) | 1)
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

// BF16ToFloat32 converts bfloat16 bits to float32 (exact).
func BF16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToBF16 rounds f to the nearest bfloat16 value, ties to even; NaN
// stays NaN.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

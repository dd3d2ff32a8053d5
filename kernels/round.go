package kernels

import "math"

// RoundTF32 rounds each element of src to TensorFloat-32 (the 10 high
// mantissa bits kept, round to nearest, ties to even) and stores it, still as
// a float32, in dst. NaN and ±Inf are kept.
func RoundTF32(dst, src []float32) { roundMantissa(dst, src, 13) }

// RoundBF16 rounds each element of src to bfloat16 (7 mantissa bits kept,
// round to nearest, ties to even) and stores it as a float32 in dst.
func RoundBF16(dst, src []float32) { roundMantissa(dst, src, 16) }

// roundMantissa clears the low `drop` mantissa bits with round-to-nearest-
// even. Overflow past the largest finite value rounds to Inf, as hardware
// conversion does.
func roundMantissa(dst, src []float32, drop uint) {
	_ = dst[:len(src)]
	half := uint32(1)<<(drop-1) - 1
	mask := ^(uint32(1)<<drop - 1)
	for i, x := range src {
		b := math.Float32bits(x)
		if b&0x7f800000 == 0x7f800000 { // NaN or Inf
			dst[i] = x
			continue
		}
		b += half + (b>>drop)&1
		dst[i] = math.Float32frombits(b & mask)
	}
}

// Input rounding of reduced-precision GEMMs on the CUDA backend. CPU
// reference: round.go (RoundTF32, RoundBF16). The backend rounds copies of
// a GEMM's inputs itself, so the precision in effect never depends on which
// kernel cuBLAS picks (a kernel without tensor cores would otherwise
// multiply unrounded float32 values).
#include "grain.cuh"

// dst[i] = src[i] with its low `drop` mantissa bits rounded away (13:
// TensorFloat-32, 16: bfloat16), kept as float. dst may alias src.
GRAIN_KERNEL grain_round_f32(float *dst, const float *src, long long n, unsigned int drop) {
	GRAIN_FOR(i, n)
		dst[i] = grain_round_mantissa(src[i], drop);
}

// dst[i] = bfloat16(src[i]) (round to nearest even; NaN stays NaN, as the
// quiet NaN 0x7fc0 with src's sign), the input format of cuBLAS's BF16
// GEMM.
GRAIN_KERNEL grain_to_bf16(unsigned short *dst, const float *src, long long n) {
	GRAIN_FOR(i, n) {
		float x = src[i];
		unsigned int b = grain_bits(x);
		if (x != x)
			dst[i] = (unsigned short)(((b >> 16) & 0x8000u) | 0x7fc0u);
		else
			dst[i] = (unsigned short)(grain_bits(grain_round_mantissa(x, 16)) >> 16);
	}
}

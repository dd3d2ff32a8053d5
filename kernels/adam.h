// grain's fused Adam + elastic-net step for the CPU (see Adam in
// adam_cgo.go for the formula), float32 throughout as torch computes it.
// On x86-64 CPUs with AVX2 an 8-wide version runs (chosen at run time, so
// the binary still runs on CPUs without AVX2); elsewhere the scalar loop.
#include <math.h>

static void grain_adam_scalar(float *restrict p, const float *restrict g, float *restrict m,
                              float *restrict v, long i, long n, float w1, float b2, float w2,
                              float step, float bc2sqrt, float eps, float l1, float l2s) {
	for (; i < n; i++) {
		float pi = p[i];
		float sg = (float)(pi > 0.0f) - (float)(pi < 0.0f);
		float gi = g[i] + l1 * sg + l2s * pi;
		float mi = m[i] + w1 * (gi - m[i]);
		float vi = b2 * v[i] + w2 * gi * gi;
		m[i] = mi;
		v[i] = vi;
		p[i] = pi - step * mi / (sqrtf(vi) / bc2sqrt + eps);
	}
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__((target("avx2,fma"))) static long grain_adam_avx2(
		float *restrict p, const float *restrict g, float *restrict m, float *restrict v, long n,
		float w1, float b2, float w2, float step, float bc2sqrt, float eps, float l1, float l2s) {
	const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
	const __m256 W1 = _mm256_set1_ps(w1), B2 = _mm256_set1_ps(b2), W2 = _mm256_set1_ps(w2);
	const __m256 S = _mm256_set1_ps(step), BC = _mm256_set1_ps(bc2sqrt), E = _mm256_set1_ps(eps);
	const __m256 L1 = _mm256_set1_ps(l1), L2 = _mm256_set1_ps(l2s);
	long i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 pi = _mm256_loadu_ps(p + i);
		__m256 sg = _mm256_sub_ps(_mm256_and_ps(_mm256_cmp_ps(pi, zero, _CMP_GT_OQ), one),
		                          _mm256_and_ps(_mm256_cmp_ps(pi, zero, _CMP_LT_OQ), one));
		__m256 gi = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(g + i), _mm256_mul_ps(L1, sg)), _mm256_mul_ps(L2, pi));
		__m256 mo = _mm256_loadu_ps(m + i);
		__m256 mi = _mm256_add_ps(mo, _mm256_mul_ps(W1, _mm256_sub_ps(gi, mo)));
		__m256 vi = _mm256_add_ps(_mm256_mul_ps(B2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(W2, gi), gi));
		_mm256_storeu_ps(m + i, mi);
		_mm256_storeu_ps(v + i, vi);
		__m256 den = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), BC), E);
		_mm256_storeu_ps(p + i, _mm256_sub_ps(pi, _mm256_div_ps(_mm256_mul_ps(S, mi), den)));
	}
	return i;
}
#endif

static void grain_adam(float *p, const float *g, float *m, float *v, long n, float w1, float b2, float w2,
                       float step, float bc2sqrt, float eps, float l1, float l2s) {
	long i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
		i = grain_adam_avx2(p, g, m, v, n, w1, b2, w2, step, bc2sqrt, eps, l1, l2s);
	}
#endif
	grain_adam_scalar(p, g, m, v, i, n, w1, b2, w2, step, bc2sqrt, eps, l1, l2s);
}

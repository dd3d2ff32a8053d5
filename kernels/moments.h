// grain's column-statistics kernel for the CPU (see ColMoments in
// moments_cgo.go for the formula): one pass over the rows, float64
// accumulators of shifted sums. On x86-64 CPUs with AVX2 a 4-wide version
// runs (chosen at run time); elsewhere the scalar loop.

// grain_colmoments_rows adds, for columns [c0, c1) of rows [0, rows), the
// shifted sums s1 += x − k and s2 += (x − k)² into the accumulators (indexed
// from c0), starting at column c.
static void grain_colmoments_scalar(const float *x, long rows, long cols, long c, long c1,
                                    const double *k, double *s1, double *s2) {
	for (long r = 0; r < rows; r++) {
		const float *row = x + r * cols;
		for (long j = c; j < c1; j++) {
			double d = (double)row[j] - k[j];
			s1[j] += d;
			s2[j] += d * d;
		}
	}
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

// Rows outer, columns inner: the block streams through once while the
// accumulators of the column range stay in L1/L2.
__attribute__((target("avx2,fma"))) static long grain_colmoments_avx2(
		const float *x, long rows, long cols, long c0, long c1, const double *k, double *s1, double *s2) {
	long end = c0 + (c1 - c0) / 4 * 4;
	for (long r = 0; r < rows; r++) {
		const float *row = x + r * cols;
		for (long c = c0; c < end; c += 4) {
			__m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(row + c)), _mm256_loadu_pd(k + c));
			_mm256_storeu_pd(s1 + c, _mm256_add_pd(_mm256_loadu_pd(s1 + c), d));
			_mm256_storeu_pd(s2 + c, _mm256_fmadd_pd(d, d, _mm256_loadu_pd(s2 + c)));
		}
	}
	return end;
}
#endif

static void grain_colmoments(const float *x, long rows, long cols, long c0, long c1,
                             const double *k, double *s1, double *s2) {
	long c = c0;
#if defined(__x86_64__) && defined(__GNUC__)
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
		c = grain_colmoments_avx2(x, rows, cols, c0, c1, k, s1, s2);
	}
#endif
	grain_colmoments_scalar(x, rows, cols, c, c1, k, s1, s2);
}

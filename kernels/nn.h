// grain's elementwise neural-network kernels for the CPU (see nn.go for
// the formulas and nn_cgo.go for the Go entry points). Written so that gcc
// -O3 vectorises the inner loops: no calls, branches only as selects
// (-fno-trapping-math, set below, lets them become blends),
// float32 throughout except the softmax normalisers (double, as in the Go
// kernels). No -ffast-math: exp's rounding trick (x + 1.5·2²³ − 1.5·2²³)
// relies on exact float rounding. On x86-64 gcc also builds an AVX2+FMA
// clone, chosen at load time when the CPU has it.
#include <math.h>
#include <stdint.h>
#include <string.h>

// Comparisons never trap here (no FP exceptions are enabled), which lets
// gcc turn exp's clamping selects into vector blends; the values computed
// are unchanged.
#pragma GCC optimize("no-trapping-math", "no-math-errno")

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GRAIN_NN_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define GRAIN_NN_CLONES
#endif

// grain_expf is kernels.Exp32: x clamped to [−87.3, 88.7] (NaN passes),
// k = round(x·log2 e), e^r for r = x − k·ln2 by a degree-6 polynomial,
// times 2^k through the exponent bits.
static inline float grain_expf(float x) {
	x = x < -87.3f ? -87.3f : x;
	x = x > 88.7f ? 88.7f : x;
	const float magic = 12582912.0f;
	float kf = x * 1.44269504088896341f + magic;
	uint32_t kb, mb;
	memcpy(&kb, &kf, 4);
	memcpy(&mb, &magic, 4);
	int32_t k = (int32_t)(kb - mb);
	kf -= magic;
	float r = x - kf * 0.693359375f - kf * -2.12194440e-4f;
	float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
	uint32_t sb = (uint32_t)(k + 127) << 23;
	float s;
	memcpy(&s, &sb, 4);
	return p * s;
}

static inline float grain_sigmoidf(float x) { return 1.0f / (1.0f + grain_expf(-x)); }

static inline float grain_tanhf(float x) {
	float e = grain_expf(-2.0f * fabsf(x));
	return copysignf((1.0f - e) / (1.0f + e), x);
}

// The row bodies are always inlined with has_prev a constant, so each
// caller gets a branch-free loop.
__attribute__((always_inline)) static inline void grain_lstm_fwd_row(float *restrict gi, const float *restrict cp,
		float *restrict cr, float *restrict hr, const float *restrict mask, float v, long n, int has_prev) {
	float *gf = gi + n, *gg = gi + 2 * n, *go = gi + 3 * n;
	for (long j = 0; j < n; j++) {
		float i = grain_sigmoidf(gi[j]), f = grain_sigmoidf(gf[j]), u = grain_tanhf(gg[j]), o = grain_sigmoidf(go[j]);
		gi[j] = i;
		gf[j] = f;
		gg[j] = u;
		go[j] = o;
		float cc = has_prev ? v * (f * cp[j] + i * u) : v * (i * u);
		cr[j] = cc;
		hr[j] = v * mask[j] * o * grain_tanhf(cc);
	}
}

GRAIN_NN_CLONES static void grain_lstm_fwd(float *restrict gates, const float *restrict cprev, float *restrict c,
		float *restrict h, const float *restrict mask, const float *restrict valid, long r0, long r1, long n) {
	for (long r = r0; r < r1; r++) {
		if (cprev)
			grain_lstm_fwd_row(gates + r * 4 * n, cprev + r * n, c + r * n, h + r * n, mask, valid[r], n, 1);
		else
			grain_lstm_fwd_row(gates + r * 4 * n, 0, c + r * n, h + r * n, mask, valid[r], n, 0);
	}
}

__attribute__((always_inline)) static inline void grain_lstm_bwd_row(const float *restrict gi, const float *restrict cp,
		const float *restrict cr, const float *restrict mask, float v, const float *restrict dhr, float *restrict dcr,
		float *restrict di, long n, int has_prev) {
	const float *gf = gi + n, *gg = gi + 2 * n, *go = gi + 3 * n;
	float *df = di + n, *dg = di + 2 * n, *dout = di + 3 * n;
	for (long j = 0; j < n; j++) {
		float i = gi[j], f = gf[j], u = gg[j], o = go[j];
		float tc = grain_tanhf(cr[j]);
		float dhe = v * mask[j] * dhr[j];
		float dct = v * (dcr[j] + dhe * o * (1.0f - tc * tc));
		float prev = has_prev ? cp[j] : 0.0f;
		di[j] = dct * u * i * (1.0f - i);
		df[j] = dct * prev * f * (1.0f - f);
		dg[j] = dct * i * (1.0f - u * u);
		dout[j] = dhe * tc * o * (1.0f - o);
		dcr[j] = dct * f;
	}
}

GRAIN_NN_CLONES static void grain_lstm_bwd(const float *restrict gates, const float *restrict cprev, const float *restrict c,
		const float *restrict mask, const float *restrict valid, const float *restrict dh, float *restrict dc,
		float *restrict dgates, long r0, long r1, long n) {
	for (long r = r0; r < r1; r++) {
		if (cprev)
			grain_lstm_bwd_row(gates + r * 4 * n, cprev + r * n, c + r * n, mask, valid[r], dh + r * n, dc + r * n,
					dgates + r * 4 * n, n, 1);
		else
			grain_lstm_bwd_row(gates + r * 4 * n, 0, c + r * n, mask, valid[r], dh + r * n, dc + r * n,
					dgates + r * 4 * n, n, 0);
	}
}

GRAIN_NN_CLONES static void grain_tanh_mask(float *restrict x, const float *restrict mask, long r0, long r1, long n) {
	for (long r = r0; r < r1; r++) {
		float *row = x + r * n;
		for (long j = 0; j < n; j++) row[j] = mask[j] * grain_tanhf(row[j]);
	}
}

// dx may alias dy, so no restrict on those two.
GRAIN_NN_CLONES static void grain_tanh_mask_bwd(float *dx, const float *dy, const float *restrict y,
		const float *restrict mask, long r0, long r1, long n) {
	for (long r = r0; r < r1; r++) {
		float *o = dx + r * n;
		const float *g = dy + r * n, *yr = y + r * n;
		for (long j = 0; j < n; j++) o[j] = g[j] * mask[j] * (1.0f - yr[j] * yr[j]);
	}
}

static inline float grain_rowmax(const float *x, long k) {
	float m[8];
	long j = 0;
	for (int l = 0; l < 8; l++) m[l] = x[0];
	for (; j + 8 <= k; j += 8)
		for (int l = 0; l < 8; l++) m[l] = x[j + l] > m[l] ? x[j + l] : m[l];
	float mx = m[0];
	for (int l = 1; l < 8; l++) mx = m[l] > mx ? m[l] : mx;
	for (; j < k; j++) mx = x[j] > mx ? x[j] : mx;
	return mx;
}

// grain_sumexp stores e^(x[j] − mx) in out (which may alias x) and returns
// their sum in double (8 partial sums, added in order).
static inline double grain_sumexp(const float *x, float *out, long k, float mx) {
	double s[8] = {0};
	long j = 0;
	for (; j + 8 <= k; j += 8)
		for (int l = 0; l < 8; l++) {
			float e = grain_expf(x[j + l] - mx);
			out[j + l] = e;
			s[l] += e;
		}
	double sum = 0;
	for (int l = 0; l < 8; l++) sum += s[l];
	for (; j < k; j++) {
		float e = grain_expf(x[j] - mx);
		out[j] = e;
		sum += e;
	}
	return sum;
}

// grain_xent rows [r0, r1): see kernels.SoftmaxCrossEntropyMasked. scratch
// holds k floats (used when grad is NULL).
GRAIN_NN_CLONES static double grain_xent(const float *logits, long k, const int32_t *labels, float *grad, float scale,
		float *scratch, long r0, long r1) {
	double loss = 0;
	for (long r = r0; r < r1; r++) {
		const float *row = logits + r * k;
		int32_t lab = labels[r];
		if (lab < 0) {
			if (grad) memset(grad + r * k, 0, k * sizeof(float));
			continue;
		}
		float mx = grain_rowmax(row, k);
		float target = row[lab] - mx;
		float *out = grad ? grad + r * k : scratch;
		double sum = grain_sumexp(row, out, k, mx);
		if (grad) {
			float f = scale * (float)(1.0 / sum);
			for (long j = 0; j < k; j++) out[j] *= f;
			out[lab] -= scale;
		}
		loss += log(sum) - (double)target;
	}
	return loss;
}

GRAIN_NN_CLONES static void grain_logsoftmax(float *dst, const float *src, long k, float *scratch, long r0, long r1) {
	for (long r = r0; r < r1; r++) {
		const float *row = src + r * k;
		float *d = dst + r * k;
		float mx = grain_rowmax(row, k);
		double sum = grain_sumexp(row, scratch, k, mx);
		float shift = mx + (float)log(sum);
		for (long j = 0; j < k; j++) d[j] = row[j] - shift;
	}
}

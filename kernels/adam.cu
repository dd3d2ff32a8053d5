// The fused Adam + elastic-net step of the CUDA backend. CPU reference:
// adam.h (grain_adam_scalar), adam_go.go. With sg = sign(p) (0 at 0),
//
//	g' = g + l1·sg + l2s·p
//	m ← m + w1·(g' − m)              (w1 = 1 − β1; torch's lerp_)
//	v ← β2·v + w2·g'²                (w2 = 1 − β2)
//	p ← p − step·m / (sqrt(v)/bc2sqrt + eps)
//
// in float, where step = lr/(1 − β1^t) and bc2sqrt = sqrt(1 − β2^t) come
// from the host in double (kernels.AdamScalars). g is not modified.
#include "grain.cuh"

GRAIN_KERNEL grain_adam(float *p, const float *g, float *m, float *v, long long n, float w1, float b2, float w2,
                        float step, float bc2sqrt, float eps, float l1, float l2s) {
	GRAIN_FOR(i, n) {
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

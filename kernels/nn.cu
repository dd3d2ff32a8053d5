// The neural-network kernels of the CUDA backend (engine.NN: the fused
// operations of grain's models). CPU references: nn.go (Go) and nn.h (C);
// formulas in engine/nn.go. The transcendental functions are those of the
// CPU kernels (kernels.Exp32, Sigmoid32, Tanh32: exp by range reduction
// and a degree-6 polynomial), so both backends compute the same function;
// results differ from the CPU's only by the order of additions and by
// fused multiply-adds.
#include "grain.cuh"

// grain_nn_exp is kernels.Exp32.
__device__ __forceinline__ float grain_nn_exp(float x) {
	x = x < -87.3f ? -87.3f : x;
	x = x > 88.7f ? 88.7f : x;
	const float magic = 12582912.0f; // 1.5·2²³
	float kf = x * 1.44269504088896341f + magic;
	int k = (int)(grain_bits(kf) - grain_bits(magic));
	kf -= magic;
	float r = x - kf * 0.693359375f - kf * -2.12194440e-4f;
	float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
	return p * grain_float((unsigned int)(k + 127) << 23);
}

__device__ __forceinline__ float grain_nn_sigmoid(float x) { return 1.0f / (1.0f + grain_nn_exp(-x)); }

__device__ __forceinline__ float grain_nn_tanh(float x) {
	float e = grain_nn_exp(-2.0f * fabsf(x));
	float t = (1.0f - e) / (1.0f + e);
	return x < 0.0f ? -t : t;
}

// dst[r, c] = table[ids[r], c]·mask[c] for the n×e dst and v×e table. An
// id outside [0, v) sets GRAIN_FLAG_ID and leaves its row unwritten.
GRAIN_KERNEL grain_embedding_fwd(float *dst, const float *table, const int *ids, const float *mask, long long n,
                                 long long e, long long v, int *flags) {
	GRAIN_FOR_COL(c, e) {
		float m = mask[c];
		GRAIN_FOR_ROW(r, n) {
			int id = ids[r];
			if (id < 0 || id >= v) {
				atomicExch(&flags[GRAIN_FLAG_ID], 1);
				continue;
			}
			dst[r * e + c] = table[(long long)id * e + c] * m;
		}
	}
}

// dTable[ids[r], c] += dDst[r, c]·mask[c] for r = 0 … n−1 in order, one
// thread per column (so the sums are deterministic and equal the CPU's
// order); the caller zeroes dTable. Bad ids are flagged as above.
GRAIN_KERNEL grain_embedding_bwd(float *dTable, const float *dDst, const int *ids, const float *mask, long long n,
                                 long long e, long long v, int *flags) {
	GRAIN_FOR(c, e) {
		float m = mask[c];
		for (long long r = 0; r < n; r++) {
			int id = ids[r];
			if (id < 0 || id >= v) {
				atomicExch(&flags[GRAIN_FLAG_ID], 1);
				continue;
			}
			dTable[(long long)id * e + c] += dDst[r * e + c] * m;
		}
	}
}

// One LSTM step over rows×h units (engine.NN.LSTMCellForward); cPrev may
// be NULL (zeros). gates (rows×4h, [i f g o]) become the activations.
GRAIN_KERNEL grain_lstm_fwd(float *gates, const float *cPrev, float *c, float *hOut, const float *mask,
                            const float *valid, long long rows, long long h) {
	GRAIN_FOR_COL(j, h) {
		float m = mask[j];
		GRAIN_FOR_ROW(r, rows) {
			float *g = gates + r * 4 * h;
			float i = grain_nn_sigmoid(g[j]), f = grain_nn_sigmoid(g[h + j]);
			float u = grain_nn_tanh(g[2 * h + j]), o = grain_nn_sigmoid(g[3 * h + j]);
			g[j] = i;
			g[h + j] = f;
			g[2 * h + j] = u;
			g[3 * h + j] = o;
			float v = valid[r];
			float prev = cPrev ? cPrev[r * h + j] : 0.0f;
			float cc = v * (f * prev + i * u);
			c[r * h + j] = cc;
			hOut[r * h + j] = v * m * o * grain_nn_tanh(cc);
		}
	}
}

// The gradient of grain_lstm_fwd (engine.NN.LSTMCellBackward): dc holds
// the gradient w.r.t. c on entry and that w.r.t. cPrev on return.
GRAIN_KERNEL grain_lstm_bwd(const float *gates, const float *cPrev, const float *c, const float *mask,
                            const float *valid, const float *dh, float *dc, float *dGates, long long rows, long long h) {
	GRAIN_FOR_COL(j, h) {
		float m = mask[j];
		GRAIN_FOR_ROW(r, rows) {
			const float *g = gates + r * 4 * h;
			float *d = dGates + r * 4 * h;
			float i = g[j], f = g[h + j], u = g[2 * h + j], o = g[3 * h + j];
			float v = valid[r];
			float tc = grain_nn_tanh(c[r * h + j]);
			float dhe = v * m * dh[r * h + j];
			float dct = v * (dc[r * h + j] + dhe * o * (1.0f - tc * tc));
			float prev = cPrev ? cPrev[r * h + j] : 0.0f;
			d[j] = dct * u * i * (1.0f - i);
			d[h + j] = dct * prev * f * (1.0f - f);
			d[2 * h + j] = dct * i * (1.0f - u * u);
			d[3 * h + j] = dhe * tc * o * (1.0f - o);
			dc[r * h + j] = dct * f;
		}
	}
}

// x[r, j] = mask[j]·tanh(x[r, j])
GRAIN_KERNEL grain_tanh_mask(float *x, const float *mask, long long rows, long long h) {
	GRAIN_FOR_COL(j, h) {
		float m = mask[j];
		grain_map_column(x, x, rows, h, j, [m](float y) { return m * grain_nn_tanh(y); });
	}
}

// dx[r, j] = dy[r, j]·mask[j]·(1 − y[r, j]²); dx may alias dy.
GRAIN_KERNEL grain_tanh_mask_bwd(float *dx, const float *dy, const float *y, const float *mask, long long rows,
                                 long long h) {
	GRAIN_FOR_COL(j, h) {
		float m = mask[j];
		GRAIN_FOR_ROW(r, rows) {
			float yv = y[r * h + j];
			dx[r * h + j] = dy[r * h + j] * m * (1.0f - yv * yv);
		}
	}
}

// mask[i] = 0 if u < p else 1/(1 − p), u = (hash(seed, i) >> 40)·2⁻²⁴ with
// engine.DropoutHash (SplitMix64's finaliser of seed + (i+1)·golden).
GRAIN_KERNEL grain_dropout_mask(float *mask, long long n, float p, unsigned long long seed) {
	float keep = 1.0f / (1.0f - p);
	GRAIN_FOR(i, n) {
		unsigned long long z = seed + (unsigned long long)(i + 1) * 0x9E3779B97F4A7C15ull;
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
		z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
		z ^= z >> 31;
		float u = (float)(z >> 40) * (1.0f / 16777216.0f);
		mask[i] = u < p ? 0.0f : keep;
	}
}

// dst[r, col + j] = src[r, j] (into = 1) or src[r, col + j] = dst[r, j]
// (into = 0), for the rows×w narrow matrix and the rows×wide one.
GRAIN_KERNEL grain_copy_columns(float *wideM, float *narrow, long long rows, long long wide, long long w, long long col,
                                int into) {
	GRAIN_FOR_COL(j, w) {
		GRAIN_FOR_ROW(r, rows) {
			if (into)
				wideM[r * wide + col + j] = narrow[r * w + j];
			else
				narrow[r * w + j] = wideM[r * wide + col + j];
		}
	}
}

// grain_nn_row_sumexp is grain_row_sumexp with the CPU's float
// exponential (grain_nn_exp).
__device__ __forceinline__ double grain_nn_row_sumexp(const float *row, long long k, float *mx) {
	return grain_row_sumexp(row, k, mx, [](float x) { return (double)grain_nn_exp(x); });
}

// Attention (engine.NN.AttentionForward), one block (a power of two ≤
// GRAIN_REDUCE_THREADS threads) per batch row b (grid-stride over rows): q is bsz×d, keys (S·bsz)×d,
// values (S·bsz)×dv, probs bsz×S, ctx bsz×dv. A length outside [1, S] sets
// GRAIN_FLAG_LENGTH and leaves the row unwritten.
GRAIN_KERNEL grain_attention_fwd(const float *q, const float *keys, const float *values, const int *lengths,
                                 float *probs, float *ctx, long long bsz, long long S, long long d, long long dv,
                                 int *flags) {
	int t = threadIdx.x;
	for (long long b = blockIdx.x; b < bsz; b += gridDim.x) {
		long long n = lengths[b];
		if (n < 1 || n > S) {
			if (t == 0)
				atomicExch(&flags[GRAIN_FLAG_LENGTH], 1);
			continue;
		}
		const float *qb = q + b * d;
		float *p = probs + b * S;
		float mx = grain_float(0xff800000u); // −Inf
		for (long long s = t; s < n; s += blockDim.x) {
			const float *k = keys + (s * bsz + b) * d;
			float acc = 0.0f;
			for (long long j = 0; j < d; j++)
				acc += qb[j] * k[j];
			p[s] = acc;
			mx = fmaxf(mx, acc);
		}
		mx = grain_block_max(mx);
		double sum = 0;
		for (long long s = t; s < n; s += blockDim.x) {
			float e = grain_nn_exp(p[s] - mx);
			p[s] = e;
			sum += e;
		}
		sum = grain_block_sum(sum);
		float inv = (float)(1 / sum);
		for (long long s = t; s < S; s += blockDim.x)
			p[s] = s < n ? p[s] * inv : 0.0f;
		__syncthreads();
		for (long long j = t; j < dv; j += blockDim.x) {
			float acc = 0.0f;
			for (long long s = 0; s < n; s++)
				acc += p[s] * values[(s * bsz + b) * dv + j];
			ctx[b * dv + j] = acc;
		}
		__syncthreads();
	}
}

// The gradient of attention (engine.NN.AttentionBackward), one block per
// batch row as above; ds (bsz×S) is workspace. Positions with probability
// 0 contribute nothing. Each block writes only its own rows of dq, dKeys
// and dValues, so blocks never race.
GRAIN_KERNEL grain_attention_bwd(const float *q, const float *keys, const float *values, const float *probs,
                                 const float *dCtx, float *dq, float *dKeys, float *dValues, float *ds, long long bsz,
                                 long long S, long long d, long long dv) {
	int t = threadIdx.x;
	for (long long b = blockIdx.x; b < bsz; b += gridDim.x) {
		const float *p = probs + b * S, *dcb = dCtx + b * dv, *qb = q + b * d;
		float *dsb = ds + b * S;
		double dot = 0;
		for (long long s = t; s < S; s += blockDim.x) {
			float dp = 0.0f;
			if (p[s] != 0.0f) {
				const float *v = values + (s * bsz + b) * dv;
				for (long long j = 0; j < dv; j++)
					dp += dcb[j] * v[j];
				dot += (double)p[s] * (double)dp;
			}
			dsb[s] = dp;
		}
		dot = grain_block_sum(dot);
		for (long long s = t; s < S; s += blockDim.x)
			dsb[s] = p[s] * (dsb[s] - (float)dot);
		__syncthreads();
		for (long long j = t; j < d; j += blockDim.x) {
			float acc = 0.0f, qj = qb[j];
			for (long long s = 0; s < S; s++) {
				if (p[s] == 0.0f)
					continue;
				long long row = s * bsz + b;
				acc += dsb[s] * keys[row * d + j];
				dKeys[row * d + j] += dsb[s] * qj;
			}
			dq[b * d + j] = acc;
		}
		for (long long j = t; j < dv; j += blockDim.x) {
			float dcj = dcb[j];
			for (long long s = 0; s < S; s++) {
				if (p[s] != 0.0f)
					dValues[(s * bsz + b) * dv + j] += p[s] * dcj;
			}
		}
		__syncthreads();
	}
}

// Row-wise log-softmax of the n×k src into dst (dst may alias src), one
// block per row: dst = src − (max + log Σ exp(src − max)), the
// exponentials in float (grain_nn_exp) and their sum in double, as on the
// CPU.
GRAIN_KERNEL grain_log_softmax(float *dst, const float *src, long long n, long long k) {
	int t = threadIdx.x;
	for (long long r = blockIdx.x; r < n; r += gridDim.x) {
		const float *row = src + r * k;
		float mx;
		double sum = grain_nn_row_sumexp(row, k, &mx);
		float shift = mx + (float)log(sum);
		for (long long j = t; j < k; j += blockDim.x)
			dst[r * k + j] = row[j] - shift;
		__syncthreads();
	}
}

// grain_topk_before is kernels.TopKBefore: numbers before NaN, larger
// values first, ties (and NaNs) by the lower index.
__device__ __forceinline__ bool grain_topk_before(float a, long long ia, float b, long long ib) {
	bool na = a != a, nb = b != b;
	if (na != nb)
		return nb;
	if (!na && a != b)
		return a > b;
	return ia < ib;
}

// An element of a row and its column; i < 0 is no element.
struct grain_ranked {
	float v;
	long long i;
};

// Each row's k first elements in grain_topk_before's order (RowTopK), one
// block per row: round i's block reduction finds the first element that
// ranks after the one round i − 1 found, so no element is visited twice
// and the result does not depend on the thread count (k ≤ c).
GRAIN_KERNEL grain_row_topk(float *vals, int *idx, const float *src, long long n, long long c, long long k) {
	int t = threadIdx.x;
	for (long long r = blockIdx.x; r < n; r += gridDim.x) {
		const float *row = src + r * c;
		grain_ranked prev = {0, -1};
		for (long long i = 0; i < k; i++) {
			grain_ranked best = {0, -1};
			for (long long j = t; j < c; j += blockDim.x) {
				float x = row[j];
				if ((prev.i < 0 || grain_topk_before(prev.v, prev.i, x, j)) &&
				    (best.i < 0 || grain_topk_before(x, j, best.v, best.i)))
					best = {x, j};
			}
			prev = grain_block_reduce(best, [](grain_ranked a, grain_ranked b) {
				return b.i >= 0 && (a.i < 0 || grain_topk_before(b.v, b.i, a.v, a.i)) ? b : a;
			});
			if (t == 0) {
				vals[r * k + i] = prev.v;
				idx[r * k + i] = (int)prev.i;
			}
		}
	}
}

// Softmax cross-entropy over rows whose label may be negative (padding:
// no loss, a zero gradient row), one block per row; otherwise as
// grain_softmax_xent, with the CPU's float exponentials:
//
//	rowLoss[r] = log S − (x_label − mx),  S = Σ_j exp(x_j − mx)
//	grad[r, j] = exp(x_j − mx)·float(scale/S) − [j = label]·scale
//
// grad may be NULL or alias the logits. A label ≥ k sets GRAIN_FLAG_LABEL
// and gives the row a NaN loss.
GRAIN_KERNEL grain_softmax_xent_masked(const float *logits, const int *labels, float *grad, double *rowLoss,
                                       long long n, long long k, float scale, int *flags) {
	int t = threadIdx.x;
	for (long long r = blockIdx.x; r < n; r += gridDim.x) {
		const float *row = logits + r * k;
		int lab = labels[r];
		if (lab < 0) {
			if (grad)
				for (long long j = t; j < k; j += blockDim.x)
					grad[r * k + j] = 0.0f;
			if (t == 0)
				rowLoss[r] = 0;
			continue;
		}
		float mx;
		double sum = grain_nn_row_sumexp(row, k, &mx);
		bool ok = lab < k;
		float xl = ok ? row[lab] : 0.0f;
		if (t == 0) {
			if (!ok)
				atomicExch(&flags[GRAIN_FLAG_LABEL], 1);
			rowLoss[r] = ok ? log(sum) - (double)(xl - mx) : (double)grain_float(0x7fc00000u);
		}
		__syncthreads(); // every read of the row is done: grad may overwrite it
		if (grad) {
			float f = scale * (float)(1 / sum);
			for (long long j = t; j < k; j += blockDim.x) {
				float g = grain_nn_exp(row[j] - mx) * f;
				grad[r * k + j] = j == lab ? g - scale : g;
			}
		}
		__syncthreads();
	}
}

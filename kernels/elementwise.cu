// Elementwise kernels of the CUDA backend: the BLAS-1 style operations of
// engine.Backend, column scaling and gathering, standardization, the
// soft-threshold, and softmax cross-entropy. CPU references: elementwise.go
// (Standardize, SoftThreshold, SoftmaxCrossEntropy) and engine/cpu/ops.go.
#include "grain.cuh"

// x[i] = v
GRAIN_KERNEL grain_fill_f32(float *x, long long n, float v) {
	GRAIN_FOR(i, n) x[i] = v;
}

// x[i] = alpha·x[i]
GRAIN_KERNEL grain_scale_f32(float *x, long long n, float alpha) {
	GRAIN_FOR(i, n) x[i] *= alpha;
}

// y[i] = alpha·x[i] + y[i]
GRAIN_KERNEL grain_axpy_f32(const float *x, float *y, long long n, float alpha) {
	GRAIN_FOR(i, n) y[i] += alpha * x[i];
}

// d[i] = a[i]·b[i]; d may alias a or b (each element is read and written by
// one thread).
GRAIN_KERNEL grain_mul_f32(float *d, const float *a, const float *b, long long n) {
	GRAIN_FOR(i, n) d[i] = a[i] * b[i];
}

// x[r, c] += v[c]
GRAIN_KERNEL grain_add_row_vector(float *x, const float *v, long long rows, long long cols) {
	GRAIN_FOR_COL(c, cols) {
		float a = v[c];
		grain_map_column(x, x, rows, cols, c, [a](float y) { return y + a; });
	}
}

// d[r, c] = x[r, c]·s[c], and exactly +0 where s[c] = 0 (even for ±Inf or
// NaN x). d may alias x.
GRAIN_KERNEL grain_scale_columns(float *d, const float *x, const float *s, long long rows, long long cols) {
	GRAIN_FOR_COL(c, cols) {
		float f = s[c];
		grain_map_column(d, x, rows, cols, c, [f](float y) { return f == 0.0f ? 0.0f : y * f; });
	}
}

// d[r, k] = x[r, idx[k]] for the rows×dcols d and rows×xcols x. An index
// outside [0, xcols) sets the flag GRAIN_FLAG_GATHER_INDEX and leaves its
// column unwritten.
GRAIN_KERNEL grain_gather_columns(float *__restrict__ d, const float *__restrict__ x, const int *idx,
                                  long long rows, long long dcols, long long xcols, int *flags) {
	GRAIN_FOR_COL(k, dcols) {
		int j = idx[k];
		if (j < 0 || j >= xcols) {
			atomicExch(&flags[GRAIN_FLAG_GATHER_INDEX], 1);
			continue;
		}
		GRAIN_FOR_ROW(r, rows) d[r * dcols + k] = x[r * xcols + j];
	}
}

// d[r, c] = (x[r, c] − mean[c])·invStd[c]; d may alias x.
GRAIN_KERNEL grain_standardize(float *d, const float *x, const float *mean, const float *invStd, long long rows,
                               long long cols) {
	GRAIN_FOR_COL(c, cols) {
		float m = mean[c], s = invStd[c];
		grain_map_column(d, x, rows, cols, c, [m, s](float y) { return (y - m) * s; });
	}
}

// grain_standardize_round is grain_standardize followed by rounding every
// result to `drop` fewer mantissa bits (13: TF32, 16: BF16), so that a
// reduced-precision GEMM can consume it without rounding copies.
GRAIN_KERNEL grain_standardize_round(float *d, const float *x, const float *mean, const float *invStd,
                                     long long rows, long long cols, unsigned int drop) {
	GRAIN_FOR_COL(c, cols) {
		float m = mean[c], s = invStd[c];
		grain_map_column(d, x, rows, cols, c, [m, s, drop](float y) { return grain_round_mantissa((y - m) * s, drop); });
	}
}

// grain_standardize_round_t writes the transpose of grain_standardize_round
// (drop = 0: of grain_standardize): for the rows × cols matrix x,
//
//	d[c, r] = round((x[r, c] − mean[c])·invStd[c])    (d: cols × rows)
//
// so that a product over the rows reads d with the rows contiguous, and,
// with moments (grain_standardize_round_t_moments), from the same loads
// the moments of every chunk of chunkRows rows (the last may be shorter)
// of every column, shifted by the standardization's own mean[c] (in
// double):
//
//	s1 = Σ (x − mean[c]),  s2 = Σ (x − mean[c])²
//	pmean[ch, c] = mean[c] + s1/n,  pm2[ch, c] = max(s2 − s1²/n, 0)
//
// as grain_col_moments_part does, for grain_col_moments_merge to combine.
// The work items are (chunk, band of 32 columns) pairs, grid-strided; a
// block walks its chunk's 32 × 32 tiles through shared memory padded to 33
// columns: a warp reads 32 consecutive columns of a row and writes 32
// consecutive rows of a column, both coalesced, and neither the column
// reads nor the row writes of the tile hit one bank twice. Blocks must be
// 32 × 8 threads: 4 elements per thread per tile, the 4 loads issued
// before the barrier; chunkRows must be a multiple of 32. d must not alias
// x. The two kernels are one template, so that the one without moments
// does no double arithmetic (sm_90: 40 registers, 6 blocks of 256 threads
// per multiprocessor; bounded to 8 blocks it would spill). The one with
// moments is bounded to 8 blocks, full occupancy (31 registers, no spills;
// unbounded it took 55 registers, 4 blocks).
template <bool moments>
__device__ __forceinline__ void grain_standardize_t(float *d, const float *x, const float *mean, const float *invStd,
                                                    long long rows, long long cols, unsigned int drop,
                                                    long long chunkRows, double *pmean, double *pm2) {
	__shared__ float tile[32][33];
	__shared__ double part1[8][33], part2[8][33];
	long long bands = (cols + 31) / 32, chunks = (rows + chunkRows - 1) / chunkRows;
	int tx = threadIdx.x, ty = threadIdx.y;
	for (long long w = blockIdx.x; w < bands * chunks; w += gridDim.x) {
		long long ch = w / bands, c0 = w % bands * 32, c = c0 + tx;
		long long q0 = ch * chunkRows, q1 = q0 + chunkRows < rows ? q0 + chunkRows : rows;
		float m = 0.0f, s = 0.0f;
		if (c < cols) {
			m = mean[c];
			s = invStd[c];
		}
		double s1 = 0, s2 = 0;
		for (long long r0 = q0; r0 < q1; r0 += 32) {
			for (int i = 0; i < 4; i++) { // unrolled: a constant trip count
				int k = ty + 8 * i;
				long long r = r0 + k;
				if (r < q1 && c < cols) {
					float xv = x[r * cols + c], v = (xv - m) * s;
					if (moments) {
						double dv = (double)xv - (double)m;
						s1 += dv;
						s2 += dv * dv;
					}
					tile[k][tx] = drop ? grain_round_mantissa(v, drop) : v;
				}
			}
			__syncthreads();
			long long r = r0 + tx;
			for (int i = 0; i < 4; i++) {
				long long cc = c0 + ty + 8 * i;
				if (cc < cols && r < q1)
					d[cc * rows + r] = tile[tx][ty + 8 * i];
			}
			__syncthreads();
		}
		if (moments) {
			part1[ty][tx] = s1;
			part2[ty][tx] = s2;
			__syncthreads();
			if (ty == 0 && c < cols) {
				double a = 0, b = 0;
				for (int k = 0; k < 8; k++) {
					a += part1[k][tx];
					b += part2[k][tx];
				}
				double n = (double)(q1 - q0), m2 = b - a * a / n;
				pmean[ch * cols + c] = (double)m + a / n;
				pm2[ch * cols + c] = m2 > 0 ? m2 : 0;
			}
			__syncthreads();
		}
	}
}

GRAIN_KERNEL grain_standardize_round_t(float *d, const float *x, const float *mean, const float *invStd,
                                       long long rows, long long cols, unsigned int drop, long long chunkRows) {
	grain_standardize_t<false>(d, x, mean, invStd, rows, cols, drop, chunkRows, nullptr, nullptr);
}

GRAIN_KERNEL_BOUNDED(256, 8) grain_standardize_round_t_moments(float *d, const float *x, const float *mean, const float *invStd,
                                               long long rows, long long cols, unsigned int drop,
                                               long long chunkRows, double *pmean, double *pm2) {
	grain_standardize_t<true>(d, x, mean, invStd, rows, cols, drop, chunkRows, pmean, pm2);
}

// d[r, c] = (rowScale[r]·d[r, c])·colScale[c] − rowShift[r]·colShift[c],
// each product rounded to float (no contraction into an FMA), as the CPU
// backend computes it.
GRAIN_KERNEL grain_affine_outer(float *d, const float *rowScale, const float *colScale, const float *rowShift,
                                const float *colShift, long long rows, long long cols) {
	GRAIN_FOR_COL(c, cols) {
		float cs = colScale[c], ch = colShift[c];
		GRAIN_FOR_ROW(r, rows) {
			float a = __fmul_rn(rowScale[r], d[r * cols + c]);
			d[r * cols + c] = __fsub_rn(__fmul_rn(a, cs), __fmul_rn(rowShift[r], ch));
		}
	}
}

// x[i] = sign(x[i])·max(|x[i]| − t, 0); NaN becomes 0 as in the CPU kernel.
GRAIN_KERNEL grain_soft_threshold(float *x, long long n, float t) {
	GRAIN_FOR(i, n) {
		float v = x[i];
		x[i] = v > t ? v - t : (v < -t ? v + t : 0.0f);
	}
}

// grain_softmax_xent handles one row of the n×k logits per block (looping
// over rows with the grid stride): with mx = max_j x_j and
// S = Σ_j exp(x_j − mx) (each x_j − mx in float, the exponential and the
// sum in double),
//
//	rowLoss[r] = log S − (x_label − mx)
//	grad[r, j] = scale·float(exp(x_j − mx)/S) − [j = label]·scale
//
// grad may be NULL, or alias the logits: every element of a row is read
// before the barrier that precedes its write. A label outside [0, k) sets
// GRAIN_FLAG_LABEL and gives the row a NaN loss.
GRAIN_KERNEL grain_softmax_xent(const float *logits, const int *labels, float *grad, double *rowLoss, long long n,
                                long long k, float scale, int *flags) {
	int t = threadIdx.x;
	for (long long r = blockIdx.x; r < n; r += gridDim.x) {
		const float *row = logits + r * k;
		float mx;
		double sum = grain_row_sumexp(row, k, &mx, [](float x) { return exp((double)x); });
		int lab = labels[r];
		bool ok = lab >= 0 && lab < k;
		float xl = ok ? row[lab] : 0.0f;
		if (t == 0) {
			if (!ok)
				atomicExch(&flags[GRAIN_FLAG_LABEL], 1);
			rowLoss[r] = ok ? log(sum) - (double)(xl - mx) : (double)grain_float(0x7fc00000u); // NaN
		}
		// Every thread has read what it needs of the row (mx, sum and xl
		// come from shared memory or reads above): writes may now
		// overwrite the logits.
		__syncthreads();
		if (grad) {
			double inv = 1 / sum;
			float *g = grad + r * k;
			for (long long j = t; j < k; j += blockDim.x) {
				float p = scale * (float)(exp((double)(row[j] - mx)) * inv);
				g[j] = j == lab ? p - scale : p;
			}
		}
		__syncthreads();
	}
}

// Reductions of the CUDA backend: selecting reductions along rows and
// columns (the abs-max / abs-min of correlation tiles, argmax of logits),
// column sums, the sum of squares and column moments. CPU references:
// reduce.go (ReduceRows, ReduceCols, SumCols, SumSquares, ColMoments).
//
// Column reductions run in two stages so that tall matrices fill the GPU:
// stage 1 reduces chunks of chunkRows rows per column into partial results
// (one per chunk and column), stage 2 combines each column's partials in
// chunk order. Both stages are deterministic.
#include "grain.cuh"

// grain_reduce_rows selects, for each row of the rows×cols x, the element
// that wins under op (see grain_beats): vals[r] gets it and idx[r] (if
// idx is not NULL) its column. One block per row (grid stride over rows);
// blockDim.x must be a power of two ≤ GRAIN_REDUCE_THREADS.
GRAIN_KERNEL grain_reduce_rows(int op, const float *x, float *vals, int *idx, long long rows, long long cols) {
	__shared__ float sv[GRAIN_REDUCE_THREADS];
	__shared__ long long si[GRAIN_REDUCE_THREADS];
	int t = threadIdx.x;
	for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
		const float *row = x + r * cols;
		float best = 0;
		long long bi = -1;
		for (long long j = t; j < cols; j += blockDim.x) {
			float v = row[j];
			if (bi < 0 || grain_beats(op, v, j, best, bi)) {
				best = v;
				bi = j;
			}
		}
		sv[t] = best;
		si[t] = bi;
		__syncthreads();
		for (int s = blockDim.x / 2; s > 0; s /= 2) {
			if (t < s && si[t + s] >= 0 && (si[t] < 0 || grain_beats(op, sv[t + s], si[t + s], sv[t], si[t]))) {
				sv[t] = sv[t + s];
				si[t] = si[t + s];
			}
			__syncthreads();
		}
		if (t == 0) {
			vals[r] = sv[0];
			if (idx)
				idx[r] = (int)si[0];
		}
		__syncthreads();
	}
}

// grain_reduce_cols_part is stage 1 of ReduceCols: pv[ch·cols + c] and
// pi[ch·cols + c] (pi may be NULL) get the winner of column c over rows
// [ch·chunkRows, min((ch+1)·chunkRows, rows)) and its row.
GRAIN_KERNEL grain_reduce_cols_part(int op, const float *x, float *pv, int *pi, long long rows, long long cols,
                                    long long chunkRows) {
	long long chunks = (rows + chunkRows - 1) / chunkRows;
	GRAIN_FOR_CHUNK(ch, chunks) {
		long long r0 = ch * chunkRows, r1 = r0 + chunkRows < rows ? r0 + chunkRows : rows;
		GRAIN_FOR_COL(c, cols) {
			float best = x[r0 * cols + c];
			long long bi = r0;
			for (long long r = r0 + 1; r < r1; r++) {
				float v = x[r * cols + c];
				if (grain_beats(op, v, r, best, bi)) {
					best = v;
					bi = r;
				}
			}
			pv[ch * cols + c] = best;
			if (pi)
				pi[ch * cols + c] = (int)bi;
		}
	}
}

// grain_reduce_cols_merge is stage 2 of ReduceCols: vals[c] and idx[c]
// (may be NULL) get the winner among the chunks' partials of column c.
GRAIN_KERNEL grain_reduce_cols_merge(int op, const float *pv, const int *pi, long long chunks, long long cols,
                                     float *vals, int *idx) {
	GRAIN_FOR_COL(c, cols) {
		float best = pv[c];
		int bi = pi[c];
		for (long long ch = 1; ch < chunks; ch++) {
			float v = pv[ch * cols + c];
			int i = pi[ch * cols + c];
			if (grain_beats(op, v, i, best, bi)) {
				best = v;
				bi = i;
			}
		}
		vals[c] = best;
		if (idx)
			idx[c] = bi;
	}
}

// grain_sum_cols_part is stage 1 of SumCols: part[ch·cols + c] =
// Σ_{r in chunk ch} x[r, c] in double.
GRAIN_KERNEL grain_sum_cols_part(const float *x, double *part, long long rows, long long cols, long long chunkRows) {
	long long chunks = (rows + chunkRows - 1) / chunkRows;
	GRAIN_FOR_CHUNK(ch, chunks) {
		long long r0 = ch * chunkRows, r1 = r0 + chunkRows < rows ? r0 + chunkRows : rows;
		GRAIN_FOR_COL(c, cols) {
			double s = 0;
			for (long long r = r0; r < r1; r++)
				s += x[r * cols + c];
			part[ch * cols + c] = s;
		}
	}
}

// grain_sum_cols_merge is stage 2 of SumCols: the sum of each column's
// partials in chunk order, stored in dst64 (double) or, when dst64 is
// NULL, in dst32 (rounded to float).
GRAIN_KERNEL grain_sum_cols_merge(const double *part, long long chunks, long long cols, double *dst64,
                                  float *dst32) {
	GRAIN_FOR_COL(c, cols) {
		double s = 0;
		for (long long ch = 0; ch < chunks; ch++)
			s += part[ch * cols + c];
		if (dst64)
			dst64[c] = s;
		else
			dst32[c] = (float)s;
	}
}

// grain_sum_squares_part is stage 1 of SumSquares: part[b] = Σ x[i]² (in
// double) over the elements that block b visits with the grid stride.
GRAIN_KERNEL grain_sum_squares_part(const float *x, long long n, double *part) {
	double s = 0;
	GRAIN_FOR(i, n) {
		double v = x[i];
		s += v * v;
	}
	s = grain_block_sum(s);
	if (threadIdx.x == 0)
		part[blockIdx.x] = s;
}

// grain_sum_f64 sets dst[0] = Σ_{i<n} x[i] with one block (the second
// stage of SumSquares, and the sum of SoftmaxCrossEntropy's row losses).
GRAIN_KERNEL grain_sum_f64(const double *x, long long n, double *dst) {
	double s = 0;
	for (long long i = threadIdx.x; i < n; i += blockDim.x)
		s += x[i];
	s = grain_block_sum(s);
	if (threadIdx.x == 0)
		dst[0] = s;
}

// grain_col_moments_part is stage 1 of ColMoments. For the n rows of chunk
// ch and column c it shifts by the chunk's first value K (so the sums have
// no cancellation for data far from 0) and computes in one pass, in double,
//
//	s1 = Σ (x − K),  s2 = Σ (x − K)²
//	pmean = K + s1/n,  pm2 = max(s2 − s1²/n, 0)
//
// the chunk's mean and centred sum of squares.
GRAIN_KERNEL grain_col_moments_part(const float *x, double *pmean, double *pm2, long long rows, long long cols,
                                    long long chunkRows) {
	long long chunks = (rows + chunkRows - 1) / chunkRows;
	GRAIN_FOR_CHUNK(ch, chunks) {
		long long r0 = ch * chunkRows, r1 = r0 + chunkRows < rows ? r0 + chunkRows : rows;
		double n = (double)(r1 - r0);
		GRAIN_FOR_COL(c, cols) {
			double k = x[r0 * cols + c], s1 = 0, s2 = 0;
			for (long long r = r0; r < r1; r++) {
				double d = (double)x[r * cols + c] - k;
				s1 += d;
				s2 += d * d;
			}
			double m2 = s2 - s1 * s1 / n;
			pmean[ch * cols + c] = k + s1 / n;
			pm2[ch * cols + c] = m2 > 0 ? m2 : 0;
		}
	}
}

// grain_col_moments_merge is stage 2 of ColMoments: each column's chunk
// moments combined in chunk order with the update of Chan, Golub & LeVeque
// (engine.ColumnStats.Merge):
//
//	δ = meanB − meanA,  n = nA + nB
//	mean = meanA + δ·nB/n,  M2 = M2A + M2B + δ²·nA·nB/n
GRAIN_KERNEL grain_col_moments_merge(const double *pmean, const double *pm2, long long rows, long long cols,
                                     long long chunkRows, double *mean, double *m2) {
	long long chunks = (rows + chunkRows - 1) / chunkRows;
	GRAIN_FOR_COL(c, cols) {
		double mu = pmean[c], s = pm2[c], na = (double)(chunkRows < rows ? chunkRows : rows);
		for (long long ch = 1; ch < chunks; ch++) {
			long long r0 = ch * chunkRows, r1 = r0 + chunkRows < rows ? r0 + chunkRows : rows;
			double nb = (double)(r1 - r0), n = na + nb, d = pmean[ch * cols + c] - mu;
			mu += d * nb / n;
			s += pm2[ch * cols + c] + d * d * na * nb / n;
			na = n;
		}
		mean[c] = mu;
		m2[c] = s;
	}
}

// Package crosscorr is grain's Cross-model Correlation Analysis (Dalvi et
// al. 2019, after Bau et al. 2019): it ranks the neurons of several
// independently trained models by how strongly they correlate with the
// neurons of the other models, without labels. Salient neurons are shared.
//
// # The correlation engine
//
// Correlate computes the Pearson correlation r(i, j) between neuron i of
// model A (N neurons) and neuron j of model B (M neurons) over their T common
// tokens, with population statistics:
//
//	μ_i = Σ_t x_ti / T,   σ_i² = Σ_t (x_ti − μ_i)² / T
//	z_ti = (x_ti − μ_i) / σ_i
//	r(i, j) = Σ_t z_ti·z'_tj / T
//
// in one streaming pass over blocks of tokens on an engine.Backend (one per
// sweep of tiles, see the budget), so the same code runs on every device:
//
//  1. Before the pass, SampleStandardization reads 256 rows of each model,
//     one from each of 256 stretches of the tokens (SampleRow), and takes
//     their mean and 1/σ as a shift s and a scale c per neuron.
//  2. Per block, Backend.Standardize writes y = (x − s)·c into the block
//     buffer, and Backend.Gemm accumulates P = Y_Aᵀ·Y_B (β = 1) into N×M
//     float32 tiles, in Options.Precision. In the first sweep
//     Backend.ColMoments also gives each neuron's mean and centred sum of
//     squares over the block in float64, written into a row of a ring of
//     block moments that is downloaded when full (see the paths below);
//     engine.ColumnStats.Merge combines the blocks in order (Chan et al.)
//     into the exact μ and σ. Every value is checked: a NaN or ±Inf is an
//     error that names the model, the token row and the neuron (the block
//     whose moments are not finite is read again on the host to find it).
//  3. Each finished tile becomes correlations with Backend.AffineOuter,
//     r(i, j) = w_i·w'_j·P(i, j) − g_i·g'_j with w = 1/(c·σ·√T) and g =
//     (μ − s)/σ (Standardization.Correction: since z = (x − μ)/σ =
//     y/(c·σ) − g and Σ_t y = c·T·(μ − s), this is exactly Σ_t z·z'/T),
//     and is reduced per neuron with Backend.ReduceRows / ReduceCols
//     (MaxAbs, MinAbs): the partner with the largest |r| (with its sign),
//     the one with the smallest, and, with Options.TopK, the k largest.
//
// Reading every value once, where a pass for the moments and one for the
// products read it twice, is what makes the GPU computation fast: on an
// H100 the moments pass took 11 ms of about 160 at T = 10^6 (bench/RESULTS.md,
// "GPU"). Where the sample is typical of the tokens its mean is within
// about σ/16 of μ, so g is small and the correction costs no accuracy
// (TestShiftedBlocks checks means 1000σ from 0 with a 3σ step half way
// through the tokens); and s, unlike a float32 μ, is subtracted exactly,
// so nearly constant neurons keep their accuracy too (σ = 1e-6·|μ|: 1.3e-8
// in FP32, where subtracting float32(μ) gave 3.7e-5). Where it is not
// (Standardization.Fits: |g| > 2, or c·σ outside [2^-40, 2^40], where
// products could overflow), the first sweep is made again, standardized
// with the exact moments (Exact), before any of its tiles is used: one
// more pass over the tokens, which a second progress bar reports. Sweeps
// after the first always standardize with the exact moments.
//
// In TF32 and BF16 on a backend that implements engine.PreRounded,
// StandardizeRounded rounds y to the GEMM's input format as it writes it
// and GemmPreRounded multiplies without making rounded copies of its
// inputs: the same products, with less memory traffic. On such a backend
// without host memory (CUDA), y is written neuron-major instead
// (StandardizeRoundedT: a row of B tokens per neuron, into the panel
// buffer; in the first sweep StandardizeRoundedTMoments, which gives the
// block's moments from the same loads) and the products read both operands
// contiguous along the tokens, Y_Aᵀ·Y_B = GemmPreRounded(false, true, Y_Aᵀ,
// Y_Bᵀ): on an H100 those ran at 390 TFLOP/s in TF32 against 258
// token-major (the same values up to the order of summation).
//
// Neither the stacked (N+M)×(N+M) matrix nor all tokens are ever in memory,
// and the N×M matrix itself only when Options.Matrix asks for it. A constant
// neuron (σ ≤ 1e-7·|μ|, see engine.ColumnStats.InvStd) has w = g = 0, so
// its r is exactly 0 with every neuron, never NaN; the results list such
// neurons and warn about them. Ties between partners go to the lowest index.
// With float32 accumulation r agrees with float64 to about 1e-6; TF32 and
// BF16 GEMMs to about 1e-3 and 1e-2.
//
// # Paths of the token blocks
//
// How a block of B tokens reaches the backend depends on what the backend
// and the source offer. From the same blocks every path computes the same
// values (bitwise, in FP32 on one backend), but the paths' buffers differ
// in size, so a tight budget may give them different block heights:
//
//   - Host memory (the backend implements engine.HostMemory: the CPU): rows
//     of a RowViewer are used in place, other sources are read into the
//     block itself. The first sweep downloads the moments after every
//     block (a copy).
//   - Double-buffered (no host memory, engine.AsyncUploader: CUDA): two
//     device blocks and two page-locked buffers per model. Block i goes
//     through buffers k = i mod 2: wait for buffer k's previous copy, read
//     the rows into it (Source.ReadRows), queue its copy into device block
//     k after the event that ended block i−2's work, queue block i's work,
//     record an event. The host reads block i+1 while the device copies
//     and computes block i, and nothing in the block loop waits for the
//     device except a ring download: the ring holds the moments of R
//     blocks (R = ⌈T/B⌉, one download, when the budget allows).
//   - Uploading (no host memory, no AsyncUploader): rows are viewed or read
//     into a host buffer and copied with Backend.Upload into one device
//     block; the first sweep downloads the moments after every block.
//
// # The memory budget
//
// Options.Memory (default 2 GiB) bounds the memory of the computation,
// the process included: 64 MiB of it (a quarter of budgets under 256 MiB)
// is left to the Go runtime and the BLAS library's workspace, and the rest,
// the usable budget U, bounds what the computation allocates. Pages of
// memory-mapped sources belong to the OS's page cache and are not counted.
// (grain crosscorr also sets the Go runtime's soft memory limit to the
// budget, so that buffers a pass has freed are collected before LinReg's
// and SVCCA's workspace is allocated: measured on 3 × 768 neurons at
// 170 MiB, before the estimate below counted SVCCA's subspaces, it took the
// run's peak anonymous memory from 225 to 160 MiB; see bench/RESULTS.md.)
// With K models of n_m neurons:
//
//   - Resident: kept matrices, 4·n_a·n_b bytes each (Correlate's matrix with
//     Options.Matrix; for LinReg and SVCCA every pair of models and every
//     model with itself), plus LinReg's float64 workspace,
//     8·(Σ_m n_m² + 8·max_m n_m²) bytes, and SVCCA's, 8·(3·Σ_m n_m² +
//     8·max_m n_m²) (its kept subspaces and their loading bases besides).
//     It may take at most U/2.
//   - Tiles: of the rest, A = U − resident, a share S = A/2 holds the
//     tiles of one sweep. A product whose n_a·n_b·c bytes exceed S is split
//     into row panels of ⌊S/(c·n_b)⌋ rows (when that is at least 64 rows, or
//     the matrix is kept), else into square tiles of side ⌊√(S/c)⌋. Here c =
//     4 bytes per element; 8 when top-k partners are staged on the host of a
//     device backend; 0 for a kept matrix on a host-memory backend, where
//     the GEMM accumulates into the result itself. Tiles are packed in order
//     into sweeps of at most S bytes; each sweep streams all tokens once.
//   - Blocks: B = min(T, MaxBlockRows, ⌊(A − S_used − W) / (4·(Σ_m h_m·n_m + P))⌋)
//     tokens per block, where S_used is the largest sweep's tile bytes, P
//     the largest sweep's width of gathered column panels (copies of part
//     of a model's neurons for a split tile; neuron-major, the sum of the
//     sweep's models' widths, whose blocks the panel buffer then holds), and
//     h_m the float32 values per token and neuron of model m's block
//     buffers: 4 on the double-buffered path (2 device blocks + 2
//     page-locked host buffers), 1 on the host-memory path and for a
//     RowViewer on the uploading path (the block is the only buffer), else
//     2 (a host read buffer beside the device block). If B < 1024 tokens,
//     S is halved (down to A/8) until B reaches 1024 tokens; failing that,
//     the largest S that leaves at least 16 tokens per block is used, and a
//     budget that leaves fewer is an error.
//   - Ring (double-buffered path; W = 0 on the others): a row of block
//     moments takes q = 32·Σ_m n_m bytes (float64 mean and m2 of every
//     neuron, on the device and on the host). W = max(q, min(k·q,
//     (A − S_used)/8)) with k = max(16, ⌈T/MaxBlockRows⌉) keeps room for
//     the moments of every block of MaxBlockRows tokens when an eighth of
//     what the tiles leave allows it, and for at least one block's, and
//     the first sweep's ring has R = min(⌈T/B⌉, ⌊W/q⌋) ≥ 1 rows.
//
// Vectors of O(Σ_m n_m) values (statistics, reductions, top-k lists) come on
// top.
//
// # Rankings
//
// Rank scores every neuron i of every model m against the other models m′
// (K ≥ 2 models covering the same tokens; see CheckAligned):
//
//	MaxCorr   max_{m′≠m} max_j |r(i, j)|                         descending
//	MinCorr   min_{m′≠m} max_j |r(i, j)|                         descending
//	LinReg    max_{m′≠m} MSE_m′(i)                               ascending
//	SVCCA     max_{m′≠m} Σ_k ρ_k·L_ik²                           descending
//
// LinReg regresses the z-scored neuron on all z-scored neurons of m′ by
// least squares without intercept, from the same blocked products: with
// R_m′m′ = Z_m′ᵀZ_m′/T and r_i = Z_m′ᵀz_i/T, the normal equations give
// MSE_m′(i) = 1 − r_iᵀ·R_m′m′⁺·r_i, solved in float64 with gonum through the
// eigen-decomposition R_m′m′ = V·Λ·Vᵀ (eigenvalues ≤ 1e-6·λmax dropped: the
// minimum-norm solution when neurons are collinear or constant; a constant
// target gets MSE 1).
//
// SVCCA (Raghu et al. 2017) works on the centred, unscaled activations,
// whose covariance C = D·R·D (D = diag σ) comes from the same products. Per
// model it keeps the top d eigenvectors V_d of C (the right singular
// vectors of the centred activations), with eigenvalues Λ_d, until they
// hold Options.Variance (default 99%) of the total variance: the direction
// that crosses it is kept (Bau et al.'s svcca.py keeps only the directions
// before it, and by default uses the uncentred XᵀX/(T−1)); and never more
// than the correlation matrix R has eigenvalues above 1e-6·λmax (the rest
// is rounding noise of a rank-deficient model). For two models
// the thin SVD
//
//	Λ_a^{-1/2}·V_aᵀ·C_ab·V_b·Λ_b^{-1/2} = P·diag(ρ)·Qᵀ
//
// gives the canonical correlations ρ (reported, with their mean, in
// Ranking.Canonical) and the loadings L_a = D_a⁻¹·V_a·Λ_a^{1/2}·P, L_b =
// D_b⁻¹·V_b·Λ_b^{1/2}·Q (computed as R_a·D_a·V_a·Λ_a^{-1/2}·P, the same
// matrix since C·V = V·Λ, without dividing by a small σ): L_ik is the
// correlation of neuron i with canonical variate k. A neuron's score Σ_k ρ_k·L_ik² ∈ [0, 1] is the ρ-weighted share
// of its variance that lies on the directions it shares with the other
// model. This neuron score is grain's: Bau et al.'s scripts compute the
// SVCCA transforms but rank no neurons by them.
//
// Ties are broken by the lower neuron index. Every neuron's best partner
// (the model, neuron and r of its largest |r|) is reported for all methods.
// MaxCorr and MinCorr need only the per-neuron reductions, so any size fits
// the budget; LinReg and SVCCA need the full matrices (and O(n³) float64
// decompositions on the host: LAPACK's dsyevd and dgesdd from OpenBLAS
// when it is loaded, gonum's otherwise).
//
// ranking.TopOverlap compares the top k of a correlation ranking
// (ModelRanking.Order) with a probe's ranking (Linguistic Correlation
// Analysis), as the paper does for position neurons.
//
// # Sources
//
// A Source gives a model's activations row by row (*activations.Reader is
// one; Memory is an in-memory one). Sources that implement RowViewer are read
// in place on backends with host memory (and without a read buffer on the
// uploading path); sources that implement Sentences are checked to cover
// the same sentences and tokens.
package crosscorr

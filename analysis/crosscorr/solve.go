package crosscorr

import (
	"fmt"
	"math"
	"slices"

	"github.com/grainlab/grain/engine/openblas"
	"github.com/grainlab/grain/engine/progress"
	"gonum.org/v1/gonum/mat"
)

// rcond is the relative eigenvalue cut-off of a model's correlation matrix
// R: its eigenvalues ≤ rcond·λmax are float32 accumulation noise of
// collinear or constant neurons. LinReg's pseudo-inverse drops those
// directions (the minimum-norm least squares solution); SVCCA keeps at
// most as many directions as R has above the cut-off, so that even at
// Options.Variance 1 it takes no rounding noise for a direction.
const rcond = 1e-6

// symmetric returns the n×n matrix (R + Rᵀ)/2 of a kept self job, scaled
// on both sides by s (nil means 1).
func symmetric(j *job, n int, s []float64) *mat.SymDense {
	out := mat.NewSymDense(n, nil)
	for i := range n {
		for k := i; k < n; k++ {
			v := (float64(j.r[i*n+k]) + float64(j.r[k*n+i])) / 2
			if s != nil {
				v *= s[i] * s[k]
			}
			out.SetSym(i, k, v)
		}
	}
	return out
}

// eigenDesc factorizes a symmetric matrix and returns its eigenvalues in
// descending order and, when vectors, the matching eigenvectors as columns
// (else nil): by LAPACK's dsyevd in OpenBLAS when it is loaded
// (openblas.EigenSym; three 768 × 768 matrices with vectors in about
// 0.4 s), else by gonum's mat.EigenSym (about 9 s).
func eigenDesc(s *mat.SymDense, what string, vectors bool) ([]float64, *mat.Dense, error) {
	n := s.SymmetricDim()
	a, vals := make([]float64, n*n), make([]float64, n)
	for i := range n {
		for j := i; j < n; j++ {
			a[i*n+j] = s.At(i, j)
		}
	}
	ok, err := openblas.EigenSym(n, a, vals, vectors)
	if err != nil {
		return nil, nil, fmt.Errorf("crosscorr: eigen-decomposition of %s: %w", what, err)
	}
	vec := func(i, k int) float64 { return a[k*n+i] } // component i of eigenvector k, ascending
	if !ok {
		var e mat.EigenSym
		if !e.Factorize(s, vectors) {
			return nil, nil, fmt.Errorf("crosscorr: eigen-decomposition of %s did not converge", what)
		}
		vals = e.Values(vals)
		if vectors {
			var v mat.Dense
			e.VectorsTo(&v)
			vec = func(i, k int) float64 { return v.At(i, k) }
		}
	}
	slices.Reverse(vals)
	if !vectors {
		return vals, nil, nil
	}
	out := mat.NewDense(n, n, nil)
	for k := range n {
		for i := range n {
			out.Set(i, k, vec(i, n-1-k))
		}
	}
	return vals, out, nil
}

// linRegScores computes, for every neuron i of every model m, the worst
// over the other models m′ of the mean squared error of the least-squares
// prediction of z_i from Z_m′ (z-scored activations, no intercept):
//
//	MSE = 1 − r_iᵀ·R_m′m′⁺·r_i,   r_i = R_m′m[:, i]
//
// with R⁺ the pseudo-inverse through the eigen-decomposition R = V·Λ·Vᵀ:
// r_iᵀR⁺r_i = Σ_k (v_kᵀr_i)²/λ_k over λ_k > rcond·λmax. A constant
// neuron (r_i = 0) gets MSE 1. Values are clamped to [0, 1].
func linRegScores(r *runner, self []*job, cross func(a, b int) []float64, bar progress.Bar) ([][]float64, error) {
	K := len(r.in)
	worst := make([][]float64, K)
	for m, in := range r.in {
		worst[m] = make([]float64, in.n)
	}
	for mp, pin := range r.in {
		p := pin.n
		vals, vecs, err := eigenDesc(symmetric(self[mp], p, nil), fmt.Sprintf("model %q's correlation matrix", pin.name), true)
		if err != nil {
			return nil, err
		}
		q := 0
		for q < p && vals[q] > rcond*vals[0] && vals[q] > 0 {
			q++
		}
		vq := vecs.Slice(0, p, 0, q)
		for m, in := range r.in {
			if m == mp || q == 0 {
				continue
			}
			x := mat.NewDense(p, in.n, cross(mp, m))
			var proj mat.Dense
			proj.Mul(vq.T(), x) // q×n
			for i := range in.n {
				var s float64
				for k := range q {
					v := proj.At(k, i)
					s += v * v / vals[k]
				}
				worst[m][i] = max(worst[m][i], min(1, max(0, 1-s)))
			}
		}
		if q == 0 { // every predictor is constant: nothing is explained
			for m := range r.in {
				if m != mp {
					for i := range worst[m] {
						worst[m][i] = 1
					}
				}
			}
		}
		bar.Add(1)
	}
	return worst, nil
}

// subspace is one model's kept singular directions for SVCCA: the top d
// eigenvectors V_d of its covariance matrix C = D·R·D (D = diag σ), their
// eigenvalues Λ_d (the variances along them), the whitened directions
// W = V_d·Λ_d^{-1/2} and the loading basis G = R·D·W, which equals
// D⁻¹·V_d·Λ_d^{1/2} (C·V_d = V_d·Λ_d) without dividing by σ: a neuron of
// small σ beside neurons of large σ would divide the eigenvectors'
// rounding error by it (a 1e12 scale ratio gave correlations above 2).
type subspace struct {
	white *mat.Dense // n×d: W
	basis *mat.Dense // n×d: G
}

// svccaScores runs SVCCA between every pair of models and scores the
// neurons (see the package documentation). It returns per-model scores,
// kept dimensions and the canonical correlations of every pair.
func svccaScores(r *runner, self []*job, cross func(a, b int) []float64, keep float64, bar progress.Bar) ([][]float64, []int, []CanonicalPair, error) {
	K := len(r.in)
	subs := make([]subspace, K)
	sigmas := make([][]float64, K)
	dims := make([]int, K)
	scores := make([][]float64, K)
	for m, in := range r.in {
		sigma := make([]float64, in.n)
		for i := range sigma {
			sigma[i] = math.Sqrt(in.stats.Variance(i))
		}
		for _, c := range in.constant {
			sigma[c] = 0
		}
		sigmas[m] = sigma
		vals, vecs, err := eigenDesc(symmetric(self[m], in.n, sigma), fmt.Sprintf("model %q's covariance matrix", in.name), true)
		if err != nil {
			return nil, nil, nil, err
		}
		// The rounding noise is that of the float32 correlations R, so
		// the rank that rcond allows is R's (which C = D·R·D shares), not
		// a cut on C's eigenvalues, which neurons of small σ make small.
		corr := symmetric(self[m], in.n, nil)
		rvals, _, err := eigenDesc(corr, fmt.Sprintf("model %q's correlation matrix", in.name), false)
		if err != nil {
			return nil, nil, nil, err
		}
		rank := 0
		for rank < in.n && rvals[rank] > rcond*rvals[0] {
			rank++
		}
		var total float64
		for _, v := range vals {
			total += max(v, 0)
		}
		d, cum := 0, 0.0
		for d < rank && vals[d] > 0 && cum < keep*total {
			cum += vals[d]
			d++
		}
		if d > 0 {
			subs[m] = newSubspace(vecs.Slice(0, in.n, 0, d).(*mat.Dense), vals[:d], sigma, corr)
		}
		dims[m] = d
		scores[m] = make([]float64, in.n)
		bar.Add(1)
	}
	var pairs []CanonicalPair
	for a := range K {
		for b := a + 1; b < K; b++ {
			cp := CanonicalPair{A: a, B: b, DimsA: dims[a], DimsB: dims[b], Correlations: []float64{}}
			if dims[a] > 0 && dims[b] > 0 {
				rho, la, lb, err := canonical(&subs[a], &subs[b], sigmas[a], sigmas[b], cross(a, b))
				if err != nil {
					return nil, nil, nil, fmt.Errorf("crosscorr: SVCCA of models %q and %q: %w", r.in[a].name, r.in[b].name, err)
				}
				cp.Correlations = rho
				for _, v := range rho {
					cp.Mean += v
				}
				cp.Mean /= float64(len(rho))
				accumulateLoadings(scores[a], la, rho)
				accumulateLoadings(scores[b], lb, rho)
			}
			pairs = append(pairs, cp)
			bar.Add(1)
		}
	}
	return scores, dims, pairs, nil
}

// newSubspace makes the subspace of the kept eigenvectors vecs (n×d) and
// eigenvalues vals of C = D·R·D, with σ (D's diagonal; 0 for a constant
// neuron) and the correlation matrix r.
func newSubspace(vecs *mat.Dense, vals, sigma []float64, r *mat.SymDense) subspace {
	w := mat.DenseCopyOf(vecs) // V·Λ^{-1/2}
	n, _ := w.Dims()
	for k, v := range vals {
		col := 1 / math.Sqrt(v)
		for i := range n {
			w.Set(i, k, w.At(i, k)*col)
		}
	}
	dw := mat.DenseCopyOf(w) // D·W
	for i, s := range sigma {
		for k := range vals {
			dw.Set(i, k, dw.At(i, k)*s)
		}
	}
	var g mat.Dense
	g.Mul(r, dw)
	return subspace{white: w, basis: &g}
}

// canonical computes the canonical correlations ρ between the kept
// subspaces of two models and the neurons' loadings on the canonical
// variates: with C_ab = D_a·R_ab·D_b and W = V·Λ^{-1/2},
//
//	M = W_aᵀ·C_ab·W_b = P·diag(ρ)·Qᵀ   (thin SVD)
//	L_a = G_a·P,   L_b = G_b·Q          (G = R·D·W = D⁻¹·V·Λ^{1/2})
//
// L[i, k] is the correlation of neuron i with canonical variate k (0 for a
// constant neuron, whose row and column of R are 0).
func canonical(sa, sb *subspace, sigmaA, sigmaB []float64, rab []float64) (rho []float64, la, lb *mat.Dense, err error) {
	na, nb := len(sigmaA), len(sigmaB)
	c := mat.NewDense(na, nb, rab)
	for i := range na {
		for j := range nb {
			c.Set(i, j, c.At(i, j)*sigmaA[i]*sigmaB[j])
		}
	}
	var t, m mat.Dense
	t.Mul(sa.white.T(), c) // d_a×n_b
	m.Mul(&t, sb.white)    // d_a×d_b
	p, q, rho, err := thinSVD(&m)
	if err != nil {
		return nil, nil, nil, err
	}
	for k := range rho {
		rho[k] = min(1, rho[k])
	}
	la, lb = new(mat.Dense), new(mat.Dense)
	la.Mul(sa.basis, p)
	lb.Mul(sb.basis, q)
	return rho, la, lb, nil
}

// thinSVD factorizes m = P·diag(σ)·Qᵀ (thin, σ descending): by LAPACK's
// dgesdd in OpenBLAS when it is loaded (openblas.SVD), else by gonum's
// mat.SVD (about 10× slower at 600 × 600).
func thinSVD(m *mat.Dense) (p, q *mat.Dense, sigma []float64, err error) {
	r, c := m.Dims()
	k := min(r, c)
	a := make([]float64, r*c)
	for i := range r {
		for j := range c {
			a[i*c+j] = m.At(i, j)
		}
	}
	sigma, u, vt := make([]float64, k), make([]float64, r*k), make([]float64, k*c)
	ok, err := openblas.SVD(r, c, a, sigma, u, vt)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("singular value decomposition: %w", err)
	}
	if ok {
		return mat.NewDense(r, k, u), mat.DenseCopyOf(mat.NewDense(k, c, vt).T()), sigma, nil
	}
	var svd mat.SVD
	if !svd.Factorize(m, mat.SVDThin) {
		return nil, nil, nil, fmt.Errorf("singular value decomposition did not converge")
	}
	p, q = new(mat.Dense), new(mat.Dense)
	svd.UTo(p)
	svd.VTo(q)
	return p, q, svd.Values(sigma), nil
}

// accumulateLoadings sets score[i] to the larger of score[i] and
// Σ_k ρ_k·L[i, k]², the ρ-weighted share of neuron i's variance that lies
// on the canonical variates.
func accumulateLoadings(score []float64, l *mat.Dense, rho []float64) {
	for i := range score {
		var s float64
		for k, p := range rho {
			v := l.At(i, k)
			s += p * v * v
		}
		score[i] = max(score[i], s)
	}
}

package crosscorr

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/grainlab/grain/engine/cpu"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// planted builds three models of N noise neurons over T tokens with two
// signals shared by all three (in neurons shared[m][0] and shared[m][1], up
// to sign and scale, plus noise) and one signal only in models 0 and 1
// (neuron pair[m]).
type planted struct {
	T, N   int
	acts   [3][]float32
	shared [3][2]int
	pair   [2]int
}

func newPlanted(r *rand.Rand) *planted {
	p := &planted{T: 4000, N: 24,
		shared: [3][2]int{{5, 11}, {17, 0}, {2, 20}},
		pair:   [2]int{3, 9},
	}
	scale := [3][2]float64{{2, -1}, {-0.5, 3}, {3, 0.7}}
	for m := range 3 {
		p.acts[m] = randomActs(r, p.T, p.N)
	}
	for t := range p.T {
		s := [2]float64{r.NormFloat64(), r.NormFloat64()}
		u := r.NormFloat64()
		for m := range 3 {
			for k := range 2 {
				// Replace the neuron by the signal plus 10% noise.
				p.acts[m][t*p.N+p.shared[m][k]] = float32(scale[m][k] * (s[k] + 0.1*r.NormFloat64()))
			}
			if m < 2 {
				p.acts[m][t*p.N+p.pair[m]] = float32(1.5 * (u + 0.3*r.NormFloat64()))
			}
		}
	}
	return p
}

func (p *planted) models(t *testing.T) []Model {
	var ms []Model
	for m, name := range []string{"x", "y", "z"} {
		ms = append(ms, Model{name, mem(t, p.acts[m], p.T, p.N)})
	}
	return ms
}

func rankOf(mr ModelRanking, neuron int) int {
	for k, n := range mr.Ranking {
		if n.Neuron == neuron {
			return k
		}
	}
	return -1
}

// sharedFirst reports whether model m's two shared neurons lead its
// ranking mr, in either order.
func (p *planted) sharedFirst(m int, mr ModelRanking) bool {
	top := mr.Order()[:2]
	slices.Sort(top)
	want := slices.Clone(p.shared[m][:])
	slices.Sort(want)
	return slices.Equal(top, want)
}

// TestPlantedMaxMinCorr: neurons shared by all models come first under
// MaxCorr and MinCorr; the signal of only two of the three models ranks
// right after them under MaxCorr but falls to the noise under MinCorr.
func TestPlantedMaxMinCorr(t *testing.T) {
	p := newPlanted(rng(10))
	for _, budget := range []int64{0, 64 << 10} {
		for _, method := range []Method{MaxCorr, MinCorr} {
			rk, err := Rank(cpu.New(), p.models(t), method, Options{Memory: budget})
			if err != nil {
				t.Fatal(err)
			}
			for m, mr := range rk.Models {
				if !p.sharedFirst(m, mr) {
					t.Errorf("%s, model %s: top 2 = %v, want %v", method, mr.Model, mr.Order()[:4], p.shared[m])
				}
				if sc := mr.Ranking[1].Score; sc < 0.95 {
					t.Errorf("%s, model %s: shared neuron score %.3f", method, mr.Model, sc)
				}
				if m == 2 {
					continue
				}
				k, sc := rankOf(mr, p.pair[m]), mr.Ranking[rankOf(mr, p.pair[m])].Score
				if method == MaxCorr && (k != 2 || sc < 0.8) {
					t.Errorf("maxcorr, model %s: two-model signal at rank %d, score %.3f; want rank 2", mr.Model, k, sc)
				}
				if method == MinCorr && (k < 2 || sc > 0.1) {
					t.Errorf("mincorr, model %s: two-model signal at rank %d, score %.3f; want noise", mr.Model, k, sc)
				}
			}
			// Partners: y's neuron 17 carries the signal at scale −0.5, so its
			// best partner correlates negatively.
			y := rk.Models[1].Ranking[rankOf(rk.Models[1], 17)]
			if y.Partner.R > -0.8 || (y.Partner.Model == 0 && y.Partner.Neuron != 5) || (y.Partner.Model == 2 && y.Partner.Neuron != 2) {
				t.Errorf("%s: partner of y:17 = %+v", method, y.Partner)
			}
		}
	}
}

// TestSVCCARanksShared: the shared neurons also lead the SVCCA ranking.
func TestSVCCARanksShared(t *testing.T) {
	p := newPlanted(rng(11))
	// SVCCA works on centred, unscaled activations and drops the
	// directions of least variance: give y's quiet shared neuron (scale
	// −0.5) an ordinary scale.
	for tk := range p.T {
		p.acts[1][tk*p.N+17] *= 4
	}
	rk, err := Rank(cpu.New(), p.models(t), SVCCA, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for m, mr := range rk.Models {
		if !p.sharedFirst(m, mr) {
			t.Errorf("model %s: SVCCA top 4 = %v, want %v first (scores %+v)", mr.Model, mr.Order()[:4], p.shared[m], mr.Ranking[:4])
		}
	}
	if len(rk.Canonical) != 3 {
		t.Fatalf("%d canonical pairs", len(rk.Canonical))
	}
	for _, c := range rk.Canonical {
		if c.Correlations[0] < 0.9 || c.Correlations[1] < 0.9 {
			t.Errorf("pair %d-%d: top canonical correlations %v", c.A, c.B, c.Correlations[:3])
		}
	}
}

// zscore returns the T×N float64 z-scored (population σ) activations.
func zscore(x []float32, T, N int) *mat.Dense {
	z := mat.NewDense(T, N, nil)
	for j := range N {
		c := column(x, T, N, j)
		mu, sd := stat.PopMeanStdDev(c, nil)
		for t := range T {
			z.Set(t, j, (c[t]-mu)/sd)
		}
	}
	return z
}

// lstsqMSE is the mean squared residual of regressing every column of y on
// x (float64, QR).
func lstsqMSE(x, y *mat.Dense) []float64 {
	T, M := y.Dims()
	var w, pred mat.Dense
	if err := w.Solve(x, y); err != nil {
		panic(err)
	}
	pred.Mul(x, &w)
	out := make([]float64, M)
	for j := range M {
		for t := range T {
			d := y.At(t, j) - pred.At(t, j)
			out[j] += d * d / float64(T)
		}
	}
	return out
}

// TestLinRegRecovers: a neuron that is a linear combination of the other
// model's neurons is predicted almost exactly and ranks first; all scores
// match a float64 least-squares reference.
func TestLinRegRecovers(t *testing.T) {
	const T, N, M, target = 2000, 12, 10, 4
	r := rng(12)
	a, b := randomActs(r, T, N), randomActs(r, T, M)
	for tk := range T {
		row := a[tk*N:]
		b[tk*M+target] = 0.7*row[1] - 1.3*row[5] + 0.4*row[9] + 0.01*float32(r.NormFloat64())
	}
	za, zb := zscore(a, T, N), zscore(b, T, M)
	wants := [][]float64{lstsqMSE(zb, za), lstsqMSE(za, zb)}
	for _, s := range setups() {
		rk, err := Rank(s.be, []Model{{"a", s.src(mem(t, a, T, N))}, {"b", s.src(mem(t, b, T, M))}}, LinReg, Options{Memory: 256 << 10})
		if err != nil {
			t.Fatal(err)
		}
		first := rk.Models[1].Ranking[0]
		if first.Neuron != target || first.Score > 1e-3 {
			t.Errorf("%s: linreg first in b: %+v, want neuron %d with MSE ≈ 0", s.name, first, target)
		}
		if second := rk.Models[1].Ranking[1]; second.Score < 0.9 {
			t.Errorf("%s: linreg second in b: %+v, want MSE ≈ 1", s.name, second)
		}
		for m, want := range wants {
			for _, n := range rk.Models[m].Ranking {
				if d := math.Abs(n.Score - want[n.Neuron]); d > 1e-4 {
					t.Errorf("%s: model %d neuron %d: MSE %.6f, float64 least squares %.6f", s.name, m, n.Neuron, n.Score, want[n.Neuron])
				}
			}
		}
	}
}

// centred returns the T×N activations x in float64 with each column's mean
// removed.
func centred(x []float32, T, N int) *mat.Dense {
	c := mat.NewDense(T, N, nil)
	for j := range N {
		col := column(x, T, N, j)
		mu := stat.Mean(col, nil)
		for t := range T {
			c.Set(t, j, col[t]-mu)
		}
	}
	return c
}

// keptBasis returns SVCCA's kept directions of the centred activations c
// (T rows): the left singular vectors of the top singular values up to
// 99% of Σs².
func keptBasis(c *mat.Dense) *mat.Dense {
	T, _ := c.Dims()
	var svd mat.SVD
	svd.Factorize(c, mat.SVDThin)
	s := svd.Values(nil)
	var total, cum float64
	for _, v := range s {
		total += v * v
	}
	d := 0
	for d < len(s) && cum < 0.99*total {
		cum += s[d] * s[d]
		d++
	}
	var u mat.Dense
	svd.UTo(&u)
	return mat.DenseCopyOf(u.Slice(0, T, 0, d))
}

// svccaRef computes the canonical correlations of SVCCA from the data in
// float64: thin SVD of the centred activations, the top directions up to
// 99% of Σs², then the singular values of U_aᵀU_b.
func svccaRef(x []float32, T, N int, y []float32, M int) []float64 {
	ua, ub := keptBasis(centred(x, T, N)), keptBasis(centred(y, T, M))
	var m mat.Dense
	m.Mul(ua.T(), ub)
	var svd mat.SVD
	svd.Factorize(&m, mat.SVDNone)
	return svd.Values(nil)
}

// TestSVCCARotatedCopy: a rotated copy of a model shares its whole
// subspace, so every canonical correlation is ≈ 1; against an unrelated
// model they match a float64 reference.
func TestSVCCARotatedCopy(t *testing.T) {
	const T, N = 3000, 16
	r := rng(13)
	a := randomActs(r, T, N)
	for tk := range T { // decaying variances, so 99% drops directions
		for j := range N {
			a[tk*N+j] *= float32(1 / (1 + 0.4*float64(j)))
		}
	}
	g := mat.NewDense(N, N, nil)
	for i := range N {
		for j := range N {
			g.Set(i, j, r.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(g)
	var q mat.Dense
	qr.QTo(&q)
	var rot mat.Dense
	af := mat.NewDense(T, N, nil)
	for i, v := range a {
		af.Set(i/N, i%N, float64(v))
	}
	rot.Mul(af, &q)
	b := make([]float32, T*N)
	for i := range b {
		b[i] = float32(rot.At(i/N, i%N) + 3) // and shifted
	}
	c := randomActs(r, T, 11)
	rk, err := Rank(cpu.New(), []Model{{"a", mem(t, a, T, N)}, {"rotated", mem(t, b, T, N)}, {"other", mem(t, c, T, 11)}}, SVCCA, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ab := rk.Canonical[0]
	if ab.A != 0 || ab.B != 1 || ab.DimsA != ab.DimsB || ab.DimsA >= N || ab.DimsA < N/2 {
		t.Fatalf("pair %+v: dimensions", ab)
	}
	for k, v := range ab.Correlations {
		if v < 0.999 {
			t.Errorf("rotated copy: canonical correlation %d = %.5f", k, v)
		}
	}
	for _, pc := range rk.Canonical[1:] {
		x, nx := a, N
		if pc.A == 1 {
			x = b
		}
		want := svccaRef(x, T, nx, c, 11)
		if len(want) != len(pc.Correlations) {
			t.Fatalf("pair %d-%d: %d correlations, reference %d", pc.A, pc.B, len(pc.Correlations), len(want))
		}
		for k := range want {
			if math.Abs(want[k]-pc.Correlations[k]) > 1e-4 {
				t.Errorf("pair %d-%d: ρ%d = %.6f, reference %.6f", pc.A, pc.B, k, pc.Correlations[k], want[k])
			}
		}
	}
}

func TestParseMethod(t *testing.T) {
	for _, m := range Methods {
		if got, err := ParseMethod(" " + string(m)); err != nil || got != m {
			t.Errorf("ParseMethod(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := ParseMethod("pearson"); err == nil {
		t.Error("unknown method accepted")
	}
}

// svccaScoresRef computes SVCCA's neuron scores of model x against model y
// from the data in float64: the kept directions U_x, U_y as svccaRef, the
// SVD U_xᵀU_y = P·diag(ρ)·Qᵀ, the canonical variates U_x·P, and each
// neuron's Σ_k ρ_k·corr(x_i, variate_k)².
func svccaScoresRef(x []float32, T, N int, y []float32, M int) []float64 {
	cx := centred(x, T, N)
	ux, uy := keptBasis(cx), keptBasis(centred(y, T, M))
	var m mat.Dense
	m.Mul(ux.T(), uy)
	var svd mat.SVD
	svd.Factorize(&m, mat.SVDThin)
	rho := svd.Values(nil)
	var p, variates mat.Dense
	svd.UTo(&p)
	variates.Mul(ux, &p)
	scores := make([]float64, N)
	for i := range N {
		xi := mat.Col(nil, i, cx)
		for k, r := range rho {
			v := mat.Col(nil, k, &variates)
			c := mat.Dot(mat.NewVecDense(T, xi), mat.NewVecDense(T, v)) / (mat.Norm(mat.NewVecDense(T, xi), 2) * mat.Norm(mat.NewVecDense(T, v), 2))
			scores[i] += r * c * c
		}
	}
	return scores
}

// latentMixer draws T tokens of an L-dimensional Gaussian latent and
// returns a function that makes models of n neurons from it: each neuron a
// random mix of the latent dimensions plus Gaussian noise of σ noise.
func latentMixer(r *rand.Rand, T, L int) func(n int, noise float64) []float32 {
	base := make([]float64, T*L)
	for i := range base {
		base[i] = r.NormFloat64()
	}
	return func(n int, noise float64) []float32 {
		w := make([]float64, L*n)
		for i := range w {
			w[i] = r.NormFloat64()
		}
		x := make([]float32, T*n)
		for tk := range T {
			for j := range n {
				var v float64
				for l := range L {
					v += base[tk*L+l] * w[l*n+j]
				}
				x[tk*n+j] = float32(v + noise*r.NormFloat64())
			}
		}
		return x
	}
}

// TestSVCCAScoresWithScaledNeurons: SVCCA's neuron scores match a float64
// reference and stay in [0, 1] when two neurons of a model are 1e8, 1e12
// or 1e16 times larger than the rest (the loadings were once computed by
// dividing by σ, which gave scores of 10 at 1e16).
func TestSVCCAScoresWithScaledNeurons(t *testing.T) {
	const T, N, M, L = 1200, 12, 9, 6
	for _, scale := range []float64{1e8, 1e12, 1e16} {
		mix := latentMixer(rng(17), T, L)
		a, b := mix(N, 0.5), mix(M, 0.5)
		for tk := range T {
			a[tk*N+0] *= float32(scale)
			a[tk*N+1] *= float32(scale)
		}
		rk, err := Rank(cpu.New(), []Model{{"a", mem(t, a, T, N)}, {"b", mem(t, b, T, M)}}, SVCCA, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := svccaScoresRef(a, T, N, b, M)
		for _, e := range rk.Models[0].Ranking {
			if e.Score < 0 || e.Score > 1+1e-6 || math.Abs(e.Score-want[e.Neuron]) > 1e-4 {
				t.Errorf("scale %g: neuron %d scores %.6f, reference %.6f", scale, e.Neuron, e.Score, want[e.Neuron])
			}
		}
	}
}

// TestSVCCARankDeficient: a model of 40 neurons that span 6 dimensions
// (exactly, up to float32 rounding) keeps 6 directions even when SVCCA is
// asked for all the variance, not its rounding noise, and its canonical
// correlations with a model built from the same 6 dimensions are ≈ 1. A
// full-rank model whose neurons differ in scale by 1e4 (so that half of
// its covariance's eigenvalues are below 1e-6 of the largest) keeps all
// its directions: the noise floor is on the correlations, not the
// variances.
func TestSVCCARankDeficient(t *testing.T) {
	const T, L = 4000, 6
	mix := latentMixer(rng(23), T, L)
	a, b := mix(40, 0), mix(9, 0)
	rk, err := Rank(cpu.New(), []Model{{"a", mem(t, a, T, 40)}, {"b", mem(t, b, T, 9)}}, SVCCA, Options{Variance: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rk.Models[0].SVCCADims != L || rk.Models[1].SVCCADims != L {
		t.Fatalf("kept %d and %d directions, want %d", rk.Models[0].SVCCADims, rk.Models[1].SVCCADims, L)
	}
	for k, v := range rk.Canonical[0].Correlations {
		if v < 0.999 {
			t.Errorf("canonical correlation %d = %.5f, want ≈ 1 (same 6 dimensions)", k, v)
		}
	}
	const N = 10
	r := rng(29)
	x, y := make([]float32, T*N), make([]float32, T*N)
	for tk := range T {
		for j := range N {
			v := r.NormFloat64()
			if j >= N/2 {
				v *= 1e-4
			}
			x[tk*N+j] = float32(v)
			y[tk*N+j] = float32(v + 0.1*math.Abs(v)*r.NormFloat64())
		}
	}
	rk, err = Rank(cpu.New(), []Model{{"x", mem(t, x, T, N)}, {"y", mem(t, y, T, N)}}, SVCCA, Options{Variance: 1})
	if err != nil {
		t.Fatal(err)
	}
	if d := rk.Models[0].SVCCADims; d != N {
		t.Fatalf("scaled full-rank model: kept %d directions, want %d", d, N)
	}
	for _, e := range rk.Models[0].Ranking {
		if e.Score < 0.9 {
			t.Errorf("scaled full-rank model: neuron %d scores %.4f, want ≈ 1 (shared with y)", e.Neuron, e.Score)
		}
	}
}

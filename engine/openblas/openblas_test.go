package openblas

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	"gonum.org/v1/gonum/mat"
)

// TestGemmMatchesGonum compares every transpose combination and odd sizes
// (leading dimensions larger than the width) with gonum's pure-Go GEMM.
func TestGemmMatchesGonum(t *testing.T) {
	if err := Load(); err != nil {
		t.Logf("OpenBLAS not loaded (%v): checking the pure-Go fallback path", err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var im Impl
	var ref gonum.Implementation
	for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
		for _, tB := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			for _, sz := range [][3]int{{1, 1, 1}, {7, 5, 3}, {64, 33, 129}, {130, 70, 257}} {
				m, n, k := sz[0], sz[1], sz[2]
				ra, ca := m, k
				if tA == blas.Trans {
					ra, ca = k, m
				}
				rb, cb := k, n
				if tB == blas.Trans {
					rb, cb = n, k
				}
				lda, ldb, ldc := ca+3, cb+1, n+2
				a := randF32(rng, (ra-1)*lda+ca)
				b := randF32(rng, (rb-1)*ldb+cb)
				c := randF32(rng, (m-1)*ldc+n)
				c2 := append([]float32(nil), c...)
				im.Sgemm(tA, tB, m, n, k, 1.5, a, lda, b, ldb, -0.5, c, ldc)
				ref.Sgemm(tA, tB, m, n, k, 1.5, a, lda, b, ldb, -0.5, c2, ldc)
				for i := range c {
					if d := math.Abs(float64(c[i] - c2[i])); d > 1e-4*(1+math.Abs(float64(c2[i]))) {
						t.Fatalf("tA=%v tB=%v %v: c[%d]=%g want %g", tA, tB, sz, i, c[i], c2[i])
					}
				}
				// float64 too
				a64, b64, c64 := toF64(a), toF64(b), toF64(c)
				d64 := append([]float64(nil), c64...)
				im.Dgemm(tA, tB, m, n, k, 1.5, a64, lda, b64, ldb, -0.5, c64, ldc)
				ref.Dgemm(tA, tB, m, n, k, 1.5, a64, lda, b64, ldb, -0.5, d64, ldc)
				for i := range c64 {
					if d := math.Abs(c64[i] - d64[i]); d > 1e-11*(1+math.Abs(d64[i])) {
						t.Fatalf("Dgemm tA=%v tB=%v %v: %g want %g", tA, tB, sz, c64[i], d64[i])
					}
				}
			}
		}
	}
}

func TestGemvMatchesGonum(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var im Impl
	var ref gonum.Implementation
	for _, tr := range []blas.Transpose{blas.NoTrans, blas.Trans} {
		m, n, lda := 37, 53, 60
		a := randF32(rng, (m-1)*lda+n)
		lx, ly := n, m
		if tr == blas.Trans {
			lx, ly = m, n
		}
		x := randF32(rng, 2*lx)
		y := randF32(rng, ly)
		y2 := append([]float32(nil), y...)
		im.Sgemv(tr, m, n, 0.7, a, lda, x, 2, 0.3, y, 1)
		ref.Sgemv(tr, m, n, 0.7, a, lda, x, 2, 0.3, y2, 1)
		for i := range y {
			if math.Abs(float64(y[i]-y2[i])) > 1e-4 {
				t.Fatalf("Sgemv %v: y[%d]=%g want %g", tr, i, y[i], y2[i])
			}
		}
	}
}

func TestBadArgumentsPanicBeforeC(t *testing.T) {
	var im Impl
	defer func() {
		if recover() == nil {
			t.Fatal("short C slice did not panic")
		}
	}()
	a := make([]float32, 4)
	im.Sgemm(blas.NoTrans, blas.NoTrans, 2, 2, 2, 1, a, 2, a, 2, 0, make([]float32, 3), 2)
}

func randF32(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

func toF64(s []float32) []float64 {
	d := make([]float64, len(s))
	for i, v := range s {
		d[i] = float64(v)
	}
	return d
}

// TestEigenSym: LAPACK's dsyevd through EigenSym agrees with gonum's
// mat.EigenSym on random symmetric matrices (a rank-deficient one too):
// the same eigenvalues within 1e-12 of the largest, and A·v = λ·v, VᵀV = I
// within 1e-12 for its own vectors.
func TestEigenSym(t *testing.T) {
	if !Loaded() { // the contract without OpenBLAS: ok = false, nothing touched
		a, w := []float64{2, 1, 1, 3}, []float64{7, 7}
		if ok, err := EigenSym(2, a, w, true); ok || err != nil || a[1] != 1 || w[0] != 7 {
			t.Fatalf("without OpenBLAS: ok %v, %v, a %v, w %v", ok, err, a, w)
		}
		return
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct{ n, rank int }{{1, 1}, {7, 7}, {64, 64}, {200, 12}} {
		g := mat.NewDense(c.n, c.rank, nil)
		for i := range c.n {
			for j := range c.rank {
				g.Set(i, j, r.NormFloat64())
			}
		}
		var s mat.SymDense
		s.SymOuterK(1, g)
		a := make([]float64, c.n*c.n)
		for i := range c.n {
			for j := range c.n {
				a[i*c.n+j] = s.At(i, j)
			}
		}
		w := make([]float64, c.n)
		// Without vectors: the same eigenvalues.
		vals := make([]float64, c.n)
		if ok, err := EigenSym(c.n, slices.Clone(a), vals, false); !ok || err != nil {
			t.Fatalf("n = %d, values only: ok %v, %v", c.n, ok, err)
		}
		ok, err := EigenSym(c.n, a, w, true)
		if !ok || err != nil {
			t.Fatalf("n = %d: ok %v, %v (dsyevd_ missing from %s?)", c.n, ok, err, Describe())
		}
		for k := range c.n {
			if math.Abs(vals[k]-w[k]) > 1e-12*math.Max(math.Abs(w[0]), math.Abs(w[c.n-1])) {
				t.Fatalf("n = %d: eigenvalue %d without vectors %.15g, with %.15g", c.n, k, vals[k], w[k])
			}
		}
		var e mat.EigenSym
		if !e.Factorize(&s, false) {
			t.Fatal("gonum did not converge")
		}
		want := e.Values(nil)
		scale := math.Max(math.Abs(want[0]), math.Abs(want[c.n-1]))
		for k := range c.n {
			if math.Abs(w[k]-want[k]) > 1e-12*scale {
				t.Fatalf("n = %d: eigenvalue %d = %.15g, gonum %.15g", c.n, k, w[k], want[k])
			}
			v := a[k*c.n : (k+1)*c.n]
			for i := range c.n {
				var av float64
				for j := range c.n {
					av += s.At(i, j) * v[j]
				}
				if math.Abs(av-w[k]*v[i]) > 1e-12*scale {
					t.Fatalf("n = %d: (A·v − λ·v)[%d] = %g for eigenvalue %d", c.n, i, av-w[k]*v[i], k)
				}
			}
			for l := range c.n {
				var d float64
				for i := range c.n {
					d += v[i] * a[l*c.n+i]
				}
				if want := map[bool]float64{true: 1, false: 0}[k == l]; math.Abs(d-want) > 1e-12 {
					t.Fatalf("n = %d: v%d·v%d = %g", c.n, k, l, d)
				}
			}
		}
	}
}

// TestSVD: LAPACK's dgesdd through SVD gives gonum's singular values
// (within 1e-12 of the largest) and factors that rebuild a (within 1e-12)
// with orthonormal columns of u and rows of vt, for wide, tall and square
// shapes; without OpenBLAS it reports ok = false and touches nothing.
func TestSVD(t *testing.T) {
	if !Loaded() {
		a := []float64{1, 2, 3, 4}
		s, u, vt := make([]float64, 2), make([]float64, 4), make([]float64, 4)
		if ok, err := SVD(2, 2, a, s, u, vt); ok || err != nil || a[3] != 4 || s[0] != 0 {
			t.Fatalf("without OpenBLAS: ok %v, %v, a %v, s %v", ok, err, a, s)
		}
		return
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, sh := range [][2]int{{1, 1}, {5, 9}, {9, 5}, {60, 60}, {120, 40}} {
		m, n := sh[0], sh[1]
		k := min(m, n)
		a := make([]float64, m*n)
		for i := range a {
			a[i] = r.NormFloat64()
		}
		orig := mat.NewDense(m, n, append([]float64(nil), a...))
		s, u, vt := make([]float64, k), make([]float64, m*k), make([]float64, k*n)
		ok, err := SVD(m, n, a, s, u, vt)
		if !ok || err != nil {
			t.Fatalf("%d×%d: ok %v, %v (dgesdd_ missing from %s?)", m, n, ok, err, Describe())
		}
		var g mat.SVD
		if !g.Factorize(orig, mat.SVDNone) {
			t.Fatal("gonum did not converge")
		}
		want := g.Values(nil)
		for i := range k {
			if math.Abs(s[i]-want[i]) > 1e-12*want[0] {
				t.Fatalf("%d×%d: σ%d = %.15g, gonum %.15g", m, n, i, s[i], want[i])
			}
		}
		for i := range m {
			for j := range n {
				var v float64
				for l := range k {
					v += u[i*k+l] * s[l] * vt[l*n+j]
				}
				if math.Abs(v-orig.At(i, j)) > 1e-12*want[0] {
					t.Fatalf("%d×%d: (u·Σ·vt)[%d,%d] = %.15g, a = %.15g", m, n, i, j, v, orig.At(i, j))
				}
			}
		}
		for p := range k {
			for q := range k {
				var du, dv float64
				for i := range m {
					du += u[i*k+p] * u[i*k+q]
				}
				for j := range n {
					dv += vt[p*n+j] * vt[q*n+j]
				}
				if want := map[bool]float64{true: 1, false: 0}[p == q]; math.Abs(du-want) > 1e-12 || math.Abs(dv-want) > 1e-12 {
					t.Fatalf("%d×%d: u%d·u%d = %g, vt%d·vt%d = %g", m, n, p, q, du, p, q, dv)
				}
			}
		}
	}
}

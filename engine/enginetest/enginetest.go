// Package enginetest is the conformance suite every engine.Backend must pass.
//
// Run checks each operation of the Backend interface against a float64
// reference written independently here (never the backend's own kernels), on
// seeded random inputs of awkward sizes, through row-slice views as well as
// whole tensors. Tolerances are relative to the float64 result:
//
//	FP32 GEMM                        1e-5 of Σ|a·b| (the sum's condition scale)
//	FP32 elementwise ops             1e-6 to 1e-5 of max(1, |result|)
//	TF32 GEMM                        3e-3 (10-bit mantissa inputs)
//	BF16 GEMM                        2e-2 (7-bit mantissa inputs)
//
// The suite also asserts that the requested GEMM precision is the one in
// effect, with inputs whose products differ between FP32 and TF32/BF16.
package enginetest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/grainlab/grain/engine"
)

// Run runs the conformance suite on b.
func Run(t *testing.T, b engine.Backend) {
	s := &suite{b: b}
	for _, c := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"UploadDownload", s.uploadDownload},
		{"Slice", s.slice},
		{"UploadRows", s.uploadRows},
		{"GemmFP32", s.gemmFP32},
		{"GemmPrecisionInEffect", s.gemmPrecisionInEffect},
		{"GemmReducedPrecisionAccuracy", s.gemmReducedAccuracy},
		{"Elementwise", s.elementwise},
		{"ScaleColumnsMask", s.scaleColumns},
		{"AffineOuter", s.affineOuter},
		{"GatherColumns", s.gather},
		{"ReduceRowsCols", s.reduce},
		{"SumColsSumSquares", s.sums},
		{"ColMomentsStandardize", s.moments},
		{"SoftmaxCrossEntropy", s.softmaxXent},
		{"AdamUpdate", s.adam},
		{"SoftThreshold", s.softThreshold},
	} {
		t.Run(c.name, c.fn)
	}
	if pr, ok := b.(engine.PreRounded); ok {
		t.Run("PreRounded", func(t *testing.T) { s.preRounded(t, pr) })
	}
}

type suite struct {
	b engine.Backend
}

func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

func randn(r *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * scale)
	}
	return x
}

func (s *suite) upload(t *testing.T, rows, cols int, data any) *engine.Tensor {
	t.Helper()
	x, err := engine.AllocFrom(s.b, rows, cols, data)
	if err != nil {
		t.Fatalf("alloc %d×%d: %v", rows, cols, err)
	}
	return x
}

func (s *suite) alloc(t *testing.T, rows, cols int, dt engine.DType) *engine.Tensor {
	t.Helper()
	x, err := s.b.Alloc(rows, cols, dt)
	if err != nil {
		t.Fatalf("alloc %d×%d: %v", rows, cols, err)
	}
	return x
}

func (s *suite) f32(t *testing.T, x *engine.Tensor) []float32 {
	t.Helper()
	out := make([]float32, x.Len())
	if err := s.b.Download(out, x); err != nil {
		t.Fatalf("download: %v", err)
	}
	return out
}

func (s *suite) f64(t *testing.T, x *engine.Tensor) []float64 {
	t.Helper()
	out := make([]float64, x.Len())
	if err := s.b.Download(out, x); err != nil {
		t.Fatalf("download: %v", err)
	}
	return out
}

func (s *suite) i32(t *testing.T, x *engine.Tensor) []int32 {
	t.Helper()
	out := make([]int32, x.Len())
	if err := s.b.Download(out, x); err != nil {
		t.Fatalf("download: %v", err)
	}
	return out
}

// closeTo fails unless |got − want| ≤ tol·max(1, |want|) element by element.
func closeTo(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if float64(got[i]) == want[i] {
			continue
		}
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= tol*math.Max(1, math.Abs(want[i]))) {
			t.Fatalf("%s[%d] = %g, want %g (|Δ| %.3g > tol %.3g)", what, i, got[i], want[i], d, tol)
		}
	}
}

func (s *suite) uploadDownload(t *testing.T) {
	r := rng(1)
	x := randn(r, 7*13, 1)
	tx := s.upload(t, 7, 13, x)
	got := s.f32(t, tx)
	for i := range x {
		if got[i] != x[i] {
			t.Fatalf("float32 round trip [%d]: %g != %g", i, got[i], x[i])
		}
	}
	d := []float64{1e300, -3.5, math.SmallestNonzeroFloat64}
	if got := s.f64(t, s.upload(t, 1, 3, d)); got[0] != d[0] || got[1] != d[1] || got[2] != d[2] {
		t.Fatalf("float64 round trip: %v", got)
	}
	iv := []int32{-7, 0, 1 << 30}
	if got := s.i32(t, s.upload(t, 3, 1, iv)); got[0] != iv[0] || got[2] != iv[2] {
		t.Fatalf("int32 round trip: %v", got)
	}
	z := s.alloc(t, 5, 4, engine.Float32)
	for i, v := range s.f32(t, z) {
		if v != 0 {
			t.Fatalf("Alloc not zeroed at %d: %g", i, v)
		}
	}
	if err := s.b.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

// uploadRows checks engine.UploadRows on this backend (page-locked double
// buffering on an AsyncUploader, a host buffer elsewhere): a matrix of more
// than three 64 MiB chunks lands exactly in a row view, the rows around it
// untouched; read is asked for consecutive row ranges, and its error is
// returned. Work queued before it reads the old contents here too, but on
// a fast GPU that work ends before the first copy could start anyway:
// engine's TestUploadRowsContract checks the ordering and the reuse of the
// page-locked buffers deterministically, with copies that happen late.
func (s *suite) uploadRows(t *testing.T) {
	const cols = 4097
	chunk := (16 << 20) / cols
	rows := 3*chunk + 17
	value := func(i, j int) float32 {
		h := uint32(i*cols+j)*2654435761 + 12345
		return float32(h%1000003)/1000003 - 0.4999
	}
	poison := make([]float32, (rows+2)*cols)
	for i := range poison {
		poison[i] = -7
	}
	whole := s.upload(t, rows+2, cols, poison)
	defer s.b.Free(whole)
	before := s.alloc(t, rows, cols, engine.Float32)
	defer s.b.Free(before)
	dst := whole.Slice(1, rows+1)
	s.b.Copy(before, dst) // queued first: must see the poison
	next, calls := 0, 0
	err := engine.UploadRows(s.b, dst, func(start, n int, buf []float32) error {
		calls++
		if start != next || n < 1 || start+n > rows || len(buf) != n*cols {
			return fmt.Errorf("read(%d, %d, %d values) after rows [0, %d)", start, n, len(buf), next)
		}
		for i := range n {
			for j := range cols {
				buf[i*cols+j] = value(start+i, j)
			}
		}
		next = start + n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if next != rows || calls < 4 {
		t.Fatalf("read covered rows [0, %d) of %d in %d calls", next, rows, calls)
	}
	CheckFilledView(t, s.f32(t, whole), rows, cols, -7, value)
	for i, v := range s.f32(t, before) {
		if v != -7 {
			t.Fatalf("work queued before UploadRows saw its rows: value %d = %g", i, v)
		}
	}
	stop := errors.New("read failed")
	calls = 0
	err = engine.UploadRows(s.b, dst, func(start, n int, buf []float32) error {
		if calls++; calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Fatalf("a read error on the second chunk gave %v after %d calls", err, calls)
	}
}

// CheckFilledView fails t unless got, (rows+2) × cols values, holds
// value(i, j) at row i+1 for i in [0, rows) (a view of rows [1, rows+1)
// filled through UploadRows, say) and fill in the rows around it.
func CheckFilledView(t testing.TB, got []float32, rows, cols int, fill float32, value func(i, j int) float32) {
	t.Helper()
	for i := range rows + 2 {
		for j := range cols {
			want := fill
			if i >= 1 && i <= rows {
				want = value(i-1, j)
			}
			if g := got[i*cols+j]; g != want {
				t.Fatalf("row %d col %d of the view (%d rows) = %g, want %g", i-1, j, rows, g, want)
			}
		}
	}
}

func (s *suite) slice(t *testing.T) {
	r := rng(2)
	x := randn(r, 10*6, 1)
	tx := s.upload(t, 10, 6, x)
	v := tx.Slice(3, 7)
	got := s.f32(t, v)
	for i := range got {
		if got[i] != x[18+i] {
			t.Fatalf("slice [%d] = %g want %g", i, got[i], x[18+i])
		}
	}
	// Writes through a view land in the parent, and nowhere else.
	s.b.Fill(v, 2.5)
	all := s.f32(t, tx)
	for i := range all {
		want := x[i]
		if i >= 18 && i < 42 {
			want = 2.5
		}
		if all[i] != want {
			t.Fatalf("after Fill on view, [%d] = %g want %g", i, all[i], want)
		}
	}
}

// refGemm is C = alpha·op(A)·op(B) + beta·C in float64. mag holds each
// element's condition scale |alpha|·Σ|a||b| + |beta·c|, against which
// rounding errors are measured.
func refGemm(tA, tB bool, m, n, k int, alpha float64, a []float32, lda int, b []float32, ldb int, beta float64, c []float32) (out, mag []float64) {
	out, mag = make([]float64, m*n), make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var sum, abs float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if tA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if tB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				sum += float64(av) * float64(bv)
				abs += math.Abs(float64(av) * float64(bv))
			}
			out[i*n+j] = alpha*sum + beta*float64(c[i*n+j])
			mag[i*n+j] = math.Abs(alpha)*abs + math.Abs(beta*float64(c[i*n+j]))
		}
	}
	return out, mag
}

// closeToScaled fails unless |got − want| ≤ tol·mag element by element.
func closeToScaled(t *testing.T, what string, got []float32, want, mag []float64, tol float64) {
	t.Helper()
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= tol*mag[i]) {
			t.Fatalf("%s[%d] = %g, want %g (|Δ| %.3g > %.3g·%.3g)", what, i, got[i], want[i], d, tol, mag[i])
		}
	}
}

func (s *suite) gemmCase(t *testing.T, seed uint64, tA, tB bool, m, n, k int, alpha, beta float32, p engine.Precision, tol float64) {
	r := rng(seed)
	ar, ac := m, k
	if tA {
		ar, ac = k, m
	}
	br, bc := k, n
	if tB {
		br, bc = n, k
	}
	a, b, c := randn(r, ar*ac, 1), randn(r, br*bc, 1), randn(r, m*n, 1)
	// Operands are views into larger tensors, to exercise offsets.
	pa := s.upload(t, ar+2, ac, append(randn(r, 2*ac, 1), a...))
	ta := pa.Slice(2, ar+2)
	tb := s.upload(t, br, bc, b)
	tc := s.upload(t, m, n, c)
	s.b.Gemm(tA, tB, alpha, ta, tb, beta, tc, p)
	want, mag := refGemm(tA, tB, m, n, k, float64(alpha), a, ac, b, bc, float64(beta), c)
	closeToScaled(t, fmt.Sprintf("Gemm %v tA=%v tB=%v %dx%dx%d", p, tA, tB, m, n, k), s.f32(t, tc), want, mag, tol)
}

func (s *suite) gemmFP32(t *testing.T) {
	seed := uint64(10)
	for _, tA := range []bool{false, true} {
		for _, tB := range []bool{false, true} {
			for _, sz := range [][3]int{{1, 1, 1}, {5, 3, 7}, {33, 65, 17}, {64, 1, 129}, {100, 45, 300}} {
				seed++
				s.gemmCase(t, seed, tA, tB, sz[0], sz[1], sz[2], 1.25, -0.5, engine.FP32, 1e-5)
			}
		}
	}
	// beta = 0 overwrites C even when it holds NaN.
	a := s.upload(t, 2, 2, []float32{1, 2, 3, 4})
	c := s.upload(t, 2, 2, []float32{float32(math.NaN()), 1, 1, 1})
	s.b.Gemm(false, false, 1, a, a, 0, c, engine.FP32)
	closeTo(t, "Gemm beta=0 over NaN", s.f32(t, c), []float64{7, 10, 15, 22}, 0)
}

// gemmPrecisionInEffect multiplies 1+2⁻¹² (exact in float32, 1 in TF32 and
// BF16) by ones: the result tells which input rounding the backend used.
func (s *suite) gemmPrecisionInEffect(t *testing.T) {
	const k = 64
	x := float32(1 + 1.0/4096)
	a := make([]float32, k)
	ones := make([]float32, k)
	for i := range a {
		a[i], ones[i] = x, 1
	}
	ta, tb := s.upload(t, 1, k, a), s.upload(t, k, 1, ones)
	for _, c := range []struct {
		p    engine.Precision
		want float32
	}{{engine.FP32, k * x}, {engine.TF32, k}, {engine.BF16, k}} {
		tc := s.alloc(t, 1, 1, engine.Float32)
		s.b.Gemm(false, false, 1, ta, tb, 0, tc, c.p)
		if got := s.f32(t, tc)[0]; got != c.want {
			t.Errorf("Gemm in %v: 64·(1+2⁻¹²) = %.9g, want %.9g: that precision is not in effect", c.p, got, c.want)
		}
	}
	// 1+2⁻⁹ survives TF32 (10 mantissa bits) but not BF16 (7).
	y := float32(1 + 1.0/512)
	for i := range a {
		a[i] = y
	}
	ta = s.upload(t, 1, k, a)
	for _, c := range []struct {
		p    engine.Precision
		want float32
	}{{engine.TF32, k * y}, {engine.BF16, k}} {
		tc := s.alloc(t, 1, 1, engine.Float32)
		s.b.Gemm(false, false, 1, ta, tb, 0, tc, c.p)
		if got := s.f32(t, tc)[0]; got != c.want {
			t.Errorf("Gemm in %v: 64·(1+2⁻⁹) = %.9g, want %.9g", c.p, got, c.want)
		}
	}
}

func (s *suite) gemmReducedAccuracy(t *testing.T) {
	// Correlation-like use: unit-variance inputs, k terms, compare with the
	// float64 product of the unrounded inputs, relative to sqrt(k).
	for _, c := range []struct {
		p   engine.Precision
		tol float64
	}{{engine.TF32, 3e-3}, {engine.BF16, 2e-2}} {
		r := rng(30)
		m, n, k := 40, 30, 500
		a, b := randn(r, k*m, 1), randn(r, k*n, 1)
		ta, tb := s.upload(t, k, m, a), s.upload(t, k, n, b)
		tc := s.alloc(t, m, n, engine.Float32)
		s.b.Gemm(true, false, 1/float32(k), ta, tb, 0, tc, c.p)
		want, _ := refGemm(true, false, m, n, k, 1/float64(k), a, m, b, n, 0, make([]float32, m*n))
		got := s.f32(t, tc)
		var worst float64
		for i := range got {
			worst = math.Max(worst, math.Abs(float64(got[i])-want[i]))
		}
		// Products of k unit normals scaled by 1/k: error per term ≈ 2u, so
		// the mean error is ≈ 2u/sqrt(k); the bound is loose on purpose.
		if worst > c.tol {
			t.Errorf("Gemm %v: max |Δ| = %.3g > %.3g", c.p, worst, c.tol)
		}
	}
}

func (s *suite) elementwise(t *testing.T) {
	r := rng(40)
	rows, cols := 37, 29
	x, y := randn(r, rows*cols, 1), randn(r, rows*cols, 1)
	tx, ty := s.upload(t, rows, cols, x), s.upload(t, rows, cols, y)

	s.b.Axpy(-1.5, tx, ty)
	want := make([]float64, len(x))
	for i := range x {
		want[i] = -1.5*float64(x[i]) + float64(y[i])
	}
	closeTo(t, "Axpy", s.f32(t, ty), want, 1e-6)

	s.b.Scale(ty, 0.25)
	for i := range want {
		want[i] *= 0.25
	}
	closeTo(t, "Scale", s.f32(t, ty), want, 1e-6)

	tz := s.alloc(t, rows, cols, engine.Float32)
	s.b.Mul(tz, tx, ty)
	got := s.f32(t, ty)
	for i := range want {
		want[i] = float64(x[i]) * float64(got[i])
	}
	closeTo(t, "Mul", s.f32(t, tz), want, 1e-6)
	s.b.Mul(tz, tz, tz) // aliasing allowed
	for i := range want {
		want[i] *= want[i]
	}
	closeTo(t, "Mul aliased", s.f32(t, tz), want, 1e-5)

	v := randn(r, cols, 1)
	tv := s.upload(t, 1, cols, v)
	s.b.Copy(tz, tx)
	s.b.AddRowVector(tz, tv)
	for i := range want {
		want[i] = float64(x[i]) + float64(v[i%cols])
	}
	closeTo(t, "AddRowVector", s.f32(t, tz), want, 1e-6)

	s.b.Fill(tz, -7)
	for _, g := range s.f32(t, tz) {
		if g != -7 {
			t.Fatalf("Fill: %g", g)
		}
	}
}

func (s *suite) scaleColumns(t *testing.T) {
	r := rng(50)
	rows, cols := 23, 17
	x := randn(r, rows*cols, 1)
	x[5] = float32(math.Inf(-1))
	sc := make([]float32, cols)
	for j := range sc {
		if j%3 != 0 {
			sc[j] = 1
		}
	}
	sc[4] = 0.5
	tx, ts := s.upload(t, rows, cols, x), s.upload(t, 1, cols, sc)
	td := s.alloc(t, rows, cols, engine.Float32)
	s.b.ScaleColumns(td, tx, ts)
	got := s.f32(t, td)
	for i := range got {
		j := i % cols
		want := float64(x[i]) * float64(sc[j])
		if sc[j] == 0 {
			if math.Float32bits(got[i]) != 0 {
				t.Fatalf("masked column %d row %d = %g, want +0", j, i/cols, got[i])
			}
			continue
		}
		if float64(got[i]) != want {
			t.Fatalf("ScaleColumns[%d] = %g want %g", i, got[i], want)
		}
	}
	s.b.ScaleColumns(tx, tx, ts) // in place
	closeTo(t, "ScaleColumns in place", s.f32(t, tx), toF64(got), 0)
}

func (s *suite) gather(t *testing.T) {
	r := rng(60)
	rows, cols := 19, 31
	x := randn(r, rows*cols, 1)
	idx := []int32{30, 0, 7, 7, 12}
	tx, ti := s.upload(t, rows, cols, x), s.upload(t, 1, len(idx), idx)
	td := s.alloc(t, rows, len(idx), engine.Float32)
	s.b.GatherColumns(td, tx, ti)
	got := s.f32(t, td)
	for i := 0; i < rows; i++ {
		for k, j := range idx {
			if got[i*len(idx)+k] != x[i*cols+int(j)] {
				t.Fatalf("Gather [%d,%d]", i, k)
			}
		}
	}
}

func (s *suite) reduce(t *testing.T) {
	r := rng(70)
	rows, cols := 41, 53
	x := randn(r, rows*cols, 1)
	// Planted ties: the lowest index must win.
	x[3*cols+10], x[3*cols+20] = 9, 9
	x[5*cols+2], x[5*cols+4] = -9, 9
	tx := s.upload(t, rows, cols, x)
	for _, op := range []engine.ReduceOp{engine.Max, engine.Min, engine.MaxAbs, engine.MinAbs} {
		key := func(v float32) float64 {
			switch op {
			case engine.Max:
				return float64(v)
			case engine.Min:
				return -float64(v)
			case engine.MaxAbs:
				return math.Abs(float64(v))
			}
			return -math.Abs(float64(v))
		}
		vals, idx := s.alloc(t, rows, 1, engine.Float32), s.alloc(t, rows, 1, engine.Int32)
		s.b.ReduceRows(op, tx, vals, idx)
		gv, gi := s.f32(t, vals), s.i32(t, idx)
		for i := 0; i < rows; i++ {
			bj := 0
			for j := 1; j < cols; j++ {
				if key(x[i*cols+j]) > key(x[i*cols+bj]) {
					bj = j
				}
			}
			if int(gi[i]) != bj || gv[i] != x[i*cols+bj] {
				t.Fatalf("ReduceRows %v row %d: (%g, %d) want (%g, %d)", op, i, gv[i], gi[i], x[i*cols+bj], bj)
			}
		}
		cv, ci := s.alloc(t, 1, cols, engine.Float32), s.alloc(t, 1, cols, engine.Int32)
		s.b.ReduceCols(op, tx, cv, ci)
		gv, gi = s.f32(t, cv), s.i32(t, ci)
		for j := 0; j < cols; j++ {
			bi := 0
			for i := 1; i < rows; i++ {
				if key(x[i*cols+j]) > key(x[bi*cols+j]) {
					bi = i
				}
			}
			if int(gi[j]) != bi || gv[j] != x[bi*cols+j] {
				t.Fatalf("ReduceCols %v col %d: (%g, %d) want (%g, %d)", op, j, gv[j], gi[j], x[bi*cols+j], bi)
			}
		}
		// idx may be nil.
		s.b.ReduceRows(op, tx, vals, nil)
	}
}

func (s *suite) sums(t *testing.T) {
	r := rng(80)
	rows, cols := 1001, 13
	x := randn(r, rows*cols, 3)
	tx := s.upload(t, rows, cols, x)
	want := make([]float64, cols)
	var ss float64
	for i, v := range x {
		want[i%cols] += float64(v)
		ss += float64(v) * float64(v)
	}
	d64 := s.alloc(t, 1, cols, engine.Float64)
	s.b.SumCols(d64, tx)
	for j, g := range s.f64(t, d64) {
		if math.Abs(g-want[j]) > 1e-9*(1+math.Abs(want[j])) {
			t.Fatalf("SumCols float64 [%d] = %g want %g", j, g, want[j])
		}
	}
	d32 := s.alloc(t, 1, cols, engine.Float32)
	s.b.SumCols(d32, tx)
	closeTo(t, "SumCols float32", s.f32(t, d32), want, 1e-6)
	sq := s.alloc(t, 1, 1, engine.Float64)
	s.b.SumSquares(sq, tx)
	if g := s.f64(t, sq)[0]; math.Abs(g-ss) > 1e-9*ss {
		t.Fatalf("SumSquares = %g want %g", g, ss)
	}
}

func (s *suite) moments(t *testing.T) {
	r := rng(90)
	rows, cols := 777, 21
	// Large offsets with small spread: a one-pass Σx² formula fails here.
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(1000 + float64(i%cols) + 0.01*r.NormFloat64())
	}
	tx := s.upload(t, rows, cols, x)
	mean, m2 := s.alloc(t, 1, cols, engine.Float64), s.alloc(t, 1, cols, engine.Float64)
	s.b.ColMoments(tx, mean, m2)
	gm, gv := s.f64(t, mean), s.f64(t, m2)
	for j := 0; j < cols; j++ {
		var mu float64
		for i := 0; i < rows; i++ {
			mu += float64(x[i*cols+j])
		}
		mu /= float64(rows)
		var v float64
		for i := 0; i < rows; i++ {
			d := float64(x[i*cols+j]) - mu
			v += d * d
		}
		if math.Abs(gm[j]-mu) > 1e-12*math.Abs(mu) || math.Abs(gv[j]-v) > 1e-9*v {
			t.Fatalf("ColMoments col %d: (%g, %g) want (%g, %g)", j, gm[j], gv[j], mu, v)
		}
	}
	// Block-wise moments merged with ColumnStats equal the whole.
	st := engine.NewColumnStats(cols)
	for lo := 0; lo < rows; lo += 100 {
		hi := min(lo+100, rows)
		bm, bv := s.alloc(t, 1, cols, engine.Float64), s.alloc(t, 1, cols, engine.Float64)
		s.b.ColMoments(tx.Slice(lo, hi), bm, bv)
		st.Merge(int64(hi-lo), s.f64(t, bm), s.f64(t, bv))
	}
	for j := 0; j < cols; j++ {
		if math.Abs(st.Mean[j]-gm[j]) > 1e-12*math.Abs(gm[j]) || math.Abs(st.M2[j]-gv[j]) > 1e-8*gv[j] {
			t.Fatalf("merged moments col %d: (%g, %g) want (%g, %g)", j, st.Mean[j], st.M2[j], gm[j], gv[j])
		}
	}
	inv, constant := st.InvStd()
	if len(constant) != 0 {
		t.Fatalf("constant columns %v in random data", constant)
	}
	tm, ti := s.upload(t, 1, cols, st.MeanFloat32()), s.upload(t, 1, cols, inv)
	td := s.alloc(t, rows, cols, engine.Float32)
	s.b.Standardize(td, tx, tm, ti)
	want := make([]float64, len(x))
	for i := range x {
		j := i % cols
		want[i] = (float64(x[i]) - float64(float32(st.Mean[j]))) * float64(inv[j])
	}
	closeTo(t, "Standardize", s.f32(t, td), want, 1e-5)
}

// affineOuter checks AffineOuter bit for bit against its definition (each
// product rounded to float32) on random values, and against float64.
func (s *suite) affineOuter(t *testing.T) {
	r := rng(97)
	const rows, cols = 37, 45
	x := randn(r, rows*cols, 2)
	rs, rh, cs, ch := randn(r, rows, 1), randn(r, rows, 1), randn(r, cols, 1), randn(r, cols, 1)
	tt := s.upload(t, rows, cols, x)
	s.b.AffineOuter(tt, s.upload(t, 1, rows, rs), s.upload(t, 1, cols, cs), s.upload(t, 1, rows, rh), s.upload(t, 1, cols, ch))
	for k, g := range s.f32(t, tt) {
		i, j := k/cols, k%cols
		want := float32(float32(rs[i]*x[k])*cs[j]) - float32(rh[i]*ch[j])
		a, b := float64(rs[i])*float64(x[k])*float64(cs[j]), float64(rh[i])*float64(ch[j])
		if math.Float32bits(g) != math.Float32bits(want) || math.Abs(float64(g)-(a-b)) > 1e-6*(math.Abs(a)+math.Abs(b)) {
			t.Fatalf("AffineOuter [%d, %d] = %.9g, want %.9g (float64: %.9g)", i, j, g, want, a-b)
		}
	}
}

// preRounded checks engine.PreRounded: StandardizeRounded writes values
// exact in the precision's input format, within half a unit of that
// format of Standardize's, and GemmPreRounded of them equals Gemm (which
// rounds copies itself) up to the order of accumulation; StandardizeRoundedT
// writes their transpose bit for bit (from whole matrices and a row view,
// 300 × 24 and 300 × 17: edge tiles; 2000 × 70: 189 tiles in 3 columns of
// them, more than the emulator's grid), and the neuron-major product of
// those equals the token-major one up to the order of accumulation;
// StandardizeRoundedTMoments writes the same transpose and ColMoments'
// moments (to float64 rounding), of a matrix and of a row view.
func (s *suite) preRounded(t *testing.T, pr engine.PreRounded) {
	r := rng(95)
	const rows, n, m = 300, 24, 17
	ta, tb := s.upload(t, rows, n, randn(r, rows*n, 3)), s.upload(t, rows, m, randn(r, rows*m, 3))
	meanA, invA := s.upload(t, 1, n, randn(r, n, 1)), s.upload(t, 1, n, randn(r, n, 1))
	meanB, invB := s.upload(t, 1, m, randn(r, m, 1)), s.upload(t, 1, m, randn(r, m, 1))
	za, zb := s.alloc(t, rows, n, engine.Float32), s.alloc(t, rows, m, engine.Float32)
	ra, rb := s.alloc(t, rows, n, engine.Float32), s.alloc(t, rows, m, engine.Float32)
	c1, c2 := s.alloc(t, n, m, engine.Float32), s.alloc(t, n, m, engine.Float32)
	rta, rtb := s.alloc(t, n, rows, engine.Float32), s.alloc(t, m, rows, engine.Float32)
	rtv := s.alloc(t, n, rows-5, engine.Float32)
	const wideRows, wideCols = 2000, 70
	wide := s.upload(t, wideRows, wideCols, randn(r, wideRows*wideCols, 3))
	meanW, invW := s.upload(t, 1, wideCols, randn(r, wideCols, 1)), s.upload(t, 1, wideCols, randn(r, wideCols, 1))
	wideZ, wideT := s.alloc(t, wideRows, wideCols, engine.Float32), s.alloc(t, wideCols, wideRows, engine.Float32)
	const vwideRows, vwideCols = 70, 2100
	vwide := s.upload(t, vwideRows, vwideCols, randn(r, vwideRows*vwideCols, 3))
	meanV, invV := s.upload(t, 1, vwideCols, randn(r, vwideCols, 1)), s.upload(t, 1, vwideCols, randn(r, vwideCols, 1))
	vwideZ, vwideT := s.alloc(t, vwideRows, vwideCols, engine.Float32), s.alloc(t, vwideCols, vwideRows, engine.Float32)
	s.b.Standardize(za, ta, meanA, invA)
	s.b.Standardize(zb, tb, meanB, invB)
	for _, c := range []struct {
		p    engine.Precision
		bits uint // mantissa bits kept
	}{{engine.FP32, 23}, {engine.TF32, 10}, {engine.BF16, 7}} {
		pr.StandardizeRounded(ra, ta, meanA, invA, c.p)
		pr.StandardizeRounded(rb, tb, meanB, invB, c.p)
		plain, rounded, roundedB := s.f32(t, za), s.f32(t, ra), s.f32(t, rb)
		for i, v := range rounded {
			_, e := math.Frexp(float64(v))
			ulp := math.Ldexp(1, e-1-int(c.bits))
			if math.Mod(float64(v), ulp) != 0 || math.Abs(float64(v-plain[i])) > 0.5*ulp+1e-6*math.Abs(float64(plain[i])) {
				t.Fatalf("StandardizeRounded %v [%d] = %.9g from %.9g: not that format's rounding", c.p, i, v, plain[i])
			}
		}
		s.b.Gemm(true, false, 1, za, zb, 0, c1, c.p)
		pr.GemmPreRounded(true, false, 1, ra, rb, 0, c2, c.p)
		g1, g2 := s.f32(t, c1), s.f32(t, c2)
		for i := range g1 {
			if math.Abs(float64(g1[i]-g2[i])) > 1e-5*math.Sqrt(rows)*(1+math.Abs(float64(g1[i]))) {
				t.Fatalf("%v [%d]: Gemm %g, GemmPreRounded %g", c.p, i, g1[i], g2[i])
			}
		}
		// StandardizeRoundedT: the transpose of StandardizeRounded, bit for
		// bit (also from a row view), and its neuron-major product.
		pr.StandardizeRoundedT(rta, ta, meanA, invA, c.p)
		pr.StandardizeRoundedT(rtb, tb, meanB, invB, c.p)
		pr.StandardizeRoundedT(rtv, ta.Slice(5, rows), meanA, invA, c.p)
		gt, gv := s.f32(t, rta), s.f32(t, rtv)
		for i := range rows {
			for j := range n {
				if want := math.Float32bits(rounded[i*n+j]); math.Float32bits(gt[j*rows+i]) != want ||
					i >= 5 && math.Float32bits(gv[j*(rows-5)+i-5]) != want {
					t.Fatalf("StandardizeRoundedT %v [%d, %d] = %g (of a view: %g), StandardizeRounded [%d, %d] = %g",
						c.p, j, i, gt[j*rows+i], gv[j*(rows-5)+max(i-5, 0)], i, j, rounded[i*n+j])
				}
			}
		}
		for i, v := range s.f32(t, rtb) {
			if j, r := i/rows, i%rows; math.Float32bits(v) != math.Float32bits(roundedB[r*m+j]) {
				t.Fatalf("StandardizeRoundedT %v of B [%d, %d] = %g, StandardizeRounded [%d, %d] = %g", c.p, j, r, v, r, j, roundedB[r*m+j])
			}
		}
		// More tiles than one column of them, and than a small device has
		// blocks (the emulator: its grid-stride loop and both barriers).
		pr.StandardizeRounded(wideZ, wide, meanW, invW, c.p)
		pr.StandardizeRoundedT(wideT, wide, meanW, invW, c.p)
		wz, wt := s.f32(t, wideZ), s.f32(t, wideT)
		for i, v := range wz {
			if r, j := i/wideCols, i%wideCols; math.Float32bits(wt[j*wideRows+r]) != math.Float32bits(v) {
				t.Fatalf("StandardizeRoundedT %v of %d × %d [%d, %d] = %g, StandardizeRounded [%d, %d] = %g",
					c.p, wideRows, wideCols, j, r, wt[j*wideRows+r], r, j, v)
			}
		}
		momentsT := func(what string, x, mean, invStd, want *engine.Tensor) {
			t.Helper()
			tt := s.alloc(t, want.Rows(), want.Cols(), engine.Float32)
			gm, gv := s.alloc(t, 1, x.Cols(), engine.Float64), s.alloc(t, 1, x.Cols(), engine.Float64)
			wm, wv := s.alloc(t, 1, x.Cols(), engine.Float64), s.alloc(t, 1, x.Cols(), engine.Float64)
			pr.StandardizeRoundedTMoments(tt, x, mean, invStd, gm, gv, c.p)
			s.b.ColMoments(x, wm, wv)
			wt := s.f32(t, want)
			for i, v := range s.f32(t, tt) {
				if w := wt[i]; math.Float32bits(v) != math.Float32bits(w) {
					t.Fatalf("StandardizeRoundedTMoments %v of %s [%d] = %g, StandardizeRoundedT %g", c.p, what, i, v, w)
				}
			}
			gmh, gvh, wmh, wvh := s.f64(t, gm), s.f64(t, gv), s.f64(t, wm), s.f64(t, wv)
			for j := range gmh {
				sd := math.Sqrt(wvh[j] / float64(x.Rows()))
				if math.Abs(gmh[j]-wmh[j]) > 1e-12*(math.Abs(wmh[j])+sd) || math.Abs(gvh[j]-wvh[j]) > 1e-10*wvh[j] {
					t.Fatalf("StandardizeRoundedTMoments %v of %s: column %d moments (%.17g, %.17g), ColMoments (%.17g, %.17g)",
						c.p, what, j, gmh[j], gvh[j], wmh[j], wvh[j])
				}
			}
		}
		momentsT(fmt.Sprintf("%d × %d", wideRows, wideCols), wide, meanW, invW, wideT)
		momentsT("a row view", ta.Slice(5, rows), meanA, invA, rtv)
		// More bands of 32 columns than a small device has blocks (the
		// emulator's 64: each block then walks several work items).
		pr.StandardizeRoundedT(vwideT, vwide, meanV, invV, c.p)
		pr.StandardizeRounded(vwideZ, vwide, meanV, invV, c.p)
		vt := s.f32(t, vwideT)
		for i, v := range s.f32(t, vwideZ) {
			if r, j := i/vwideCols, i%vwideCols; math.Float32bits(vt[j*vwideRows+r]) != math.Float32bits(v) {
				t.Fatalf("StandardizeRoundedT %v of %d × %d [%d, %d] differs from StandardizeRounded", c.p, vwideRows, vwideCols, j, r)
			}
		}
		momentsT(fmt.Sprintf("%d × %d", vwideRows, vwideCols), vwide, meanV, invV, vwideT)
		pr.GemmPreRounded(false, true, 1, rta, rtb, 0, c1, c.p)
		for i, g := range s.f32(t, c1) {
			if math.Abs(float64(g-g2[i])) > 1e-5*math.Sqrt(rows)*(1+math.Abs(float64(g2[i]))) {
				t.Fatalf("%v [%d]: neuron-major GemmPreRounded %g, token-major %g", c.p, i, g, g2[i])
			}
		}
	}
}

// refLogSumExp returns the row's maximum mx and log Σ_j exp(row_j − mx), in
// float64 (log Σ exp(row) = mx + the second).
func refLogSumExp(row []float32) (mx, logZ float64) {
	mx = math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, float64(v))
	}
	var z float64
	for _, v := range row {
		z += math.Exp(float64(v) - mx)
	}
	return mx, math.Log(z)
}

// refSoftmaxXent is the float64 reference of softmax cross-entropy over the
// rows of the k-column logits: the loss summed over rows whose label is ≥ 0,
// and the gradient scale·(softmax − one-hot), zero on rows with a negative
// label.
func refSoftmaxXent(logits []float32, labels []int32, k int, scale float64) (float64, []float64) {
	var loss float64
	grad := make([]float64, len(logits))
	for i, l := range labels {
		if l < 0 {
			continue
		}
		row := logits[i*k : (i+1)*k]
		mx, logZ := refLogSumExp(row)
		loss += logZ + mx - float64(row[l])
		for j, v := range row {
			grad[i*k+j] = scale * math.Exp(float64(v)-mx-logZ)
		}
		grad[i*k+int(l)] -= scale
	}
	return loss, grad
}

func (s *suite) softmaxXent(t *testing.T) {
	r := rng(100)
	n, k := 67, 45
	logits := randn(r, n*k, 4)
	logits[0] = 300 // a row that would overflow a naive exp
	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(r.IntN(k))
	}
	tl, tlab := s.upload(t, n, k, logits), s.upload(t, n, 1, labels)
	grad, loss := s.alloc(t, n, k, engine.Float32), s.alloc(t, 1, 1, engine.Float64)
	const scale = 1.0 / 67
	s.b.SoftmaxCrossEntropy(tl, tlab, grad, loss, scale)
	wantLoss, wantGrad := refSoftmaxXent(logits, labels, k, scale)
	if g := s.f64(t, loss)[0]; math.Abs(g-wantLoss) > 1e-6*wantLoss {
		t.Fatalf("loss %g want %g", g, wantLoss)
	}
	closeTo(t, "softmax grad", s.f32(t, grad), wantGrad, 1e-6)
	// In place over the logits, and without a gradient.
	s.b.SoftmaxCrossEntropy(tl, tlab, nil, loss, 1)
	if g := s.f64(t, loss)[0]; math.Abs(g-wantLoss) > 1e-6*wantLoss {
		t.Fatalf("loss without grad %g want %g", g, wantLoss)
	}
	s.b.SoftmaxCrossEntropy(tl, tlab, tl, loss, scale)
	closeTo(t, "softmax grad in place", s.f32(t, tl), wantGrad, 1e-6)
}

func (s *suite) adam(t *testing.T) {
	r := rng(110)
	n := 1234
	p, m, v := randn(r, n, 1), make([]float32, n), make([]float32, n)
	tp, tm, tv := s.upload(t, 1, n, p), s.upload(t, 1, n, m), s.upload(t, 1, n, v)
	pr, mr, vr := toF64(p), make([]float64, n), make([]float64, n)
	h := engine.DefaultAdam(1e-3)
	h.L1, h.L2Scale = 2e-3, -5e-3 // elastic-net terms folded into g
	for step := 1; step <= 50; step++ {
		g := randn(r, n, 0.1)
		tg := s.upload(t, 1, n, g)
		h.Step = step
		s.b.AdamUpdate(tp, tg, tm, tv, h)
		bc1 := 1 - math.Pow(h.Beta1, float64(step))
		bc2 := 1 - math.Pow(h.Beta2, float64(step))
		for i := range pr {
			gi := float64(g[i]) + h.L2Scale*pr[i]
			if pr[i] > 0 {
				gi += h.L1
			} else if pr[i] < 0 {
				gi -= h.L1
			}
			mr[i] = h.Beta1*mr[i] + (1-h.Beta1)*gi
			vr[i] = h.Beta2*vr[i] + (1-h.Beta2)*gi*gi
			pr[i] -= h.LR / bc1 * mr[i] / (math.Sqrt(vr[i])/math.Sqrt(bc2) + h.Eps)
		}
	}
	closeTo(t, "Adam param after 50 steps", s.f32(t, tp), pr, 1e-5)
	closeTo(t, "Adam m", s.f32(t, tm), mr, 1e-5)
	closeTo(t, "Adam v", s.f32(t, tv), vr, 1e-5)
}

func (s *suite) softThreshold(t *testing.T) {
	r := rng(120)
	x := randn(r, 999, 1)
	x[0], x[1], x[2] = 0.3, -0.3, 0
	tx := s.upload(t, 9, 111, x)
	s.b.SoftThreshold(tx, 0.3)
	want := make([]float64, len(x))
	for i, v := range x {
		a := math.Max(math.Abs(float64(v))-float64(float32(0.3)), 0)
		want[i] = math.Copysign(a, float64(v))
	}
	closeTo(t, "SoftThreshold", s.f32(t, tx), want, 1e-7)
}

func toF64(x []float32) []float64 {
	d := make([]float64, len(x))
	for i, v := range x {
		d[i] = float64(v)
	}
	return d
}

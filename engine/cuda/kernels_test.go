//go:build grain_cuda

package cuda_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/cpu"
	"github.com/grainlab/grain/kernels"
)

// TestGPUMatchesCPU runs grain's CUDA kernels and their CPU references
// (package kernels, through the CPU backend) on the same awkward inputs —
// NaN, ±Inf, ±0, ties, values that round up past the largest float — and
// requires the same bits where both compute the same float32 arithmetic
// (selections, standardization, masks, gathers, thresholds, TF32/BF16
// input rounding), and 1e-6 relative where the GPU may fuse a multiply and
// an add (Axpy, Adam).
func TestGPUMatchesCPU(t *testing.T) {
	g := device(t)
	c := cpu.New()
	r := rand.New(rand.NewPCG(21, 22))
	const rows, cols = 67, 45
	x := make([]float32, rows*cols)
	for i := range x {
		switch r.IntN(12) {
		case 0:
			x[i] = float32(math.NaN())
		case 1:
			x[i] = float32(math.Inf(1 - 2*r.IntN(2)))
		case 2:
			x[i] = float32(math.Copysign(0, float64(1-2*r.IntN(2))))
		case 3:
			x[i] = float32(r.IntN(3)) // ties
		case 4:
			x[i] = math.MaxFloat32 // rounds to Inf in TF32 and BF16
		default:
			x[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(7)-3)))
		}
	}
	x[0] = float32(math.NaN()) // a NaN in column 0 / row 0 wins a selection
	up := func(b engine.Backend, r, cl int, data any) *engine.Tensor {
		t.Helper()
		tt, err := engine.AllocFrom(b, r, cl, data)
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	f32 := func(b engine.Backend, tt *engine.Tensor) []float32 {
		t.Helper()
		h := make([]float32, tt.Len())
		if err := b.Download(h, tt); err != nil {
			t.Fatal(err)
		}
		return h
	}
	i32 := func(b engine.Backend, tt *engine.Tensor) []int32 {
		t.Helper()
		h := make([]int32, tt.Len())
		if err := b.Download(h, tt); err != nil {
			t.Fatal(err)
		}
		return h
	}
	same := func(what string, got, want []float32) {
		t.Helper()
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
				t.Fatalf("%s[%d]: GPU %g (%#x), CPU %g (%#x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
	close6 := func(what string, got, want []float32) {
		t.Helper()
		for i := range want {
			if got[i] == want[i] || got[i] != got[i] && want[i] != want[i] {
				continue
			}
			if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-6*math.Max(1, math.Abs(float64(want[i])))) {
				t.Fatalf("%s[%d]: GPU %g, CPU %g", what, i, got[i], want[i])
			}
		}
	}
	// run applies op to fresh copies of x on both backends and compares.
	run := func(what string, exact bool, op func(b engine.Backend, t *engine.Tensor)) {
		gt, ct := up(g, rows, cols, x), up(c, rows, cols, x)
		op(g, gt)
		op(c, ct)
		if exact {
			same(what, f32(g, gt), f32(c, ct))
		} else {
			close6(what, f32(g, gt), f32(c, ct))
		}
	}

	for _, op := range []engine.ReduceOp{engine.Max, engine.Min, engine.MaxAbs, engine.MinAbs} {
		gv, _ := g.Alloc(rows, 1, engine.Float32)
		gidx, _ := g.Alloc(rows, 1, engine.Int32)
		cv, _ := c.Alloc(rows, 1, engine.Float32)
		cidx, _ := c.Alloc(rows, 1, engine.Int32)
		g.ReduceRows(op, up(g, rows, cols, x), gv, gidx)
		c.ReduceRows(op, up(c, rows, cols, x), cv, cidx)
		same("ReduceRows "+op.String(), f32(g, gv), f32(c, cv))
		if gi, ci := i32(g, gidx), i32(c, cidx); !equalInts(gi, ci) {
			t.Fatalf("ReduceRows %v indices: GPU %v, CPU %v", op, gi, ci)
		}
		gcv, _ := g.Alloc(1, cols, engine.Float32)
		gci, _ := g.Alloc(1, cols, engine.Int32)
		ccv, _ := c.Alloc(1, cols, engine.Float32)
		cci, _ := c.Alloc(1, cols, engine.Int32)
		g.ReduceCols(op, up(g, rows, cols, x), gcv, gci)
		c.ReduceCols(op, up(c, rows, cols, x), ccv, cci)
		same("ReduceCols "+op.String(), f32(g, gcv), f32(c, ccv))
		if gi, ci := i32(g, gci), i32(c, cci); !equalInts(gi, ci) {
			t.Fatalf("ReduceCols %v indices: GPU %v, CPU %v", op, gi, ci)
		}
	}

	vec := make([]float32, cols)
	for j := range vec {
		vec[j] = float32(r.NormFloat64())
	}
	vec[3], vec[7] = 0, float32(math.Inf(-1))
	run("Standardize", true, func(b engine.Backend, t *engine.Tensor) {
		b.Standardize(t, t, up(b, 1, cols, vec), up(b, 1, cols, vec))
	})
	run("ScaleColumns", true, func(b engine.Backend, t *engine.Tensor) { b.ScaleColumns(t, t, up(b, 1, cols, vec)) })
	run("AddRowVector", true, func(b engine.Backend, t *engine.Tensor) { b.AddRowVector(t, up(b, 1, cols, vec)) })
	run("SoftThreshold", true, func(b engine.Backend, t *engine.Tensor) { b.SoftThreshold(t, 0.75) })
	run("Scale", true, func(b engine.Backend, t *engine.Tensor) { b.Scale(t, -1.5) })
	run("Mul", true, func(b engine.Backend, t *engine.Tensor) { b.Mul(t, t, t) })
	run("Axpy", false, func(b engine.Backend, t *engine.Tensor) { b.Axpy(0.3, up(b, rows, cols, x), t) })
	run("GatherColumns", true, func(b engine.Backend, t *engine.Tensor) {
		d, _ := b.Alloc(rows, 4, engine.Float32)
		b.GatherColumns(d, t, up(b, 1, 4, []int32{44, 0, 3, 3}))
		b.Fill(t, 0)
		b.Copy(t.Reshape(rows*cols, 1).Slice(0, rows*4), d.Reshape(rows*4, 1))
	})

	// TF32 and BF16 input rounding, seen through a product with 1: C = round(a)·1.
	for _, p := range []engine.Precision{engine.TF32, engine.BF16} {
		a := up(g, rows*cols, 1, x)
		one := up(g, 1, 1, []float32{1})
		out, _ := g.Alloc(rows*cols, 1, engine.Float32)
		g.Gemm(false, false, 1, a, one, 0, out, p)
		want := make([]float32, len(x))
		if p == engine.TF32 {
			kernels.RoundTF32(want, x)
		} else {
			kernels.RoundBF16(want, x)
		}
		// The sum of one product may turn −0 into +0: compare values.
		for i, v := range f32(g, out) {
			if v != want[i] && !(v != v && want[i] != want[i]) {
				t.Fatalf("rounding to %v [%d]: GPU %g, CPU %g (of %g)", p, i, v, want[i], x[i])
			}
		}
	}

	// Adam with the elastic-net terms: float32 arithmetic on both sides.
	n := 999
	pr, gr := make([]float32, n), make([]float32, n)
	for i := range pr {
		pr[i], gr[i] = float32(r.NormFloat64()), float32(r.NormFloat64()*0.1)
	}
	pr[0] = 0
	h := engine.DefaultAdam(1e-2)
	h.L1, h.L2Scale = 1e-3, 2e-3
	var res [2][3][]float32
	for k, b := range []engine.Backend{g, c} {
		tp, tg := up(b, 1, n, pr), up(b, 1, n, gr)
		tm, tv := up(b, 1, n, make([]float32, n)), up(b, 1, n, make([]float32, n))
		for s := 1; s <= 3; s++ {
			h.Step = s
			b.AdamUpdate(tp, tg, tm, tv, h)
		}
		res[k] = [3][]float32{f32(b, tp), f32(b, tm), f32(b, tv)}
	}
	for i, what := range []string{"Adam param", "Adam m", "Adam v"} {
		close6(what, res[0][i], res[1][i])
	}
}

func equalInts(a, b []int32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

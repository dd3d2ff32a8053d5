package train

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/grainlab/grain/engine/cpu"
	"github.com/grainlab/grain/engine/enginetest"
	"github.com/grainlab/grain/nn/fused"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestAdamOnDevice steps a parameter on the device path (enginetest.Hostless):
// resident, its update reaches the host after SyncHost and equals the CPU
// path's; not resident, Step is an error (the update would be lost).
func TestAdamOnDevice(t *testing.T) {
	param := func() *tensor.Dense {
		return tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{0.5, -1, 2, 0.25, 3, -0.75}))
	}
	grad := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{0.1, 0.2, -0.3, 0.4, -0.5, 0.6}))
	host, err := fused.NewEnv(cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	want := param()
	if err := NewAdam(host, 0.1, 0).Step([]G.ValueGrad{valueGrad{want, grad.Clone().(*tensor.Dense)}}); err != nil {
		t.Fatal(err)
	}
	dev, err := fused.NewEnv(enginetest.Hostless(cpu.New()))
	if err != nil {
		t.Fatal(err)
	}
	p := param()
	err = NewAdam(dev, 0.1, 0).Step([]G.ValueGrad{valueGrad{p, grad.Clone().(*tensor.Dense)}})
	if err == nil || !strings.Contains(err.Error(), "not resident") {
		t.Fatalf("a step of a parameter that is not resident: %v", err)
	}
	dev.Resident(p)
	if err := NewAdam(dev, 0.1, 0).Step([]G.ValueGrad{valueGrad{p, grad.Clone().(*tensor.Dense)}}); err != nil {
		t.Fatal(err)
	}
	if p.Data().([]float32)[0] != 0.5 {
		t.Fatal("the host data changed before SyncHost")
	}
	if err := dev.SyncHost(p); err != nil {
		t.Fatal(err)
	}
	got, w := p.Data().([]float32), want.Data().([]float32)
	for i := range w {
		if got[i] != w[i] || w[i] == param().Data().([]float32)[i] {
			t.Fatalf("device path %v, host path %v", got, w)
		}
	}
}

// TestAdamClipsByGlobalNorm runs 6 steps on 3 parameters (7, 33 and 1,000
// values) with gradients of scales 0.001 to 2, so that clipping at norm 3
// acts on some steps only, against PyTorch's Adam formula in float64
// after clip_grad_norm_-style global clipping (each gradient times
// min(1, Clip/‖g‖), ‖g‖ over all parameters): LastNorm is ‖g‖ and the
// parameters follow the reference.
func TestAdamClipsByGlobalNorm(t *testing.T) {
	env, err := fused.NewEnv(cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(2, 2))
	sizes := []int{7, 33, 1000}
	const lr, clip = 0.01, 3.0
	var ps []*tensor.Dense
	var ref, m, v [][]float64
	for _, n := range sizes {
		d, f := make([]float32, n), make([]float64, n)
		for i := range d {
			d[i] = float32(r.NormFloat64())
			f[i] = float64(d[i])
		}
		p := tensor.New(tensor.WithShape(1, n), tensor.WithBacking(d))
		env.Resident(p)
		ps, ref = append(ps, p), append(ref, f)
		m, v = append(m, make([]float64, n)), append(v, make([]float64, n))
	}
	a := NewAdam(env, lr, clip)
	clipped := 0
	for step := 1; step <= 6; step++ {
		scale := []float64{0.01, 1, 0.05, 2, 0.2, 0.001}[step-1]
		var vgs []G.ValueGrad
		var gs [][]float64
		var sq float64
		for i, n := range sizes {
			g, gf := make([]float32, n), make([]float64, n)
			for j := range g {
				g[j] = float32(r.NormFloat64() * scale)
				gf[j] = float64(g[j])
				sq += gf[j] * gf[j]
			}
			gs = append(gs, gf)
			vgs = append(vgs, valueGrad{ps[i], tensor.New(tensor.WithShape(1, n), tensor.WithBacking(g))})
		}
		norm := math.Sqrt(sq)
		c := math.Min(1, clip/norm)
		if c < 1 {
			clipped++
		}
		if err := a.Step(vgs); err != nil {
			t.Fatal(err)
		}
		var worst float64
		for i := range sizes {
			for j := range ref[i] {
				g := gs[i][j] * c
				m[i][j] = 0.9*m[i][j] + 0.1*g
				v[i][j] = 0.999*v[i][j] + 0.001*g*g
				den := math.Sqrt(v[i][j])/math.Sqrt(1-math.Pow(0.999, float64(step))) + 1e-8
				ref[i][j] -= lr / (1 - math.Pow(0.9, float64(step))) * m[i][j] / den
				worst = math.Max(worst, math.Abs(float64(ps[i].Data().([]float32)[j])-ref[i][j]))
			}
		}
		if math.Abs(a.LastNorm-norm) > 1e-9*norm || worst > 1e-5 {
			t.Fatalf("step %d: LastNorm %.9g, ‖g‖ %.9g; max |p − p_ref| %.2e (clip factor %.3g)", step, a.LastNorm, norm, worst, c)
		}
	}
	if clipped == 0 || clipped == 6 {
		t.Fatalf("clipping acted on %d of 6 steps: the test does not exercise both cases", clipped)
	}
}

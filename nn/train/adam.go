package train

import (
	"fmt"
	"math"

	"github.com/grainlab/grain/engine"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Adam is a gorgonia.Solver that clips the global gradient norm and then
// applies torch.optim.Adam's update (engine.Backend.AdamUpdate, default
// β1 0.9, β2 0.999, ε 1e-8) to every parameter on grain's engine:
//
//	n = sqrt(Σ_p ‖g_p‖²);  g_p ← g_p·min(1, Clip/n)   (Clip 0: no clipping)
//	Adam step on each p with the clipped g_p
//
// Its state (the step count and the first and second moments, in the
// order of the ValueGrads given to Step) is saved in checkpoints.
type Adam struct {
	LR, Clip float64
	// Steps is the number of steps taken.
	Steps int
	// M and V are the moments, one slice per parameter.
	M, V [][]float32
	// LastNorm is the gradient norm before clipping at the last step.
	LastNorm float64

	b    engine.Backend
	host engine.HostMemory // nil on a device backend
	dev  [][4]*engine.Tensor
	sq   *engine.Tensor // 1×1 Float64: a gradient's squared norm
}

// NewAdam returns the solver on b. On a backend that keeps tensors in
// host memory (the CPU) the update runs in place on the parameters, their
// gradients and M and V; on a device backend each step uploads them into
// device copies, runs there and downloads the parameters, M and V again
// (the host gradients are then left unclipped). Release frees the device
// memory.
func NewAdam(b engine.Backend, lr, clip float64) (*Adam, error) {
	host, _ := b.(engine.HostMemory)
	return &Adam{LR: lr, Clip: clip, b: b, host: host}, nil
}

// tensor returns the host slice x (slot k of parameter i: value,
// gradient, M, V) as a 1×len(x) tensor on the backend.
func (a *Adam) tensor(i, k int, x []float32) (*engine.Tensor, error) {
	if a.host != nil {
		return a.host.Wrap(x, 1, len(x)), nil
	}
	for len(a.dev) <= i {
		a.dev = append(a.dev, [4]*engine.Tensor{})
	}
	t := a.dev[i][k]
	if t == nil {
		var err error
		if t, err = a.b.Alloc(1, len(x), engine.Float32); err != nil {
			return nil, err
		}
		a.dev[i][k] = t
	}
	a.b.Upload(t, x)
	return t, nil
}

// valueGrad pairs a parameter's value with its gradient for Step.
type valueGrad struct {
	v *tensor.Dense
	g []float32
}

func (p valueGrad) Value() G.Value { return p.v }
func (p valueGrad) Grad() (G.Value, error) {
	return tensor.New(tensor.WithShape(p.v.Shape()...), tensor.WithBacking(p.g)), nil
}

// Step clips the gradients and updates the parameters in place (on a
// host backend the gradients are scaled in place too).
func (a *Adam) Step(vgs []G.ValueGrad) error {
	if a.M == nil {
		for _, vg := range vgs {
			n := vg.Value().Shape().TotalSize()
			a.M, a.V = append(a.M, make([]float32, n)), append(a.V, make([]float32, n))
		}
	}
	if len(vgs) != len(a.M) {
		return fmt.Errorf("train: Adam step with %d parameters, state for %d", len(vgs), len(a.M))
	}
	ps, gs := make([]*engine.Tensor, len(vgs)), make([]*engine.Tensor, len(vgs))
	pvs := make([][]float32, len(vgs))
	if a.sq == nil {
		var err error
		if a.sq, err = a.b.Alloc(1, 1, engine.Float64); err != nil {
			return err
		}
	}
	sq := a.sq
	var total float64
	for i, vg := range vgs {
		g, err := vg.Grad()
		if err != nil {
			return err
		}
		pv, gv := vg.Value().Data().([]float32), g.Data().([]float32)
		if len(pv) != len(gv) || len(pv) != len(a.M[i]) {
			return fmt.Errorf("train: parameter %d has %d values, %d gradients and %d moments", i, len(pv), len(gv), len(a.M[i]))
		}
		pvs[i] = pv
		if ps[i], err = a.tensor(i, 0, pv); err != nil {
			return err
		}
		if gs[i], err = a.tensor(i, 1, gv); err != nil {
			return err
		}
		a.b.SumSquares(sq, gs[i])
		s := make([]float64, 1)
		if err := a.b.Download(s, sq); err != nil {
			return err
		}
		total += s[0]
	}
	a.LastNorm = math.Sqrt(total)
	if math.IsNaN(a.LastNorm) || math.IsInf(a.LastNorm, 0) {
		return fmt.Errorf("train: gradient norm is %v at step %d", a.LastNorm, a.Steps+1)
	}
	if a.Clip > 0 && a.LastNorm > a.Clip {
		for _, g := range gs {
			a.b.Scale(g, float32(a.Clip/a.LastNorm))
		}
	}
	a.Steps++
	h := engine.DefaultAdam(a.LR)
	h.Step = a.Steps
	for i := range vgs {
		m, err := a.tensor(i, 2, a.M[i])
		if err != nil {
			return err
		}
		v, err := a.tensor(i, 3, a.V[i])
		if err != nil {
			return err
		}
		a.b.AdamUpdate(ps[i], gs[i], m, v, h)
		if a.host == nil {
			for _, d := range []struct {
				dst []float32
				src *engine.Tensor
			}{{pvs[i], ps[i]}, {a.M[i], m}, {a.V[i], v}} {
				if err := a.b.Download(d.dst, d.src); err != nil {
					return err
				}
			}
		}
	}
	return a.b.Sync()
}

// Release frees the solver's device memory; a later Step allocates it
// again.
func (a *Adam) Release() {
	for _, ts := range a.dev {
		for _, t := range ts {
			a.b.Free(t)
		}
	}
	a.b.Free(a.sq)
	a.dev, a.sq = nil, nil
}

var _ G.Solver = (*Adam)(nil)

package train

import (
	"fmt"
	"math"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/nn/fused"
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
//
// The update runs where the fused ops' Env keeps the values: in place in
// host memory on the CPU; on a device backend on the device tensors of the
// parameters (resident: the model's weights) and gradients (the backward
// ops' buffers), with M and V resident too, so a step moves no tensor
// between host and device. There the host parameters are current after
// Model.SyncWeights, and M and V after SyncMoments or Release.
type Adam struct {
	LR, Clip float64
	// Steps is the number of steps taken.
	Steps int
	// M and V are the moments, one slice per parameter.
	M, V [][]float32
	// LastNorm is the gradient norm before clipping at the last step.
	LastNorm float64

	env     *fused.Env
	moments [][2]*tensor.Dense // M and V as values of their parameters' shapes
	sq      *engine.Tensor     // P×1 Float64: the gradients' squared norms
}

// NewAdam returns the solver for values that run on env.
func NewAdam(env *fused.Env, lr, clip float64) *Adam {
	return &Adam{LR: lr, Clip: clip, env: env}
}

// valueGrad pairs a parameter's value with its gradient for Step.
type valueGrad struct{ v, g G.Value }

func (p valueGrad) Value() G.Value         { return p.v }
func (p valueGrad) Grad() (G.Value, error) { return p.g, nil }

// Step clips the gradients and updates the parameters in place.
func (a *Adam) Step(vgs []G.ValueGrad) (err error) {
	defer fused.Catch(&err) // out of device memory for the moments
	b := a.env.B
	if a.M == nil {
		for _, vg := range vgs {
			n := vg.Value().Shape().TotalSize()
			a.M, a.V = append(a.M, make([]float32, n)), append(a.V, make([]float32, n))
		}
	}
	if len(vgs) != len(a.M) {
		return fmt.Errorf("train: Adam step with %d parameters, state for %d", len(vgs), len(a.M))
	}
	if a.sq == nil {
		var err error
		if a.sq, err = b.Alloc(len(vgs), 1, engine.Float64); err != nil {
			return err
		}
	}
	grads := make([]G.Value, len(vgs))
	ps, gs := make([]*engine.Tensor, len(vgs)), make([]*engine.Tensor, len(vgs))
	for i, vg := range vgs {
		g, err := vg.Grad()
		if err != nil {
			return err
		}
		p := vg.Value()
		if n := p.Shape().TotalSize(); g.Shape().TotalSize() != n || n != len(a.M[i]) {
			return fmt.Errorf("train: parameter %d has %d values, %d gradients and %d moments", i, n, g.Shape().TotalSize(), len(a.M[i]))
		}
		if !a.env.IsResident(p) {
			return fmt.Errorf("train: parameter %d is not resident on %s (fused.Env.Resident): its update would be lost", i, a.env.B.Name())
		}
		grads[i], ps[i], gs[i] = g, a.env.Tensor(p), a.env.Tensor(g)
		b.SumSquares(a.sq.Slice(i, i+1), gs[i])
	}
	sq := make([]float64, len(vgs)) // one download for all the norms
	if err := b.Download(sq, a.sq); err != nil {
		return err
	}
	var total float64
	for _, x := range sq {
		total += x
	}
	a.LastNorm = math.Sqrt(total)
	if math.IsNaN(a.LastNorm) || math.IsInf(a.LastNorm, 0) {
		return fmt.Errorf("train: gradient norm is %v at step %d", a.LastNorm, a.Steps+1)
	}
	if a.Clip > 0 && a.LastNorm > a.Clip {
		for i, g := range gs {
			b.Scale(g, float32(a.Clip/a.LastNorm))
			a.env.Updated(grads[i])
		}
	}
	a.Steps++
	h := engine.DefaultAdam(a.LR)
	h.Step = a.Steps
	for i, vg := range vgs {
		m, v := a.moment(i, 0, ps[i]), a.moment(i, 1, ps[i])
		b.AdamUpdate(ps[i], gs[i], a.env.Tensor(m), a.env.Tensor(v), h)
		a.env.Updated(vg.Value())
		a.env.Updated(m)
		a.env.Updated(v)
	}
	return b.Sync()
}

// moment returns M[i] (k = 0) or V[i] (k = 1) as a value of the shape of
// parameter tensor p, resident in the Env from the first use.
func (a *Adam) moment(i, k int, p *engine.Tensor) *tensor.Dense {
	for len(a.moments) <= i {
		a.moments = append(a.moments, [2]*tensor.Dense{})
	}
	if a.moments[i][k] == nil {
		data := [2][]float32{a.M[i], a.V[i]}[k]
		a.moments[i][k] = tensor.New(tensor.WithShape(p.Rows(), p.Cols()), tensor.WithBacking(data))
		a.env.Resident(a.moments[i][k])
	}
	return a.moments[i][k]
}

// SyncMoments brings M and V up to date with their device copies.
func (a *Adam) SyncMoments() error {
	for _, mv := range a.moments {
		if err := a.env.SyncHost(mv[0], mv[1]); err != nil {
			return err
		}
	}
	return nil
}

// Release brings M and V up to date and frees their device copies and
// the solver's scratch (all of them, returning the first error); a later
// Step makes them resident again.
func (a *Adam) Release() error {
	var err error
	for _, mv := range a.moments {
		if e := a.env.Release(mv[0], mv[1]); err == nil {
			err = e
		}
	}
	a.env.B.Free(a.sq)
	a.moments, a.sq = nil, nil
	return err
}

var _ G.Solver = (*Adam)(nil)

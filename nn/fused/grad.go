package fused

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// forward is what a fused op implements besides gorgonia.Op: which inputs
// it is differentiable with respect to, the arena key of each input's
// gradient, and the backward pass, which reads the op's inputs, its output
// and the gradient of the output and leaves every differentiable input's
// gradient in the arena under gradKey(i).
type forward interface {
	G.Op
	kind() string
	environment() *Env
	diff() []bool
	gradKey(i int) string
	types() (in []hm.Type, out hm.Type)
	backward(inputs []G.Value, output, grad G.Value) error
}

// backwardOp runs a fused op's backward pass and returns the gradient of its
// first differentiable input; inputs are the op's inputs, its output and the
// output's gradient.
type backwardOp struct {
	fwd   forward
	first int
	shape tensor.Shape
}

func (b *backwardOp) Arity() int { return len(b.fwd.diff()) + 2 }
func (b *backwardOp) Type() hm.Type {
	in, out := b.fwd.types()
	return fnType(append(append([]hm.Type(nil), in...), out, out), f32Mat)
}
func (b *backwardOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return b.shape.Clone(), nil }
func (b *backwardOp) ReturnsPtr() bool                               { return true }
func (b *backwardOp) CallsExtern() bool                              { return false }
func (b *backwardOp) OverwritesInput() int                           { return -1 }
func (b *backwardOp) WriteHash(h hash.Hash)                          { hashOp(h, "backward", b) }
func (b *backwardOp) Hashcode() uint32                               { return hashcode("backward", b) }
func (b *backwardOp) String() string                                 { return "∂" + b.fwd.String() }
func (b *backwardOp) DiffWRT(n int) []bool                           { return make([]bool, n) }
func (b *backwardOp) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, fmt.Errorf("fused: gradients of gradients are not supported")
}

func (b *backwardOp) Do(vs ...G.Value) (_ G.Value, err error) {
	defer Catch(&err) // the tape machine runs ops on its own goroutine
	n := len(b.fwd.diff())
	if err := b.fwd.backward(vs[:n], vs[n], vs[n+1]); err != nil {
		return nil, err
	}
	return b.fwd.environment().value(b.fwd.gradKey(b.first), b.shape...), nil
}

// symDiff is the SymDiff of every fused op: one backward node, then one pick
// node per further differentiable input.
func symDiff(env *Env, fwd forward, inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	wrt := fwd.diff()
	first := -1
	for i, d := range wrt {
		if d {
			first = i
			break
		}
	}
	if first < 0 {
		return nil, fmt.Errorf("fused: %v has no differentiable input", fwd)
	}
	args := append(append(G.Nodes(nil), inputs...), output, grad)
	bwd, err := G.ApplyOp(&backwardOp{fwd: fwd, first: first, shape: inputs[first].Shape().Clone()}, args...)
	if err != nil {
		return nil, fmt.Errorf("fused: backward of %v: %w", fwd, err)
	}
	out := make(G.Nodes, len(inputs))
	out[first] = bwd
	for i := first + 1; i < len(inputs); i++ {
		if !wrt[i] {
			continue
		}
		if out[i], err = pickGrad(env, fwd.gradKey(i), inputs[i].Shape(), bwd); err != nil {
			return nil, fmt.Errorf("fused: gradient %d of %v: %w", i, fwd, err)
		}
	}
	return out, nil
}

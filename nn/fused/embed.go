package fused

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Embedding looks up rows of a V×E table for N×1 Int32 ids and multiplies
// them by a 1×E neuron mask: y[r] = table[ids[r]]∘mask (engine.NN
// EmbeddingForward). Its gradient with respect to the table scatter-adds
// the output gradient (EmbeddingBackward); ids and mask get none.
func Embedding(env *Env, name string, table, ids, mask *G.Node) (*G.Node, error) {
	return G.ApplyOp(&embedding{base{env, name}}, table, ids, mask)
}

type embedding struct{ base }

func (o *embedding) kind() string                { return "embedding" }
func (o *embedding) environment() *Env           { return o.env }
func (o *embedding) diff() []bool                { return []bool{true, false, false} }
func (o *embedding) gradKey(int) string          { return o.key("dtable") }
func (o *embedding) Arity() int                  { return 3 }
func (o *embedding) Type() hm.Type               { return fnType(o.types()) }
func (o *embedding) types() ([]hm.Type, hm.Type) { return []hm.Type{f32Mat, i32Mat, f32Mat}, f32Mat }
func (o *embedding) WriteHash(h hash.Hash)       { hashOp(h, o.kind(), o) }
func (o *embedding) Hashcode() uint32            { return hashcode(o.kind(), o) }
func (o *embedding) String() string              { return "Embedding " + o.name }
func (o *embedding) DiffWRT(int) []bool          { return o.diff() }
func (o *embedding) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return symDiff(o.env, o, in, out, grad)
}

func (o *embedding) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	t, err := shapeOf(ds[0])
	if err != nil {
		return nil, err
	}
	ids, err := shapeOf(ds[1])
	if err != nil {
		return nil, err
	}
	if len(t) != 2 || len(ids) != 2 || ids[1] != 1 {
		return nil, fmt.Errorf("fused: %s: table %v and ids %v, want V×E and N×1", o.name, t, ids)
	}
	return tensor.Shape{ids[0], t[1]}, nil
}

func (o *embedding) Do(vs ...G.Value) (_ G.Value, err error) {
	defer Catch(&err) // the tape machine runs ops on its own goroutine
	table := o.env.mat(vs[0])
	n, e := vs[1].Shape()[0], table.Cols()
	y := o.env.buf(o.key("y"), n, e)
	o.env.NN.EmbeddingForward(y, table, o.env.upload(o.key("ids"), vs[1].Data().([]int32)), o.env.mat(vs[2]))
	return o.env.value(o.key("y"), n, e), nil
}

func (o *embedding) backward(in []G.Value, _, grad G.Value) error {
	v, e := in[0].Shape()[0], in[0].Shape()[1]
	n := in[1].Shape()[0]
	dt := o.env.buf(o.gradKey(0), v, e)
	o.env.NN.EmbeddingBackward(dt, o.env.tensorOf(grad, n, e), o.env.ints32(o.key("ids"), n), o.env.mat(in[2]))
	return nil
}

// Dropout multiplies x by an inverted-dropout mask (engine.NN DropoutMask
// with probability P): each element is zeroed with probability P and the
// rest scaled by 1/(1−P). The mask is drawn afresh for every Seed the
// caller sets before a run (a counter-based hash, so a run is reproducible
// from its seed alone) and kept for the backward pass, dx = dy∘mask.
type Dropout struct {
	base
	P    float32
	Seed uint64
}

// NewDropout returns a dropout op; apply it with Apply.
func NewDropout(env *Env, name string, p float32) *Dropout {
	return &Dropout{base: base{env, name}, P: p}
}

// Apply adds the op to x's graph.
func (o *Dropout) Apply(x *G.Node) (*G.Node, error) { return G.ApplyOp(o, x) }

func (o *Dropout) kind() string                { return "dropout" }
func (o *Dropout) environment() *Env           { return o.env }
func (o *Dropout) diff() []bool                { return []bool{true} }
func (o *Dropout) gradKey(int) string          { return o.key("dx") }
func (o *Dropout) Arity() int                  { return 1 }
func (o *Dropout) Type() hm.Type               { return fnType(o.types()) }
func (o *Dropout) types() ([]hm.Type, hm.Type) { return []hm.Type{f32Mat}, f32Mat }
func (o *Dropout) WriteHash(h hash.Hash)       { hashOp(h, o.kind(), o) }
func (o *Dropout) Hashcode() uint32            { return hashcode(o.kind(), o) }
func (o *Dropout) String() string              { return fmt.Sprintf("Dropout(%g) %s", o.P, o.name) }
func (o *Dropout) DiffWRT(int) []bool          { return o.diff() }
func (o *Dropout) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return symDiff(o.env, o, in, out, grad)
}
func (o *Dropout) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(ds[0])
	return s.Clone(), err
}

func (o *Dropout) Do(vs ...G.Value) (_ G.Value, err error) {
	defer Catch(&err) // the tape machine runs ops on its own goroutine
	x := o.env.mat(vs[0])
	r, c := x.Rows(), x.Cols()
	m := o.env.buf(o.key("mask"), r, c)
	o.env.NN.DropoutMask(m, o.P, o.Seed)
	y := o.env.buf(o.key("y"), r, c)
	o.env.B.Mul(y, x, m)
	return o.env.value(o.key("y"), r, c), nil
}

func (o *Dropout) backward(in []G.Value, _, grad G.Value) error {
	dy := o.env.mat(grad)
	r, c := dy.Rows(), dy.Cols()
	o.env.B.Mul(o.env.buf(o.gradKey(0), r, c), dy, o.env.buf(o.key("mask"), r, c))
	return nil
}

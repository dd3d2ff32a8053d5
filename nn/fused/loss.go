package fused

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"github.com/grainlab/grain/engine"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SoftmaxLoss is the output layer and its loss in one op: for the N×H
// hidden states h, the V×H projection W, the 1×V bias b and the N×1 Int32
// labels (negative for padding),
//
//	logits = h·Wᵀ + b
//	loss   = (1/n) Σ_{r: label_r ≥ 0} −log softmax(logits_r)[label_r]
//
// where n is the number of non-pad rows (the mean cross-entropy per
// token, a Float32 scalar; 0 when n = 0). Only the non-pad rows are
// projected: they are gathered first (EmbeddingForward with an all-ones
// mask is a row gather) and their gradients scattered back
// (EmbeddingBackward), which skips the padding's share of the largest
// matrix products. With Train set, the forward pass
// also leaves (softmax − onehot)/n in place of the logits for the backward
// pass, so the exponentials are computed once. After each run LossSum and
// Tokens hold Σ cross-entropy (float64) and n, for perplexity.
type SoftmaxLoss struct {
	base
	Train   bool
	LossSum float64
	Tokens  int
}

// NewSoftmaxLoss returns the op; apply it with Apply.
func NewSoftmaxLoss(env *Env, name string, train bool) *SoftmaxLoss {
	return &SoftmaxLoss{base: base{env, name}, Train: train}
}

// Apply adds the op to the graph.
func (o *SoftmaxLoss) Apply(h, w, b, labels *G.Node) (*G.Node, error) {
	return G.ApplyOp(o, h, w, b, labels)
}

func (o *SoftmaxLoss) kind() string      { return "softmaxloss" }
func (o *SoftmaxLoss) environment() *Env { return o.env }
func (o *SoftmaxLoss) diff() []bool      { return []bool{true, true, true, false} }
func (o *SoftmaxLoss) gradKey(i int) string {
	return o.key([]string{"dh", "dw", "db"}[i])
}
func (o *SoftmaxLoss) Arity() int    { return 4 }
func (o *SoftmaxLoss) Type() hm.Type { return fnType(o.types()) }
func (o *SoftmaxLoss) types() ([]hm.Type, hm.Type) {
	return []hm.Type{f32Mat, f32Mat, f32Mat, i32Mat}, f32
}
func (o *SoftmaxLoss) WriteHash(h hash.Hash) { hashOp(h, o.kind(), o) }
func (o *SoftmaxLoss) Hashcode() uint32      { return hashcode(o.kind(), o) }
func (o *SoftmaxLoss) String() string        { return "SoftmaxLoss " + o.name }
func (o *SoftmaxLoss) DiffWRT(int) []bool    { return o.diff() }
func (o *SoftmaxLoss) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	if !o.Train {
		return nil, fmt.Errorf("fused: %s was built for evaluation (Train false) and has no gradient", o.name)
	}
	return symDiff(o.env, o, in, out, grad)
}
func (o *SoftmaxLoss) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	return tensor.ScalarShape(), nil
}

func (o *SoftmaxLoss) Do(vs ...G.Value) (_ G.Value, err error) {
	defer Catch(&err) // the tape machine runs ops on its own goroutine
	e := o.env
	h, w, b := e.mat(vs[0]), e.mat(vs[1]), e.mat(vs[2])
	v, hid := w.Rows(), h.Cols()
	var rows, labels []int32
	for r, l := range vs[3].Data().([]int32) {
		if l >= 0 {
			rows, labels = append(rows, int32(r)), append(labels, l)
		}
	}
	n := len(rows)
	o.Tokens, o.LossSum = n, 0
	if n == 0 {
		return G.NewF32(0), nil
	}
	hc := e.buf(o.key("h"), n, hid)
	e.NN.EmbeddingForward(hc, h, e.upload(o.key("rows"), rows), e.onesRow(hid))
	logits := e.buf(o.key("logits"), n, v)
	e.B.Gemm(false, true, 1, hc, w, 0, logits, engine.FP32)
	e.B.AddRowVector(logits, b)
	loss := e.sum64()
	var grad *engine.Tensor
	if o.Train {
		grad = logits
	}
	e.NN.SoftmaxCrossEntropyMasked(logits, e.upload(o.key("labels"), labels), grad, loss, 1/float32(n))
	sum := make([]float64, 1)
	if err := e.B.Download(sum, loss); err != nil {
		return nil, err
	}
	o.LossSum = sum[0]
	return G.NewF32(float32(o.LossSum / float64(n))), nil
}

func (o *SoftmaxLoss) backward(in []G.Value, _, grad G.Value) error {
	e := o.env
	h, w := e.mat(in[0]), e.mat(in[1])
	v, hid := w.Rows(), h.Cols()
	dh, dw, db := e.buf(o.gradKey(0), h.Rows(), hid), e.buf(o.gradKey(1), v, hid), e.buf(o.gradKey(2), 1, v)
	n := o.Tokens
	if n == 0 {
		e.B.Fill(dh, 0)
		e.B.Fill(dw, 0)
		e.B.Fill(db, 0)
		return nil
	}
	g := scalar(grad)
	dl, hc := e.buf(o.key("logits"), n, v), e.buf(o.key("h"), n, hid)
	dhc := e.buf(o.key("dhc"), n, hid)
	e.B.Gemm(false, false, g, dl, w, 0, dhc, engine.FP32)
	e.NN.EmbeddingBackward(dh, dhc, e.ints32(o.key("rows"), n), e.onesRow(hid))
	e.B.Gemm(true, false, g, dl, hc, 0, dw, engine.FP32)
	e.colSums(db, dl)
	if g != 1 {
		e.B.Scale(db, g)
	}
	return nil
}

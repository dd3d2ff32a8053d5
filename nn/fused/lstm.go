package fused

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"github.com/grainlab/grain/engine"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// LSTMWeights are the nodes of one direction of an LSTM layer with H units
// over I inputs: WIH (4H×I), WHH (4H×H), Bias (1×4H), gates in PyTorch's
// order [i f g o], and its 1×H neuron mask.
type LSTMWeights struct {
	WIH, WHH, Bias, Mask *G.Node
}

// LSTM runs an LSTM layer over a padded time-major sequence: x is (T·B)×I
// and valid (T·B)×1. With one direction it reads t = 0 … T−1; with two the
// second reads t = T−1 … 0, and the output concatenates them, forward
// columns first. For each direction, with zero initial state:
//
//	pre_t = W_ih·x_t + W_hh·h_{t−1} + b
//	c_t, h_t = LSTMCellForward(pre_t, c_{t−1}, mask, valid_t)
//
// so padded steps (valid 0) have h = c = 0: the backward direction starts
// fresh at each sequence's last real token, and padding never reaches a
// real step. The output is (T·B)×(dirs·H).
func LSTM(env *Env, name string, batch int, x, valid *G.Node, dirs ...LSTMWeights) (*G.Node, error) {
	if len(dirs) != 1 && len(dirs) != 2 {
		return nil, fmt.Errorf("fused: LSTM %s: %d directions", name, len(dirs))
	}
	args := G.Nodes{x, valid}
	for _, d := range dirs {
		args = append(args, d.WIH, d.WHH, d.Bias, d.Mask)
	}
	return G.ApplyOp(&lstm{base: base{env, name}, batch: batch, dirs: len(dirs)}, args...)
}

type lstm struct {
	base
	batch, dirs int
}

func (o *lstm) kind() string      { return "lstm" }
func (o *lstm) environment() *Env { return o.env }
func (o *lstm) diff() []bool {
	d := []bool{true, false}
	for range o.dirs {
		d = append(d, true, true, true, false)
	}
	return d
}
func (o *lstm) gradKey(i int) string {
	if i == 0 {
		return o.key("dx")
	}
	return fmt.Sprintf("%s/d%d", o.dirKey((i-2)/4), (i-2)%4)
}
func (o *lstm) dirKey(d int) string   { return fmt.Sprintf("%s/dir%d", o.name, d) }
func (o *lstm) Arity() int            { return 2 + 4*o.dirs }
func (o *lstm) WriteHash(h hash.Hash) { hashOp(h, o.kind(), o) }
func (o *lstm) Hashcode() uint32      { return hashcode(o.kind(), o) }
func (o *lstm) String() string        { return fmt.Sprintf("LSTM×%d %s", o.dirs, o.name) }
func (o *lstm) DiffWRT(int) []bool    { return o.diff() }
func (o *lstm) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return symDiff(o.env, o, in, out, grad)
}
func (o *lstm) Type() hm.Type { return fnType(o.types()) }
func (o *lstm) types() ([]hm.Type, hm.Type) {
	in := []hm.Type{f32Mat, f32Mat}
	for range o.dirs {
		in = append(in, f32Mat, f32Mat, f32Mat, f32Mat)
	}
	return in, f32Mat
}

func (o *lstm) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	x, err := shapeOf(ds[0])
	if err != nil {
		return nil, err
	}
	whh, err := shapeOf(ds[3])
	if err != nil {
		return nil, err
	}
	if len(x) != 2 || x[0]%o.batch != 0 || len(whh) != 2 {
		return nil, fmt.Errorf("fused: LSTM %s: input %v is not (T·%d)×I", o.name, x, o.batch)
	}
	return tensor.Shape{x[0], o.dirs * whh[1]}, nil
}

// lstmDir is one direction's engine tensors.
type lstmDir struct {
	wih, whh, bias, mask *engine.Tensor
	h                    int
}

func (o *lstm) dir(vs []G.Value, d int) lstmDir {
	w := vs[2+4*d:]
	whh := o.env.mat(w[1])
	return lstmDir{wih: o.env.mat(w[0]), whh: whh, bias: o.env.mat(w[2]), mask: o.env.mat(w[3]), h: whh.Cols()}
}

func (o *lstm) Do(vs ...G.Value) (_ G.Value, err error) {
	defer Catch(&err) // the tape machine runs ops on its own goroutine
	x, valid := o.env.mat(vs[0]), o.env.mat(vs[1])
	tb := x.Rows()
	hid := o.dir(vs, 0).h
	var y *engine.Tensor
	if o.dirs == 2 {
		y = o.env.buf(o.key("y"), tb, 2*hid)
	}
	for d := range o.dirs {
		h := o.env.lstmForward(o.dirKey(d), x, valid, o.batch, o.dir(vs, d), d == 1)
		if o.dirs == 1 {
			return o.env.value(o.dirKey(d)+"/h", tb, hid), nil
		}
		o.env.NN.CopyToColumns(y, d*hid, h)
	}
	return o.env.value(o.key("y"), tb, 2*hid), nil
}

// lstmForward runs one direction over the sequence, leaving the gate
// activations, cell states and outputs in the arena under key/gates, key/c
// and key/h, and returns the outputs.
func (e *Env) lstmForward(key string, x, valid *engine.Tensor, batch int, w lstmDir, reverse bool) *engine.Tensor {
	tb, h := x.Rows(), w.h
	steps := tb / batch
	gates := e.buf(key+"/gates", tb, 4*h)
	c, hs := e.buf(key+"/c", tb, h), e.buf(key+"/h", tb, h)
	e.B.Gemm(false, true, 1, x, w.wih, 0, gates, engine.FP32)
	e.B.AddRowVector(gates, w.bias)
	var prev int = -1
	for k := range steps {
		t := k
		if reverse {
			t = steps - 1 - k
		}
		lo, hi := t*batch, (t+1)*batch
		g := gates.Slice(lo, hi)
		var cPrev *engine.Tensor
		if prev >= 0 {
			e.B.Gemm(false, true, 1, hs.Slice(prev*batch, (prev+1)*batch), w.whh, 1, g, engine.FP32)
			cPrev = c.Slice(prev*batch, (prev+1)*batch)
		}
		e.NN.LSTMCellForward(g, cPrev, c.Slice(lo, hi), hs.Slice(lo, hi), w.mask, valid.Slice(lo, hi))
		prev = t
	}
	return hs
}

func (o *lstm) backward(in []G.Value, _, grad G.Value) error {
	x, valid := o.env.mat(in[0]), o.env.mat(in[1])
	tb := x.Rows()
	dy := o.env.mat(grad)
	dx := o.env.buf(o.gradKey(0), tb, x.Cols())
	for d := range o.dirs {
		w := o.dir(in, d)
		key := o.dirKey(d)
		dh := o.env.buf(key+"/dh", tb, w.h)
		if o.dirs == 1 {
			o.env.B.Copy(dh, dy)
		} else {
			o.env.NN.CopyFromColumns(dh, dy, d*w.h)
		}
		beta := float32(0)
		if d > 0 {
			beta = 1
		}
		o.env.lstmBackward(key, x, valid, o.batch, w, d == 1, dh, dx, beta,
			o.env.buf(o.gradKey(2+4*d), w.wih.Rows(), w.wih.Cols()),
			o.env.buf(o.gradKey(3+4*d), w.whh.Rows(), w.whh.Cols()),
			o.env.buf(o.gradKey(4+4*d), 1, 4*w.h))
	}
	return nil
}

// lstmBackward back-propagates through one direction run by lstmForward
// under key. dh ((T·B)×H) holds the gradient w.r.t. the outputs and is used
// as scratch; dx receives dx·beta + the input gradient; dWIH, dWHH and
// dBias are overwritten.
func (e *Env) lstmBackward(key string, x, valid *engine.Tensor, batch int, w lstmDir, reverse bool, dh, dx *engine.Tensor, beta float32, dWIH, dWHH, dBias *engine.Tensor) {
	tb, h := x.Rows(), w.h
	steps := tb / batch
	gates, c, hs := e.buf(key+"/gates", tb, 4*h), e.buf(key+"/c", tb, h), e.saved(key+"/h", tb, h)
	dg := e.buf(key+"/dgates", tb, 4*h)
	dc := e.zbuf(key+"/dc", batch, h)
	for k := steps - 1; k >= 0; k-- {
		t, prev := k, k-1
		if reverse {
			t, prev = steps-1-k, steps-k
		}
		lo, hi := t*batch, (t+1)*batch
		var cPrev *engine.Tensor
		if k > 0 {
			cPrev = c.Slice(prev*batch, (prev+1)*batch)
		}
		g := dg.Slice(lo, hi)
		e.NN.LSTMCellBackward(gates.Slice(lo, hi), cPrev, c.Slice(lo, hi), w.mask, valid.Slice(lo, hi), dh.Slice(lo, hi), dc, g)
		if k > 0 {
			e.B.Gemm(false, false, 1, g, w.whh, 1, dh.Slice(prev*batch, (prev+1)*batch), engine.FP32)
		}
	}
	e.B.Gemm(true, false, 1, dg, x, 0, dWIH, engine.FP32)
	// dW_hh = Σ_t dg_tᵀ·h_{t−1}: the gate gradients of every step but the
	// first processed against the outputs of the step before.
	if steps > 1 {
		rest := (steps - 1) * batch
		if reverse {
			e.B.Gemm(true, false, 1, dg.Slice(0, rest), hs.Slice(batch, tb), 0, dWHH, engine.FP32)
		} else {
			e.B.Gemm(true, false, 1, dg.Slice(batch, tb), hs.Slice(0, rest), 0, dWHH, engine.FP32)
		}
	} else {
		e.B.Fill(dWHH, 0)
	}
	e.colSums(dBias, dg)
	e.B.Gemm(false, false, 1, dg, w.wih, beta, dx, engine.FP32)
}

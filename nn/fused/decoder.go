package fused

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"github.com/grainlab/grain/engine"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// DecoderWeights are the nodes of the attentional decoder with L layers of
// H units over E-dimensional target embeddings and a Dm-dimensional
// encoder memory. Layers[0] holds WIH = W_ie (4H×E, the embedding part of
// layer 0's input) and Feed = W_if (4H×H, the input-feeding part); layers
// l ≥ 1 have WIH (4H×H) and no Feed. WA (H×Dm) is Luong's "general" score
// matrix, WCC (H×Dm) and WCH (H×H) form the attentional hidden state, and
// AttMask (1×H) is its neuron mask.
type DecoderWeights struct {
	Layers       []LSTMWeights
	Feed         *G.Node
	WA, WCC, WCH *G.Node
	AttMask      *G.Node
}

// nodes lists the weights in the op's input order.
func (w DecoderWeights) nodes() G.Nodes {
	var n G.Nodes
	for l, lw := range w.Layers {
		n = append(n, lw.WIH)
		if l == 0 {
			n = append(n, w.Feed)
		}
		n = append(n, lw.WHH, lw.Bias, lw.Mask)
	}
	return append(n, w.WA, w.WCC, w.WCH, w.AttMask)
}

// Decoder is the attentional LSTM decoder with input feeding of Luong,
// Pham & Manning (2015, "global attention", "general" score) over a whole
// target sequence, one op. With x the (T·B)×E target input embeddings
// (<s> y1 … y_{T−1}), valid its (T·B)×1 validity, mem the (S·B)×Dm encoder
// outputs and srcLen the 1×B Int32 source lengths, and zero initial states,
// at every step t:
//
//	layer 0:   pre = W_ie·x_t + W_if·ỹ_{t−1} + W_hh·h⁰_{t−1} + b⁰   (ỹ_{−1} = 0)
//	layer l>0: pre = W_ih·(d^l_t∘h^{l−1}_t) + W_hh·h^l_{t−1} + b^l
//	           c^l_t, h^l_t = LSTMCellForward(pre, c^l_{t−1}, mask^l, valid_t)
//	attention: a_t = AttentionForward(q = h^{L−1}_t, keys = mem·W_aᵀ, values = mem, srcLen)
//	           (score(h, m̄) = hᵀ·W_a·m̄, softmax over the source's real tokens)
//	output:    h̃_t = attMask∘tanh(W_cc·a_t + W_ch·h^{L−1}_t)
//	           ỹ_t = o_t∘h̃_t
//
// where d^l and o are inverted-dropout masks with probability P drawn from
// Seed (all ones when P = 0). The output is ỹ, (T·B)×H: it feeds the
// softmax layer and, one step later, layer 0 (input feeding).
type Decoder struct {
	base
	batch, layers int
	P             float32
	Seed          uint64
}

// NewDecoder returns the decoder op for batches of batch sequences and the
// given number of layers; apply it with Apply.
func NewDecoder(env *Env, name string, batch, layers int, p float32) *Decoder {
	return &Decoder{base: base{env, name}, batch: batch, layers: layers, P: p}
}

// Apply adds the decoder to the graph.
func (o *Decoder) Apply(x, valid, mem, srcLen *G.Node, w DecoderWeights) (*G.Node, error) {
	if len(w.Layers) != o.layers {
		return nil, fmt.Errorf("fused: decoder %s: %d layer weights for %d layers", o.name, len(w.Layers), o.layers)
	}
	return G.ApplyOp(o, append(G.Nodes{x, valid, mem, srcLen}, w.nodes()...)...)
}

func (o *Decoder) kind() string      { return "decoder" }
func (o *Decoder) environment() *Env { return o.env }
func (o *Decoder) Arity() int        { return 4 + 5 + 4*(o.layers-1) + 4 }
func (o *Decoder) diff() []bool {
	d := []bool{true, false, true, false}
	for l := range o.layers {
		if l == 0 {
			d = append(d, true)
		}
		d = append(d, true, true, true, false)
	}
	return append(d, true, true, true, false)
}
func (o *Decoder) gradKey(i int) string  { return fmt.Sprintf("%s/grad%d", o.name, i) }
func (o *Decoder) WriteHash(h hash.Hash) { hashOp(h, o.kind(), o) }
func (o *Decoder) Hashcode() uint32      { return hashcode(o.kind(), o) }
func (o *Decoder) String() string        { return fmt.Sprintf("Decoder×%d %s", o.layers, o.name) }
func (o *Decoder) DiffWRT(int) []bool    { return o.diff() }
func (o *Decoder) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return symDiff(o.env, o, in, out, grad)
}
func (o *Decoder) Type() hm.Type { return fnType(o.types()) }
func (o *Decoder) types() ([]hm.Type, hm.Type) {
	in := make([]hm.Type, o.Arity())
	for i := range in {
		in[i] = f32Mat
	}
	in[3] = i32Mat
	return in, f32Mat
}

func (o *Decoder) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	x, err := shapeOf(ds[0])
	if err != nil {
		return nil, err
	}
	whh, err := shapeOf(ds[6])
	if err != nil {
		return nil, err
	}
	if len(x) != 2 || x[0]%o.batch != 0 {
		return nil, fmt.Errorf("fused: decoder %s: input %v is not (T·%d)×E", o.name, x, o.batch)
	}
	return tensor.Shape{x[0], whh[1]}, nil
}

// decWeights are the decoder's weights as engine tensors.
type decWeights struct {
	layers       []lstmDir // wih is W_ie for layer 0
	feed         *engine.Tensor
	wa, wcc, wch *engine.Tensor
	attMask      *engine.Tensor
	h            int
}

// weights wraps the weight values, which start at input 4.
func (e *Env) decWeights(vs []G.Value, layers int) decWeights {
	var w decWeights
	i := 0
	for l := range layers {
		var d lstmDir
		d.wih = e.mat(vs[i])
		i++
		if l == 0 {
			w.feed = e.mat(vs[i])
			i++
		}
		d.whh, d.bias, d.mask = e.mat(vs[i]), e.mat(vs[i+1]), e.mat(vs[i+2])
		d.h = d.whh.Cols()
		i += 3
		w.layers = append(w.layers, d)
	}
	w.wa, w.wcc, w.wch, w.attMask = e.mat(vs[i]), e.mat(vs[i+1]), e.mat(vs[i+2]), e.mat(vs[i+3])
	w.h = w.layers[0].h
	return w
}

// decStep names the tensors of one decoder step over `rows` rows: per layer
// the gates (for layer 0 holding W_ie·x_t + b⁰ on entry), the previous and
// new cell and hidden states (previous ones nil at t = 0), the dropped
// inputs of layers l > 0 and their dropout masks (nil without dropout); the
// previous output (nil at t = 0); the attention probabilities and context;
// the attentional state h̃ and the output ỹ with its dropout mask (out is
// att and outMask nil without dropout).
type decStep struct {
	gates, cPrev, c, hPrev, h, in, inMask []*engine.Tensor
	feedPrev, probs, ctx, att, out        *engine.Tensor
	outMask, valid                        *engine.Tensor
}

// decoderStep computes one step (see Decoder). keys = mem·W_aᵀ.
func (e *Env) decoderStep(w decWeights, s decStep, keys, mem, srcLen *engine.Tensor) {
	for l, lw := range w.layers {
		g := s.gates[l]
		if l == 0 {
			if s.feedPrev != nil {
				e.B.Gemm(false, true, 1, s.feedPrev, w.feed, 1, g, engine.FP32)
			}
		} else {
			in := s.h[l-1]
			if s.inMask[l] != nil {
				e.B.Mul(s.in[l], in, s.inMask[l])
				in = s.in[l]
			}
			e.B.Gemm(false, true, 1, in, lw.wih, 0, g, engine.FP32)
			e.B.AddRowVector(g, lw.bias)
		}
		if s.hPrev[l] != nil {
			e.B.Gemm(false, true, 1, s.hPrev[l], lw.whh, 1, g, engine.FP32)
		}
		e.NN.LSTMCellForward(g, s.cPrev[l], s.c[l], s.h[l], lw.mask, s.valid)
	}
	top := s.h[len(w.layers)-1]
	e.NN.AttentionForward(top, keys, mem, srcLen, s.probs, s.ctx)
	e.B.Gemm(false, true, 1, s.ctx, w.wcc, 0, s.att, engine.FP32)
	e.B.Gemm(false, true, 1, top, w.wch, 1, s.att, engine.FP32)
	e.NN.TanhMask(s.att, w.attMask)
	if s.outMask != nil {
		e.B.Mul(s.out, s.att, s.outMask)
	}
}

// decBuffers are the whole-sequence buffers of a training or evaluation run.
type decBuffers struct {
	gates, c, h, in, inMask          []*engine.Tensor
	keys, probs, ctx, att, out, outM *engine.Tensor
}

// buffers takes the buffers with get: Env.buf in the forward pass, which
// writes them, Env.saved in the backward pass, which only reads them.
func (o *Decoder) buffers(tb, sb, dm, h int, dropout bool, get func(key string, rows, cols int) *engine.Tensor) decBuffers {
	var b decBuffers
	for l := range o.layers {
		k := fmt.Sprintf("%s/l%d", o.name, l)
		b.gates = append(b.gates, get(k+"/gates", tb, 4*h))
		b.c = append(b.c, get(k+"/c", tb, h))
		b.h = append(b.h, get(k+"/h", tb, h))
		var in, m *engine.Tensor
		if l > 0 && dropout {
			in, m = get(k+"/in", tb, h), get(k+"/inmask", tb, h)
		}
		b.in, b.inMask = append(b.in, in), append(b.inMask, m)
	}
	b.keys = get(o.key("keys"), sb, h)
	b.probs = get(o.key("probs"), tb, sb/o.batch)
	b.ctx = get(o.key("ctx"), tb, dm)
	b.att = get(o.key("att"), tb, h)
	b.out = b.att
	if dropout {
		b.out, b.outM = get(o.key("out"), tb, h), get(o.key("outmask"), tb, h)
	}
	return b
}

// step returns the decStep of time t within the whole-sequence buffers.
func (o *Decoder) step(b decBuffers, valid *engine.Tensor, t int) decStep {
	lo, hi := t*o.batch, (t+1)*o.batch
	rows := func(x *engine.Tensor, t int) *engine.Tensor {
		if x == nil || t < 0 {
			return nil
		}
		return x.Slice(t*o.batch, (t+1)*o.batch)
	}
	var s decStep
	for l := range o.layers {
		s.gates = append(s.gates, rows(b.gates[l], t))
		s.cPrev = append(s.cPrev, rows(b.c[l], t-1))
		s.c = append(s.c, rows(b.c[l], t))
		s.hPrev = append(s.hPrev, rows(b.h[l], t-1))
		s.h = append(s.h, rows(b.h[l], t))
		s.in = append(s.in, rows(b.in[l], t))
		s.inMask = append(s.inMask, rows(b.inMask[l], t))
	}
	s.feedPrev = rows(b.out, t-1)
	s.probs, s.ctx, s.att, s.out = b.probs.Slice(lo, hi), b.ctx.Slice(lo, hi), b.att.Slice(lo, hi), b.out.Slice(lo, hi)
	s.outMask, s.valid = rows(b.outM, t), valid.Slice(lo, hi)
	return s
}

func (o *Decoder) Do(vs ...G.Value) (_ G.Value, err error) {
	defer Catch(&err) // the tape machine runs ops on its own goroutine
	e := o.env
	x, valid, mem := e.mat(vs[0]), e.mat(vs[1]), e.mat(vs[2])
	srcLen := e.upload(o.key("srclen"), vs[3].Data().([]int32)).Reshape(1, o.batch)
	w := e.decWeights(vs[4:], o.layers)
	tb, sb, h := x.Rows(), mem.Rows(), w.h
	dropout := o.P > 0
	b := o.buffers(tb, sb, mem.Cols(), h, dropout, e.buf)
	if dropout {
		for l, m := range b.inMask {
			if m != nil {
				e.NN.DropoutMask(m, o.P, o.Seed+uint64(l))
			}
		}
		e.NN.DropoutMask(b.outM, o.P, o.Seed+uint64(o.layers))
	}
	e.B.Gemm(false, true, 1, mem, w.wa, 0, b.keys, engine.FP32)
	e.B.Gemm(false, true, 1, x, w.layers[0].wih, 0, b.gates[0], engine.FP32)
	e.B.AddRowVector(b.gates[0], w.layers[0].bias)
	for t := range tb / o.batch {
		e.decoderStep(w, o.step(b, valid, t), b.keys, mem, srcLen)
	}
	key := o.key("att")
	if dropout {
		key = o.key("out")
	}
	return e.value(key, tb, h), nil
}

func (o *Decoder) backward(in []G.Value, _, grad G.Value) error {
	e := o.env
	x, valid, mem := e.mat(in[0]), e.mat(in[1]), e.mat(in[2])
	w := e.decWeights(in[4:], o.layers)
	tb, sb, h, dm, bs := x.Rows(), mem.Rows(), w.h, mem.Cols(), o.batch
	steps := tb / bs
	b := o.buffers(tb, sb, dm, h, o.P > 0, e.saved)
	dOut := e.mat(grad)

	dKeys := e.zbuf(o.key("dkeys"), sb, h)
	dMem := e.zbuf(o.gradKey(2), sb, dm)
	dFeed := e.zbuf(o.key("dfeed"), bs, h)
	dA := e.buf(o.key("datt"), tb, h)
	dCtx, dTop := e.buf(o.key("dctx"), bs, dm), e.buf(o.key("dtop"), bs, h)
	dq, dTmp, dO := e.buf(o.key("dq"), bs, h), e.buf(o.key("dtmp"), bs, h), e.buf(o.key("do"), bs, h)
	var dRec, dC, dG []*engine.Tensor
	for l := range o.layers {
		k := fmt.Sprintf("%s/l%d", o.name, l)
		dRec = append(dRec, e.zbuf(k+"/drec", bs, h))
		dC = append(dC, e.zbuf(k+"/dc", bs, h))
		dG = append(dG, e.buf(k+"/dgates", tb, 4*h))
	}
	for t := steps - 1; t >= 0; t-- {
		s := o.step(b, valid, t)
		lo, hi := t*bs, (t+1)*bs
		e.B.Copy(dO, dOut.Slice(lo, hi))
		e.B.Axpy(1, dFeed, dO)
		if s.outMask != nil {
			e.B.Mul(dO, dO, s.outMask)
		}
		da := dA.Slice(lo, hi)
		e.NN.TanhMaskBackward(da, dO, s.att, w.attMask)
		e.B.Gemm(false, false, 1, da, w.wcc, 0, dCtx, engine.FP32)
		top := s.h[o.layers-1]
		e.B.Gemm(false, false, 1, da, w.wch, 0, dTop, engine.FP32)
		e.NN.AttentionBackward(top, b.keys, mem, s.probs, dCtx, dq, dKeys, dMem)
		e.B.Axpy(1, dq, dTop)
		above := dTop
		for l := o.layers - 1; l >= 0; l-- {
			lw := w.layers[l]
			e.B.Axpy(1, above, dRec[l])
			g := dG[l].Slice(lo, hi)
			e.NN.LSTMCellBackward(s.gates[l], s.cPrev[l], s.c[l], lw.mask, s.valid, dRec[l], dC[l], g)
			if t > 0 {
				e.B.Gemm(false, false, 1, g, lw.whh, 0, dRec[l], engine.FP32)
			}
			if l > 0 {
				e.B.Gemm(false, false, 1, g, lw.wih, 0, dTmp, engine.FP32)
				if s.inMask[l] != nil {
					e.B.Mul(dTmp, dTmp, s.inMask[l])
				}
				above = dTmp
			} else if t > 0 {
				e.B.Gemm(false, false, 1, g, w.feed, 0, dFeed, engine.FP32)
			}
		}
	}
	// Weight gradients, in input order (see DecoderWeights.nodes).
	i := 4
	prevRows := func(x *engine.Tensor) *engine.Tensor { return x.Slice(0, tb-bs) }
	nextRows := func(x *engine.Tensor) *engine.Tensor { return x.Slice(bs, tb) }
	recurrent := func(dst, dg, src *engine.Tensor) {
		if steps > 1 {
			e.B.Gemm(true, false, 1, nextRows(dg), prevRows(src), 0, dst, engine.FP32)
		} else {
			e.B.Fill(dst, 0)
		}
	}
	for l := range w.layers {
		input := x
		if l > 0 {
			input = b.h[l-1]
			if b.in[l] != nil {
				input = b.in[l]
			}
		}
		e.B.Gemm(true, false, 1, dG[l], input, 0, e.buf(o.gradKey(i), 4*h, input.Cols()), engine.FP32)
		i++
		if l == 0 {
			recurrent(e.buf(o.gradKey(i), 4*h, h), dG[0], b.out)
			i++
		}
		recurrent(e.buf(o.gradKey(i), 4*h, h), dG[l], b.h[l])
		e.colSums(e.buf(o.gradKey(i+1), 1, 4*h), dG[l])
		i += 3
	}
	e.B.Gemm(true, false, 1, dKeys, mem, 0, e.buf(o.gradKey(i), h, dm), engine.FP32)
	e.B.Gemm(true, false, 1, dA, b.ctx, 0, e.buf(o.gradKey(i+1), h, dm), engine.FP32)
	e.B.Gemm(true, false, 1, dA, b.h[o.layers-1], 0, e.buf(o.gradKey(i+2), h, h), engine.FP32)
	e.B.Gemm(false, false, 1, dKeys, w.wa, 1, dMem, engine.FP32)
	e.B.Gemm(false, false, 1, dG[0], w.layers[0].wih, 0, e.buf(o.gradKey(0), tb, x.Cols()), engine.FP32)
	return nil
}

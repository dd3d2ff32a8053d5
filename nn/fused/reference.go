package fused

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Ref builds the reference of every fused op from Gorgonia's own
// fine-grained operations (matrix products, elementwise sigmoid, tanh,
// exp, log, sums) in float64, for tests that check the fused ops' values
// and gradients against Gorgonia's autodiff. Rows and columns are selected
// by multiplying with constant 0/1 selection matrices, which sidesteps
// Gorgonia's Slice squeezing of one-element ranges and its ByIndices
// gradient bug (see DESIGN.md). The first error sticks: check Err after
// building.
type Ref struct {
	G   *G.ExprGraph
	Err error
	n   int
}

// NewRef returns a builder over a new graph.
func NewRef() *Ref { return &Ref{G: G.NewGraph()} }

func (r *Ref) do(f func() (*G.Node, error)) *G.Node {
	if r.Err != nil {
		return nil
	}
	n, err := f()
	if err != nil {
		r.Err = err
	}
	return n
}

// Const adds a rows×cols float64 constant.
func (r *Ref) Const(rows, cols int, v []float64) *G.Node {
	r.n++
	return G.NewMatrix(r.G, tensor.Float64, G.WithShape(rows, cols), G.WithName(fmt.Sprintf("const%d", r.n)),
		G.WithValue(tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(append([]float64(nil), v...)))))
}

// Param adds a named rows×cols float64 input holding v (differentiate with
// respect to it with G.Grad).
func (r *Ref) Param(name string, rows, cols int, v []float32) *G.Node {
	d := make([]float64, len(v))
	for i, x := range v {
		d[i] = float64(x)
	}
	return G.NewMatrix(r.G, tensor.Float64, G.WithShape(rows, cols), G.WithName(name),
		G.WithValue(tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(d))))
}

func (r *Ref) mm(a, b *G.Node) *G.Node  { return r.do(func() (*G.Node, error) { return G.Mul(a, b) }) }
func (r *Ref) add(a, b *G.Node) *G.Node { return r.do(func() (*G.Node, error) { return G.Add(a, b) }) }
func (r *Ref) sub(a, b *G.Node) *G.Node { return r.do(func() (*G.Node, error) { return G.Sub(a, b) }) }
func (r *Ref) had(a, b *G.Node) *G.Node {
	return r.do(func() (*G.Node, error) { return G.HadamardProd(a, b) })
}
func (r *Ref) sigmoid(a *G.Node) *G.Node {
	return r.do(func() (*G.Node, error) { return G.Sigmoid(a) })
}
func (r *Ref) tanh(a *G.Node) *G.Node { return r.do(func() (*G.Node, error) { return G.Tanh(a) }) }
func (r *Ref) tr(a *G.Node) *G.Node   { return r.do(func() (*G.Node, error) { return G.Transpose(a) }) }

// rowsOf selects rows idx of an n-row matrix: Sel·x.
func (r *Ref) rowsOf(x *G.Node, idx []int) *G.Node {
	n := x.Shape()[0]
	sel := make([]float64, len(idx)*n)
	for i, j := range idx {
		sel[i*n+j] = 1
	}
	return r.mm(r.Const(len(idx), n, sel), x)
}

// placeRows returns the n-row matrix whose rows idx are x and others 0.
func (r *Ref) placeRows(x *G.Node, idx []int, n int) *G.Node {
	sel := make([]float64, n*len(idx))
	for i, j := range idx {
		sel[j*len(idx)+i] = 1
	}
	return r.mm(r.Const(n, len(idx), sel), x)
}

// colsOf selects columns [lo, hi) of x: x·Sel.
func (r *Ref) colsOf(x *G.Node, lo, hi int) *G.Node {
	n := x.Shape()[1]
	sel := make([]float64, n*(hi-lo))
	for j := lo; j < hi; j++ {
		sel[j*(hi-lo)+j-lo] = 1
	}
	return r.mm(x, r.Const(n, hi-lo, sel))
}

// concatCols returns [a b] as a·[I 0] + b·[0 I].
func (r *Ref) concatCols(a, b *G.Node) *G.Node {
	ca, cb := a.Shape()[1], b.Shape()[1]
	pa, pb := make([]float64, ca*(ca+cb)), make([]float64, cb*(ca+cb))
	for j := 0; j < ca; j++ {
		pa[j*(ca+cb)+j] = 1
	}
	for j := 0; j < cb; j++ {
		pb[j*(ca+cb)+ca+j] = 1
	}
	return r.add(r.mm(a, r.Const(ca, ca+cb, pa)), r.mm(b, r.Const(cb, ca+cb, pb)))
}

// bcastRow repeats the 1×n row v over rows rows.
func (r *Ref) bcastRow(v *G.Node, rows int) *G.Node {
	return r.mm(r.Const(rows, 1, ones(rows)), v)
}

// bcastCol repeats the rows×1 column v over cols columns.
func (r *Ref) bcastCol(v *G.Node, cols int) *G.Node {
	return r.mm(v, r.Const(1, cols, ones(cols)))
}

func ones(n int) []float64 {
	o := make([]float64, n)
	for i := range o {
		o[i] = 1
	}
	return o
}

// Embedding is the reference of Embedding: onehot(ids)·table∘mask.
func (r *Ref) Embedding(table *G.Node, ids []int32, mask []float32) *G.Node {
	v := table.Shape()[0]
	oh := make([]float64, len(ids)*v)
	for i, id := range ids {
		oh[i*v+int(id)] = 1
	}
	m := r.Const(1, len(mask), f64(mask))
	return r.had(r.mm(r.Const(len(ids), v, oh), table), r.bcastRow(m, len(ids)))
}

// Scale is x∘m for a constant m of x's shape (the reference of Dropout
// with the mask the fused op drew).
func (r *Ref) Scale(x *G.Node, m []float32) *G.Node {
	s := x.Shape()
	return r.had(x, r.Const(s[0], s[1], f64(m)))
}

// RefLSTMWeights are one direction's reference weights and its mask.
type RefLSTMWeights struct {
	WIH, WHH, Bias *G.Node
	Mask           []float32
}

// cell is one LSTM step: pre (B×4H) to c and h.
func (r *Ref) cell(pre, cPrev *G.Node, mask []float32, valid []float64) (c, h *G.Node) {
	hid := len(mask)
	b := pre.Shape()[0]
	i := r.sigmoid(r.colsOf(pre, 0, hid))
	f := r.sigmoid(r.colsOf(pre, hid, 2*hid))
	g := r.tanh(r.colsOf(pre, 2*hid, 3*hid))
	o := r.sigmoid(r.colsOf(pre, 3*hid, 4*hid))
	v := r.bcastCol(r.Const(b, 1, valid), hid)
	c = r.had(i, g)
	if cPrev != nil {
		c = r.add(c, r.had(f, cPrev))
	}
	c = r.had(v, c)
	m := r.bcastRow(r.Const(1, hid, f64(mask)), b)
	h = r.had(r.had(v, m), r.had(o, r.tanh(c)))
	return c, h
}

// LSTM is the reference of LSTM for the given validity ((T·B) values).
func (r *Ref) LSTM(batch int, x *G.Node, valid []float32, dirs ...RefLSTMWeights) *G.Node {
	tb := x.Shape()[0]
	steps := tb / batch
	var out *G.Node
	for d, w := range dirs {
		var seq *G.Node
		var c, h *G.Node
		for k := range steps {
			t := k
			if d == 1 {
				t = steps - 1 - k
			}
			idx := stepRows(t, batch)
			pre := r.add(r.mm(r.rowsOf(x, idx), r.tr(w.WIH)), r.bcastRow(w.Bias, batch))
			if h != nil {
				pre = r.add(pre, r.mm(h, r.tr(w.WHH)))
			}
			c, h = r.cell(pre, c, w.Mask, f64(valid[t*batch:(t+1)*batch]))
			seq = r.sum(seq, r.placeRows(h, idx, tb))
		}
		if out == nil {
			out = seq
		} else {
			out = r.concatCols(out, seq)
		}
	}
	return out
}

func (r *Ref) sum(acc, x *G.Node) *G.Node {
	if acc == nil {
		return x
	}
	return r.add(acc, x)
}

func stepRows(t, batch int) []int {
	idx := make([]int, batch)
	for b := range idx {
		idx[b] = t*batch + b
	}
	return idx
}

// RefDecoderWeights are the reference decoder's weights (see
// DecoderWeights) and masks.
type RefDecoderWeights struct {
	Layers       []RefLSTMWeights
	Feed         *G.Node
	WA, WCC, WCH *G.Node
	AttMask      []float32
}

// Decoder is the reference of Decoder; inMasks[l] (l ≥ 1) and outMask are
// the (T·B)×H dropout masks the fused op drew, or nil without dropout.
func (r *Ref) Decoder(batch int, x *G.Node, valid []float32, mem *G.Node, srcLen []int32, w RefDecoderWeights, inMasks [][]float32, outMask []float32) *G.Node {
	tb := x.Shape()[0]
	steps, hid := tb/batch, len(w.AttMask)
	keys := r.mm(mem, r.tr(w.WA))
	layers := len(w.Layers)
	c, h := make([]*G.Node, layers), make([]*G.Node, layers)
	var feed, out *G.Node
	for t := range steps {
		idx := stepRows(t, batch)
		v := f64(valid[t*batch : (t+1)*batch])
		for l, lw := range w.Layers {
			var pre *G.Node
			if l == 0 {
				pre = r.mm(r.rowsOf(x, idx), r.tr(lw.WIH))
				if feed != nil {
					pre = r.add(pre, r.mm(feed, r.tr(w.Feed)))
				}
			} else {
				in := h[l-1]
				if inMasks != nil && inMasks[l] != nil {
					in = r.had(in, r.Const(batch, hid, f64(inMasks[l][t*batch*hid:(t+1)*batch*hid])))
				}
				pre = r.mm(in, r.tr(lw.WIH))
			}
			pre = r.add(pre, r.bcastRow(lw.Bias, batch))
			if h[l] != nil {
				pre = r.add(pre, r.mm(h[l], r.tr(lw.WHH)))
			}
			c[l], h[l] = r.cell(pre, c[l], lw.Mask, v)
		}
		top := h[layers-1]
		var ctx *G.Node
		for b := range batch {
			n := int(srcLen[b])
			rows := make([]int, n)
			for s := range rows {
				rows[s] = s*batch + b
			}
			kb, vb := r.rowsOf(keys, rows), r.rowsOf(mem, rows)
			qb := r.rowsOf(top, []int{b})
			e := r.do(func() (*G.Node, error) { return G.Exp(r.mm(kb, r.tr(qb))) })
			z := r.do(func() (*G.Node, error) { return G.Sum(e) })
			alpha := r.do(func() (*G.Node, error) { return G.HadamardDiv(e, z) })
			cb := r.mm(r.tr(alpha), vb)
			ctx = r.sum(ctx, r.placeRows(cb, []int{b}, batch))
		}
		att := r.tanh(r.add(r.mm(ctx, r.tr(w.WCC)), r.mm(top, r.tr(w.WCH))))
		att = r.had(att, r.bcastRow(r.Const(1, hid, f64(w.AttMask)), batch))
		if outMask != nil {
			att = r.had(att, r.Const(batch, hid, f64(outMask[t*batch*hid:(t+1)*batch*hid])))
		}
		feed = att
		out = r.sum(out, r.placeRows(att, idx, tb))
	}
	return out
}

// SoftmaxLoss is the reference of SoftmaxLoss: the mean over rows with
// labels ≥ 0 of log Σ exp(logits) − logits[label].
func (r *Ref) SoftmaxLoss(h, w, b *G.Node, labels []int32) *G.Node {
	n, v := h.Shape()[0], w.Shape()[0]
	logits := r.add(r.mm(h, r.tr(w)), r.bcastRow(b, n))
	oh, keep := make([]float64, n*v), make([]float64, n)
	count := 0
	for i, l := range labels {
		if l >= 0 {
			oh[i*v+int(l)], keep[i] = 1, 1
			count++
		}
	}
	lse := r.do(func() (*G.Node, error) {
		e, err := G.Exp(logits)
		if err != nil {
			return nil, err
		}
		s, err := G.Sum(e, 1)
		if err != nil {
			return nil, err
		}
		return G.Log(s)
	})
	picked := r.do(func() (*G.Node, error) { return G.Sum(r.had(logits, r.Const(n, v, oh)), 1) })
	per := r.sub(lse, picked)
	k := r.do(func() (*G.Node, error) {
		return G.NewVector(r.G, tensor.Float64, G.WithShape(n), G.WithName(fmt.Sprintf("keep%d", n)),
			G.WithValue(tensor.New(tensor.WithShape(n), tensor.WithBacking(keep)))), nil
	})
	total := r.do(func() (*G.Node, error) { return G.Sum(r.had(per, k)) })
	return r.do(func() (*G.Node, error) { return G.HadamardDiv(total, G.NewConstant(float64(max(count, 1)))) })
}

func f64(v []float32) []float64 {
	d := make([]float64, len(v))
	for i, x := range v {
		d[i] = float64(x)
	}
	return d
}

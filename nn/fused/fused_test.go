package fused

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/grainlab/grain/engine/cpu"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// param is a named random parameter shared by the fused and the reference
// graph.
type param struct {
	name       string
	rows, cols int
	v          []float32
}

func randParams(r *rand.Rand, scale float64, specs ...any) []param {
	var ps []param
	for i := 0; i < len(specs); i += 3 {
		p := param{name: specs[i].(string), rows: specs[i+1].(int), cols: specs[i+2].(int)}
		p.v = make([]float32, p.rows*p.cols)
		for j := range p.v {
			p.v[j] = float32(r.NormFloat64() * scale)
		}
		ps = append(ps, p)
	}
	return ps
}

func f32Node(g *G.ExprGraph, name string, rows, cols int, v []float32) *G.Node {
	return G.NewMatrix(g, tensor.Float32, G.WithShape(rows, cols), G.WithName(name),
		G.WithValue(tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(append([]float32(nil), v...)))))
}

func i32Node(g *G.ExprGraph, name string, rows, cols int, v []int32) *G.Node {
	return G.NewMatrix(g, tensor.Int32, G.WithShape(rows, cols), G.WithName(name),
		G.WithValue(tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(append([]int32(nil), v...)))))
}

// weightsFor is Σ out∘R for a fixed random R, which makes any output a
// scalar loss with a dense, non-trivial gradient.
func weightsFor(n int) []float32 {
	r := rand.New(rand.NewPCG(99, 1))
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	return w
}

func testEnv(t *testing.T) *Env {
	env, err := NewEnv(cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// runFused builds the fused graph, makes it a scalar (unless it is one),
// and returns the output and the gradient of every param.
func runFused(t *testing.T, env *Env, ps []param, build func(g *G.ExprGraph, p map[string]*G.Node) *G.Node) ([]float32, map[string][]float32) {
	t.Helper()
	g := G.NewGraph()
	nodes := map[string]*G.Node{}
	var wrt G.Nodes
	for _, p := range ps {
		nodes[p.name] = f32Node(g, p.name, p.rows, p.cols, p.v)
		wrt = append(wrt, nodes[p.name])
	}
	out := build(g, nodes)
	loss := out
	if !out.IsScalar() {
		s := out.Shape()
		w := f32Node(g, "R", s[0], s[1], weightsFor(s[0]*s[1]))
		loss = G.Must(G.Sum(G.Must(G.HadamardProd(out, w))))
	}
	grads, err := G.Grad(loss, wrt...)
	if err != nil {
		t.Fatalf("Grad: %v", err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatalf("run: %v", err)
	}
	res := map[string][]float32{}
	for i, p := range ps {
		res[p.name] = append([]float32(nil), grads[i].Value().Data().([]float32)...)
	}
	var o []float32
	switch v := out.Value().(type) {
	case *G.F32:
		o = []float32{float32(*v)}
	default:
		o = append([]float32(nil), v.Data().([]float32)...)
	}
	return o, res
}

func runRef(t *testing.T, ps []param, build func(r *Ref, p map[string]*G.Node) *G.Node) ([]float64, map[string][]float64) {
	t.Helper()
	r := NewRef()
	nodes := map[string]*G.Node{}
	var wrt G.Nodes
	for _, p := range ps {
		nodes[p.name] = r.Param(p.name, p.rows, p.cols, p.v)
		wrt = append(wrt, nodes[p.name])
	}
	out := build(r, nodes)
	if r.Err != nil {
		t.Fatalf("reference: %v", r.Err)
	}
	loss := out
	if !out.IsScalar() {
		s := out.Shape()
		w := r.Const(s[0], s[1], f64(weightsFor(s[0]*s[1])))
		loss = G.Must(G.Sum(G.Must(G.HadamardProd(out, w))))
	}
	grads, err := G.Grad(loss, wrt...)
	if err != nil {
		t.Fatalf("reference Grad: %v", err)
	}
	m := G.NewTapeMachine(r.G)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatalf("reference run: %v", err)
	}
	res := map[string][]float64{}
	for i, p := range ps {
		res[p.name] = append([]float64(nil), grads[i].Value().Data().([]float64)...)
	}
	var o []float64
	if out.IsScalar() {
		o = []float64{out.Value().Data().(float64)}
	} else {
		o = append([]float64(nil), out.Value().Data().([]float64)...)
	}
	return o, res
}

// compare checks the forward values (|Δ| ≤ 1e-5·max(1, |ref|)) and every
// gradient (max |Δ| ≤ 1e-4 of the gradient's largest magnitude).
func compare(t *testing.T, out []float32, grads map[string][]float32, refOut []float64, refGrads map[string][]float64) {
	t.Helper()
	if len(out) != len(refOut) {
		t.Fatalf("output has %d values, reference %d", len(out), len(refOut))
	}
	for i := range out {
		if d := math.Abs(float64(out[i]) - refOut[i]); d > 1e-5*math.Max(1, math.Abs(refOut[i])) {
			t.Fatalf("output[%d] = %g, reference %g", i, out[i], refOut[i])
		}
	}
	for name, rg := range refGrads {
		g := grads[name]
		var scale, worst float64
		for i := range rg {
			scale = math.Max(scale, math.Abs(rg[i]))
			worst = math.Max(worst, math.Abs(float64(g[i])-rg[i]))
		}
		if scale == 0 {
			t.Fatalf("gradient of %s is all zero in the reference: the test checks nothing", name)
		}
		if worst > 1e-4*scale {
			t.Errorf("gradient of %s: max |Δ| %.3g > 1e-4 × %.3g", name, worst, scale)
		}
	}
}

// padded returns a (T·B) validity for the given lengths.
func padded(steps int, lengths []int) []float32 {
	b := len(lengths)
	v := make([]float32, steps*b)
	for i, n := range lengths {
		for t := 0; t < n; t++ {
			v[t*b+i] = 1
		}
	}
	return v
}

func mask(r *rand.Rand, n int) []float32 {
	m := make([]float32, n)
	for i := range m {
		if r.IntN(4) != 0 {
			m[i] = 1
		}
	}
	return m
}

func TestLSTMMatchesReference(t *testing.T) {
	for _, dirs := range []int{1, 2} {
		t.Run(fmt.Sprintf("dirs=%d", dirs), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(dirs), 7))
			const batch, steps, in, hid = 3, 5, 4, 6
			specs := []any{"x", steps * batch, in}
			for d := range dirs {
				specs = append(specs, fmt.Sprint("wih", d), 4*hid, in, fmt.Sprint("whh", d), 4*hid, hid, fmt.Sprint("b", d), 1, 4*hid)
			}
			ps := randParams(r, 0.5, specs...)
			valid := padded(steps, []int{5, 2, 4})
			masks := [][]float32{mask(r, hid), mask(r, hid)}
			env := testEnv(t)
			out, grads := runFused(t, env, ps, func(g *G.ExprGraph, p map[string]*G.Node) *G.Node {
				var ws []LSTMWeights
				for d := range dirs {
					ws = append(ws, LSTMWeights{WIH: p[fmt.Sprint("wih", d)], WHH: p[fmt.Sprint("whh", d)], Bias: p[fmt.Sprint("b", d)],
						Mask: f32Node(g, fmt.Sprint("m", d), 1, hid, masks[d])})
				}
				y, err := LSTM(env, "lstm", batch, p["x"], f32Node(g, "valid", steps*batch, 1, valid), ws...)
				if err != nil {
					t.Fatal(err)
				}
				return y
			})
			refOut, refGrads := runRef(t, ps, func(rf *Ref, p map[string]*G.Node) *G.Node {
				var ws []RefLSTMWeights
				for d := range dirs {
					ws = append(ws, RefLSTMWeights{WIH: p[fmt.Sprint("wih", d)], WHH: p[fmt.Sprint("whh", d)], Bias: p[fmt.Sprint("b", d)], Mask: masks[d]})
				}
				return rf.LSTM(batch, p["x"], valid, ws...)
			})
			compare(t, out, grads, refOut, refGrads)
			// Masked neurons and padded steps are exactly zero.
			for i, v := range out {
				row, col := i/(dirs*hid), i%(dirs*hid)
				if (valid[row] == 0 || masks[col/hid][col%hid] == 0) && v != 0 {
					t.Fatalf("output row %d col %d = %g, want 0 (padded or masked)", row, col, v)
				}
			}
		})
	}
}

func TestEmbeddingMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	ps := randParams(r, 1, "table", 9, 5)
	ids := []int32{1, 4, 4, 0, 8, 1, 2}
	m := mask(r, 5)
	env := testEnv(t)
	out, grads := runFused(t, env, ps, func(g *G.ExprGraph, p map[string]*G.Node) *G.Node {
		return G.Must(Embedding(env, "emb", p["table"], i32Node(g, "ids", len(ids), 1, ids), f32Node(g, "m", 1, 5, m)))
	})
	refOut, refGrads := runRef(t, ps, func(rf *Ref, p map[string]*G.Node) *G.Node { return rf.Embedding(p["table"], ids, m) })
	compare(t, out, grads, refOut, refGrads)
}

func TestDropoutMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	ps := randParams(r, 1, "x", 8, 6)
	env := testEnv(t)
	d := NewDropout(env, "drop", 0.4)
	d.Seed = 17
	out, grads := runFused(t, env, ps, func(g *G.ExprGraph, p map[string]*G.Node) *G.Node { return G.Must(d.Apply(p["x"])) })
	m := append([]float32(nil), env.arena["drop/mask"][:48]...)
	refOut, refGrads := runRef(t, ps, func(rf *Ref, p map[string]*G.Node) *G.Node { return rf.Scale(p["x"], m) })
	compare(t, out, grads, refOut, refGrads)
}

func TestSoftmaxLossMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	ps := randParams(r, 0.7, "h", 7, 4, "w", 10, 4, "b", 1, 10)
	labels := []int32{3, -1, 9, 0, -1, 2, 2}
	env := testEnv(t)
	out, grads := runFused(t, env, ps, func(g *G.ExprGraph, p map[string]*G.Node) *G.Node {
		return G.Must(NewSoftmaxLoss(env, "loss", true).Apply(p["h"], p["w"], p["b"], i32Node(g, "labels", 7, 1, labels)))
	})
	refOut, refGrads := runRef(t, ps, func(rf *Ref, p map[string]*G.Node) *G.Node {
		return rf.SoftmaxLoss(p["h"], p["w"], p["b"], labels)
	})
	compare(t, out, grads, refOut, refGrads)
}

func TestDecoderMatchesReference(t *testing.T) {
	for _, p := range []float32{0, 0.3} {
		t.Run(fmt.Sprintf("dropout=%g", p), func(t *testing.T) {
			r := rand.New(rand.NewPCG(6, uint64(p*10)))
			const batch, steps, srcSteps, emb, hid, dm, layers = 3, 4, 5, 3, 5, 4, 2
			ps := randParams(r, 0.5,
				"x", steps*batch, emb, "mem", srcSteps*batch, dm,
				"wie", 4*hid, emb, "wif", 4*hid, hid, "whh0", 4*hid, hid, "b0", 1, 4*hid,
				"wih1", 4*hid, hid, "whh1", 4*hid, hid, "b1", 1, 4*hid,
				"wa", hid, dm, "wcc", hid, dm, "wch", hid, hid)
			valid := padded(steps, []int{4, 2, 3})
			srcLen := []int32{5, 3, 1}
			masks := [][]float32{mask(r, hid), mask(r, hid), mask(r, hid)}
			env := testEnv(t)
			dec := NewDecoder(env, "dec", batch, layers, p)
			dec.Seed = 5
			out, grads := runFused(t, env, ps, func(g *G.ExprGraph, n map[string]*G.Node) *G.Node {
				w := DecoderWeights{
					Layers: []LSTMWeights{
						{WIH: n["wie"], WHH: n["whh0"], Bias: n["b0"], Mask: f32Node(g, "m0", 1, hid, masks[0])},
						{WIH: n["wih1"], WHH: n["whh1"], Bias: n["b1"], Mask: f32Node(g, "m1", 1, hid, masks[1])},
					},
					Feed: n["wif"], WA: n["wa"], WCC: n["wcc"], WCH: n["wch"], AttMask: f32Node(g, "ma", 1, hid, masks[2]),
				}
				return G.Must(dec.Apply(n["x"], f32Node(g, "valid", steps*batch, 1, valid), n["mem"], i32Node(g, "srclen", 1, batch, srcLen), w))
			})
			var inMasks [][]float32
			var outMask []float32
			if p > 0 {
				inMasks = [][]float32{nil, append([]float32(nil), env.arena["dec/l1/inmask"][:steps*batch*hid]...)}
				outMask = append([]float32(nil), env.arena["dec/outmask"][:steps*batch*hid]...)
			}
			refOut, refGrads := runRef(t, ps, func(rf *Ref, n map[string]*G.Node) *G.Node {
				w := RefDecoderWeights{
					Layers: []RefLSTMWeights{
						{WIH: n["wie"], WHH: n["whh0"], Bias: n["b0"], Mask: masks[0]},
						{WIH: n["wih1"], WHH: n["whh1"], Bias: n["b1"], Mask: masks[1]},
					},
					Feed: n["wif"], WA: n["wa"], WCC: n["wcc"], WCH: n["wch"], AttMask: masks[2],
				}
				return rf.Decoder(batch, n["x"], valid, n["mem"], srcLen, w, inMasks, outMask)
			})
			compare(t, out, grads, refOut, refGrads)
		})
	}
}

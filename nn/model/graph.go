package model

import (
	"fmt"

	"github.com/grainlab/grain/analysis/activations"
	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/nn/batch"
	"github.com/grainlab/grain/nn/fused"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Mode selects what a graph computes.
type Mode int

const (
	// Train: loss with dropout, and the gradient of every parameter.
	Train Mode = iota
	// Eval: loss without dropout (perplexity, validation loss).
	Eval
	// Features: the stored layers' activations only (the NMT encoder, or
	// the NLM's LSTM layers), without dropout: extraction and decoding.
	Features
)

func (m Mode) String() string { return [...]string{"train", "eval", "features"}[m] }

type graphKey struct {
	shape batch.Shape
	mode  Mode
}

// Graph is the model built for one batch shape and mode. Its inputs are
// filled by Load and its values computed by Run; only one graph of a model
// runs at a time (they share the fused ops' arena).
type Graph struct {
	Shape batch.Shape
	Mode  Mode

	m      *Model
	g      *G.ExprGraph
	vm     G.VM
	inputs map[string]*tensor.Dense
	loss   *fused.SoftmaxLoss
	grads  G.Nodes
	// stored are the stored layers' outputs in NeuronLayers order
	// (bidirectional layers once, forward columns first), mem the NMT
	// encoder's output.
	stored   []*G.Node
	mem      *G.Node
	dropouts []*fused.Dropout
	decoder  *fused.Decoder
}

// SetBackend makes the model run on b, which must implement engine.NN
// (the CPU and CUDA backends do), with its weights resident there. Graphs
// built before are dropped; the previous backend's weights are brought to
// the host first and its device memory released.
func (m *Model) SetBackend(b engine.Backend) error {
	env, err := fused.NewEnv(b)
	if err != nil {
		return err
	}
	if m.env != nil {
		if err := m.SyncWeights(); err != nil {
			return err
		}
		m.env.Free()
	}
	m.env = env
	m.graphs = map[graphKey]*Graph{}
	return m.WeightsChanged()
}

// WeightsChanged tells the backend that the host values of the parameters
// were written (they are uploaded again before their next use). The error
// is the device's (out of memory for the weights).
func (m *Model) WeightsChanged() (err error) {
	if m.env == nil {
		return nil
	}
	defer fused.Catch(&err)
	for _, p := range m.Params {
		m.env.Resident(p.Value)
	}
	return nil
}

// SyncWeights brings the parameters' host values up to date with the
// backend's (a device backend's training steps update them there).
func (m *Model) SyncWeights() error {
	if m.env == nil {
		return nil
	}
	vs := make([]*tensor.Dense, len(m.Params))
	for i, p := range m.Params {
		vs[i] = p.Value
	}
	return m.env.SyncHost(vs...)
}

// Env is the fused ops' environment (nil before SetBackend).
func (m *Model) Env() *fused.Env { return m.env }

// Graph returns the model's graph for a batch shape and mode, building it
// on first use.
func (m *Model) Graph(shape batch.Shape, mode Mode) (*Graph, error) {
	if m.env == nil {
		return nil, fmt.Errorf("model: no backend (call SetBackend)")
	}
	key := graphKey{shape, mode}
	if g, ok := m.graphs[key]; ok {
		return g, nil
	}
	g, err := m.build(shape, mode)
	if err != nil {
		return nil, fmt.Errorf("model: building the %s graph for batch %d, source length %d, target length %d: %w",
			mode, shape.Size, shape.S, shape.T, err)
	}
	m.graphs[key] = g
	return g, nil
}

// builder accumulates the first error while a graph is defined.
type builder struct {
	gr  *Graph
	err error
}

func (b *builder) node(f func() (*G.Node, error)) *G.Node {
	if b.err != nil {
		return nil
	}
	n, err := f()
	if err != nil {
		b.err = err
	}
	return n
}

func (b *builder) input(name string, rows, cols int, dt tensor.Dtype) *G.Node {
	var back any
	switch dt {
	case tensor.Int32:
		back = make([]int32, rows*cols)
	default:
		back = make([]float32, rows*cols)
	}
	v := tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(back))
	b.gr.inputs[name] = v
	return G.NewMatrix(b.gr.g, dt, G.WithShape(rows, cols), G.WithName(name), G.WithValue(v))
}

func (b *builder) mask(name string, dir activations.Direction) *G.Node {
	v := b.gr.m.Masks.value(name, dir)
	return G.NewMatrix(b.gr.g, tensor.Float32, G.WithShape(1, v.Shape()[1]), G.WithName("mask/"+name+"/"+string(dir)), G.WithValue(v))
}

func (b *builder) dropout(name string, x *G.Node) *G.Node {
	p := b.gr.m.Config.Dropout
	if b.gr.Mode != Train || p == 0 {
		return x
	}
	d := fused.NewDropout(b.gr.m.env, name, float32(p))
	b.gr.dropouts = append(b.gr.dropouts, d)
	return b.node(func() (*G.Node, error) { return d.Apply(x) })
}

// build defines the model (see the package documentation): the one
// definition that every mode uses.
func (m *Model) build(shape batch.Shape, mode Mode) (*Graph, error) {
	gr := &Graph{Shape: shape, Mode: mode, m: m, g: G.NewGraph(), inputs: map[string]*tensor.Dense{}}
	b := &builder{gr: gr}
	env, c, bs := m.env, m.Config, shape.Size
	params := map[string]*G.Node{}
	var paramNodes G.Nodes
	for _, p := range m.Params {
		n := G.NewMatrix(gr.g, tensor.Float32, G.WithShape(p.Rows, p.Cols), G.WithName(p.Name), G.WithValue(p.Value))
		params[p.Name] = n
		paramNodes = append(paramNodes, n)
	}
	lstmW := func(prefix, maskName string, dir activations.Direction) fused.LSTMWeights {
		return fused.LSTMWeights{WIH: params[prefix+".w_ih"], WHH: params[prefix+".w_hh"], Bias: params[prefix+".bias"], Mask: b.mask(maskName, dir)}
	}
	var top *G.Node
	switch c.Kind {
	case NLM:
		if shape.S != 0 || shape.T < 1 {
			return nil, fmt.Errorf("an NLM batch needs S = 0 and T ≥ 1")
		}
		ids := b.input("tgt_in", shape.T*bs, 1, tensor.Int32)
		valid := b.input("tgt_valid", shape.T*bs, 1, tensor.Float32)
		x := b.node(func() (*G.Node, error) {
			return fused.Embedding(env, "embed", params["embed.weight"], ids, b.mask("embed", activations.NoDirection))
		})
		for l := range c.Layers {
			x = b.dropout(fmt.Sprintf("drop%d", l), x)
			w := lstmW(fmt.Sprintf("lstm.%d", l), fmt.Sprintf("lstm%d", l), activations.Forward)
			x = b.node(func() (*G.Node, error) { return fused.LSTM(env, fmt.Sprintf("lstm%d", l), bs, x, valid, w) })
			gr.stored = append(gr.stored, x)
		}
		top = b.dropout("drop_out", x)
	case NMT:
		if shape.S < 1 || (mode != Features && shape.T < 1) {
			return nil, fmt.Errorf("an NMT batch needs S ≥ 1 and T ≥ 1")
		}
		src := b.input("src", shape.S*bs, 1, tensor.Int32)
		srcValid := b.input("src_valid", shape.S*bs, 1, tensor.Float32)
		x := b.node(func() (*G.Node, error) {
			return fused.Embedding(env, "src_embed", params["src_embed.weight"], src, b.mask("src_embed", activations.NoDirection))
		})
		for l := range c.EncLayers {
			x = b.dropout(fmt.Sprintf("enc_drop%d", l), x)
			ws := []fused.LSTMWeights{lstmW(fmt.Sprintf("enc.%d.fwd", l), fmt.Sprintf("enc%d", l), activations.Forward)}
			if c.encDirs(l) == 2 {
				ws = append(ws, lstmW(fmt.Sprintf("enc.%d.bwd", l), fmt.Sprintf("enc%d", l), activations.Backward))
			}
			x = b.node(func() (*G.Node, error) { return fused.LSTM(env, fmt.Sprintf("enc%d", l), bs, x, srcValid, ws...) })
			gr.stored = append(gr.stored, x)
		}
		gr.mem = x
		if mode == Features {
			break
		}
		srcLen := b.input("src_len", 1, bs, tensor.Int32)
		ids := b.input("tgt_in", shape.T*bs, 1, tensor.Int32)
		valid := b.input("tgt_valid", shape.T*bs, 1, tensor.Float32)
		y := b.node(func() (*G.Node, error) {
			return fused.Embedding(env, "tgt_embed", params["tgt_embed.weight"], ids, b.mask("tgt_embed", activations.NoDirection))
		})
		y = b.dropout("tgt_drop", y)
		dw := fused.DecoderWeights{Feed: params["dec.0.w_if"], WA: params["attn.w_a"], WCC: params["attn.w_cc"], WCH: params["attn.w_ch"],
			AttMask: b.mask("attention", activations.NoDirection)}
		for l := range c.Layers {
			w := lstmW(fmt.Sprintf("dec.%d", l), fmt.Sprintf("dec%d", l), activations.Forward)
			if l == 0 {
				w.WIH = params["dec.0.w_ie"]
			}
			dw.Layers = append(dw.Layers, w)
		}
		p := float32(0)
		if mode == Train {
			p = float32(c.Dropout)
		}
		gr.decoder = fused.NewDecoder(env, "dec", bs, c.Layers, p)
		// The decoder already applies dropout to its output (and input feed).
		top = b.node(func() (*G.Node, error) { return gr.decoder.Apply(y, valid, x, srcLen, dw) })
	}
	if mode != Features {
		labels := b.input("tgt_out", shape.T*bs, 1, tensor.Int32)
		gr.loss = fused.NewSoftmaxLoss(env, "loss", mode == Train)
		lossNode := b.node(func() (*G.Node, error) { return gr.loss.Apply(top, params["out.weight"], params["out.bias"], labels) })
		if mode == Train && b.err == nil {
			gr.grads, b.err = G.Grad(lossNode, paramNodes...)
		}
	}
	if b.err != nil {
		return nil, b.err
	}
	vm, err := newVM(gr.g)
	if err != nil {
		return nil, err
	}
	gr.vm = vm
	return gr, nil
}

// newVM compiles a tape machine, turning Gorgonia's compile panics into
// errors.
func newVM(g *G.ExprGraph) (vm G.VM, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("compiling the graph: %v", r)
		}
	}()
	return G.NewTapeMachine(g), nil
}

// Load copies a batch into the graph's inputs. The batch must have the
// graph's shape.
func (gr *Graph) Load(b *batch.Batch) error {
	if b.Shape != gr.Shape {
		return fmt.Errorf("model: batch of shape %+v loaded into a graph of shape %+v", b.Shape, gr.Shape)
	}
	set := func(name string, v any) {
		d, ok := gr.inputs[name]
		if !ok {
			return
		}
		switch x := v.(type) {
		case []int32:
			copy(d.Data().([]int32), x)
		case []float32:
			copy(d.Data().([]float32), x)
		}
	}
	set("src", b.Src)
	set("src_valid", b.SrcValid)
	set("src_len", b.SrcLen)
	set("tgt_in", b.TgtIn)
	set("tgt_valid", b.TgtValid)
	set("tgt_out", b.TgtOut)
	return nil
}

// Run runs the model on b: the graph of b's shape in mode (built on first
// use), loaded with b and run with seed (see Graph.Run). The graph's values
// (Stored, Grads, Memory) hold until the next run of any graph of m.
func (m *Model) Run(b *batch.Batch, mode Mode, seed uint64) (*Graph, Result, error) {
	g, err := m.Graph(b.Shape, mode)
	if err != nil {
		return nil, Result{}, err
	}
	if err := g.Load(b); err != nil {
		return nil, Result{}, err
	}
	res, err := g.Run(seed)
	return g, res, err
}

// Result is what a run of a Train or Eval graph reports: the summed
// cross-entropy over the batch's target tokens and their number.
type Result struct {
	LossSum float64
	Tokens  int
}

// Run computes the graph on the loaded inputs. seed seeds the dropout
// masks of a Train graph (each dropout op draws from its own hash of it).
func (gr *Graph) Run(seed uint64) (Result, error) {
	for i, d := range gr.dropouts {
		d.Seed = engine.DropoutHash(seed, uint64(i))
	}
	if gr.decoder != nil {
		gr.decoder.Seed = engine.DropoutHash(seed, uint64(len(gr.dropouts)))
	}
	defer gr.vm.Reset()
	if err := gr.vm.RunAll(); err != nil {
		return Result{}, fmt.Errorf("model: running the %s graph: %w", gr.Mode, err)
	}
	if gr.loss == nil {
		return Result{}, nil
	}
	return Result{LossSum: gr.loss.LossSum, Tokens: gr.loss.Tokens}, nil
}

// Grads returns, after a Run of a Train graph, the gradient of the mean
// loss with respect to each parameter, in Model.Params order, as values
// (on a device backend their data is on the device: see fused.Env.Host).
// They share the fused ops' arena: use them before the next Run of any
// graph of the model.
func (gr *Graph) Grads() []G.Value {
	out := make([]G.Value, len(gr.grads))
	for i, n := range gr.grads {
		out[i] = n.Value()
	}
	return out
}

// Stored returns, after a Run, the activations of the stored layers (see
// NeuronLayers): one (T·B)×H slice per stored neuron layer, time-major,
// bidirectional layers split into forward and backward. It copies. The
// error is the device's, downloading them.
func (gr *Graph) Stored() (out [][]float32, err error) {
	defer fused.Catch(&err)
	for _, n := range gr.stored {
		d := gr.m.env.Host(n.Value())
		s := n.Shape()
		h := gr.m.Config.Hidden
		for dir := 0; dir < s[1]/h; dir++ {
			part := make([]float32, s[0]*h)
			for r := 0; r < s[0]; r++ {
				copy(part[r*h:(r+1)*h], d[r*s[1]+dir*h:r*s[1]+(dir+1)*h])
			}
			out = append(out, part)
		}
	}
	return out, nil
}

// Encode runs an NMT's encoder over the sources of b (whose shape it cuts
// to the source side) and returns a fused.Stepper that decodes from the
// result with beam hypotheses per sentence, under the model's current
// masks: where beam search, and the scoring of given translations, start.
func (m *Model) Encode(b *batch.Batch, beam int) (*fused.Stepper, error) {
	b.Shape = batch.Shape{Size: b.Shape.Size, S: b.Shape.S}
	g, _, err := m.Run(b, Features, 0)
	if err != nil {
		return nil, err
	}
	return m.Env().NewStepper(m.stepperInputs(g.mem.Value(), b.SrcLen), beam)
}

// stepperInputs returns the values fused.Stepper needs to decode from an
// NMT encoder memory (the (S·B)×Dm output of a Features run) for sentences
// with the given source lengths, with the model's current masks.
func (m *Model) stepperInputs(mem G.Value, srcLen []int32) fused.StepperInputs {
	in := fused.StepperInputs{Layers: m.Config.Layers, Mem: mem, SrcLen: srcLen,
		Table: m.Param("tgt_embed.weight").Value, EmbMask: m.Masks.value("tgt_embed", activations.NoDirection),
		OutW: m.Param("out.weight").Value, OutB: m.Param("out.bias").Value}
	for l := range m.Config.Layers {
		p := fmt.Sprintf("dec.%d", l)
		if l == 0 {
			in.Decoder = append(in.Decoder, m.Param("dec.0.w_ie").Value, m.Param("dec.0.w_if").Value)
		} else {
			in.Decoder = append(in.Decoder, m.Param(p+".w_ih").Value)
		}
		in.Decoder = append(in.Decoder, m.Param(p+".w_hh").Value, m.Param(p+".bias").Value, m.Masks.value(fmt.Sprintf("dec%d", l), activations.Forward))
	}
	in.Decoder = append(in.Decoder, m.Param("attn.w_a").Value, m.Param("attn.w_cc").Value, m.Param("attn.w_ch").Value,
		m.Masks.value("attention", activations.NoDirection))
	return in
}

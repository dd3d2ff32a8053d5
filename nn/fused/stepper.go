package fused

import (
	"fmt"

	"github.com/grainlab/grain/engine"
	G "gorgonia.org/gorgonia"
)

// Stepper runs the decoder of a Decoder op one step at a time, for greedy
// and beam search: the same decoderStep as the op's forward pass (without
// dropout), then the output projection and log-softmax. Rows are
// hypotheses; Reorder moves their states when a search keeps some and
// drops others. After a Step, Best returns each row's most probable next
// tokens (all a search needs, a few values per row) and LogProbs the
// whole distribution.
type Stepper struct {
	env               *Env
	w                 decWeights
	rows, hid         int
	table, embMask    *engine.Tensor
	outW, outB        *engine.Tensor
	mem, keys, srcLen *engine.Tensor
	valid             *engine.Tensor
	c, h              [2][]*engine.Tensor
	feed              [2]*engine.Tensor
	gates             []*engine.Tensor
	probs, ctx, emb   *engine.Tensor
	logits            *engine.Tensor
	cur, t            int
	stepped           bool
}

// StepperInputs are the values a Stepper needs: the decoder weight values
// in the Decoder op's input order (see DecoderWeights), the target
// embedding table (V×E) and its mask, the output projection (V×H and 1×V),
// and the encoder memory ((S·n)×Dm for n sentences, time-major) with the n
// source lengths.
type StepperInputs struct {
	Decoder        []G.Value
	Layers         int
	Table, EmbMask G.Value
	OutW, OutB     G.Value
	Mem            G.Value
	SrcLen         []int32
}

// NewStepper starts decoding beam hypotheses per sentence: row b·beam + k
// is hypothesis k of sentence b.
func (e *Env) NewStepper(in StepperInputs, beam int) (*Stepper, error) {
	n := len(in.SrcLen)
	if n < 1 || beam < 1 {
		return nil, fmt.Errorf("fused: stepper for %d sentences, beam %d", n, beam)
	}
	s := &Stepper{env: e, w: e.decWeights(in.Decoder, in.Layers), rows: n * beam}
	s.hid = s.w.h
	s.table, s.embMask = e.mat(in.Table), e.mat(in.EmbMask)
	s.outW, s.outB = e.mat(in.OutW), e.mat(in.OutB)
	mem := e.mat(in.Mem)
	steps, dm := mem.Rows()/n, mem.Cols()
	// Row st·rows + b·beam + k of the expanded memory is row st·n + b.
	idx := make([]int32, steps*s.rows)
	lens := make([]int32, s.rows)
	for st := range steps {
		for r := range s.rows {
			idx[st*s.rows+r] = int32(st*n + r/beam)
		}
	}
	for r := range lens {
		lens[r] = in.SrcLen[r/beam]
	}
	s.mem = e.buf(stepperKey+"mem", steps*s.rows, dm)
	s.gather(s.mem, mem, idx)
	s.keys = e.buf(stepperKey+"keys", steps*s.rows, s.hid)
	e.B.Gemm(false, true, 1, s.mem, s.w.wa, 0, s.keys, engine.FP32)
	s.srcLen = e.upload(stepperKey+"srclen", lens).Reshape(1, len(lens))
	s.valid = e.buf(stepperKey+"valid", s.rows, 1)
	e.B.Fill(s.valid, 1)
	for p := range 2 {
		for l := range in.Layers {
			s.c[p] = append(s.c[p], e.buf(fmt.Sprintf("%sc%d/%d", stepperKey, p, l), s.rows, s.hid))
			s.h[p] = append(s.h[p], e.buf(fmt.Sprintf("%sh%d/%d", stepperKey, p, l), s.rows, s.hid))
		}
		s.feed[p] = e.buf(fmt.Sprintf("%sfeed%d", stepperKey, p), s.rows, s.hid)
	}
	for l := range in.Layers {
		s.gates = append(s.gates, e.buf(fmt.Sprintf("%sgates%d", stepperKey, l), s.rows, 4*s.hid))
	}
	s.probs, s.ctx = e.buf(stepperKey+"probs", s.rows, steps), e.buf(stepperKey+"ctx", s.rows, dm)
	s.emb = e.buf(stepperKey+"emb", s.rows, s.table.Cols())
	s.logits = e.buf(stepperKey+"logits", s.rows, s.outW.Rows())
	return s, nil
}

// stepperKey prefixes the Env arena buffers that a Stepper uses; the next
// Stepper reuses them, so only one Stepper may be in use at a time on an
// Env, and no graph may run while it is.
const stepperKey = "stepper/"

// Vocab is the size of the target vocabulary.
func (s *Stepper) Vocab() int { return s.outW.Rows() }

// ids uploads one id per row (the previous tokens, or the rows to gather)
// into the Stepper's Int32 buffer, as an n×1 tensor. Operations run in
// stream order, so the next upload may reuse the buffer.
func (s *Stepper) ids(v []int32) *engine.Tensor { return s.env.upload(stepperKey+"ids", v) }

// gather sets dst[r] = src[idx[r]]: an embedding lookup with an all-ones
// mask.
func (s *Stepper) gather(dst, src *engine.Tensor, idx []int32) {
	s.env.NN.EmbeddingForward(dst, src, s.ids(idx), s.env.onesRow(src.Cols()))
}

// Step feeds the previous tokens (one per row: <s> at the first step) and
// computes each row's log-probabilities of the next token.
func (s *Stepper) Step(prev []int32) error {
	e := s.env
	if len(prev) != s.rows {
		return fmt.Errorf("fused: Step with %d tokens for %d rows", len(prev), s.rows)
	}
	next := 1 - s.cur
	e.NN.EmbeddingForward(s.emb, s.table, s.ids(prev), s.embMask)
	e.B.Gemm(false, true, 1, s.emb, s.w.layers[0].wih, 0, s.gates[0], engine.FP32)
	e.B.AddRowVector(s.gates[0], s.w.layers[0].bias)
	st := decStep{gates: s.gates, c: s.c[next], h: s.h[next], in: make([]*engine.Tensor, len(s.gates)),
		inMask: make([]*engine.Tensor, len(s.gates)), probs: s.probs, ctx: s.ctx, att: s.feed[next], out: s.feed[next], valid: s.valid}
	if s.t > 0 {
		st.cPrev, st.hPrev, st.feedPrev = s.c[s.cur], s.h[s.cur], s.feed[s.cur]
	} else {
		st.cPrev, st.hPrev = make([]*engine.Tensor, len(s.gates)), make([]*engine.Tensor, len(s.gates))
	}
	e.decoderStep(s.w, st, s.keys, s.mem, s.srcLen)
	e.B.Gemm(false, true, 1, s.feed[next], s.outW, 0, s.logits, engine.FP32)
	e.B.AddRowVector(s.logits, s.outB)
	e.NN.LogSoftmax(s.logits, s.logits)
	s.cur, s.t, s.stepped = next, s.t+1, true
	return nil
}

// LogProbs writes the last Step's log-probabilities into dst (rows·V
// values, row-major).
func (s *Stepper) LogProbs(dst []float32) error {
	if !s.stepped {
		return fmt.Errorf("fused: LogProbs before a Step")
	}
	return s.env.B.Download(dst, s.logits)
}

// Best writes, for each row, the m = len(ids)/rows most probable next
// tokens of the last Step (engine.NN.RowTopK's order: most probable first,
// ties by the lower id) into ids and their log-probabilities into
// logProbs; 1 ≤ m ≤ V. Only these values leave the device.
func (s *Stepper) Best(logProbs []float32, ids []int32) error {
	m := len(ids) / s.rows
	switch {
	case !s.stepped:
		return fmt.Errorf("fused: Best before a Step")
	case m < 1 || m > s.Vocab() || len(ids) != m*s.rows || len(logProbs) != len(ids):
		return fmt.Errorf("fused: Best with %d ids and %d values for %d rows of %d tokens", len(ids), len(logProbs), s.rows, s.Vocab())
	}
	e := s.env
	vals, idx := e.buf(stepperKey+"best", s.rows, m), e.ibuf(stepperKey+"bestids", s.rows*m).Reshape(s.rows, m)
	e.NN.RowTopK(vals, idx, s.logits)
	if err := e.B.Download(logProbs, vals); err != nil {
		return err
	}
	return e.B.Download(ids, idx)
}

// Reorder makes row r continue hypothesis parents[r]: it copies the
// parents' decoder states.
func (s *Stepper) Reorder(parents []int32) error {
	if len(parents) != s.rows {
		return fmt.Errorf("fused: Reorder with %d parents for %d rows", len(parents), s.rows)
	}
	if s.t == 0 {
		return nil
	}
	other := 1 - s.cur
	for l := range s.c[s.cur] {
		s.gather(s.c[other][l], s.c[s.cur][l], parents)
		s.gather(s.h[other][l], s.h[s.cur][l], parents)
	}
	s.gather(s.feed[other], s.feed[s.cur], parents)
	s.cur = other
	return nil
}

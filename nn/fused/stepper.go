package fused

import (
	"fmt"
	"slices"

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
	srcMem, srcKeys   *engine.Tensor // per sentence: the encoder memory and its attention keys
	srcLens           []int32
	sent              []int32 // the sentence of each row
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
func (e *Env) NewStepper(in StepperInputs, beam int) (_ *Stepper, err error) {
	defer Catch(&err)
	n := len(in.SrcLen)
	if n < 1 || beam < 1 {
		return nil, fmt.Errorf("fused: stepper for %d sentences, beam %d", n, beam)
	}
	s := &Stepper{env: e, w: e.decWeights(in.Decoder, in.Layers), srcLens: in.SrcLen}
	s.hid = s.w.h
	s.table, s.embMask = e.mat(in.Table), e.mat(in.EmbMask)
	s.outW, s.outB = e.mat(in.OutW), e.mat(in.OutB)
	s.srcMem = e.mat(in.Mem)
	s.srcKeys = e.buf(stepperKey+"srckeys", s.srcMem.Rows(), s.hid)
	e.B.Gemm(false, true, 1, s.srcMem, s.w.wa, 0, s.srcKeys, engine.FP32)
	for r := range n * beam {
		s.sent = append(s.sent, int32(r/beam))
	}
	s.setRows(len(s.sent), in.Layers)
	e.B.Fill(s.valid, 1)
	return s, nil
}

// setRows sizes the Stepper for rows hypotheses (at most the number it
// started with, so the arena buffers it takes never grow) and expands the
// encoder memory, its keys and the source lengths to them: row st·rows + r
// of mem and keys is row st·n + sent[r] of the sentences' ones. The
// decoder states are left to the caller.
func (s *Stepper) setRows(rows, layers int) {
	e, n := s.env, len(s.srcLens)
	steps, dm := s.srcMem.Rows()/n, s.srcMem.Cols()
	s.rows = rows
	idx := make([]int32, steps*rows)
	lens := make([]int32, rows)
	for r, b := range s.sent {
		for st := range steps {
			idx[st*rows+r] = int32(st*n) + b
		}
		lens[r] = s.srcLens[b]
	}
	s.mem, s.keys = e.buf(stepperKey+"mem", steps*rows, dm), e.buf(stepperKey+"keys", steps*rows, s.hid)
	s.gather(s.mem, s.srcMem, idx)
	s.gather(s.keys, s.srcKeys, idx)
	s.srcLen = e.upload(stepperKey+"srclen", lens).Reshape(1, rows)
	s.valid = e.buf(stepperKey+"valid", rows, 1)
	for p := range 2 {
		s.c[p], s.h[p] = s.c[p][:0], s.h[p][:0]
		for l := range layers {
			s.c[p] = append(s.c[p], e.buf(fmt.Sprintf("%sc%d/%d", stepperKey, p, l), rows, s.hid))
			s.h[p] = append(s.h[p], e.buf(fmt.Sprintf("%sh%d/%d", stepperKey, p, l), rows, s.hid))
		}
		s.feed[p] = e.buf(fmt.Sprintf("%sfeed%d", stepperKey, p), rows, s.hid)
	}
	s.gates = s.gates[:0]
	for l := range layers {
		s.gates = append(s.gates, e.buf(fmt.Sprintf("%sgates%d", stepperKey, l), rows, 4*s.hid))
	}
	s.probs, s.ctx = e.buf(stepperKey+"probs", rows, steps), e.buf(stepperKey+"ctx", rows, dm)
	s.emb = e.buf(stepperKey+"emb", rows, s.table.Cols())
	s.logits = e.buf(stepperKey+"logits", rows, s.outW.Rows())
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
func (s *Stepper) Step(prev []int32) (err error) {
	defer Catch(&err)
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
// values, row-major); a Reorder since is an error.
func (s *Stepper) LogProbs(dst []float32) error {
	if !s.stepped {
		return fmt.Errorf("fused: LogProbs without a Step since the last Reorder")
	}
	return s.env.B.Download(dst, s.logits)
}

// Best writes, for each row, the m = len(ids)/rows most probable next
// tokens of the last Step (engine.NN.RowTopK's order: most probable first,
// ties by the lower id) into ids and their log-probabilities into
// logProbs; 1 ≤ m ≤ V. Only these values leave the device.
func (s *Stepper) Best(logProbs []float32, ids []int32) (err error) {
	defer Catch(&err)
	m := len(ids) / s.rows
	switch {
	case !s.stepped:
		return fmt.Errorf("fused: Best without a Step since the last Reorder")
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
// parents' decoder states. With fewer parents than rows the Stepper drops
// the other hypotheses and continues with len(parents) rows (a search
// drops the sentences it has finished, so that the next steps compute
// only what it still needs).
func (s *Stepper) Reorder(parents []int32) (err error) {
	defer Catch(&err)
	rows := len(parents)
	if rows < 1 || rows > s.rows {
		return fmt.Errorf("fused: Reorder with %d parents for %d rows", rows, s.rows)
	}
	for r, p := range parents {
		if p < 0 || int(p) >= s.rows {
			return fmt.Errorf("fused: Reorder: row %d continues row %d of %d", r, p, s.rows)
		}
	}
	cur, other := s.cur, 1-s.cur
	// The current states, as they are before a smaller setRows makes every
	// state buffer a view of the new row count.
	c, h, feed := slices.Clone(s.c[cur]), slices.Clone(s.h[cur]), s.feed[cur]
	if rows < s.rows {
		sent := make([]int32, rows)
		for r, p := range parents {
			sent[r] = s.sent[p]
		}
		s.sent = sent
		s.setRows(rows, len(c))
	}
	s.stepped = false // the last Step's rows are gone
	if s.t == 0 {
		return nil
	}
	for l := range c {
		s.gather(s.c[other][l], c[l], parents)
		s.gather(s.h[other][l], h[l], parents)
	}
	s.gather(s.feed[other], feed, parents)
	s.cur = other
	return nil
}

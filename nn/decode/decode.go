// Package decode translates with a trained NMT model: beam search over the
// decoder run step by step (fused.Stepper, the same step as the training
// graph's decoder), with the encoder run by the model's Features graph.
// A beam of 1 is greedy decoding.
//
// Hypotheses are scored by their summed log-probability. Each step takes,
// per sentence, the 2·Beam best extensions: those ending in </s> among the
// best Beam end their hypothesis, the best Beam others stay open. A
// sentence is finished when its best extension ends in </s> (so a beam of
// 1 is exactly greedy decoding) or MaxLen tokens are reached; then the
// ended hypothesis with the best score/len^Alpha (len counting </s>) is
// returned, or the best open one if none ended. (With a beam as large as
// the vocabulary less <pad> and <s>, every extension is among the best
// Beam, so a first-step </s> always ends a hypothesis, and a sentence that
// reaches MaxLen returns it, empty; real vocabularies are far larger than
// a beam.)
//
// Sentences are decoded in batches; a batch's step computes only its
// unfinished sentences (finished ones are dropped from the Stepper once
// they are a quarter of its rows), and takes from the backend only each
// hypothesis's 2·Beam + 2 best next tokens (engine.NN.RowTopK), which
// hold the sentence's 2·Beam best extensions whatever <pad> and <s>, never
// chosen, take. The result does not depend on the batching.
package decode

import (
	"fmt"
	"math"
	"sort"

	"github.com/grainlab/grain/engine/progress"
	"github.com/grainlab/grain/nn/batch"
	"github.com/grainlab/grain/nn/fused"
	"github.com/grainlab/grain/nn/model"
	"github.com/grainlab/grain/nn/vocab"
)

// Options control decoding.
type Options struct {
	// Beam is the number of hypotheses kept per sentence (1: greedy).
	Beam int
	// Alpha is the length-normalisation exponent (0: none).
	Alpha float64
	// Batch is the number of sentences decoded together.
	Batch int
	// MaxLen bounds the output length: MaxLenA·srcLen + MaxLenB tokens,
	// at least 1 for every sentence.
	MaxLenA, MaxLenB int
	// Progress, when not nil, shows a bar of the sentences translated.
	Progress progress.Reporter
}

// Default is beam 5, Alpha 1, 64 sentences at a time, at most 2·n + 10
// tokens.
var Default = Options{Beam: 5, Alpha: 1, Batch: 64, MaxLenA: 2, MaxLenB: 10}

// Translate decodes every source sentence (vocabulary ids without
// specials) and returns the output ids (without </s>), in order.
func Translate(m *model.Model, sources [][]int32, o Options) ([][]int32, error) {
	if m.Config.Kind != model.NMT {
		return nil, fmt.Errorf("decode: a %s model does not translate", m.Config.Kind)
	}
	if o.Beam < 1 || o.Batch < 1 {
		return nil, fmt.Errorf("decode: beam %d and batch %d must be ≥ 1", o.Beam, o.Batch)
	}
	if math.IsNaN(o.Alpha) || math.IsInf(o.Alpha, 0) || o.MaxLenA < 0 || o.MaxLenB < 0 {
		return nil, fmt.Errorf("decode: Alpha %g must be finite, MaxLenA %d and MaxLenB %d ≥ 0", o.Alpha, o.MaxLenA, o.MaxLenB)
	}
	ex := make([]batch.Example, len(sources))
	longest := 0
	for i, s := range sources {
		if len(s) == 0 {
			return nil, fmt.Errorf("decode: sentence %d is empty", i)
		}
		if o.MaxLenA*len(s)+o.MaxLenB < 1 {
			return nil, fmt.Errorf("decode: MaxLenA %d and MaxLenB %d allow sentence %d (%d tokens) no output token", o.MaxLenA, o.MaxLenB, i, len(s))
		}
		longest = max(longest, len(s))
		ex[i] = batch.Example{Src: s, Tgt: []int32{vocab.EOS}}
	}
	plan := batch.Plan{Size: o.Batch, Bounds: batch.CoveringBounds(longest)}
	out := make([][]int32, len(sources))
	rep := o.Progress
	if rep == nil {
		rep = progress.Nop
	}
	bar := rep.Start(fmt.Sprintf("translating (beam %d)", o.Beam), int64(len(sources)))
	defer bar.Finish()
	for _, spec := range plan.Epoch(ex, 0, 0, false) {
		b := batch.Make(ex, spec)
		st, err := m.Encode(b, o.Beam)
		if err != nil {
			return nil, err
		}
		res, err := search(st, b, o)
		if err != nil {
			return nil, err
		}
		for row, i := range spec.Rows {
			if i >= 0 {
				out[i] = res[row]
				bar.Add(1)
			}
		}
	}
	return out, nil
}

// hyp is one hypothesis of a sentence.
type hyp struct {
	tokens []int32
	score  float64
}

func (o Options) norm(h hyp) float64 {
	if o.Alpha == 0 {
		return h.score
	}
	return h.score / math.Pow(float64(len(h.tokens)), o.Alpha)
}

// search runs beam search for the sentences of one batch from st, the
// Stepper of their encoded sources (Model.Encode).
func search(st *fused.Stepper, b *batch.Batch, o Options) ([][]int32, error) {
	n, k := b.Shape.Size, o.Beam
	// Each row's 2k best tokens hold the sentence's 2k best extensions;
	// two more make up for <pad> and <s>, which are never chosen.
	best := min(2*k+2, st.Vocab())
	logp, ids := make([]float32, n*k*best), make([]int32, n*k*best)
	alive := make([][]hyp, n)
	endings := make([][]hyp, n)
	done := make([]bool, n)
	maxLen := make([]int, n)
	for s := range n {
		alive[s] = []hyp{{}}
		maxLen[s] = o.MaxLenA*int(b.SrcLen[s]) + o.MaxLenB
		done[s] = b.Spec.Rows[s] < 0
	}
	// active lists the sentences that the Stepper's rows hold, k rows each
	// in this order; finished sentences are dropped from it (and from the
	// Stepper) once they are a quarter of it.
	active := make([]int, n)
	prev := make([]int32, n*k)
	parents := make([]int32, n*k)
	for i := range active {
		active[i] = i
	}
	for i := range prev {
		prev[i] = vocab.BOS
	}
	for step := 0; ; step++ {
		rows := len(active) * k
		if err := st.Step(prev[:rows]); err != nil {
			return nil, err
		}
		if err := st.Best(logp[:rows*best], ids[:rows*best]); err != nil {
			return nil, err
		}
		finished := true
		for a, s := range active {
			if done[s] {
				for j := range k {
					parents[a*k+j], prev[a*k+j] = int32(a*k), vocab.Pad
				}
				continue
			}
			cands := topK(alive[s], logp[a*k*best:(a+1)*k*best], ids[a*k*best:(a+1)*k*best], best, 2*k)
			var next []hyp
			for rank, c := range cands {
				h := hyp{tokens: append(append([]int32(nil), alive[s][c.parent].tokens...), c.token), score: c.score}
				if c.token == vocab.EOS {
					// An ending counts only among the k best extensions.
					if rank < k {
						endings[s] = append(endings[s], h)
					}
				} else if len(next) < k {
					parents[a*k+len(next)], prev[a*k+len(next)] = int32(a*k+c.parent), c.token
					next = append(next, h)
				}
			}
			alive[s] = next
			if cands[0].token == vocab.EOS || step+1 >= maxLen[s] || len(next) == 0 {
				done[s] = true
			}
			for j := len(next); j < k; j++ {
				parents[a*k+j], prev[a*k+j] = int32(a*k), vocab.Pad
			}
			finished = finished && done[s]
		}
		if finished {
			break
		}
		dead := 0
		for _, s := range active {
			if done[s] {
				dead++
			}
		}
		if 4*dead >= len(active) {
			kept := 0
			for a, s := range active {
				if !done[s] {
					copy(parents[kept*k:(kept+1)*k], parents[a*k:(a+1)*k])
					copy(prev[kept*k:(kept+1)*k], prev[a*k:(a+1)*k])
					active[kept] = s
					kept++
				}
			}
			active = active[:kept]
		}
		if err := st.Reorder(parents[:len(active)*k]); err != nil {
			return nil, err
		}
	}
	out := make([][]int32, n)
	for s := range n {
		pool := endings[s]
		if len(pool) == 0 {
			pool = alive[s]
		}
		best := -1
		for i, h := range pool {
			if best < 0 || o.norm(h) > o.norm(pool[best]) {
				best = i
			}
		}
		if best >= 0 {
			out[s] = pool[best].tokens
			if l := len(out[s]); l > 0 && out[s][l-1] == vocab.EOS {
				out[s] = out[s][:l-1]
			}
		}
	}
	return out, nil
}

type cand struct {
	parent int
	token  int32
	score  float64
}

// topK returns the best `want` extensions of the alive hypotheses, best
// first, equal scores by lower parent, then by their order in the parent's
// row. Row j of ids and logp (m values) holds alive[j]'s m best next
// tokens, best first, ties by lower token, so the candidates arrive in the
// order that breaks ties.
func topK(alive []hyp, logp []float32, ids []int32, m, want int) []cand {
	var best []cand
	for j, h := range alive {
		for q, w := range ids[j*m : (j+1)*m] {
			if w == vocab.Pad || w == vocab.BOS {
				continue
			}
			lp := logp[j*m+q]
			sc := h.score + float64(lp)
			if len(best) == want && sc <= best[want-1].score {
				continue
			}
			c := cand{parent: j, token: w, score: sc}
			i := sort.Search(len(best), func(i int) bool { return best[i].score < sc })
			if len(best) < want {
				best = append(best, cand{})
			}
			copy(best[i+1:], best[i:len(best)-1])
			best[i] = c
		}
	}
	return best
}

// Package topwords reads one neuron against the words it responds to, the
// way NeuroX's get_top_words does (Dalvi et al. 2019 interpret neurons by
// the word types that account for most of their variance).
//
// Over all T tokens of a corpus, with a_t the neuron's activation on token t,
// μ the mean and σ the population standard deviation of a:
//
//	z_t      = |a_t − μ| / σ
//	mean(w)  = Σ_{t : token t is w} z_t / count(w)
//	score(w) = mean(w) / max_v mean(v)
//
// Word types are listed by descending score, ties in the order of their first
// occurrence (NeuroX's stable sort), keeping those whose score exceeds
// MinScore (NeuroX's min_threshold, 0.1 by default) and at most Limit of them.
// MinCount, which NeuroX lacks, drops types seen fewer times before the
// normalisation, so that a word seen once with an extreme activation does not
// set the scale. grain accumulates in float64 where NeuroX uses NumPy's float32
// mean and std, so scores agree with NeuroX's to float32 rounding.
package topwords

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// DefaultMinScore is NeuroX's default min_threshold: Options{MinScore:
// DefaultMinScore} are NeuroX's defaults.
const DefaultMinScore = 0.1

// Options select which word types Of lists.
type Options struct {
	// Limit keeps at most this many types; 0 keeps every type that passes
	// MinScore and MinCount.
	Limit int
	// MinScore keeps types whose score exceeds it (in [0, 1)).
	MinScore float64
	// MinCount keeps types seen at least this many times; 0 and 1 keep all.
	MinCount int
}

// Word is one word type's share of a neuron's variance.
type Word struct {
	Word string `json:"word"`
	// Score is the type's mean |z| over its tokens divided by the largest
	// such mean (so the first word scores 1).
	Score float64 `json:"score"`
	// Mean is the type's mean activation: its sign says whether the
	// neuron fires above or below its average on the word.
	Mean  float64 `json:"mean"`
	Count int     `json:"count"`
}

// Result is a neuron's statistics over the tokens and its top word types.
type Result struct {
	Tokens int     `json:"tokens"`
	Mean   float64 `json:"mean"`
	SD     float64 `json:"sd"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	// Types is the number of word types that passed MinCount.
	Types int    `json:"types"`
	Words []Word `json:"words"`
}

// ErrConstant is returned for a neuron whose activation never changes: it
// has no variance for words to account for.
var ErrConstant = errors.New("topwords: the neuron's activation is constant over the tokens")

// Of scores the word types of tokens by the neuron activations values
// (values[t] on tokens[t]). Lengths must match, there must be at least one
// token, and every value must be finite. For a neuron whose activation is
// the same on every token it returns the statistics (SD 0, Types counted,
// Words empty) with ErrConstant.
func Of(tokens []string, values []float32, opt Options) (*Result, error) {
	if len(tokens) != len(values) {
		return nil, fmt.Errorf("topwords: %d tokens but %d activations", len(tokens), len(values))
	}
	if len(tokens) == 0 {
		return nil, errors.New("topwords: no tokens")
	}
	if opt.Limit < 0 || opt.MinCount < 0 || !(opt.MinScore >= 0 && opt.MinScore < 1) {
		return nil, fmt.Errorf("topwords: options %+v: want Limit ≥ 0, MinCount ≥ 0 and MinScore in [0, 1)", opt)
	}
	res := &Result{Tokens: len(values), Min: math.Inf(1), Max: math.Inf(-1)}
	var sum float64
	for t, v := range values {
		a := float64(v)
		if math.IsNaN(a) || math.IsInf(a, 0) {
			return nil, fmt.Errorf("topwords: activation %d (token %q) is %v", t, tokens[t], v)
		}
		sum += a
		res.Min, res.Max = min(res.Min, a), max(res.Max, a)
	}
	res.Mean = sum / float64(len(values))
	var ss float64
	for _, v := range values {
		d := float64(v) - res.Mean
		ss += d * d
	}
	res.SD = math.Sqrt(ss / float64(len(values)))
	constant := res.Max == res.Min || res.SD == 0

	type acc struct {
		z, a  float64
		count int
		first int
	}
	types := map[string]*acc{}
	for t, w := range tokens {
		a := float64(values[t])
		s := types[w]
		if s == nil {
			s = &acc{first: t}
			types[w] = s
		}
		if !constant {
			s.z += math.Abs(a-res.Mean) / res.SD
		}
		s.a += a
		s.count++
	}
	words := make([]Word, 0, len(types))
	var best float64
	for w, s := range types {
		if s.count < opt.MinCount {
			continue
		}
		mean := s.z / float64(s.count)
		best = max(best, mean)
		words = append(words, Word{Word: w, Score: mean, Mean: s.a / float64(s.count), Count: s.count})
	}
	res.Types = len(words)
	if constant {
		res.Words = []Word{}
		return res, ErrConstant
	}
	for i := range words {
		if best > 0 {
			words[i].Score /= best
		}
	}
	sort.Slice(words, func(i, j int) bool {
		if words[i].Score != words[j].Score {
			return words[i].Score > words[j].Score
		}
		return types[words[i].Word].first < types[words[j].Word].first
	})
	kept := words[:0]
	for _, w := range words {
		if w.Score > opt.MinScore && (opt.Limit == 0 || len(kept) < opt.Limit) {
			kept = append(kept, w)
		}
	}
	res.Words = kept
	return res, nil
}

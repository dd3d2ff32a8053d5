// Package bleu computes corpus BLEU (Papineni et al. 2002) exactly as
// sacreBLEU 2.x does with one reference per sentence, tokenize="none" (the
// texts are already tokenized and lower-cased, as Multi30k's tok files are)
// and its default "exp" smoothing:
//
//	for each sentence: hypothesis and reference split at white space;
//	  correct[n] += Σ_g min(count_hyp(g), count_ref(g)) over hypothesis n-grams g
//	  total[n]   += max(len_hyp − n + 1, 0),  n = 1 … 4
//	  sys += len_hyp, ref += len_ref
//	BP = 1 if sys ≥ ref, else exp(1 − ref/sys) (0 when sys = 0)
//	score = 0 if no n-gram matches at all; otherwise, walking n = 1 … 4 and
//	  stopping at the first n with total[n] = 0 (its precision and all later
//	  ones stay 0),
//	  p_n = 100·correct[n]/total[n], or, when correct[n] = 0, 100/(2^k·total[n])
//	  for the k-th such n (NIST's smoothing)
//	score = BP · exp(¼ Σ_n log p_n), with log 0 taken as −9999999999
//
// so a perfect corpus scores 100. Scores are statistics of the whole corpus,
// not averages of sentence scores. Every token is a word, "<unk>" included:
// sacreBLEU's default 13a tokenizer would split it into "< unk >", which
// on the shipped en→de model's output scores 3 points lower. Signature
// names the configuration in sacreBLEU's terms.
package bleu

import (
	"fmt"
	"math"
	"strings"

	"github.com/grainlab/grain/analysis/corpus"
)

// MaxOrder is the largest n-gram order.
const MaxOrder = 4

// Signature is sacreBLEU's signature of the BLEU this package computes: the
// same number as `sacrebleu REF -tok none` (sacreBLEU 2.x) on the same
// texts.
const Signature = "nrefs:1|case:mixed|eff:no|tok:none|smooth:exp|version:2.x"

// Stats are BLEU's sufficient statistics; they add up over sentences.
type Stats struct {
	Correct, Total [MaxOrder]int
	SysLen, RefLen int
}

// Add adds o into s.
func (s *Stats) Add(o Stats) {
	for n := range MaxOrder {
		s.Correct[n] += o.Correct[n]
		s.Total[n] += o.Total[n]
	}
	s.SysLen += o.SysLen
	s.RefLen += o.RefLen
}

// Sentence returns the statistics of one tokenized hypothesis against its
// reference.
func Sentence(hyp, ref []string) Stats {
	s := Stats{SysLen: len(hyp), RefLen: len(ref)}
	for n := 1; n <= MaxOrder; n++ {
		refCounts := map[string]int{}
		for i := 0; i+n <= len(ref); i++ {
			refCounts[strings.Join(ref[i:i+n], " ")]++
		}
		hypCounts := map[string]int{}
		for i := 0; i+n <= len(hyp); i++ {
			hypCounts[strings.Join(hyp[i:i+n], " ")]++
			s.Total[n-1]++
		}
		for g, c := range hypCounts {
			s.Correct[n-1] += min(c, refCounts[g])
		}
	}
	return s
}

// Score is a BLEU score with its parts.
type Score struct {
	BLEU       float64
	Precisions [MaxOrder]float64
	BP         float64
	Stats
}

func (s Score) String() string {
	p := s.Precisions
	return fmt.Sprintf("BLEU = %.2f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %d ref_len = %d)",
		s.BLEU, p[0], p[1], p[2], p[3], s.BP, float64(s.SysLen)/float64(max(s.RefLen, 1)), s.SysLen, s.RefLen)
}

// Compute turns statistics into the score.
func (s Stats) Compute() Score {
	sc := Score{Stats: s, BP: 1}
	if s.SysLen < s.RefLen {
		sc.BP = 0
		if s.SysLen > 0 {
			sc.BP = math.Exp(1 - float64(s.RefLen)/float64(s.SysLen))
		}
	}
	any := false
	for _, c := range s.Correct {
		any = any || c > 0
	}
	if !any {
		return sc
	}
	smooth := 1.0
	for n := range MaxOrder {
		if s.Total[n] == 0 {
			break
		}
		if s.Correct[n] == 0 {
			smooth *= 2
			sc.Precisions[n] = 100 / (smooth * float64(s.Total[n]))
		} else {
			sc.Precisions[n] = 100 * float64(s.Correct[n]) / float64(s.Total[n])
		}
	}
	var sum float64
	for _, p := range sc.Precisions {
		if p == 0 {
			sum += -9999999999
		} else {
			sum += math.Log(p)
		}
	}
	sc.BLEU = sc.BP * math.Exp(sum/MaxOrder)
	return sc
}

// Corpus scores hypotheses against references, one reference per
// hypothesis, each a string of tokens split at white space as sacreBLEU
// (Python's str.split()) splits it: corpus.IsSpace.
func Corpus(hyps, refs []string) (Score, error) {
	if len(hyps) != len(refs) {
		return Score{}, fmt.Errorf("bleu: %d hypotheses for %d references", len(hyps), len(refs))
	}
	var s Stats
	for i := range hyps {
		s.Add(Sentence(strings.FieldsFunc(hyps[i], corpus.IsSpace), strings.FieldsFunc(refs[i], corpus.IsSpace)))
	}
	return s.Compute(), nil
}

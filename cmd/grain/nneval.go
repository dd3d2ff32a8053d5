package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/grainlab/grain/analysis/ranking"
	"github.com/grainlab/grain/nn/batch"
	"github.com/grainlab/grain/nn/bleu"
	"github.com/grainlab/grain/nn/decode"
	"github.com/grainlab/grain/nn/model"
	"github.com/grainlab/grain/nn/train"
	"github.com/grainlab/grain/nn/vocab"
)

func init() {
	register(command{"eval", "evaluate a model: NMT BLEU (and loss), NLM perplexity, optionally with neurons clamped to 0", runEval})
	register(command{"translate", "translate tokenized sentences with an NMT model (beam search)", runTranslate})
}

// maskFlags select neurons to clamp to zero inside a model.
type maskFlags struct {
	ranking             string
	top, bottom, random float64
	neurons             string
}

func (f *maskFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.ranking, "mask-ranking", "", "ranking file (grain rank) whose neurons --mask-top/--mask-bottom/--mask-random pick")
	fs.Float64Var(&f.top, "mask-top", -1, "clamp the top PERCENT of the ranking's neurons to 0")
	fs.Float64Var(&f.bottom, "mask-bottom", -1, "clamp the bottom PERCENT of the ranking's neurons to 0")
	fs.Float64Var(&f.random, "mask-random", -1, "clamp a random PERCENT of the neurons to 0 (seeded by --seed)")
}

// apply sets m's masks; it returns the number of masked neurons.
func (f *maskFlags) apply(m *model.Model, seed uint64) (int, error) {
	var how model.Selection
	var pct float64
	n := 0
	for _, c := range []struct {
		v   float64
		sel model.Selection
	}{{f.top, model.Top}, {f.bottom, model.Bottom}, {f.random, model.Random}} {
		if c.v >= 0 {
			how, pct = c.sel, c.v
			n++
		}
	}
	switch {
	case n == 0 && f.ranking == "":
		return 0, nil
	case n > 1:
		return 0, fmt.Errorf("give one of --mask-top, --mask-bottom and --mask-random")
	case n == 0 || f.ranking == "":
		return 0, fmt.Errorf("--mask-ranking and one of --mask-top, --mask-bottom, --mask-random go together")
	}
	r, err := ranking.ReadFile(f.ranking)
	if err != nil {
		return 0, err
	}
	sel, err := m.Masks.SelectNeurons(r, how, pct, seed)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", f.ranking, err)
	}
	return len(sel), m.Masks.Zero(sel)
}

func runEval(c *cli, args []string) error {
	fs := c.flags("eval", "eval --model M [--src FILE --ref FILE | --text FILE] [mask flags] [flags]\n\n"+
		"NMT: corpus BLEU (sacreBLEU, tokenize none) of beam-search translations of --src against --ref\n"+
		"(default Multi30k test_2016_flickr in the model's languages), and the loss on the pairs.\n"+
		"NLM: perplexity of --text (default Multi30k val in the model's language).")
	path := modelFlag(fs)
	src := fs.String("src", "", "NMT: tokenized source sentences")
	ref := fs.String("ref", "", "NMT: tokenized reference translations")
	text := fs.String("text", "", "NLM: tokenized text")
	split := fs.String("split", "", "Multi30k split for the defaults (NMT: test_2016_flickr, NLM: val)")
	beam := fs.Int("beam", 5, "NMT beam size (1: greedy)")
	bsz := fs.Int("batch", 64, "sentences per batch")
	var mf maskFlags
	mf.register(fs)
	if err := c.parse(fs, args, false); err != nil {
		return err
	}
	if err := required(fs, "model"); err != nil {
		return err
	}
	m, err := c.loadModel(*path)
	if err != nil {
		return err
	}
	masked, err := mf.apply(m, c.seed)
	if err != nil {
		return err
	}
	res := map[string]any{"model": *path, "masked_neurons": masked, "neurons": m.Masks.NumNeurons()}
	if m.Config.Kind == model.NLM {
		if *split == "" {
			*split = "val"
		}
		p, err := orMulti30k(*text, *split, m.Config.TgtLang)
		if err != nil {
			return err
		}
		sents, err := vocab.ReadTokenized(p)
		if err != nil {
			return err
		}
		ev, err := evaluate(m, nil, sents, *bsz)
		if err != nil {
			return err
		}
		res["text"], res["tokens"], res["loss"], res["perplexity"] = p, ev.Tokens, ev.Loss(), ev.Perplexity()
		if !c.json {
			fmt.Fprintf(c.stdout, "%s: perplexity %.2f (loss %.4f over %d tokens, </s> included)", p, ev.Perplexity(), ev.Loss(), ev.Tokens)
		}
	} else {
		if *split == "" {
			*split = "test_2016_flickr"
		}
		sp, err := orMulti30k(*src, *split, m.Config.SrcLang)
		if err != nil {
			return err
		}
		rp, err := orMulti30k(*ref, *split, m.Config.TgtLang)
		if err != nil {
			return err
		}
		srcS, err := vocab.ReadTokenized(sp)
		if err != nil {
			return err
		}
		refS, err := vocab.ReadTokenized(rp)
		if err != nil {
			return err
		}
		if len(srcS) != len(refS) {
			return fmt.Errorf("%s has %d lines, %s %d", sp, len(srcS), rp, len(refS))
		}
		hyps, err := translate(m, srcS, *beam, *bsz)
		if err != nil {
			return err
		}
		refs := make([]string, len(refS))
		for i, r := range refS {
			refs[i] = strings.Join(r, " ")
		}
		score, err := bleu.Corpus(hyps, refs)
		if err != nil {
			return err
		}
		ev, err := evaluate(m, srcS, refS, *bsz)
		if err != nil {
			return err
		}
		res["src"], res["ref"], res["beam"], res["bleu"], res["bleu_detail"] = sp, rp, *beam, score.BLEU, score.String()
		res["loss"], res["perplexity"] = ev.Loss(), ev.Perplexity()
		if !c.json {
			fmt.Fprintf(c.stdout, "%s → %s (beam %d): %v; loss %.4f (perplexity %.2f)", sp, rp, *beam, score, ev.Loss(), ev.Perplexity())
		}
	}
	if c.json {
		return writeJSON(c.stdout, res)
	}
	if masked > 0 {
		fmt.Fprintf(c.stdout, " with %d of %d neurons clamped to 0", masked, m.Masks.NumNeurons())
	}
	fmt.Fprintln(c.stdout)
	return nil
}

// evaluate computes the loss of the model on sentences (src nil for an
// NLM; vocab.ReadTokenized has refused empty lines), every sentence
// counted: the buckets are extended to cover the longest.
func evaluate(m *model.Model, src, tgt [][]string, bsz int) (train.Eval, error) {
	ex := make([]batch.Example, len(tgt))
	longest := 0
	for i := range tgt {
		ex[i].Tgt = m.Tgt.Encode(tgt[i])
		if src != nil {
			ex[i].Src = m.Src.Encode(src[i])
		}
		longest = max(longest, len(ex[i].Src), len(ex[i].Tgt)+1)
	}
	return train.Evaluate(m, ex, batch.Plan{Size: bsz, Bounds: batch.CoveringBounds(longest)})
}

// translate decodes tokenized source sentences into space-joined output.
func translate(m *model.Model, src [][]string, beam, bsz int) ([]string, error) {
	ids := make([][]int32, len(src))
	for i, s := range src {
		ids[i] = m.Src.Encode(s)
	}
	o := decode.Default
	o.Beam, o.Batch = beam, bsz
	out, err := decode.Translate(m, ids, o)
	if err != nil {
		return nil, err
	}
	hyps := make([]string, len(out))
	for i, h := range out {
		hyps[i] = strings.Join(m.Tgt.Decode(h), " ")
	}
	return hyps, nil
}

func runTranslate(c *cli, args []string) error {
	fs := c.flags("translate", "translate --model M [--input FILE] [--output FILE] [--beam 5] [mask flags] [flags]\n\n"+
		"Reads one tokenized, lower-cased sentence per line (standard input by default) and writes\n"+
		"one translation per line.")
	path := modelFlag(fs)
	input := fs.String("input", "", "tokenized source file (default standard input)")
	output := fs.String("output", "", "output file (default standard output)")
	beam := fs.Int("beam", 5, "beam size (1: greedy)")
	bsz := fs.Int("batch", 64, "sentences per batch")
	var mf maskFlags
	mf.register(fs)
	if err := c.parse(fs, args, false); err != nil {
		return err
	}
	if err := required(fs, "model"); err != nil {
		return err
	}
	m, err := c.loadModel(*path)
	if err != nil {
		return err
	}
	if m.Config.Kind != model.NMT {
		return fmt.Errorf("%s is a %s model; translate needs an NMT model", *path, m.Config.Kind)
	}
	if _, err := mf.apply(m, c.seed); err != nil {
		return err
	}
	var src [][]string
	if *input == "" {
		sc := bufio.NewScanner(os.Stdin)
		for line := 1; sc.Scan(); line++ {
			toks := strings.Fields(sc.Text())
			if len(toks) == 0 {
				return fmt.Errorf("standard input line %d is empty", line)
			}
			src = append(src, toks)
		}
		if err := sc.Err(); err != nil {
			return err
		}
	} else if src, err = vocab.ReadTokenized(*input); err != nil {
		return err
	}
	hyps, err := translate(m, src, *beam, *bsz)
	if err != nil {
		return err
	}
	var w io.Writer = c.stdout
	if *output != "" {
		f, err := os.Create(*output)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriter(w)
	for _, h := range hyps {
		fmt.Fprintln(bw, h)
	}
	return bw.Flush()
}

package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/grainlab/grain/analysis/ranking"
	"github.com/grainlab/grain/engine/atomicfile"
	"github.com/grainlab/grain/engine/progress"
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
	top, bottom, random optionalFloat
}

// optionalFloat is a number flag that may be left unset (no default shown
// in -h); checkNumbers checks it as a float64 when given.
type optionalFloat struct {
	v   float64
	set bool
}

func (o *optionalFloat) String() string {
	if o == nil || !o.set {
		return ""
	}
	return strconv.FormatFloat(o.v, 'g', -1, 64)
}

func (o *optionalFloat) Set(s string) (err error) {
	o.v, err = strconv.ParseFloat(s, 64)
	o.set = err == nil
	return err
}

func (o *optionalFloat) Get() any { return o.v }

func (f *maskFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.ranking, "mask-ranking", "", "ranking file (grain rank) whose neurons --mask-top/--mask-bottom/--mask-random pick")
	fs.Var(&f.top, "mask-top", "clamp the top `PERCENT` of the ranking's neurons to 0")
	fs.Var(&f.bottom, "mask-bottom", "clamp the bottom `PERCENT` of the ranking's neurons to 0")
	fs.Var(&f.random, "mask-random", "clamp a random `PERCENT` of --mask-ranking's neurons (all it ranks, in any order) to 0 (seeded by --seed)")
}

// readRanking reads --mask-ranking, warning when it ranks the neurons of a
// model of another name than modelPath.
func (f *maskFlags) readRanking(c *cli, modelPath string) (*ranking.File, error) {
	r, err := readRanked(f.ranking)
	if err != nil {
		return nil, err
	}
	warnOtherModel(c, f.ranking, r, modelPath)
	return r, nil
}

// apply sets the masks of m, the model at modelPath; it returns the number
// of masked neurons.
func (f *maskFlags) apply(c *cli, m *model.Model, modelPath string) (int, error) {
	var how ranking.Pick
	var pct float64
	n := 0
	for _, c := range []struct {
		v   optionalFloat
		sel ranking.Pick
	}{{f.top, ranking.PickTop}, {f.bottom, ranking.PickBottom}, {f.random, ranking.PickRandom}} {
		if c.v.set {
			how, pct = c.sel, c.v.v
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
	r, err := f.readRanking(c, modelPath)
	if err != nil {
		return 0, err
	}
	sel, err := m.Masks.SelectNeurons(r, how, pct, c.seed)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", f.ranking, err)
	}
	return len(sel), m.Masks.Zero(sel)
}

func runEval(c *cli, args []string) error {
	fs := c.flags("eval", "eval --model M [--src FILE --ref FILE | --text FILE] [mask flags | --mask-ranking R --sweep PERCENTS] [flags]\n\n"+
		"NMT: corpus BLEU (sacreBLEU, tokenize none) of beam-search translations of --src against --ref\n"+
		"(default Multi30k test_2016_flickr in the model's languages), and the loss on the pairs.\n"+
		"NLM: perplexity of --text (default Multi30k val in the model's language).\n"+
		"--sweep: ablation inside the model, the score with the top, bottom and random PERCENT of the\n"+
		"ranking's neurons clamped to 0, for each PERCENT, beside the unmasked score.", withDevice|withSeed)
	path := modelFlag(fs)
	var d evalData
	fs.StringVar(&d.srcPath, "src", "", "NMT: tokenized source sentences")
	fs.StringVar(&d.refPath, "ref", "", "NMT: tokenized reference translations")
	fs.StringVar(&d.textPath, "text", "", "NLM: tokenized text")
	split := fs.String("split", "", "Multi30k split for the defaults (NMT: test_2016_flickr, NLM: val)")
	fs.IntVar(&d.beam, "beam", 5, "NMT beam size (1: greedy)")
	fs.IntVar(&d.batch, "batch", 64, "sentences per batch")
	sweep := fs.String("sweep", "", "comma-separated percentages: clamp the top, bottom and random PERCENT of --mask-ranking's neurons in turn")
	plotPath := fs.String("plot", "", "--sweep: also draw the score against the percentage clamped to this .png/.svg/.pdf")
	var mf maskFlags
	mf.register(fs)
	if err := c.parse(fs, args, false); err != nil {
		return err
	}
	if err := required(fs, "model"); err != nil {
		return err
	}
	if err := checkBatchBeam(d.batch, d.beam); err != nil {
		return err
	}
	if *plotPath != "" && *sweep == "" {
		return fmt.Errorf("--plot draws a --sweep; give --sweep PERCENTS")
	}
	var pcts []float64
	if *sweep != "" {
		if mf.ranking == "" || mf.top.set || mf.bottom.set || mf.random.set {
			return fmt.Errorf("--sweep needs --mask-ranking and no --mask-top/--mask-bottom/--mask-random")
		}
		var err error
		if pcts, err = parsePercents(*sweep); err != nil {
			return fmt.Errorf("--sweep: %w", err)
		}
	}
	if err := checkPlot(fs, *plotPath); err != nil {
		return err
	}
	m, err := c.loadModel(*path)
	if err != nil {
		return err
	}
	if err := d.load(m, *split); err != nil {
		return err
	}
	if *sweep != "" {
		return runEvalSweep(c, m, *path, &d, mf, pcts, *plotPath)
	}
	masked, err := mf.apply(c, m, *path)
	if err != nil {
		return err
	}
	sc, err := d.score(m, c.progress())
	if err != nil {
		return err
	}
	if c.json {
		res := map[string]any{"model": *path, "masked_neurons": masked, "neurons": m.Masks.NumNeurons(),
			"loss": sc.Loss, "perplexity": sc.Perplexity}
		if d.nlm {
			res["text"], res["tokens"] = d.textPath, sc.Tokens
		} else {
			res["src"], res["ref"], res["beam"], res["bleu"], res["bleu_detail"] = d.srcPath, d.refPath, d.beam, sc.BLEU, sc.BLEUDetail
			res["bleu_signature"] = bleu.Signature
		}
		return writeJSON(c.stdout, res)
	}
	if d.nlm {
		fmt.Fprintf(c.stdout, "%s: perplexity %.2f (loss %.4f over %d tokens, </s> and <unk> included)", d.textPath, sc.Perplexity, sc.Loss, sc.Tokens)
	} else {
		fmt.Fprintf(c.stdout, "%s → %s (beam %d): %s [%s]; loss %.4f (perplexity %.2f)", d.srcPath, d.refPath, d.beam, sc.BLEUDetail, bleu.Signature, sc.Loss, sc.Perplexity)
	}
	if masked > 0 {
		fmt.Fprintf(c.stdout, " with %d of %d neurons clamped to 0", masked, m.Masks.NumNeurons())
	}
	fmt.Fprintln(c.stdout)
	return nil
}

// evalData is the text grain eval scores a model on: an NLM's sentences,
// or an NMT's source sentences and references.
type evalData struct {
	nlm                        bool
	textPath, srcPath, refPath string
	text, src, ref             [][]string
	refs                       []string // references joined by spaces
	beam, batch                int
}

// load reads the data for m, defaulting to the Multi30k split's files in
// the model's languages.
func (d *evalData) load(m *model.Model, split string) error {
	var err error
	if m.Config.Kind == model.NLM {
		if d.srcPath != "" || d.refPath != "" {
			return fmt.Errorf("--src and --ref are for NMT models; this is an NLM: give --text")
		}
		d.nlm = true
		if split == "" {
			split = "val"
		}
		if d.textPath, err = orMulti30k(d.textPath, split, m.Config.TgtLang); err != nil {
			return err
		}
		d.text, err = vocab.ReadTokenized(d.textPath)
		return err
	}
	if d.textPath != "" {
		return fmt.Errorf("--text is for NLMs; this is an NMT model: give --src and --ref")
	}
	if split == "" {
		split = "test_2016_flickr"
	}
	if d.srcPath, err = orMulti30k(d.srcPath, split, m.Config.SrcLang); err != nil {
		return err
	}
	if d.refPath, err = orMulti30k(d.refPath, split, m.Config.TgtLang); err != nil {
		return err
	}
	if d.src, err = vocab.ReadTokenized(d.srcPath); err != nil {
		return err
	}
	if d.ref, err = vocab.ReadTokenized(d.refPath); err != nil {
		return err
	}
	if len(d.src) != len(d.ref) {
		return fmt.Errorf("%s has %d lines, %s %d", d.srcPath, len(d.src), d.refPath, len(d.ref))
	}
	d.refs = make([]string, len(d.ref))
	for i, r := range d.ref {
		d.refs[i] = strings.Join(r, " ")
	}
	return nil
}

// evalScore is a model's score on evalData under its current masks.
type evalScore struct {
	BLEU       float64 `json:"bleu,omitempty"` // NMT: corpus BLEU of the translations
	BLEUDetail string  `json:"bleu_detail,omitempty"`
	Loss       float64 `json:"loss"` // mean cross-entropy per target token
	Perplexity float64 `json:"perplexity"`
	Tokens     int     `json:"tokens"` // target tokens scored, </s> and <unk> included
}

// score evaluates m (translating first, for an NMT, with a progress bar
// on rep, which may be nil).
func (d *evalData) score(m *model.Model, rep progress.Reporter) (evalScore, error) {
	var sc evalScore
	if !d.nlm {
		hyps, err := translate(m, d.src, d.beam, d.batch, rep)
		if err != nil {
			return sc, err
		}
		b, err := bleu.Corpus(hyps, d.refs)
		if err != nil {
			return sc, err
		}
		sc.BLEU, sc.BLEUDetail = b.BLEU, b.String()
	}
	src, tgt := d.src, d.ref
	if d.nlm {
		src, tgt = nil, d.text
	}
	ev, err := evaluate(m, src, tgt, d.batch, rep)
	if err != nil {
		return sc, err
	}
	sc.Loss, sc.Perplexity, sc.Tokens = ev.Loss(), ev.Perplexity(), ev.Tokens
	return sc, nil
}

// sweepPoint is one row of an ablation sweep inside the model.
type sweepPoint struct {
	Selection ranking.Pick `json:"selection"`
	Percent   float64      `json:"percent"`
	Masked    int          `json:"masked_neurons"`
	evalScore
}

// runEvalSweep scores m unmasked, then with the top, bottom and random
// PERCENT of the ranking's neurons clamped to 0 for each percentage (the
// paper's ablation inside the model: BLEU drop, perplexity rise).
func runEvalSweep(c *cli, m *model.Model, modelPath string, d *evalData, mf maskFlags, pcts []float64, plotPath string) error {
	r, err := mf.readRanking(c, modelPath)
	if err != nil {
		return err
	}
	base, err := d.score(m, c.progress())
	if err != nil {
		return err
	}
	sels := ranking.Picks
	bar := c.progress().Start("ablation inside the model", int64(len(sels)*len(pcts)))
	defer bar.Finish() // on an error; idempotent
	var pts []sweepPoint
	for _, sel := range sels {
		for _, pct := range pcts {
			neurons, err := m.Masks.SelectNeurons(r, sel, pct, c.seed)
			if err != nil {
				return fmt.Errorf("%s: %w", mf.ranking, err)
			}
			m.Masks.Reset()
			if err := m.Masks.Zero(neurons); err != nil {
				return err
			}
			sc, err := d.score(m, nil) // the sweep's bar counts the evaluations
			if err != nil {
				return err
			}
			pts = append(pts, sweepPoint{Selection: sel, Percent: pct, Masked: len(neurons), evalScore: sc})
			bar.Add(1)
		}
	}
	bar.Finish()
	m.Masks.Reset()
	metric, value := "perplexity", func(s evalScore) float64 { return s.Perplexity }
	if !d.nlm {
		metric, value = "bleu", func(s evalScore) float64 { return s.BLEU }
	}
	if plotPath != "" {
		if err := plotSweep(pts, value(base), metric, value, plotPath); err != nil {
			return err
		}
	}
	if c.json {
		return writeJSON(c.stdout, map[string]any{"model": modelPath, "kind": m.Config.Kind, "ranking": mf.ranking, "metric": metric,
			"neurons": m.Masks.NumNeurons(), "ranked_neurons": r.NumNeurons, "unmasked": base, "sweep": pts})
	}
	fmt.Fprintf(c.stdout, "ablation inside the model: shares of the %d neurons that %s ranks clamped to 0 (the model has %d neurons in all, %d of them stored in activation files); unmasked %s %.2f\n\n",
		r.NumNeurons, mf.ranking, m.Masks.NumNeurons(), m.Masks.StoredNeurons(), metric, value(base))
	t := newTable(c.stdout, "selection", "percent", "neurons", metric, "change")
	for _, p := range pts {
		t.row(p.Selection, fmt.Sprintf("%g", p.Percent), p.Masked, fmt.Sprintf("%.2f", value(p.evalScore)), fmt.Sprintf("%+.2f", value(p.evalScore)-value(base)))
	}
	t.flush()
	if plotPath != "" {
		fmt.Fprintf(c.stdout, "\nwrote %s\n", plotPath)
	}
	return nil
}

// checkBatchBeam refuses a --batch or --beam below 1 (beam 0: no beam
// flag, as for extract).
func checkBatchBeam(batch, beam int) error {
	if batch < 1 {
		return fmt.Errorf("--batch %d: want at least 1 sentence", batch)
	}
	if beam < 1 {
		return fmt.Errorf("--beam %d: want at least 1 (1: greedy)", beam)
	}
	return nil
}

// evaluate computes the loss of the model on sentences (src nil for an
// NLM; vocab.ReadTokenized has refused empty lines), every sentence
// counted: the buckets are extended to cover the longest.
func evaluate(m *model.Model, src, tgt [][]string, bsz int, rep progress.Reporter) (train.Eval, error) {
	ex := make([]batch.Example, len(tgt))
	longest := 0
	for i := range tgt {
		ex[i].Tgt = m.Tgt.Encode(tgt[i])
		if src != nil {
			ex[i].Src = m.Src.Encode(src[i])
		}
		longest = max(longest, len(ex[i].Src), len(ex[i].Tgt)+1)
	}
	// Batches are padded to their size: none larger than the data.
	return train.Evaluate(m, ex, batch.Plan{Size: min(bsz, len(ex)), Bounds: batch.CoveringBounds(longest)}, rep)
}

// translate decodes tokenized source sentences into space-joined output,
// with a progress bar on rep (nil: none).
func translate(m *model.Model, src [][]string, beam, bsz int, rep progress.Reporter) ([]string, error) {
	ids := make([][]int32, len(src))
	for i, s := range src {
		ids[i] = m.Src.Encode(s)
	}
	o := decode.Default
	o.Beam, o.Batch, o.Progress = beam, bsz, rep
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
		"one translation per line. With --json, standard output gets a JSON object instead: the\n"+
		"translations in order (without --output) or the output file and sentence count.", withDevice|withSeed)
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
	if err := checkBatchBeam(*bsz, *beam); err != nil {
		return err
	}
	if err := checkOutputs(fs, *output); err != nil {
		return err
	}
	m, err := c.loadModel(*path)
	if err != nil {
		return err
	}
	if m.Config.Kind != model.NMT {
		return fmt.Errorf("%s is a %s model; translate needs an NMT model", *path, m.Config.Kind)
	}
	if _, err := mf.apply(c, m, *path); err != nil {
		return err
	}
	var src [][]string
	if *input == "" {
		src, err = vocab.ParseTokenized(os.Stdin, "standard input")
	} else {
		src, err = vocab.ReadTokenized(*input)
	}
	if err != nil {
		return err
	}
	hyps, err := translate(m, src, *beam, *bsz, c.progress())
	if err != nil {
		return err
	}
	if c.json && *output == "" {
		return writeJSON(c.stdout, map[string]any{"model": *path, "beam": *beam, "translations": hyps})
	}
	if *output == "" {
		bw := bufio.NewWriter(c.stdout)
		for _, h := range hyps {
			fmt.Fprintln(bw, h)
		}
		return bw.Flush()
	}
	f, err := atomicfile.Create(*output)
	if err != nil {
		return err
	}
	defer f.Abort() // after Commit, a no-op
	for _, h := range hyps {
		fmt.Fprintln(f.W, h)
	}
	if err := f.Commit(); err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.stdout, map[string]any{"model": *path, "beam": *beam, "output": *output, "sentences": len(hyps)})
	}
	return nil
}

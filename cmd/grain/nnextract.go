package main

import (
	"fmt"

	"github.com/grainlab/grain/analysis/activations"
	"github.com/grainlab/grain/nn/extract"
)

func init() {
	register(command{"extract", "write a model's per-token activations over a labeled corpus to an activation file", runExtract})
}

func runExtract(c *cli, args []string) error {
	fs := c.flags("extract", "extract --model M --corpus C --out A.gact [--labels L] [flags]\n\n"+
		"NMT: the encoder's layers over the corpus as source (bidirectional layers as forward then\n"+
		"backward); NLM: its LSTM layers. One row per corpus token, the corpus's tokens stored beside.", withDevice|withSeed)
	path := modelFlag(fs)
	corpusPath := fs.String("corpus", "", "corpus: CoNLL-U (.conllu[.gz]), PMB layer CoNLL (.conll), or a NeuroX tokens file (one sentence per line)")
	labels := fs.String("labels", "", "NeuroX labels file for a tokens --corpus (optional: checked against it, not stored)")
	out := fs.String("out", "", "activation file to write")
	dtype := fs.String("dtype", "float32", "stored precision: float32 or float16")
	bsz := fs.Int("batch", 64, "sentences per batch")
	var mf maskFlags
	mf.register(fs)
	if err := c.parse(fs, args, false); err != nil {
		return err
	}
	if err := required(fs, "model", "corpus", "out"); err != nil {
		return err
	}
	if err := checkBatchBeam(*bsz, 1); err != nil {
		return err
	}
	var dt activations.DType
	if err := dt.UnmarshalText([]byte(*dtype)); err != nil {
		return err
	}
	if err := checkOutputs(fs, *out); err != nil {
		return err
	}
	m, err := c.loadModel(*path)
	if err != nil {
		return err
	}
	if _, err := mf.apply(c, m, *path); err != nil {
		return err
	}
	cp, err := readTokens(*corpusPath) // the labels are not stored: checked only
	if *labels != "" {
		cp, err = readCorpus(*corpusPath, *labels, "label")
	}
	if err != nil {
		return err
	}
	rep, err := extract.Run(m, cp, *out, extract.Options{Batch: *bsz, Window: 64 * *bsz, DType: dt, Model: *path, Progress: c.progress()})
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.stdout, rep)
	}
	fmt.Fprintf(c.stdout, "%s: %d sentences, %d tokens (%d unknown to the model, read as <unk>) × %d neurons\n",
		*out, rep.Sentences, rep.Tokens, rep.Unknown, m.Masks.StoredNeurons())
	return nil
}

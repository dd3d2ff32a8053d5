package main

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/grainlab/grain/analysis/corpus"
	"github.com/grainlab/grain/nn/batch"
	"github.com/grainlab/grain/nn/model"
	"github.com/grainlab/grain/nn/train"
	"github.com/grainlab/grain/nn/vocab"
)

func init() {
	register(command{"train", "train an LSTM language model or an attentional NMT model (train nlm | train nmt)", runTrain})
}

// textData names tokenized text files, by default Multi30k's.
type textData struct {
	trainSrc, trainTgt, valSrc, valTgt string
}

// multi30k returns the path of a Multi30k tok file.
func multi30k(split, lang string) (string, error) {
	dir, err := corpus.SharedDataDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "multi30k", "tok", split+".lc.norm.tok."+lang), nil
}

// orMulti30k returns path, or Multi30k's split in lang when path is empty.
func orMulti30k(path, split, lang string) (string, error) {
	if path != "" {
		return path, nil
	}
	if lang == "" {
		return "", fmt.Errorf("no %s file and no language to find Multi30k's", split)
	}
	return multi30k(split, lang)
}

func runTrain(c *cli, args []string) error {
	if len(args) == 0 || (args[0] != model.NLM && args[0] != model.NMT) {
		fmt.Fprintln(c.stderr, "Usage: grain train nlm|nmt --out DIR [flags] (grain train nmt -h for the flags)")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return flag.ErrHelp
		}
		return errUsage
	}
	kind := args[0]
	fs := c.flags("train "+kind, "train "+kind+" --out DIR [flags]\n\n"+
		"Trains on Multi30k's tokenized lower-cased text by default (--src/--tgt languages); checkpoints\n"+
		"every epoch into DIR and resumes from DIR when it holds a checkpoint (same command, same data).\n"+
		"The best model (lowest validation loss) ends in DIR/model.safetensors.", withDevice|withSeed)
	var d textData
	src := fs.String("src", "en", "NMT source language (Multi30k)")
	tgt := fs.String("tgt", "de", "NMT target language, or the NLM's language (Multi30k)")
	fs.StringVar(&d.trainSrc, "train-src", "", "NMT training source file (one tokenized sentence per line; default Multi30k train)")
	fs.StringVar(&d.trainTgt, "train-tgt", "", "training target file (NLM: the training text)")
	fs.StringVar(&d.valSrc, "val-src", "", "NMT validation source file (default Multi30k val)")
	fs.StringVar(&d.valTgt, "val-tgt", "", "validation target file (NLM: the validation text)")
	out := fs.String("out", "", "checkpoint and output directory")
	embed := fs.Int("embed", 256, "embedding size")
	hidden := fs.Int("hidden", 256, "LSTM size (every layer)")
	layers := fs.Int("layers", 2, "LSTM layers (NLM) or decoder layers (NMT)")
	encLayers := fs.Int("enc-layers", 2, "NMT encoder layers")
	biLayers := fs.Int("bi-layers", 1, "NMT bidirectional encoder layers (the lowest ones)")
	dropout := fs.Float64("dropout", 0.3, "dropout probability")
	minCount := fs.Int("min-count", 2, "vocabulary: keep words seen at least this often in training")
	maxVocab := fs.Int("max-vocab", 0, "vocabulary: at most this many words (0: no limit)")
	initScale := fs.Float64("init-scale", 0.1, "initial weights uniform in ±init-scale")
	bsz := fs.Int("batch", 64, "sentences per batch")
	lr := fs.Float64("lr", 1e-3, "Adam learning rate")
	clip := fs.Float64("clip", 5, "maximum global gradient norm (0: none)")
	epochs := fs.Int("epochs", 15, "maximum epochs")
	patience := fs.Int("patience", 3, "stop after this many epochs without a better validation loss (0: never)")
	decay := fs.Float64("decay", 0.5, "multiply the learning rate by this after an epoch without improvement")
	every := fs.Int("checkpoint-every", 100, "also checkpoint every N batches (0: only after each epoch)")
	precision := fs.String("precision", "f32", "weights of DIR/model.safetensors: f32 or f16")
	if err := c.parse(fs, args[1:], false); err != nil {
		return err
	}
	if err := required(fs, "out"); err != nil {
		return err
	}
	cfg := model.Config{Kind: kind, Embed: *embed, Hidden: *hidden, Layers: *layers, Dropout: *dropout,
		InitSeed: c.seed, InitScale: *initScale, TgtLang: *tgt}
	if kind == model.NMT {
		cfg.EncLayers, cfg.BiLayers, cfg.SrcLang = *encLayers, *biLayers, *src
	}
	m, data, dropped, err := loadTrainingData(cfg, d, *minCount, *maxVocab, *bsz)
	if err != nil {
		return err
	}
	b, err := c.backend()
	if err != nil {
		return err
	}
	if err := m.SetBackend(b); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "grain train %s: %d parameters, vocabulary %d → %d, %d training and %d validation examples, %s\n",
		kind, m.NumParams(), m.Config.SrcVocab, m.Config.TgtVocab, len(data.Train), len(data.Val), b.Describe())
	if dropped > 0 {
		fmt.Fprintf(c.stderr, "grain train: %d sentences left out: longer than the largest length bucket (%d positions, </s> included)\n", dropped, batch.DefaultBounds[len(batch.DefaultBounds)-1])
	}
	var stop atomic.Bool
	graceful := func() {
		fmt.Fprintln(c.stderr, "\ninterrupt: checkpointing after this batch (interrupt again to stop at once)")
		stop.Store(true)
	}
	onInterrupt.Store(&graceful)
	defer onInterrupt.Store(nil)
	tr, err := train.New(m, data, train.Options{Batch: *bsz, LR: *lr, Clip: *clip, Epochs: *epochs, Patience: *patience,
		Decay: *decay, Seed: c.seed, Dir: *out, CheckpointEvery: *every, Progress: c.progress(), Log: c.stderr,
		Interrupt: stop.Load})
	if errors.Is(err, train.ErrDataChanged) {
		// The message ends with "another checkpoint directory": name the flag.
		return fmt.Errorf("%w (a fresh --out)", err)
	}
	if err != nil {
		return err
	}
	start := time.Now()
	st, err := tr.Run()
	onInterrupt.Store(nil) // from here on an interrupt stops at once
	if errors.Is(err, train.ErrInterrupted) {
		// The checkpoint is written; cli.main exits with exitInterrupted
		// (130), as for any interrupted command.
		return fmt.Errorf("%w at epoch %d, batch %d: checkpoint in %s; run the same command to resume", errInterrupted, st.Epoch+1, st.Batch, *out)
	}
	if err != nil {
		return err
	}
	best, err := model.Load(filepath.Join(*out, "best.safetensors"))
	if err != nil {
		return err
	}
	final := filepath.Join(*out, "model.safetensors")
	if err := best.Save(final, model.Precision(*precision)); err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.stdout, st)
	}
	fmt.Fprintf(c.stdout, "trained %d epochs in %v; best validation loss %.4f (perplexity %.2f) at epoch %d; model in %s\n",
		len(st.History), time.Since(start).Round(time.Second), *st.BestVal, st.History[st.BestEpoch-1].ValPPL, st.BestEpoch, final)
	return nil
}

// loadTrainingData reads the text, builds the vocabularies and a model with
// fresh weights, and makes the examples (dropping, with a count, pairs
// longer than the largest bucket).
func loadTrainingData(cfg model.Config, d textData, minCount, maxVocab, bsz int) (m *model.Model, data train.Data, dropped int, err error) {
	read := func(path, split, lang string) ([][]string, error) {
		p, err := orMulti30k(path, split, lang)
		if err != nil {
			return nil, err
		}
		return vocab.ReadTokenized(p)
	}
	trainTgt, err := read(d.trainTgt, "train", cfg.TgtLang)
	if err != nil {
		return nil, data, 0, err
	}
	valTgt, err := read(d.valTgt, "val", cfg.TgtLang)
	if err != nil {
		return nil, data, 0, err
	}
	tgtV := vocab.Build(trainTgt, minCount, maxVocab)
	cfg.TgtVocab = tgtV.Len()
	var srcV *vocab.Vocab
	var trainSrc, valSrc [][]string
	if cfg.Kind == model.NMT {
		if trainSrc, err = read(d.trainSrc, "train", cfg.SrcLang); err != nil {
			return nil, data, 0, err
		}
		if valSrc, err = read(d.valSrc, "val", cfg.SrcLang); err != nil {
			return nil, data, 0, err
		}
		if len(trainSrc) != len(trainTgt) || len(valSrc) != len(valTgt) {
			return nil, data, 0, fmt.Errorf("source and target files differ in length (%d/%d training, %d/%d validation lines)",
				len(trainSrc), len(trainTgt), len(valSrc), len(valTgt))
		}
		srcV = vocab.Build(trainSrc, minCount, maxVocab)
		cfg.SrcVocab = srcV.Len()
	}
	m, err = model.New(cfg, srcV, tgtV)
	if err != nil {
		return nil, data, 0, err
	}
	plan := batch.Plan{Size: bsz, Bounds: batch.DefaultBounds}
	examples := func(src, tgt [][]string) []batch.Example {
		var ex []batch.Example
		for i := range tgt {
			e := batch.Example{Tgt: tgtV.Encode(tgt[i])}
			if src != nil {
				e.Src = srcV.Encode(src[i])
			}
			if plan.Fits(e) {
				ex = append(ex, e)
			} else {
				dropped++
			}
		}
		return ex
	}
	data.Train, data.Val = examples(trainSrc, trainTgt), examples(valSrc, valTgt)
	return m, data, dropped, nil
}

// modelFlag registers --model, the model file.
func modelFlag(fs *flag.FlagSet) *string {
	return fs.String("model", "", "model file (safetensors written by grain train)")
}

// loadModel reads a model and puts it on the CLI's device.
func (c *cli) loadModel(path string) (*model.Model, error) {
	m, err := model.Load(path)
	if err != nil {
		return nil, err
	}
	b, err := c.backend()
	if err != nil {
		return nil, err
	}
	return m, m.SetBackend(b)
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/grainlab/grain/analysis/ablation"
	"github.com/grainlab/grain/analysis/activations"
	"github.com/grainlab/grain/analysis/corpus"
	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/analysis/lca"
	"github.com/grainlab/grain/analysis/probe"
	"github.com/grainlab/grain/analysis/synthetic"
)

func init() {
	register(command{"demo", "the main job on the embedded default: LCA end to end on planted-neuron activations over real EWT sentences (synthetic activations)", runDemo})
}

// Demo layout: 4 layers × 128 neurons of synthetic activations.
const (
	demoLayers = 4
	demoDim    = 128
)

func runDemo(c *cli, args []string) error {
	fs := c.flags("demo", "demo [--out DIR] [--sentences N] [flags]")
	out := fs.String("out", "", "keep the demo's files (activations, probe, ranking, report) in DIR")
	sentences := fs.Int("sentences", 3000, "EWT training sentences to use")
	mode := fs.String("mode", "fast", "probe training protocol: fast or neurox")
	if err := c.parse(fs, args, false); err != nil {
		return err
	}
	start := time.Now()
	dir := *out
	if dir == "" {
		tmp, err := os.MkdirTemp("", "grain-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := corpus.SharedDataDir()
	if err != nil {
		return fmt.Errorf("the demo reads UD English EWT from grain's shared data: %w", err)
	}
	trainC, err := corpus.ReadCoNLLU(filepath.Join(data, "ud_en_ewt", "en_ewt-ud-train.conllu.gz"))
	if err != nil {
		return err
	}
	testC, err := corpus.ReadCoNLLU(filepath.Join(data, "ud_en_ewt", "en_ewt-ud-test.conllu.gz"))
	if err != nil {
		return err
	}
	if *sentences > 0 && *sentences < len(trainC.Sentences) {
		trainC.Sentences = trainC.Sentences[:*sentences]
	}
	if !c.json {
		fmt.Fprintf(c.stdout, "grain demo: Linguistic Correlation Analysis of Penn POS tags (EWT XPOS)\n")
		fmt.Fprintf(c.stdout, "data: %d train sentences (%d tokens) and %d test sentences (%d tokens) of UD English EWT\n",
			len(trainC.Sentences), trainC.NumTokens(), len(testC.Sentences), testC.NumTokens())
		fmt.Fprintf(c.stdout, "activations: SYNTHETIC, %d layers × %d neurons with 2 planted neurons per tag (+1 noisy copy);\n"+
			"             the truth is known, so the table below can be checked against it\n\n", demoLayers, demoDim)
	}

	trainLabels, err := trainC.Labels(corpus.XPOS)
	if err != nil {
		return err
	}
	testLabels, err := testC.Labels(corpus.XPOS)
	if err != nil {
		return err
	}
	set := dataset.NewLabelSet(trainLabels)
	truth, err := writeDemoActivations(dir, set, trainC, testC, trainLabels, testLabels, c.seed)
	if err != nil {
		return err
	}
	trainSplit := split{name: "train", acts: filepath.Join(dir, "train.gact"), corpus: trainC.Path}
	testSplit := split{name: "test", acts: filepath.Join(dir, "test.gact"), corpus: testC.Path}
	// Re-read through the store and the corpus reader, as `grain lca` does.
	tr, err := joinDemo(&trainSplit, trainC, trainLabels, set)
	if err != nil {
		return err
	}
	defer tr.reader.Close()
	te, err := joinDemo(&testSplit, testC, testLabels, set)
	if err != nil {
		return err
	}
	defer te.reader.Close()

	pm, err := probe.ParseMode(*mode)
	if err != nil {
		return err
	}
	cfg := probe.DefaultConfig(pm)
	cfg.L1, cfg.L2, cfg.Seed = 1e-4, 1e-4, c.seed
	b, err := c.backend()
	if err != nil {
		return err
	}
	opt := lca.Options{Probe: cfg, Control: true, Ablation: &ablation.Options{
		Percents: []float64{10, 15, 20}, Retrain: true, Probe: cfg, Seed: c.seed,
	}}
	rep, p, err := lca.Run(b, tr.data, te.data, opt, c.progress())
	if err != nil {
		return err
	}
	if err := saveLCA(dir, rep, p, corpus.XPOS); err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.stdout, map[string]any{"report": rep, "truth": truth})
	}
	printLCA(c, rep, true)
	printTruth(c, rep, truth)
	fmt.Fprintf(c.stdout, "\ndevice %s; finished in %v\n", b.Describe(), time.Since(start).Round(100*time.Millisecond))
	if *out != "" {
		fmt.Fprintf(c.stdout, "files in %s\n", *out)
	}
	return nil
}

// writeDemoActivations plants neurons for the XPOS labels of both splits
// (one generator run, so train and test share the planted neurons and not
// their noise) and writes train.gact and test.gact.
func writeDemoActivations(dir string, set *dataset.LabelSet, trainC, testC *corpus.Corpus, trainL, testL [][]string, seed uint64) (*synthetic.Truth, error) {
	var y []int32
	for _, labels := range [][][]string{trainL, testL} {
		for _, s := range labels {
			for _, l := range s {
				y = append(y, set.ID(l))
			}
		}
	}
	cfg := synthetic.DefaultConfig(demoLayers * demoDim)
	cfg.Seed = seed
	x, truth, err := synthetic.Activations(y, len(set.Names), cfg)
	if err != nil {
		return nil, err
	}
	layers := make([]activations.Layer, demoLayers)
	for l := range layers {
		layers[l] = activations.Layer{Name: fmt.Sprintf("synthetic%d", l)}
	}
	row := 0
	for _, part := range []struct {
		name string
		c    *corpus.Corpus
	}{{"train.gact", trainC}, {"test.gact", testC}} {
		w, err := activations.Create(filepath.Join(dir, part.name), activations.Meta{
			Model: "synthetic planted neurons (grain demo)", Layers: layers, Dim: demoDim,
			DType: activations.Float32, Corpus: part.c.Path, Tool: "grain demo",
		})
		if err != nil {
			return nil, err
		}
		for _, s := range part.c.Sentences {
			n := len(s.Tokens)
			if err := w.AppendSentence(s.Tokens, x.RowSlice(row, n)); err != nil {
				w.Abort()
				return nil, err
			}
			row += n
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	}
	return truth, nil
}

func joinDemo(s *split, c *corpus.Corpus, labels [][]string, set *dataset.LabelSet) (*loaded, error) {
	r, err := activations.Open(s.acts)
	if err != nil {
		return nil, err
	}
	d, err := dataset.Join(r, c.Tokens(), labels, set)
	if err != nil {
		r.Close()
		return nil, err
	}
	return &loaded{data: d, reader: r, labels: labels}, nil
}

// printTruth compares the ranking with the planted neurons.
func printTruth(c *cli, r *lca.Report, truth *synthetic.Truth) {
	carriers := truth.Carriers()
	isCarrier := map[int]bool{}
	for _, j := range carriers {
		isCarrier[j] = true
	}
	head := r.Ordering.Neurons[:len(carriers)]
	hits := 0
	for _, j := range head {
		if isCarrier[j] {
			hits++
		}
	}
	sorted := append([]int(nil), head...)
	sort.Ints(sorted)
	fmt.Fprintf(c.stdout, "\ncheck against the planted truth: %d of the top %d ranked neurons are planted neurons or their copies (%s)\n",
		hits, len(carriers), pct(float64(hits)/float64(len(carriers))))
}

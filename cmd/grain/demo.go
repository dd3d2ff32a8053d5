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
	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/nn/extract"
)

func init() {
	register(command{"demo", "the main job on the embedded default: LCA of Penn POS tags on the shipped NMT encoder's neurons over UD English EWT", runDemo})
}

// Synthetic demo layout: 4 layers × 128 neurons.
const (
	demoLayers = 4
	demoDim    = 128
)

func runDemo(c *cli, args []string) error {
	fs := c.flags("demo", "demo [--out DIR] [--sentences N] [--model M | --synthetic] [flags]", withDevice|withSeed)
	out := fs.String("out", "", "keep the demo's files (activations, probe, ranking, report, plot) in DIR")
	sentences := fs.Int("sentences", 3000, "EWT training sentences to use")
	mode := fs.String("mode", "fast", "probe training protocol: fast or neurox")
	modelPath := fs.String("model", "", "model whose activations to analyse (default: the shipped en→de NMT, "+defaultModel+")")
	synth := fs.Bool("synthetic", false, "use synthetic activations with planted neurons instead of a model (the truth is known and checked)")
	if err := c.parse(fs, args, false); err != nil {
		return err
	}
	start := time.Now()
	data, err := corpus.SharedDataDir()
	if err != nil {
		return fmt.Errorf("the demo reads UD English EWT from grain's shared data: %w", err)
	}
	dir := *out
	if dir == "" {
		tmp, remove, err := scratchDir("grain-demo-")
		if err != nil {
			return err
		}
		defer remove()
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
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
	trainLabels, err := trainC.Labels(corpus.XPOS)
	if err != nil {
		return err
	}
	testLabels, err := testC.Labels(corpus.XPOS)
	if err != nil {
		return err
	}
	set := dataset.NewLabelSet(trainLabels)
	b, err := c.backend()
	if err != nil {
		return err
	}
	say := func(format string, a ...any) {
		if !c.json {
			fmt.Fprintf(c.stdout, format, a...)
		}
	}
	say("grain demo: Linguistic Correlation Analysis of Penn POS tags (EWT XPOS)\n")
	say("data: %d train sentences (%d tokens) and %d test sentences (%d tokens) of UD English EWT\n",
		len(trainC.Sentences), trainC.NumTokens(), len(testC.Sentences), testC.NumTokens())
	modelFile := *modelPath
	if !*synth && modelFile == "" {
		if modelFile, err = shippedModel(defaultModel); err != nil {
			// Outside grain's source tree (or before the models are
			// trained) the demo still runs, on planted activations.
			fmt.Fprintf(c.stderr, "grain demo: %v; running the synthetic demo instead (--model FILE to choose a model)\n", err)
			*synth = true
		}
	}
	var truth *synthetic.Truth
	if *synth {
		if truth, err = writeDemoActivations(dir, set, trainC, testC, trainLabels, testLabels, c.seed); err != nil {
			return err
		}
		say("activations: SYNTHETIC, %d layers × %d neurons with 2 planted neurons per tag (+1 noisy copy);\n"+
			"             the truth is known, so the table below can be checked against it\n\n", demoLayers, demoDim)
	} else {
		path := modelFile
		m, err := c.loadModel(path)
		if err != nil {
			return err
		}
		for _, part := range []struct {
			name string
			c    *corpus.Corpus
		}{{"train.gact", trainC}, {"test.gact", testC}} {
			rep, err := extract.Run(m, part.c, filepath.Join(dir, part.name), extract.Options{
				Batch: 64, Window: 4096, Model: filepath.Base(path), Progress: c.progress()})
			if err != nil {
				return err
			}
			say("activations: %s encoder over %s: %d tokens × %d neurons (%.1f%% of tokens unknown to the model)\n",
				filepath.Base(path), part.name, rep.Tokens, m.Masks.StoredNeurons(), 100*float64(rep.Unknown)/float64(max(rep.Tokens, 1)))
		}
		say("\n")
	}
	trainSplit := split{name: "train", acts: filepath.Join(dir, "train.gact"), corpus: trainC.Path}
	testSplit := split{name: "test", acts: filepath.Join(dir, "test.gact"), corpus: testC.Path}
	// Re-read through the store and the corpus, as `grain lca` does.
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
	cfg.Seed = c.seed
	if *synth {
		cfg.L1, cfg.L2 = 1e-4, 1e-4
	}
	opt := lca.Options{Probe: cfg, Control: true, Ablation: &ablation.Options{
		Percents: []float64{10, 15, 20}, Retrain: true, Probe: cfg, Seed: c.seed,
	}}
	rep, p, err := lca.Run(b, tr.data, te.data, opt, c.progress())
	if err != nil {
		return err
	}
	var layers []layerScore
	if !*synth {
		if layers, err = layerProbes(b, tr, te, cfg, c); err != nil {
			return err
		}
	}
	recordSource(p, tr)
	if _, err := saveLCA(dir, rep, p, corpus.XPOS); err != nil { // the demo always ablates
		return err
	}
	if c.json {
		return writeJSON(c.stdout, map[string]any{"report": rep, "truth": truth, "layers": layers})
	}
	printLCA(c, rep, true)
	if truth != nil {
		printTruth(c, rep, truth)
	}
	if len(layers) > 0 {
		fmt.Fprintf(c.stdout, "\nprobe accuracy by layer (each layer's neurons alone):\n")
		t := newTable(c.stdout, "layer", "neurons", "accuracy")
		for _, l := range layers {
			t.row(l.Layer, l.Neurons, pct(l.Accuracy))
		}
		t.flush()
	}
	fmt.Fprintf(c.stdout, "\ndevice %s; finished in %v\n", b.Describe(), time.Since(start).Round(100*time.Millisecond))
	if *out != "" {
		fmt.Fprintf(c.stdout, "files in %s\n", *out)
	}
	return nil
}

// layerScore is a probe's test accuracy on one layer's neurons.
type layerScore struct {
	Layer    string  `json:"layer"`
	Neurons  int     `json:"neurons"`
	Accuracy float64 `json:"accuracy"`
}

// layerProbes trains one probe per stored layer on that layer alone.
func layerProbes(b engine.Backend, tr, te *loaded, cfg probe.Config, c *cli) ([]layerScore, error) {
	meta := tr.reader.Meta()
	majority := probe.MajorityOf(tr.data.Y, len(tr.data.Labels))
	var out []layerScore
	for l, layer := range meta.Layers {
		lo, hi := meta.LayerRange(l)
		cols := make([]int, 0, hi-lo)
		for g := lo; g < hi; g++ {
			cols = append(cols, g)
		}
		train, err := tr.data.Columns(cols)
		if err != nil {
			return nil, err
		}
		test, err := te.data.Columns(cols)
		if err != nil {
			return nil, err
		}
		p, _, err := probe.Train(b, train, cfg, c.progress())
		if err != nil {
			return nil, err
		}
		m, err := probe.Evaluate(b, p, test, majority)
		if err != nil {
			return nil, err
		}
		out = append(out, layerScore{Layer: layer.String(), Neurons: len(cols), Accuracy: m.Accuracy})
	}
	return out, nil
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

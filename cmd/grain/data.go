package main

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/grainlab/grain/analysis/activations"
	"github.com/grainlab/grain/analysis/corpus"
	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/analysis/probe"
	"github.com/grainlab/grain/analysis/ranking"
	"github.com/grainlab/grain/engine"
)

// split names the files of one labeled split: an activation file and the
// corpus whose tokens it covers.
type split struct {
	name   string // "train", "test", "dev"
	acts   string
	corpus string
	labels string
}

// register adds --PREFIXacts, --PREFIXcorpus and --PREFIXlabels.
func (s *split) register(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&s.acts, prefix+"acts", "", s.name+" activations (grain activation file, .gact)")
	fs.StringVar(&s.corpus, prefix+"corpus", "", s.name+" corpus: CoNLL-U (.conllu[.gz]), PMB layer CoNLL (.conll), or a NeuroX tokens file with --"+prefix+"labels")
	fs.StringVar(&s.labels, prefix+"labels", "", s.name+" NeuroX labels file (one line of labels per line of --"+prefix+"corpus)")
}

func (s *split) given() bool { return s.acts != "" || s.corpus != "" }

// layerFlags select layers of an activation file.
type layerFlags struct {
	layers    string
	direction string
}

func (l *layerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.layers, "layers", "", "comma-separated layer names to keep (default: all layers)")
	fs.StringVar(&l.direction, "direction", "", "keep only the forward or backward half of bidirectional layers")
}

// columns returns the neurons the filter keeps, or nil for all.
func (l *layerFlags) columns(m activations.Meta) ([]int, error) {
	if l.layers == "" && l.direction == "" {
		return nil, nil
	}
	f := activations.LayerFilter{Direction: activations.Direction(l.direction)}
	if l.layers != "" {
		f.Names = strings.Split(l.layers, ",")
	}
	cols, err := m.Columns(f)
	if len(cols) == m.NumNeurons() {
		return nil, err // every neuron: global indices need no mapping
	}
	return cols, err
}

// readCorpus reads a labeled corpus, choosing the reader from the file
// name: CoNLL-U (.conllu[.gz]) and PMB (.conll) carry their labels; any
// other file is a NeuroX tokens file, whose labels come from labelsPath.
func readCorpus(path, labelsPath, property string) (*corpus.Corpus, error) {
	format := corpusFormat(path)
	switch {
	case format != "" && labelsPath != "":
		return nil, fmt.Errorf("%s is %s, which carries its own labels: --labels %s is for a NeuroX tokens file (one sentence per line)", path, format, labelsPath)
	case format == "CoNLL-U":
		return corpus.ReadCoNLLU(path)
	case format == "PMB CoNLL":
		return corpus.ReadPMB(path)
	case labelsPath != "":
		return corpus.ReadNeuroX(path, labelsPath, property)
	}
	return nil, fmt.Errorf("%s: unknown corpus format (want .conllu[.gz] for CoNLL-U, .conll for PMB, or a NeuroX tokens file with --labels)", path)
}

// readTokens reads the tokens of a corpus: CoNLL-U or PMB by the file name
// as readCorpus, any other file as a NeuroX tokens file (one sentence per
// line) without labels.
func readTokens(path string) (*corpus.Corpus, error) {
	if corpusFormat(path) != "" {
		return readCorpus(path, "", "")
	}
	return corpus.ReadTokens(path)
}

// corpusFormat names the labeled format of a corpus file by its name
// ("CoNLL-U" for .conllu[.gz], "PMB CoNLL" for .conll), or "" for any
// other (a NeuroX tokens file).
func corpusFormat(path string) string {
	switch filepath.Ext(strings.TrimSuffix(filepath.Base(path), ".gz")) {
	case ".conllu":
		return "CoNLL-U"
	case ".conll":
		return "PMB CoNLL"
	}
	return ""
}

// loaded is one split joined with its labels.
type loaded struct {
	data   *dataset.Dataset
	reader *activations.Reader
	labels [][]string
	// cols holds the global neuron index of each column of data when
	// --layers or --direction kept some neurons; nil when all are kept.
	cols []int
}

// load reads a split and joins it with property's labels. set maps labels
// to ids; nil makes one from this split (do that for the training split).
// lf, when non-nil, keeps only the neurons it selects. A NaN or ±Inf among
// the activations is an error naming the files, token row and neuron.
func (s *split) load(property string, set *dataset.LabelSet, lf *layerFlags) (*loaded, *dataset.LabelSet, error) {
	if s.acts == "" || s.corpus == "" {
		return nil, nil, fmt.Errorf("the %s split needs both activations and a corpus", s.name)
	}
	c, err := readCorpus(s.corpus, s.labels, property)
	if err != nil {
		return nil, nil, err
	}
	labels, err := c.Labels(property)
	if err != nil {
		return nil, nil, err
	}
	if set == nil {
		set = dataset.NewLabelSet(labels)
	}
	r, err := activations.Open(s.acts)
	if err != nil {
		return nil, nil, err
	}
	d, err := dataset.Join(r, c.Tokens(), labels, set)
	if err != nil {
		r.Close()
		return nil, nil, fmt.Errorf("%s and %s: %w", s.acts, s.corpus, err)
	}
	var cols []int
	if lf != nil {
		if cols, err = lf.columns(r.Meta()); err != nil {
			r.Close()
			return nil, nil, fmt.Errorf("%s: %w", s.acts, err)
		}
		if cols != nil {
			if d, err = d.Columns(cols); err != nil {
				r.Close()
				return nil, nil, err
			}
		}
	}
	return &loaded{data: d, reader: r, labels: labels, cols: cols}, set, nil
}

// probeCommand holds the flags that every probe-training command shares:
// the training split, a second split (test or dev), the property, the
// layer selection and the training settings.
type probeCommand struct {
	train, other split
	pf           probeFlags
	lf           layerFlags
	property     string
}

// newProbeCommand makes the flags of a command whose second split is
// called other ("test" or "dev").
func newProbeCommand(fs *flag.FlagSet, other string) *probeCommand {
	pc := &probeCommand{train: split{name: "train"}, other: split{name: other}}
	pc.train.register(fs, "")
	pc.other.register(fs, other+"-")
	pc.pf.register(fs)
	pc.lf.register(fs)
	fs.StringVar(&pc.property, "property", "", "label: upos, xpos, feats:NAME, deprel, sem, ccg, position, position-bucket, month, or the NeuroX labels' name")
	return pc
}

// probeRun is a probe command's opened inputs.
type probeRun struct {
	cfg   probe.Config
	b     engine.Backend
	train *loaded
	// other is the test or dev split, nil when its flags were not given.
	other *loaded
	set   *dataset.LabelSet
}

// open reads the training settings, opens the device and loads the
// splits. set maps labels to ids; nil makes one from the training split.
func (pc *probeCommand) open(c *cli, set *dataset.LabelSet) (*probeRun, error) {
	cfg, err := pc.pf.config(c.seed)
	if err != nil {
		return nil, err
	}
	b, err := c.backend()
	if err != nil {
		return nil, err
	}
	tr, set, err := pc.train.load(pc.property, set, &pc.lf)
	if err != nil {
		return nil, err
	}
	r := &probeRun{cfg: cfg, b: b, train: tr, set: set}
	if pc.other.given() {
		if r.other, _, err = pc.other.load(pc.property, set, &pc.lf); err != nil {
			r.close()
			return nil, err
		}
		_, a := tr.data.X.Dims()
		if _, o := r.other.data.X.Dims(); a != o {
			r.close()
			return nil, fmt.Errorf("%s has %d neurons, %s %d: the %s split must come from the same model and layers",
				pc.train.acts, a, pc.other.acts, o, pc.other.name)
		}
		if tm, om := tr.reader.Meta().Model, r.other.reader.Meta().Model; ranking.OtherModel(tm, om) {
			fmt.Fprintf(c.stderr, "grain: warning: %s holds the neurons of %s, %s those of %s: the %s split should come from the same model\n",
				pc.train.acts, tm, pc.other.acts, om, pc.other.name)
		}
	}
	return r, nil
}

// close releases the activation files.
func (r *probeRun) close() {
	for _, l := range []*loaded{r.train, r.other} {
		if l != nil {
			l.reader.Close()
		}
	}
}

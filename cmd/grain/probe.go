package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/grainlab/grain/analysis/activations"
	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/analysis/probe"
	"github.com/grainlab/grain/analysis/ranking"
)

func init() {
	register(command{"probe", "train or evaluate a linear probe (probe train | probe eval)", runProbe})
}

// probeFlags are the training settings shared by every command that trains
// probes.
type probeFlags struct {
	mode      string
	l1, l2    float64
	epochs    int
	minSteps  int
	batch     int
	lr        float64
	precision string
}

func (p *probeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.mode, "mode", "fast", "training protocol: fast (grain's, early stopping) or neurox (NeuroX's exact protocol)")
	fs.Float64Var(&p.l1, "l1", 1e-5, "elastic-net λ1 (weight of Σ|W|)")
	fs.Float64Var(&p.l2, "l2", 1e-5, "elastic-net λ2 (weight of sqrt(ΣW²))")
	fs.IntVar(&p.epochs, "epochs", 0, "epochs (neurox: 10; fast: at most 6 rounds, a round being one epoch, or on small data enough epochs for the rounds to take --min-steps steps) — 0 keeps the mode's default")
	fs.IntVar(&p.minSteps, "min-steps", 0, "fast mode: train at least this many Adam steps on small data (default 1000; 1 makes every round one epoch) — 0 keeps the default")
	fs.IntVar(&p.batch, "batch", 0, "batch size (neurox: 32; fast: 128) — 0 keeps the mode's default")
	fs.Float64Var(&p.lr, "lr", 0, "Adam learning rate (neurox: 1e-3; fast: 5e-3) — 0 keeps the mode's default")
}

func (p *probeFlags) config(seed uint64) (probe.Config, error) {
	mode, err := probe.ParseMode(p.mode)
	if err != nil {
		return probe.Config{}, err
	}
	c := probe.DefaultConfig(mode)
	c.L1, c.L2, c.Seed = p.l1, p.l2, seed
	if p.epochs > 0 {
		c.Epochs = p.epochs
	}
	if p.minSteps > 0 {
		c.MinSteps = p.minSteps
	}
	if p.batch > 0 {
		c.BatchSize = p.batch
	}
	if p.lr > 0 {
		c.LR = p.lr
	}
	return c, nil
}

func runProbe(c *cli, args []string) error {
	if len(args) == 0 || (args[0] != "train" && args[0] != "eval") {
		fmt.Fprintln(c.stderr, "Usage: grain probe train|eval [flags]   (grain probe train -h for the flags)")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return flag.ErrHelp
		}
		return errUsage
	}
	if args[0] == "train" {
		return probeTrain(c, args[1:])
	}
	return probeEval(c, args[1:])
}

func probeTrain(c *cli, args []string) error {
	fs := c.flags("probe train", "probe train --acts A.gact --corpus C --property P --out PROBE.safetensors [--test-acts ... --test-corpus ...] [flags]", withDevice|withSeed)
	pc := newProbeCommand(fs, "test")
	out := fs.String("out", "", "where to save the probe (safetensors)")
	control := fs.Bool("control", false, "also train a control-task probe and report selectivity (needs test data)")
	if err := c.parse(fs, args, false); err != nil {
		return err
	}
	if err := required(fs, "acts", "corpus", "property", "out"); err != nil {
		return err
	}
	if *control && !pc.other.given() {
		return fmt.Errorf("--control needs --test-acts and --test-corpus")
	}
	if err := checkOutputs(fs, *out); err != nil {
		return err
	}
	r, err := pc.open(c, nil)
	if err != nil {
		return err
	}
	defer r.close()
	p, log, err := probe.Train(r.b, r.train.data, r.cfg, c.progress())
	if err != nil {
		return err
	}
	p.Meta["property"] = pc.property
	p.Meta["activations"] = pc.train.acts
	recordSource(p, r.train)
	if err := probe.Save(*out, p); err != nil {
		return err
	}
	result := map[string]any{"probe": *out, "training": log}
	var metrics *probe.Metrics
	var selectivity *float64
	if r.other != nil {
		m, err := probe.Evaluate(r.b, p, r.other.data, probe.MajorityOf(r.train.data.Y, len(r.set.Names)))
		if err != nil {
			return err
		}
		metrics = &m
		result["test"] = m
		if *control {
			cm, err := probe.Selectivity(r.b, r.train.data, r.other.data, r.cfg, c.progress())
			if err != nil {
				return err
			}
			s := m.Accuracy - cm.Accuracy
			selectivity = &s
			result["control"], result["selectivity"] = cm, s
		}
	}
	if c.json {
		return writeJSON(c.stdout, result)
	}
	fmt.Fprintf(c.stdout, "saved %s: %d labels × %d neurons, %s mode, %d epochs (kept epoch %d)\n",
		*out, len(p.Labels), p.Neurons, r.cfg.Mode, len(log.Epochs), log.BestEpoch)
	if metrics != nil {
		printMetrics(c, *metrics, selectivity)
	}
	return nil
}

func probeEval(c *cli, args []string) error {
	test := split{name: "test"}
	var lf layerFlags
	fs := c.flags("probe eval", "probe eval --probe P.safetensors --acts A.gact --corpus C --property P [flags]", withDevice)
	test.register(fs, "")
	lf.register(fs)
	property := fs.String("property", "", "label the probe predicts")
	probePath := fs.String("probe", "", "probe (safetensors)")
	perLabel := fs.Bool("per-label", false, "print every label's scores")
	if err := c.parse(fs, args, false); err != nil {
		return err
	}
	if err := required(fs, "probe", "acts", "corpus", "property"); err != nil {
		return err
	}
	p, err := loadProbeFor(*probePath, *property)
	if err != nil {
		return err
	}
	b, err := c.backend()
	if err != nil {
		return err
	}
	set, err := dataset.LabelSetInOrder(p.Labels)
	if err != nil {
		return fmt.Errorf("%s: %w", *probePath, err)
	}
	te, _, err := test.load(*property, set, &lf)
	if err != nil {
		return err
	}
	defer te.reader.Close()
	if err := checkProbeInputs(p, *probePath, te, test.acts, *property); err != nil {
		return err
	}
	warnProbeOfOtherModel(c, *probePath, p, te.reader)
	// The majority baseline needs the training distribution, which a saved
	// probe does not carry: the test split's own majority is used.
	m, err := probe.Evaluate(b, p, te.data, probe.MajorityOf(te.data.Y, len(p.Labels)))
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.stdout, m)
	}
	printMetrics(c, m, nil)
	if *perLabel {
		t := newTable(c.stdout, "label", "count", "accuracy", "precision", "F1")
		for _, s := range m.PerLabel {
			t.row(s.Label, s.Count, s.Accuracy, s.Precision, s.F1)
		}
		t.flush()
	}
	return nil
}

func printMetrics(c *cli, m probe.Metrics, selectivity *float64) {
	fmt.Fprintf(c.stdout, "accuracy %s  macro-F1 %.4f  majority baseline %s (%q)  tokens %d",
		pct(m.Accuracy), m.MacroF1, pct(m.Majority), m.MajorityLabel, m.Rows)
	if m.Unseen > 0 {
		fmt.Fprintf(c.stdout, "  (%d tokens with labels unseen in training count as errors)", m.Unseen)
	}
	fmt.Fprintln(c.stdout)
	if selectivity != nil {
		fmt.Fprintf(c.stdout, "control task accuracy %s  selectivity %.2f points\n", pct(m.Accuracy-*selectivity), 100**selectivity)
	}
}

// loadProbeFor reads a probe to be used on property's labels, refusing one
// recorded as trained for another property (grain records it on saving).
func loadProbeFor(path, property string) (*probe.Probe, error) {
	p, err := probe.Load(path)
	if err != nil {
		return nil, err
	}
	if was := p.Meta["property"]; was != "" && was != property {
		return nil, fmt.Errorf("%s was trained for --property %s, not %s", path, was, property)
	}
	return p, nil
}

// recordSource notes in p's metadata where its inputs come from: the
// "model" of the training split's activations and, when a layer filter
// kept some neurons, their global indices ("columns", a JSON list).
func recordSource(p *probe.Probe, train *loaded) {
	p.Meta["model"] = train.reader.Meta().Model
	if train.cols != nil {
		b, _ := json.Marshal(train.cols)
		p.Meta["columns"] = string(b)
	}
}

// readRanked reads a ranking file whose order is used (its first or last
// neurons): a selection (grain rank --method top, bottom, threshold or
// random), a set in index order, is refused.
func readRanked(path string) (*ranking.File, error) {
	f, err := ranking.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !f.Ranked() {
		return nil, fmt.Errorf("%s is a selection (method %q: a set of neurons in index order, not most important first); rank with grain rank --method ordering, lca or crosscorr --out", path, f.Method)
	}
	return f, nil
}

// warnOtherModel warns when the ranking file f at path records a model of
// another file name than model (ranking.File.OtherModel).
func warnOtherModel(c *cli, path string, f *ranking.File, model string) {
	if f.OtherModel(model) {
		fmt.Fprintf(c.stderr, "grain: warning: %s ranks the neurons of %s, not of %s\n", path, f.Model, model)
	}
}

// warnProbeOfOtherModel warns when the probe p at path was trained on the
// activations of a model of another file name than those of acts.
func warnProbeOfOtherModel(c *cli, path string, p *probe.Probe, acts *activations.Reader) {
	if trained, model := p.Meta["model"], acts.Meta().Model; ranking.OtherModel(trained, model) {
		fmt.Fprintf(c.stderr, "grain: warning: %s was trained on the neurons of %s; %s holds those of %s\n", path, trained, acts.Path(), model)
	}
}

// noteGlobalIndices tells, under output that maps a layer selection's
// columns to global neuron indices, what the files index instead.
func noteGlobalIndices(c *cli, files string) {
	fmt.Fprintf(c.stdout, "(neurons by global index, layer·D + d; %s index the selected neurons, listed in \"columns\")\n", files)
}

// probeColumns returns the global neurons recorded as p's inputs (nil: the
// first p.Neurons neurons of its activation file).
func probeColumns(p *probe.Probe, path string) ([]int, error) {
	s := p.Meta["columns"]
	if s == "" {
		return nil, nil
	}
	var cols []int
	if err := json.Unmarshal([]byte(s), &cols); err != nil || len(cols) != p.Neurons {
		return nil, fmt.Errorf("%s: metadata \"columns\" is not a list of its %d input neurons", path, p.Neurons)
	}
	return cols, nil
}

// checkProbeInputs refuses a probe that cannot be applied to the split l
// (read from actsPath, labels of property): one that records other inputs
// than the neurons that --layers/--direction select now (a probe that
// records none, saved before grain recorded them or by another tool, is
// taken at its word), one whose width is not the selection's, and one none
// of whose labels occurs in the split (trained for other labels; a probe
// saved by another tool without label names has labels "0", "1", …).
func checkProbeInputs(p *probe.Probe, path string, l *loaded, actsPath, property string) error {
	was, err := probeColumns(p, path)
	if err != nil {
		return err
	}
	total := l.reader.NumNeurons()
	if !compatibleColumns(was, l.cols) {
		return fmt.Errorf("%s was trained on %s, but --layers/--direction select %s", path, describeNeurons(was), describeSelection(l.cols, total))
	}
	if _, w := l.data.X.Dims(); w != p.Neurons {
		return fmt.Errorf("%s has %d input neurons; %s gives %d: %s", path, p.Neurons, actsPath, w, describeSelection(l.cols, total))
	}
	if len(l.data.Y) > 0 && !slices.ContainsFunc(l.data.Y, func(y int32) bool { return y != dataset.Unknown }) {
		return fmt.Errorf("%s: none of the probe's %d labels (%s) occurs among the %s labels of %s (%s): it was trained for other labels",
			path, len(p.Labels), headList(p.Labels), property, actsPath, headList(l.data.UnseenLabels))
	}
	return nil
}

// headList joins the first five of s, with "…" when there are more.
func headList(s []string) string {
	if len(s) > 5 {
		return strings.Join(s[:5], ", ") + ", …"
	}
	return strings.Join(s, ", ")
}

// compatibleColumns reports whether a probe or ranking recording the
// columns recorded (nil: none recorded) can index the selection sel (nil:
// all neurons): recorded columns must be the selection; a file recording
// none is taken at its word (its size is checked apart).
func compatibleColumns(recorded, sel []int) bool {
	return recorded == nil || slices.Equal(recorded, sel)
}

// describeSelection names the neurons that --layers/--direction select
// (cols; nil: all total neurons of the activation file) for a message.
func describeSelection(cols []int, total int) string {
	if cols == nil {
		return fmt.Sprintf("all %d neurons (no --layers/--direction)", total)
	}
	return describeNeurons(cols)
}

// describeRecorded names the neurons a ranking file records (cols; nil:
// none recorded) among its n for a message.
func describeRecorded(cols []int, n int) string {
	if cols == nil {
		return fmt.Sprintf("%d neurons (no columns recorded)", n)
	}
	return describeNeurons(cols)
}

// describeNeurons names ascending neuron indices by their runs of
// consecutive indices: "512 neurons (0–255, 512–767)".
func describeNeurons(cols []int) string {
	var runs []string
	for i := 0; i < len(cols); {
		j := i
		for j+1 < len(cols) && cols[j+1] == cols[j]+1 {
			j++
		}
		if len(runs) == 4 {
			runs = append(runs, "…")
			break
		}
		if j > i {
			runs = append(runs, fmt.Sprintf("%d–%d", cols[i], cols[j]))
		} else {
			runs = append(runs, fmt.Sprint(cols[i]))
		}
		i = j + 1
	}
	if len(cols) == 1 {
		return fmt.Sprintf("1 neuron (%s)", runs[0])
	}
	return fmt.Sprintf("%d neurons (%s)", len(cols), strings.Join(runs, ", "))
}

// loadRanking reads a ranking file and checks it covers n neurons.
func loadRanking(path string, n int) (*ranking.File, error) {
	f, err := readRanked(path)
	if err != nil {
		return nil, err
	}
	if f.NumNeurons != n {
		return nil, fmt.Errorf("%s ranks %d neurons, the probe has %d", path, f.NumNeurons, n)
	}
	if len(f.Ordering) != n {
		return nil, fmt.Errorf("%s has no full ordering (method %q); make one with grain rank --method ordering", path, f.Method)
	}
	return f, nil
}

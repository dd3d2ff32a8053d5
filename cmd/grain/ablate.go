package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/grainlab/grain/analysis/ablation"
	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/analysis/probe"
)

func init() {
	register(command{"ablate", "classifier ablation: keep top/random/bottom N% of a ranking (the paper's Table 4)", runAblate})
}

// parsePercents reads a comma-separated list of percentages in [0, 100],
// in the order given, each once.
func parsePercents(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(v >= 0 && v <= 100) { // NaN too
			return nil, fmt.Errorf("bad percentage %q in %q (want numbers in [0, 100])", f, s)
		}
		if !slices.Contains(out, v) { // a repeated percentage is run once
			out = append(out, v)
		}
	}
	return out, nil
}

func runAblate(c *cli, args []string) error {
	fs := c.flags("ablate", "ablate --probe P --ranking R.json --acts A --corpus C --test-acts A2 --test-corpus C2 --property P [flags]", withDevice|withSeed)
	pc := newProbeCommand(fs, "test")
	probePath := fs.String("probe", "", "probe trained on all neurons of the selection (safetensors)")
	rankPath := fs.String("ranking", "", "neuron ordering (grain rank --method ordering --out R.json)")
	percents := fs.String("percents", "10,15,20,25,50,100", "comma-separated neuron percentages")
	retrain := fs.Bool("retrain", true, "also retrain a probe on each selection")
	plotPath := fs.String("plot", "", "also draw accuracy vs neurons kept to this .png/.svg/.pdf")
	if err := c.parse(fs, args, false); err != nil {
		return err
	}
	if err := required(fs, "probe", "ranking", "acts", "corpus", "test-acts", "test-corpus", "property"); err != nil {
		return err
	}
	pcs, err := parsePercents(*percents)
	if err != nil {
		return err
	}
	if err := checkPlot(fs, *plotPath); err != nil {
		return err
	}
	p, err := loadProbeFor(*probePath, pc.property)
	if err != nil {
		return err
	}
	rk, err := loadRanking(*rankPath, p.Neurons)
	if err != nil {
		return err
	}
	set, err := dataset.LabelSetInOrder(p.Labels)
	if err != nil {
		return fmt.Errorf("%s: %w", *probePath, err)
	}
	r, err := pc.open(c, set)
	if err != nil {
		return err
	}
	defer r.close()
	for _, s := range []struct {
		l    *loaded
		path string
	}{{r.train, pc.train.acts}, {r.other, pc.other.acts}} {
		if err := checkProbeInputs(p, *probePath, s.l, s.path, pc.property); err != nil {
			return err
		}
	}
	if u := r.train.data.UnseenLabels; *retrain && len(u) > 0 {
		return fmt.Errorf("%s has %s labels that %s lacks (%s): retraining on the probe's labels needs a training split without them (the one the probe was trained on), or --retrain=false",
			pc.train.acts, pc.property, *probePath, headList(u))
	}
	warnProbeOfOtherModel(c, *probePath, p, r.train.reader)
	warnOtherModel(c, *rankPath, rk, r.train.reader.Meta().Model)
	if !compatibleColumns(rk.Columns, r.train.cols) {
		return fmt.Errorf("%s ranks %s, but --layers/--direction select %s", *rankPath, describeNeurons(rk.Columns), describeSelection(r.train.cols, r.train.reader.NumNeurons()))
	}
	res, err := ablation.Run(r.b, p, rk.Ordering, r.train.data, r.other.data, ablation.Options{
		Percents: pcs, Retrain: *retrain, Probe: r.cfg, Seed: c.seed,
	}, c.progress())
	if err != nil {
		return err
	}
	if *plotPath != "" {
		full, err := probe.Evaluate(r.b, p, r.other.data, probe.MajorityOf(r.train.data.Y, len(p.Labels)))
		if err != nil {
			return err
		}
		if err := plotAblation(res, full.Accuracy, "classifier ablation: "+pc.property, *plotPath); err != nil {
			return err
		}
	}
	if c.json {
		return writeJSON(c.stdout, res)
	}
	printAblation(c, res, *retrain)
	return nil
}

func printAblation(c *cli, res []ablation.Result, retrained bool) {
	header := []string{"neurons", "selection", "count", "zeroed acc"}
	if retrained {
		header = append(header, "retrained acc")
	}
	t := newTable(c.stdout, header...)
	for _, r := range res {
		row := []any{fmt.Sprintf("%g%%", r.Percent), r.Selection, r.Neurons, pct(r.Zeroed)}
		if retrained {
			row = append(row, pct(*r.Retrained))
		}
		t.row(row...)
	}
	t.flush()
}

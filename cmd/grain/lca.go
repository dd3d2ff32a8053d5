package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/grainlab/grain/analysis/ablation"
	"github.com/grainlab/grain/analysis/lca"
	"github.com/grainlab/grain/analysis/probe"
	"github.com/grainlab/grain/analysis/ranking"
	"github.com/grainlab/grain/engine/atomicfile"
)

// The files grain lca writes into --out (checked before the run, written
// by saveLCA).
const (
	lcaProbeFile   = "probe.safetensors"
	lcaRankingFile = "ranking.json"
	lcaReportFile  = "report.json"
	lcaPlotFile    = "ablation.png"
)

func init() {
	register(command{"lca", "Linguistic Correlation Analysis end to end: probe, scores, ranking, focus, ablation", runLCA})
}

func runLCA(c *cli, args []string) error {
	fs := c.flags("lca", "lca --acts A --corpus C --test-acts A2 --test-corpus C2 --property P [--out DIR] [flags]", withDevice|withSeed)
	pc := newProbeCommand(fs, "test")
	control := fs.Bool("control", true, "train a control-task probe and report selectivity")
	ablate := fs.Bool("ablate", true, "run the classifier ablation")
	retrain := fs.Bool("retrain", true, "ablation: retrain probes on each selection")
	percents := fs.String("percents", "10,15,20,25,50,100", "ablation percentages")
	out := fs.String("out", "", "directory for probe.safetensors, ranking.json, report.json and ablation.png (an ablation.png there is removed when --ablate=false: it would be an earlier run's)")
	if err := c.parse(fs, args, false); err != nil {
		return err
	}
	if err := required(fs, "acts", "corpus", "test-acts", "test-corpus", "property"); err != nil {
		return err
	}
	if err := checkOutputDir(*out); err != nil {
		return err
	}
	if *out != "" {
		for _, name := range []string{lcaProbeFile, lcaRankingFile, lcaReportFile, lcaPlotFile} {
			if err := checkDirOutputs(fs, filepath.Join(*out, name)); err != nil {
				return err
			}
		}
	}
	var pcs []float64
	if *ablate {
		var err error
		if pcs, err = parsePercents(*percents); err != nil {
			return err
		}
	}
	r, err := pc.open(c, nil)
	if err != nil {
		return err
	}
	defer r.close()
	opt := lca.Options{Probe: r.cfg, Control: *control}
	if *ablate {
		opt.Ablation = &ablation.Options{Percents: pcs, Retrain: *retrain, Probe: r.cfg, Seed: c.seed}
	}
	rep, p, err := lca.Run(r.b, r.train.data, r.other.data, opt, c.progress())
	if err != nil {
		return err
	}
	rep.Columns = r.train.cols
	recordSource(p, r.train)
	removed := false
	if *out != "" {
		if removed, err = saveLCA(*out, rep, p, pc.property); err != nil {
			return err
		}
	}
	if c.json {
		return writeJSON(c.stdout, rep)
	}
	printLCA(c, rep, *retrain)
	if *out != "" {
		files := []string{lcaProbeFile, lcaRankingFile, lcaReportFile}
		if len(rep.Ablation) > 0 {
			files = append(files, lcaPlotFile)
		}
		fmt.Fprintf(c.stdout, "\nwrote %s/{%s}\n", *out, strings.Join(files, ","))
		if removed {
			fmt.Fprintf(c.stdout, "removed %s, an earlier run's ablation plot\n", filepath.Join(*out, lcaPlotFile))
		}
	}
	return nil
}

// saveLCA writes the probe, ranking, report and (with an ablation) its plot
// into dir. Without an ablation it removes an ablation plot left there by
// an earlier run, so that dir holds one run's files, and reports whether
// it did.
func saveLCA(dir string, rep *lca.Report, p *probe.Probe, property string) (removedPlot bool, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	p.Meta["property"] = property
	if err := probe.Save(filepath.Join(dir, lcaProbeFile), p); err != nil {
		return false, err
	}
	rf := &ranking.File{Version: ranking.FormatVersion, Method: ranking.MethodOrdering,
		Parameters: params("stride", ranking.DefaultStride), NumNeurons: rep.Neurons, Columns: rep.Columns, Model: p.Meta["model"],
		Labels: p.Labels, Ordering: rep.Ordering.Neurons, Cutoffs: rep.Ordering.Cutoffs}
	if err := ranking.WriteFile(filepath.Join(dir, lcaRankingFile), rf); err != nil {
		return false, err
	}
	plot := filepath.Join(dir, lcaPlotFile)
	if len(rep.Ablation) > 0 {
		if err := plotAblation(rep.Ablation, rep.Test.Accuracy, "classifier ablation: "+property, plot); err != nil {
			return false, err
		}
	} else if err := os.Remove(plot); err == nil {
		removedPlot = true
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	f, err := atomicfile.Create(filepath.Join(dir, lcaReportFile))
	if err != nil {
		return removedPlot, err
	}
	defer f.Abort()
	if err := writeJSON(f, rep); err != nil {
		return removedPlot, err
	}
	return removedPlot, f.Commit()
}

// printFocusFrequency says how far focus follows label frequency and lists
// the labels most focused and most distributed for how often they were seen.
func printFocusFrequency(c *cli, f *lca.FrequencyFit) {
	fmt.Fprintf(c.stdout, "focus against label frequency: Spearman %.2f between neurons and train tokens over %d labels; fit neurons ≈ %.3g·tokens^%.3f\n",
		f.Spearman, len(f.Labels), math.Exp(f.Intercept), f.Slope)
	list := func(title string, labels []lca.RelativeFocus) {
		fmt.Fprintf(c.stdout, "%s (neurons / fit):", title)
		for _, l := range labels {
			fmt.Fprintf(c.stdout, "  %s %d/%.1f (seen %d)", l.Label, l.Count, l.Expected, l.TrainCount)
		}
		fmt.Fprintln(c.stdout)
	}
	k := min(5, len(f.Labels)/2)
	list("most focused for their frequency", f.Labels[:k])
	distributed := slices.Clone(f.Labels[len(f.Labels)-k:])
	slices.Reverse(distributed)
	list("most distributed for their frequency", distributed)
}

func printLCA(c *cli, r *lca.Report, retrained bool) {
	fmt.Fprintf(c.stdout, "probe: %d train / %d test tokens, %d neurons, %d labels; %d epochs (kept %d)\n",
		r.TrainTokens, r.TestTokens, r.Neurons, len(r.Labels), len(r.Training.Epochs), r.Training.BestEpoch)
	var sel *float64
	if r.Selectivity != nil {
		sel = r.Selectivity
	}
	printMetrics(c, r.Test, sel)
	fmt.Fprintf(c.stdout, "\nmost focused labels (neurons holding 25%% of the label's weight mass):\n")
	t := newTable(c.stdout, "label", "neurons", "train tokens", "which")
	for i, f := range r.Focus {
		if i == 8 {
			break
		}
		t.row(f.Label, f.Count, f.TrainCount, intList(ranking.GlobalNeurons(r.Columns, f.Neurons), 8))
	}
	t.flush()
	if n := len(r.Focus); n > 8 {
		fmt.Fprintf(c.stdout, "most distributed: ")
		for i := n - 1; i >= max(n-4, 8); i-- {
			fmt.Fprintf(c.stdout, "%s (%d)  ", r.Focus[i].Label, r.Focus[i].Count)
		}
		fmt.Fprintln(c.stdout)
	}
	if f := r.FocusFrequency; f != nil {
		printFocusFrequency(c, f)
	}
	if len(r.SharedLabels) > 0 {
		fmt.Fprintf(c.stdout, "labels sharing the most focus neurons (shared / chance):")
		for _, p := range r.SharedLabels[:min(len(r.SharedLabels), 5)] {
			fmt.Fprintf(c.stdout, "  %s & %s %d/%.1f", p.A, p.B, p.Shared, p.Chance)
		}
		fmt.Fprintln(c.stdout)
	}
	fmt.Fprintf(c.stdout, "\ntop neurons: %s\n", intList(ranking.GlobalNeurons(r.Columns, r.Ordering.Neurons), 20))
	if r.Columns != nil {
		noteGlobalIndices(c, "the report and ranking files")
	}
	if len(r.Ablation) > 0 {
		fmt.Fprintf(c.stdout, "\nclassifier ablation (full accuracy %s):\n", pct(r.Test.Accuracy))
		printAblation(c, r.Ablation, retrained)
	}
}

package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/analysis/gridsearch"
	"github.com/grainlab/grain/analysis/probe"
)

func init() {
	register(command{"gridsearch", "choose elastic-net λ1, λ2: accuracy vs neurons holding 25% of the weight mass", runGridSearch})
}

func parseFloats(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("bad value %q in %q (want non-negative numbers)", f, s)
		}
		out = append(out, v)
	}
	return out, nil
}

func runGridSearch(c *cli, args []string) error {
	fs := c.flags("gridsearch", "gridsearch --acts A --corpus C --property P [--dev-acts ... --dev-corpus ...] [flags]", withDevice|withSeed)
	pc := newProbeCommand(fs, "dev")
	l1s := fs.String("l1s", "0,1e-5,1e-4,1e-3,1e-2", "λ1 values")
	l2s := fs.String("l2s", "0,1e-5,1e-4,1e-3,1e-2", "λ2 values")
	tol := fs.Float64("tolerance", gridsearch.DefaultTolerance, "choice rule: accuracy slack below the best (0: the best accuracy only)")
	plotPath := fs.String("plot", "", "also draw the trade-off (the paper's Figure 2) to this .png/.svg/.pdf")
	if err := c.parse(fs, args, false); err != nil {
		return err
	}
	if err := required(fs, "acts", "corpus", "property"); err != nil {
		return err
	}
	var single error
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "l1" || f.Name == "l2" {
			single = fmt.Errorf("--%s sets one probe's λ; gridsearch tries the values of --%ss", f.Name, f.Name)
		}
	})
	if single != nil {
		return single
	}
	a, err := parseFloats(*l1s)
	if err != nil {
		return err
	}
	bv, err := parseFloats(*l2s)
	if err != nil {
		return err
	}
	if err := checkPlot(fs, *plotPath); err != nil {
		return err
	}
	r, err := pc.open(c, nil)
	if err != nil {
		return err
	}
	defer r.close()
	trainD, devD := r.train.data, (*dataset.Dataset)(nil)
	if r.other != nil {
		devD = r.other.data
	} else {
		// Hold out 10% of the training tokens (blocks of up to 256) as dev.
		keep, held := dataset.HoldOut(len(trainD.Y), 256, 0.1, c.seed)
		if n := dataset.SpanRows(held); n < probe.MinDevRows {
			return fmt.Errorf("%d training tokens hold out %d (10%%) for choosing (λ1, λ2), fewer than %d; give --dev-acts and --dev-corpus", len(trainD.Y), n, probe.MinDevRows)
		}
		if devD, err = trainD.Subset(held); err != nil {
			return err
		}
		if trainD, err = trainD.Subset(keep); err != nil {
			return err
		}
	}
	res, err := gridsearch.Run(r.b, trainD, devD, gridsearch.Options{L1s: a, L2s: bv, Tolerance: *tol, Probe: r.cfg}, c.progress())
	if err != nil {
		return err
	}
	if *plotPath != "" {
		if err := plotGrid(res, *plotPath); err != nil {
			return err
		}
	}
	if c.json {
		return writeJSON(c.stdout, res)
	}
	t := newTable(c.stdout, "λ1", "λ2", "dev acc", "25% union", "25% mean/label", "")
	for i, p := range res.Points {
		mark := ""
		if i == res.Chosen {
			mark = "← chosen"
		}
		t.row(fmt.Sprint(p.L1), fmt.Sprint(p.L2), pct(p.DevAccuracy), p.Union, fmt.Sprintf("%.1f", p.MeanPerLabel), mark)
	}
	t.flush()
	ch := res.Points[res.Chosen]
	fmt.Fprintf(c.stdout, "chosen: --l1 %g --l2 %g (fewest neurons for 25%% mass within %.1f points of the best accuracy)\n", ch.L1, ch.L2, 100*res.Tolerance)
	return nil
}

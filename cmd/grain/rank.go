package main

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/grainlab/grain/analysis/probe"
	"github.com/grainlab/grain/analysis/ranking"
)

func init() {
	register(command{"rank", "rank neurons from a probe's weights (NeuroX's methods) or probelessly", runRank})
}

func runRank(c *cli, args []string) error {
	data := split{name: "data"}
	var lf layerFlags
	fs := c.flags("rank", "rank --probe P.safetensors --method METHOD [--percent P] [--out R.json] [flags]\n"+
		"       grain rank --method probeless --acts A.gact --corpus C --property P [flags]", withSeed)
	probePath := fs.String("probe", "", "probe (safetensors with weight [labels × neurons]; any tool's)")
	method := fs.String("method", "ordering", "top, bottom, threshold, random, ordering, granular, fixed-bottom or probeless")
	percent := fs.Float64("percent", 25, "top/bottom: share of each label's weight mass (%); random: probability of keeping a neuron (%)")
	fraction := fs.Float64("fraction", 2, "threshold: keep |w| > max|w| / fraction")
	stride := fs.Int("stride", ranking.DefaultStride, "ordering, granular: number of weight-mass steps")
	granularity := fs.Int("granularity", ranking.DefaultGranularity, "granular: neurons per chunk")
	count := fs.Int("count", 10, "fixed-bottom: number of neurons")
	out := fs.String("out", "", "also write the ranking to this JSON file")
	data.register(fs, "")
	lf.register(fs)
	property := fs.String("property", "", "probeless: the label whose class means rank the neurons")
	if err := c.parse(fs, args, false); err != nil {
		return err
	}
	if *percent > 100 {
		return fmt.Errorf("--percent %g: want at most 100", *percent)
	}
	if err := checkOutputs(fs, *out); err != nil {
		return err
	}
	var f *ranking.File
	var err error
	if *method == "probeless" {
		if err := required(fs, "acts", "corpus", "property"); err != nil {
			return err
		}
		if *probePath != "" {
			return fmt.Errorf("--probe: --method probeless ranks from activations, not a probe")
		}
		f, err = probeless(&data, *property, &lf)
	} else {
		if err := required(fs, "probe"); err != nil {
			return err
		}
		if data.given() || *property != "" || lf.layers != "" || lf.direction != "" {
			return fmt.Errorf("--acts, --corpus, --labels, --property, --layers and --direction are for --method probeless; --method %s ranks from the probe's weights", *method)
		}
		f, err = rankProbe(*probePath, *method, *percent, *fraction, *stride, *granularity, *count, c.seed)
	}
	if err != nil {
		return err
	}
	if err := f.Validate(); err != nil {
		return err
	}
	if *out != "" {
		if err := ranking.WriteFile(*out, f); err != nil {
			return err
		}
	}
	if c.json {
		return writeJSON(c.stdout, f)
	}
	fmt.Fprintf(c.stdout, "%s ranking of %d neurons: %d listed\n", f.Method, f.NumNeurons, len(f.Ordering))
	fmt.Fprintf(c.stdout, "ordering: %s\n", intList(ranking.GlobalNeurons(f.Columns, f.Ordering), 30))
	if len(f.PerLabel) > 0 {
		t := newTable(c.stdout, "label", "neurons", "first neurons")
		for i, l := range f.Labels {
			t.row(l, len(f.PerLabel[i]), intList(ranking.GlobalNeurons(f.Columns, f.PerLabel[i]), 12))
		}
		t.flush()
	}
	if f.Columns != nil {
		noteGlobalIndices(c, "ranking files")
	}
	if *out != "" {
		fmt.Fprintf(c.stdout, "wrote %s\n", *out)
	}
	return nil
}

func params(kv ...any) map[string]json.Number {
	m := map[string]json.Number{}
	for i := 0; i < len(kv); i += 2 {
		var s string
		switch v := kv[i+1].(type) {
		case int:
			s = strconv.Itoa(v)
		case uint64:
			s = strconv.FormatUint(v, 10)
		case float64:
			s = strconv.FormatFloat(v, 'g', -1, 64)
		}
		m[kv[i].(string)] = json.Number(s)
	}
	return m
}

func rankProbe(path, method string, percent, fraction float64, stride, granularity, count int, seed uint64) (*ranking.File, error) {
	p, err := probe.Load(path)
	if err != nil {
		return nil, err
	}
	r, err := ranking.NewRanker(p.Weight, len(p.Labels), p.Neurons)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cols, err := probeColumns(p, path)
	if err != nil {
		return nil, err
	}
	f := &ranking.File{Version: ranking.FormatVersion, NumNeurons: p.Neurons, Columns: cols, Model: p.Meta["model"]}
	selection := func(s ranking.Selection) {
		f.Ordering, f.PerLabel, f.Labels = s.Union, s.PerLabel, p.Labels
	}
	switch method {
	case "top":
		f.Method, f.Parameters = ranking.MethodTop, params("percent", percent)
		selection(r.TopNeurons(percent / 100))
	case "bottom":
		f.Method, f.Parameters = ranking.MethodBottom, params("percent", percent)
		selection(r.BottomNeurons(percent / 100))
	case "threshold":
		if fraction <= 0 {
			return nil, fmt.Errorf("--fraction must be positive")
		}
		f.Method, f.Parameters = ranking.MethodHardThreshold, params("fraction", fraction)
		selection(r.HardThreshold(fraction))
	case "random":
		f.Method, f.Parameters = ranking.MethodRandom, params("percent", percent, "seed", seed)
		f.Ordering = ranking.Random(p.Neurons, percent/100, seed)
	case "ordering":
		if stride < 1 {
			return nil, fmt.Errorf("--stride must be ≥ 1")
		}
		o := r.Ordering(stride)
		f.Method, f.Parameters, f.Ordering, f.Cutoffs = ranking.MethodOrdering, params("stride", stride), o.Neurons, o.Cutoffs
	case "granular":
		if stride < 1 || granularity < 1 {
			return nil, fmt.Errorf("--stride and --granularity must be ≥ 1")
		}
		o := r.GranularOrdering(granularity, stride)
		f.Method, f.Parameters = ranking.MethodGranularOrdering, params("granularity", granularity, "stride", stride)
		f.Ordering, f.Cutoffs = o.Neurons, o.Cutoffs
	case "fixed-bottom":
		if count < 0 || count > p.Neurons {
			return nil, fmt.Errorf("--count %d outside [0, %d]", count, p.Neurons)
		}
		f.Method, f.Parameters, f.Ordering = ranking.MethodFixedBottom, params("count", count), r.FixedBottom(count)
	default:
		return nil, fmt.Errorf("unknown --method %q (want top, bottom, threshold, random, ordering, granular, fixed-bottom or probeless)", method)
	}
	return f, nil
}

func probeless(data *split, property string, lf *layerFlags) (*ranking.File, error) {
	d, _, err := data.load(property, nil, lf)
	if err != nil {
		return nil, err
	}
	defer d.reader.Close()
	if k := len(d.data.Labels); k < 2 {
		return nil, fmt.Errorf("%s: property %s has %d label (%s) there: probeless ranking compares the class means of at least 2", data.corpus, property, k, headList(d.data.Labels))
	}
	rows, cols := d.data.X.Dims()
	acc := ranking.NewMeanAccumulator(len(d.data.Labels), cols)
	const block = 4096
	buf := make([]float32, block*cols)
	for s := 0; s < rows; s += block {
		n := min(block, rows-s)
		if err := d.data.X.ReadRows(s, n, buf[:n*cols]); err != nil {
			return nil, err
		}
		if err := acc.Add(buf[:n*cols], cols, d.data.Y[s:s+n]); err != nil {
			return nil, err
		}
	}
	means, _ := acc.Means()
	pr := ranking.Probeless(means)
	return &ranking.File{
		Version: ranking.FormatVersion, Method: ranking.MethodProbeless, NumNeurons: cols, Columns: d.cols, Model: d.reader.Meta().Model,
		Labels: d.data.Labels, Ordering: pr.Overall, PerLabel: pr.PerLabel, Scores: pr.Scores,
	}, nil
}

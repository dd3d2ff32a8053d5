package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/grainlab/grain/analysis/activations"
	"github.com/grainlab/grain/analysis/crosscorr"
	"github.com/grainlab/grain/analysis/ranking"
	"github.com/grainlab/grain/engine"
)

func init() {
	register(command{"crosscorr", "Cross-model Correlation Analysis: rank neurons by correlation with other models (MaxCorr, MinCorr, LinReg, SVCCA)", runCrossCorr})
}

// parseBytes reads a size such as 2GiB, 512MB or 1073741824.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || !(v*float64(u.mult) >= 1) || v*float64(u.mult) >= math.MaxInt64 {
				break // NaN fails too; a size is at least 1 byte
			}
			return int64(v * float64(u.mult)), nil
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bad memory size %q (e.g. 2GiB, 512MiB)", s)
	}
	return v, nil
}

func runCrossCorr(c *cli, args []string) error {
	fs := c.flags("crosscorr", "crosscorr --method maxcorr|mincorr|linreg|svcca [flags] A.gact B.gact [C.gact ...]\n\n"+
		"The files must hold the activations of different models over the same tokens (checked).", withDevice)
	method := fs.String("method", "maxcorr", "maxcorr, mincorr, linreg or svcca")
	memory := fs.String("memory", "2GiB", "memory budget of the computation (blocks and tiles are sized to fit)")
	precision := fs.String("precision", "fp32", "GEMM precision: fp32, tf32 or bf16")
	top := fs.Int("top", 10, "neurons per model to show in the table")
	lcaPath := fs.String("lca", "", "a probe ranking (grain rank --method ordering) of the FIRST model's neurons: report the overlap of its top-k with the correlation ranking's")
	k := fs.Int("k", 50, "--lca: number of top neurons compared")
	outDir := fs.String("out", "", "write each model's ranking as a ranking file DIR/MODEL.METHOD.json (for grain eval --mask-ranking, grain ablate)")
	plotPath := fs.String("plot", "", "also draw each model's neuron scores by rank to this .png/.svg/.pdf")
	var lf layerFlags
	lf.register(fs)
	if err := c.parse(fs, args, true); err != nil {
		return err
	}
	if fs.NArg() < 2 {
		fs.Usage()
		return fmt.Errorf("need at least two activation files, got %d", fs.NArg())
	}
	m, err := crosscorr.ParseMethod(*method)
	if err != nil {
		return err
	}
	mem, err := parseBytes(*memory)
	if err != nil {
		return err
	}
	prec, err := engine.ParsePrecision(*precision)
	if err != nil {
		return err
	}
	if err := checkOutputDir(*outDir); err != nil {
		return err
	}
	if err := checkPlot(fs, *plotPath); err != nil {
		return err
	}
	var lcaRanking *ranking.File
	if *lcaPath != "" {
		if lcaRanking, err = readRanked(*lcaPath); err != nil {
			return err
		}
	}
	written := map[string]bool{}
	var ms []crosscorr.Model
	var columns [][]int     // per model: the global neuron of each column, nil for all
	var modelNames []string // per model: the model its activation file names
	selected := false       // some model's columns are a selection
	bases := map[string]int{}
	for _, path := range fs.Args() {
		bases[filepath.Base(path)]++
	}
	sameData := map[string]string{}  // activation checksum → the file holding it
	sameModel := map[string]string{} // model path and masked neurons → the file recording them
	for _, path := range fs.Args() {
		name := filepath.Base(path)
		out := rankingName(name, m)
		if *outDir != "" && written[out] {
			return fmt.Errorf("--out: two activation files are named %s; their rankings would overwrite each other", name)
		}
		written[out] = true
		if *outDir != "" {
			if err := checkDirOutputs(fs, filepath.Join(*outDir, out)); err != nil {
				return err
			}
		}
		if bases[name] > 1 {
			name = path // two directories' files of one name (no --out): tell them apart
		}
		r, err := activations.Open(path)
		if err != nil {
			return err
		}
		defer r.Close()
		if other, dup := sameData[r.Meta().Checksum]; dup {
			return fmt.Errorf("%s and %s record the same activation checksum %s: copies of one file (a model correlated with itself finds each neuron's partner in itself, r = 1); if one was modified since, grain inspect --verify finds where", other, path, r.Meta().Checksum)
		}
		sameData[r.Meta().Checksum] = path
		if meta := r.Meta(); meta.Model != "" {
			// The whole path: grain train names every model it trains
			// DIR/model.safetensors.
			key := fmt.Sprint(filepath.Clean(meta.Model), meta.Masked)
			if other, dup := sameModel[key]; dup {
				fmt.Fprintf(c.stderr, "grain: warning: %s and %s both hold activations of %s (%d neurons masked): one model correlated with itself finds each neuron's partner in itself; Cross-model Correlation Analysis compares independently trained models\n",
					other, path, meta.Model, len(meta.Masked))
			}
			sameModel[key] = path
		}
		var src crosscorr.Source = r
		cols, err := lf.columns(r.Meta())
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if cols != nil {
			src = &columnSource{r: r, cols: cols}
		}
		if f := lcaRanking; f != nil && len(ms) == 0 && (f.NumNeurons != src.NumNeurons() || !compatibleColumns(f.Columns, cols)) {
			return fmt.Errorf("%s ranks %s; %s has %s", *lcaPath, describeRecorded(f.Columns, f.NumNeurons), name, describeSelection(cols, r.NumNeurons()))
		}
		if len(ms) == 0 && lcaRanking != nil {
			warnOtherModel(c, *lcaPath, lcaRanking, r.Meta().Model)
		}
		ms = append(ms, crosscorr.Model{Name: name, Source: src})
		columns = append(columns, cols)
		modelNames = append(modelNames, r.Meta().Model)
		selected = selected || cols != nil
	}
	b, err := c.backend()
	if err != nil {
		return err
	}
	// The budget sizes what the computation keeps live; the garbage collector
	// must also keep what it has freed (a pass's buffers once the float64
	// workspace of LinReg and SVCCA is allocated) within it.
	if os.Getenv("GOMEMLIMIT") == "" { // the user's own limit stands
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(mem))
	}
	res, err := crosscorr.Rank(b, ms, m, crosscorr.Options{Memory: mem, Precision: prec, Progress: c.progress()})
	if err != nil {
		return err
	}
	var overlap *ranking.Overlap
	if f := lcaRanking; f != nil {
		o, err := ranking.TopOverlap(res.Models[0].Order(), f.Ordering, *k, f.NumNeurons)
		if err != nil {
			return err
		}
		o.Shared = ranking.GlobalNeurons(columns[0], o.Shared) // reported by global index
		overlap = &o
	}
	if *outDir != "" {
		if err := os.MkdirAll(*outDir, 0o755); err != nil {
			return err
		}
		for i, mr := range res.Models {
			f := mr.File(res.Method)
			f.Columns, f.Model = columns[i], modelNames[i]
			if err := ranking.WriteFile(filepath.Join(*outDir, rankingName(mr.Model, res.Method)), f); err != nil {
				return err
			}
		}
	}
	if *plotPath != "" {
		if err := plotCrossCorr(res, *plotPath); err != nil {
			return err
		}
	}
	if c.json {
		out := map[string]any{"ranking": res, "lca_overlap": overlap}
		if selected {
			out["columns"] = columns // per model: the global neuron index of each ranked column
		}
		return writeJSON(c.stdout, out)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(c.stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(c.stdout, "%s over %d tokens\n", res.Method, res.Tokens)
	// neuron is model's column i by global index (i itself for no partner).
	neuron := func(model, i int) int {
		if model < 0 || columns[model] == nil || i < 0 {
			return i
		}
		return columns[model][i]
	}
	for m, mr := range res.Models {
		fmt.Fprintf(c.stdout, "\n%s (%d neurons", mr.Model, mr.Neurons)
		if mr.SVCCADims > 0 {
			fmt.Fprintf(c.stdout, ", %d SVCCA directions", mr.SVCCADims)
		}
		fmt.Fprintln(c.stdout, ")")
		t := newTable(c.stdout, "rank", "neuron", "score", "best partner", "r")
		for i, rn := range mr.Ranking {
			if i == *top {
				break
			}
			t.row(i+1, neuron(m, rn.Neuron), rn.Score, fmt.Sprintf("%s:%d", rn.Partner.Name, neuron(rn.Partner.Model, rn.Partner.Neuron)), rn.Partner.R)
		}
		t.flush()
	}
	if selected {
		noteGlobalIndices(c, "ranking files and the JSON rankings")
	}
	for _, cp := range res.Canonical {
		fmt.Fprintf(c.stdout, "\nSVCCA %s ~ %s: %d×%d directions, mean canonical correlation %.4f\n",
			res.Models[cp.A].Model, res.Models[cp.B].Model, cp.DimsA, cp.DimsB, cp.Mean)
	}
	if overlap != nil {
		fmt.Fprintf(c.stdout, "\nLCA ∩ CCA (top %d of %s): %d shared (chance %.1f, Jaccard %.3f): %s\n",
			overlap.K, res.Models[0].Model, overlap.Count, overlap.Chance, overlap.Jaccard, intList(overlap.Shared, 20))
	}
	if *outDir != "" {
		var names []string
		for _, mr := range res.Models {
			names = append(names, rankingName(mr.Model, res.Method))
		}
		fmt.Fprintf(c.stdout, "\nwrote %s/{%s}\n", *outDir, strings.Join(names, ","))
	}
	if *plotPath != "" {
		fmt.Fprintf(c.stdout, "wrote %s\n", *plotPath)
	}
	return nil
}

// rankingName is the name of --out's ranking file for an activation file's
// base name: MODEL.METHOD.json.
func rankingName(model string, m crosscorr.Method) string {
	return strings.TrimSuffix(model, filepath.Ext(model)) + "." + string(m) + ".json"
}

// columnSource is an activation file restricted to some neurons.
type columnSource struct {
	r    *activations.Reader
	cols []int
}

func (s *columnSource) NumTokens() int  { return s.r.NumTokens() }
func (s *columnSource) NumNeurons() int { return len(s.cols) }
func (s *columnSource) ReadRows(start, n int, dst []float32) error {
	return s.r.ReadRowsColumns(start, n, s.cols, dst)
}
func (s *columnSource) Neuron(i int) int                     { return s.cols[i] }
func (s *columnSource) NumSentences() int                    { return s.r.NumSentences() }
func (s *columnSource) SentenceRange(i int) (start, end int) { return s.r.SentenceRange(i) }
func (s *columnSource) Tokens(i int) []string                { return s.r.Tokens(i) }

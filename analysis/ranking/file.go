package ranking

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/grainlab/grain/engine/atomicfile"
)

// FormatVersion is the version of the ranking file format that WriteFile
// writes and ReadFile accepts.
const FormatVersion = 1

// Method names for File.Method used by grain's own rankings. Other tools may
// store rankings under their own method names (see File.Validate for the
// rule).
const (
	MethodTop              = "top"               // Ranker.TopNeurons
	MethodBottom           = "bottom"            // Ranker.BottomNeurons
	MethodHardThreshold    = "hard-threshold"    // Ranker.HardThreshold
	MethodRandom           = "random"            // Random
	MethodOrdering         = "ordering"          // Ranker.Ordering
	MethodGranularOrdering = "granular-ordering" // Ranker.GranularOrdering
	MethodFixedBottom      = "fixed-bottom"      // Ranker.FixedBottom
	MethodProbeless        = "probeless"         // Probeless
)

// MethodCrossCorrPrefix starts the method names of grain crosscorr's
// rankings: "crosscorr-" followed by maxcorr, mincorr, linreg or svcca
// (the files of crosscorr.ModelRanking.File).
const MethodCrossCorrPrefix = "crosscorr-"

// crossCorrMethods are the cross-model ranking methods of package crosscorr
// (crosscorr.Methods), whose files name them after MethodCrossCorrPrefix.
var crossCorrMethods = []string{"maxcorr", "mincorr", "linreg", "svcca"}

// methodSpellings maps the other spellings by which grain's command line
// names its methods (grain rank --method threshold|granular, grain
// crosscorr --method maxcorr|…) to the names its files record.
var methodSpellings = func() map[string]string {
	m := map[string]string{"threshold": MethodHardThreshold, "granular": MethodGranularOrdering}
	for _, c := range crossCorrMethods {
		m[c] = MethodCrossCorrPrefix + c
	}
	return m
}()

// KnownMethod reports whether method is the name of one of grain's own
// ranking methods as its files record it: the Method constants and the
// crosscorr methods ("crosscorr-maxcorr", …).
func KnownMethod(method string) bool {
	switch method {
	case MethodTop, MethodBottom, MethodHardThreshold, MethodRandom,
		MethodOrdering, MethodGranularOrdering, MethodFixedBottom, MethodProbeless:
		return true
	}
	m, ok := strings.CutPrefix(method, MethodCrossCorrPrefix)
	return ok && slices.Contains(crossCorrMethods, m)
}

// RanksAll reports whether f's method is one of grain's methods that rank
// every neuron, so that a valid file's Ordering holds each of
// 0 … NumNeurons−1 exactly once: ordering, granular-ordering, probeless and
// the crosscorr methods. Selections (top, bottom, hard-threshold, random),
// fixed-bottom (its last k neurons) and other tools' methods may list fewer.
func (f *File) RanksAll() bool {
	switch f.Method {
	case MethodOrdering, MethodGranularOrdering, MethodProbeless:
		return true
	}
	return strings.HasPrefix(f.Method, MethodCrossCorrPrefix) && KnownMethod(f.Method)
}

// misspelledMethod returns the name grain's files give the method that
// method spells another way (in other letter case, with spaces around it,
// or as grain's command line names it), or "" when method is no other
// spelling of one of grain's methods.
func misspelledMethod(method string) string {
	if KnownMethod(method) {
		return ""
	}
	m := strings.ToLower(strings.TrimSpace(method))
	if KnownMethod(m) {
		return m
	}
	return methodSpellings[m]
}

// Ranked reports whether f.Ordering lists neurons most important first, as
// orderings, fixed-bottom lists, probeless and correlation rankings do (and
// files of other tools' methods are taken to); false for grain's
// selections (top, bottom, hard-threshold, random), whose Ordering is a
// set of neurons in index order.
func (f *File) Ranked() bool {
	switch f.Method {
	case MethodTop, MethodBottom, MethodHardThreshold, MethodRandom:
		return false
	}
	return true
}

// File is a neuron ranking as stored on disk: a JSON object with one field
// per line,
//
//	{
//	  "version": 1,
//	  "method": "ordering",
//	  "model": "nn/models/nmt-en-de-s1.safetensors",
//	  "parameters": {"stride": 100},
//	  "num_neurons": 2048,
//	  "columns": [0, 1, …],
//	  "labels": ["NOUN", "VERB"],
//	  "ordering": [17, 3, …],
//	  "cutoffs": [1, 4, …],
//	  "per_label": [[17, …], [3, …]],
//	  "scores": [0.5, …]
//	}
//
// Only version, method, num_neurons and ordering are required.
type File struct {
	// Version is FormatVersion.
	Version int `json:"version"`
	// Method names the ranking method, such as MethodOrdering, or another
	// tool's method (see Validate for what each method's file must hold).
	Method string `json:"method"`
	// Model, when known, names the model whose neurons are ranked, as its
	// activation file names it (informational: grain warns when a ranking
	// is applied to a model or activation file of another name).
	Model string `json:"model,omitempty"`
	// Parameters holds the method's numeric parameters (stride,
	// granularity, percentage, seed …) exactly as written.
	Parameters map[string]json.Number `json:"parameters,omitempty"`
	// NumNeurons is the number of neurons of the ranked model or layer.
	NumNeurons int `json:"num_neurons"`
	// Columns, when the ranking covers only some of an activation file's
	// neurons (grain's --layers and --direction), holds the global neuron
	// index (layer·D + d) of each ranked column, ascending: Ordering,
	// PerLabel and Scores index the columns, column i being neuron
	// Columns[i]. Absent, column i is neuron i.
	Columns []int `json:"columns,omitempty"`
	// Labels names the labels; PerLabel[i] belongs to Labels[i].
	Labels []string `json:"labels,omitempty"`
	// Ordering lists neurons, most important first (for a selection, the
	// selected set); no neuron twice.
	Ordering []int `json:"ordering"`
	// Cutoffs are non-decreasing positions in Ordering (see Ordering).
	Cutoffs []int `json:"cutoffs,omitempty"`
	// PerLabel lists each label's neurons; no neuron twice in one list.
	PerLabel [][]int `json:"per_label,omitempty"`
	// Scores, if present, has one finite score per neuron.
	Scores []float64 `json:"scores,omitempty"`
}

// Validate checks f: the version, a method name, NumNeurons ≥ 1, Columns
// (if given) NumNeurons ascending non-negative indices, every neuron index
// in [0, NumNeurons) and none repeated within Ordering or one per-label
// list, cutoffs non-decreasing within [0, len(Ordering)], unique non-empty
// label names, one per-label list per label, and one finite score per
// neuron.
//
// The method decides what Ordering must hold. A method of grain's that
// ranks every neuron (RanksAll: ordering, granular-ordering, probeless,
// crosscorr-maxcorr, -mincorr, -linreg, -svcca) must list each of
// 0 … NumNeurons−1 exactly once: an ordering with neurons missing would
// put the wrong neurons at its bottom. The format is open to rankings of
// other tools, so a method name that is not grain's (KnownMethod) is
// accepted as another tool's ranking, most important first (Ranked), on
// the checks above alone; but a name that is one of grain's methods spelt
// another way ("Ordering", " top", or the command line's "threshold",
// "granular", "maxcorr" …) is refused, naming grain's spelling, since it
// would otherwise pass for another tool's ranking and escape its method's
// checks (a selection such as "threshold" would be read as ranked).
func (f *File) Validate() error {
	switch {
	case f.Version != FormatVersion:
		return fmt.Errorf("version %d, want %d", f.Version, FormatVersion)
	case f.Method == "":
		return errors.New("no method")
	case f.NumNeurons < 1:
		return fmt.Errorf("num_neurons %d < 1", f.NumNeurons)
	case f.Ordering == nil:
		return errors.New("no ordering")
	}
	if m := misspelledMethod(f.Method); m != "" {
		return fmt.Errorf("method %q: grain's ranking files name this method %q", f.Method, m)
	}
	if f.Columns != nil {
		if len(f.Columns) != f.NumNeurons {
			return fmt.Errorf("%d columns for %d neurons", len(f.Columns), f.NumNeurons)
		}
		for i, c := range f.Columns {
			if c < 0 || i > 0 && c <= f.Columns[i-1] {
				return fmt.Errorf("columns[%d] = %d: columns must be ascending non-negative neuron indices", i, c)
			}
		}
	}
	if err := checkIndices("ordering", f.Ordering, f.NumNeurons); err != nil {
		return err
	}
	if f.RanksAll() && len(f.Ordering) != f.NumNeurons {
		// The indices are distinct and in range: the first absent one is
		// the first neuron missing.
		seen := make([]bool, f.NumNeurons)
		for _, j := range f.Ordering {
			seen[j] = true
		}
		missing := slices.Index(seen, false)
		return fmt.Errorf("ordering lists %d neurons, but method %q ranks all num_neurons %d (neuron %d is missing)",
			len(f.Ordering), f.Method, f.NumNeurons, missing)
	}
	prev := 0
	for i, c := range f.Cutoffs {
		if c < prev || c > len(f.Ordering) {
			return fmt.Errorf("cutoffs[%d] = %d not in [%d, %d]", i, c, prev, len(f.Ordering))
		}
		prev = c
	}
	seen := map[string]bool{}
	for i, l := range f.Labels {
		if l == "" || seen[l] {
			return fmt.Errorf("labels[%d] = %q is empty or repeated", i, l)
		}
		seen[l] = true
	}
	if f.PerLabel != nil && len(f.PerLabel) != len(f.Labels) {
		return fmt.Errorf("%d per-label lists for %d labels", len(f.PerLabel), len(f.Labels))
	}
	for i, list := range f.PerLabel {
		if err := checkIndices(fmt.Sprintf("per_label[%d] (%s)", i, f.Labels[i]), list, f.NumNeurons); err != nil {
			return err
		}
	}
	if f.Scores != nil && len(f.Scores) != f.NumNeurons {
		return fmt.Errorf("%d scores for %d neurons", len(f.Scores), f.NumNeurons)
	}
	for j, s := range f.Scores {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return fmt.Errorf("scores[%d] is %v", j, s)
		}
	}
	return nil
}

// Fits reports whether f ranks neurons of a set of n: all n (NumNeurons n)
// when it records no Columns, else some of them (every column below n).
func (f *File) Fits(n int) bool {
	if f.Columns == nil {
		return f.NumNeurons == n
	}
	return f.Columns[len(f.Columns)-1] < n
}

// OtherModel reports whether f records a model (Model) whose file name
// differs from that of model (empty: unknown, never other).
func (f *File) OtherModel(model string) bool { return OtherModel(f.Model, model) }

// OtherModel reports whether the model names recorded and model, as
// rankings, probes and activation files record them, have different file
// names (a renamed copy in another folder is the same model); an empty
// name is unknown, never other.
func OtherModel(recorded, model string) bool {
	return recorded != "" && model != "" && filepath.Base(recorded) != filepath.Base(model)
}

// GlobalNeurons maps column indices ids to global neuron indices through
// columns (a File's Columns; nil maps each index to itself), in a new slice.
func GlobalNeurons(columns, ids []int) []int {
	out := make([]int, len(ids))
	for i, c := range ids {
		out[i] = c
		if columns != nil {
			out[i] = columns[c]
		}
	}
	return out
}

// checkIndices checks that list holds distinct neuron indices below n.
func checkIndices(what string, list []int, n int) error {
	seen := make([]bool, n)
	for i, j := range list {
		if j < 0 || j >= n {
			return fmt.Errorf("%s[%d] = %d outside [0, %d)", what, i, j, n)
		}
		if seen[j] {
			return fmt.Errorf("%s[%d] = %d repeats a neuron", what, i, j)
		}
		seen[j] = true
	}
	return nil
}

// WriteFile validates f and writes it to path atomically.
func WriteFile(path string, f *File) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("ranking: %s: %w", path, err)
	}
	fields := []struct {
		key   string
		value any
		omit  bool
	}{
		{"version", f.Version, false},
		{"method", f.Method, false},
		{"model", f.Model, f.Model == ""},
		{"parameters", f.Parameters, len(f.Parameters) == 0},
		{"num_neurons", f.NumNeurons, false},
		{"columns", f.Columns, f.Columns == nil},
		{"labels", f.Labels, f.Labels == nil},
		{"ordering", f.Ordering, false},
		{"cutoffs", f.Cutoffs, f.Cutoffs == nil},
		{"per_label", f.PerLabel, f.PerLabel == nil},
		{"scores", f.Scores, f.Scores == nil},
	}
	var b bytes.Buffer
	b.WriteString("{\n")
	sep := ""
	for _, fl := range fields {
		if fl.omit {
			continue
		}
		v, err := json.Marshal(fl.value)
		if err != nil {
			return fmt.Errorf("ranking: %s: %s: %w", path, fl.key, err)
		}
		fmt.Fprintf(&b, "%s  %q: %s", sep, fl.key, v)
		sep = ",\n"
	}
	b.WriteString("\n}\n")
	if err := atomicfile.WriteFile(path, b.Bytes()); err != nil {
		return fmt.Errorf("ranking: %w", err)
	}
	return nil
}

// ReadFile reads and validates the ranking file at path. Unknown fields and
// anything after the JSON object are errors.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ranking: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	f := new(File)
	if err := dec.Decode(f); err != nil {
		return nil, fmt.Errorf("ranking: %s: %w", path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("ranking: %s: data after the JSON object", path)
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("ranking: %s: %w", path, err)
	}
	return f, nil
}

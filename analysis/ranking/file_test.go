package ranking

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func sampleFile(t *testing.T) *File {
	t.Helper()
	r := mustRanker(t, [][]float32{{4, 1, 5, 0}, {1, 1, 10, 2}})
	o := r.Ordering(DefaultStride)
	return &File{
		Version:    FormatVersion,
		Method:     MethodOrdering,
		Parameters: map[string]json.Number{"stride": "100", "seed": "18446744073709551615"},
		NumNeurons: 4,
		Labels:     []string{"NOUN", "<VERB>"},
		Ordering:   o.Neurons,
		Cutoffs:    o.Cutoffs,
		PerLabel:   r.TopNeurons(0.5).PerLabel,
		Scores:     []float64{0.5, 1e-300, 3, 0},
	}
}

func TestFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ranking.json")
	f := sampleFile(t)
	if err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	g, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f, g) {
		t.Errorf("round trip:\n%+v\n%+v", f, g)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "{\n  \"version\": 1,\n  \"method\": \"ordering\",\n") {
		t.Errorf("layout:\n%s", data)
	}
	// A ranking of some of a file's neurons records them; GlobalNeurons
	// maps its columns.
	f.Columns, f.Model = []int{20, 21, 25, 30}, "models/nmt-en-de-s1.safetensors"
	if err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	if g, err := ReadFile(path); err != nil || !reflect.DeepEqual(f, g) {
		t.Errorf("round trip with columns: %+v, %v", g, err)
	}
	if f.OtherModel("elsewhere/nmt-en-de-s1.safetensors") || f.OtherModel("") || !f.OtherModel("nlm-en.safetensors") || (&File{}).OtherModel("x") {
		t.Errorf("OtherModel: a model of the same file name is not other, one of another name is, an unknown one never")
	}
	if !f.Fits(31) || f.Fits(30) || (&File{NumNeurons: 4}).Fits(5) || !(&File{NumNeurons: 4}).Fits(4) {
		t.Errorf("Fits: columns up to 30 fit 31 neurons, not 30; a file without columns fits its own size only")
	}
	if got := GlobalNeurons(f.Columns, []int{3, 0, 2}); !reflect.DeepEqual(got, []int{30, 20, 25}) {
		t.Errorf("GlobalNeurons: %v", got)
	}
	if got := GlobalNeurons(nil, []int{3, 0}); !reflect.DeepEqual(got, []int{3, 0}) {
		t.Errorf("GlobalNeurons without columns: %v", got)
	}
	// Optional fields may be absent.
	min := &File{Version: FormatVersion, Method: MethodRandom, NumNeurons: 3, Ordering: []int{}}
	if err := WriteFile(path, min); err != nil {
		t.Fatal(err)
	}
	if g, err := ReadFile(path); err != nil || !reflect.DeepEqual(min, g) {
		t.Errorf("minimal file: %+v, %v", g, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestFileValidation(t *testing.T) {
	cases := map[string]func(f *File){
		"version 2":                    func(f *File) { f.Version = 2 },
		"no method":                    func(f *File) { f.Method = "" },
		"num_neurons 0":                func(f *File) { f.NumNeurons = 0 },
		"no ordering":                  func(f *File) { f.Ordering = nil },
		"ordering[1] = 4 outside":      func(f *File) { f.Ordering[1] = 4 },
		"ordering[0] = -1 outside":     func(f *File) { f.Ordering[0] = -1 },
		"repeats a neuron":             func(f *File) { f.Ordering[1] = f.Ordering[0] },
		"cutoffs[3]":                   func(f *File) { f.Cutoffs[3] = 0 },
		"cutoffs[100] = 5":             func(f *File) { f.Cutoffs[100] = 5 },
		`labels[1] = "NOUN"`:           func(f *File) { f.Labels[1] = "NOUN" },
		"3 per-label lists":            func(f *File) { f.PerLabel = append(f.PerLabel, []int{0}) },
		"per_label[1] (<VERB>)[0] = 9": func(f *File) { f.PerLabel[1][0] = 9 },
		"3 scores":                     func(f *File) { f.Scores = f.Scores[:3] },
		"3 columns for 4 neurons":      func(f *File) { f.Columns = []int{4, 5, 6} },
		"columns[2] = 5":               func(f *File) { f.Columns = []int{4, 6, 5, 7} },
		"columns[0] = -1":              func(f *File) { f.Columns = []int{-1, 0, 1, 2} },
		// An ordering ranks every neuron: one missing is an error naming it.
		`ordering lists 3 neurons, but method "ordering" ranks all num_neurons 4 (neuron 2 is missing)`: func(f *File) {
			f.Ordering, f.Cutoffs = []int{0, 1, 3}, nil
		},
		// grain's methods spelt another way would pass for other tools' rankings.
		`method "Ordering": grain's ranking files name this method "ordering"`:         func(f *File) { f.Method = "Ordering" },
		`method " top": grain's ranking files name this method "top"`:                  func(f *File) { f.Method = " top" },
		`method "threshold": grain's ranking files name this method "hard-threshold"`:  func(f *File) { f.Method = "threshold" },
		`method "maxcorr": grain's ranking files name this method "crosscorr-maxcorr"`: func(f *File) { f.Method = "maxcorr" },
	}
	dir := t.TempDir()
	for want, mutate := range cases {
		f := sampleFile(t)
		mutate(f)
		path := filepath.Join(dir, "x.json")
		err := WriteFile(path, f)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: WriteFile error %v", want, err)
		}
		// The same file written without validation is rejected by ReadFile.
		data, _ := json.Marshal(f)
		os.WriteFile(path, data, 0o644)
		if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: ReadFile error %v", want, err)
		}
	}
	for name, text := range map[string]string{
		"unknown field": `{"version":1,"method":"x","num_neurons":1,"ordering":[0],"extra":1}`,
		"trailing data": `{"version":1,"method":"x","num_neurons":1,"ordering":[0]} {}`,
		"not json":      `{"version":1,`,
		"bad type":      `{"version":1,"method":"x","num_neurons":1,"ordering":["a"]}`,
		"NaN score":     `{"version":1,"method":"x","num_neurons":1,"ordering":[0],"scores":[NaN]}`,
	} {
		path := filepath.Join(dir, "y.json")
		os.WriteFile(path, []byte(text), 0o644)
		if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: ReadFile error %v", name, err)
		}
	}
	if _, err := ReadFile(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file read")
	}
}

// TestFileMethodRules: grain's methods that rank every neuron must list
// each neuron once; its selections, fixed-bottom and other tools' methods
// may list fewer; a method name grain does not know is another tool's
// ranking, read most important first.
func TestFileMethodRules(t *testing.T) {
	dir := t.TempDir()
	read := func(text string) (*File, string, error) {
		path := filepath.Join(dir, "r.json")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := ReadFile(path)
		return f, path, err
	}
	// The reviewer's file: 512 of 600 neurons under method "ordering".
	ids := make([]string, 512)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	_, path, err := read(`{"version":1,"method":"ordering","num_neurons":600,"ordering":[` + strings.Join(ids, ",") + `]}`)
	for _, want := range []string{path, `ordering lists 512 neurons`, `method "ordering" ranks all num_neurons 600`, "neuron 512 is missing"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("600 neurons, 512 ordered: error %v, want it to say %q", err, want)
		}
	}
	for _, m := range []string{MethodOrdering, MethodGranularOrdering, MethodProbeless, "crosscorr-maxcorr", "crosscorr-mincorr", "crosscorr-linreg", "crosscorr-svcca"} {
		if !KnownMethod(m) || !(&File{Method: m}).RanksAll() {
			t.Errorf("%s: KnownMethod or RanksAll false", m)
		}
		if _, _, err := read(`{"version":1,"method":"` + m + `","num_neurons":3,"ordering":[2,0,1]}`); err != nil {
			t.Errorf("%s: complete ordering refused: %v", m, err)
		}
		if _, _, err := read(`{"version":1,"method":"` + m + `","num_neurons":3,"ordering":[2,1]}`); err == nil || !strings.Contains(err.Error(), "neuron 0 is missing") {
			t.Errorf("%s: ordering without neuron 0: error %v", m, err)
		}
	}
	for _, m := range []string{MethodTop, MethodBottom, MethodHardThreshold, MethodRandom, MethodFixedBottom} {
		if !KnownMethod(m) || (&File{Method: m}).RanksAll() {
			t.Errorf("%s: KnownMethod false or RanksAll true", m)
		}
		if _, _, err := read(`{"version":1,"method":"` + m + `","num_neurons":3,"ordering":[1]}`); err != nil {
			t.Errorf("%s: a list of some neurons refused: %v", m, err)
		}
	}
	// Another tool's method: accepted on the structural checks, partial or
	// not, and taken as ranked; its structure is still checked.
	for _, m := range []string{"zzz", "neurox-ordering", "test", "crosscorr-other"} {
		f, _, err := read(`{"version":1,"method":"` + m + `","num_neurons":600,"ordering":[5,3]}`)
		if err != nil || KnownMethod(m) || f.RanksAll() || !f.Ranked() {
			t.Errorf("%s: other tool's partial ranking: %+v, %v", m, f, err)
		}
		if _, path, err := read(`{"version":1,"method":"` + m + `","num_neurons":4,"ordering":[5]}`); err == nil ||
			!strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "ordering[0] = 5 outside [0, 4)") {
			t.Errorf("%s: index out of range: error %v", m, err)
		}
	}
}

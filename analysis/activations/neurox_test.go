package activations

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/grainlab/grain/engine/progress"
)

func TestExportNeuroXJSONFormat(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.grain")
	meta := Meta{Model: "m", Layers: []Layer{{Name: "l0"}, {Name: "l1"}}, Dim: 2}
	writeCorpus(t, path, meta, corpus{
		tokens: [][]string{{"Hi", `"x"`}, {}},
		rows:   [][]float32{{0.1, -2, 3e-7, 0, 1e10, 0.25, -0.5, 7}, {}},
	})
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var buf bytes.Buffer
	if err := ExportNeuroXJSON(r, &buf, nil); err != nil {
		t.Fatal(err)
	}
	want := `{"linex_index": 0, "features": [` +
		`{"token": "Hi", "layers": [{"index": 0, "values": [0.1, -2]}, {"index": 1, "values": [3e-07, 0]}]}, ` +
		`{"token": "\"x\"", "layers": [{"index": 0, "values": [1e+10, 0.25]}, {"index": 1, "values": [-0.5, 7]}]}]}` + "\n" +
		`{"linex_index": 1, "features": []}` + "\n"
	if buf.String() != want {
		t.Fatalf("export:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestNeuroXRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, dt := range []DType{Float32, Float16} {
		dir := t.TempDir()
		meta := testMeta(4, 5, dt)
		data := randomCorpus(rng, []int{0, 3, 1, 0, 7, 2}, 20)
		orig := filepath.Join(dir, "orig.grain")
		writeCorpus(t, orig, meta, data)
		r, err := Open(orig)
		if err != nil {
			t.Fatal(err)
		}
		jsonPath := filepath.Join(dir, "acts.json")
		var buf bytes.Buffer
		if err := ExportNeuroXJSON(r, &buf, nil); err != nil {
			t.Fatal(err)
		}
		r.Close()
		os.WriteFile(jsonPath, buf.Bytes(), 0o644)

		back := filepath.Join(dir, "back.grain")
		if err := ImportNeuroXJSON(jsonPath, back, meta, progress.Nop); err != nil {
			t.Fatal(err)
		}
		for mode, r := range openModes(t, back) {
			checkReader(t, dt.String()+" "+mode, r, meta, data, rng)
			if r.Meta().Checksum != mustMeta(t, orig).Checksum {
				t.Fatalf("%s: imported data checksum %s differs from the original %s", dt, r.Meta().Checksum, mustMeta(t, orig).Checksum)
			}
		}
	}
}

func mustMeta(t testing.TB, path string) Meta {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return r.Meta()
}

func TestImportNeuroXJSON(t *testing.T) {
	dir := t.TempDir()
	// Layers listed out of order, blank lines, CRLF, NeuroX's 8-decimal values.
	src := "\n" +
		`{"linex_index": 0, "features": [{"token": "a", "layers": [{"index": 1, "values": [0.5, 0.25]}, {"index": 0, "values": [1.12345678, -2]}]}]}` + "\r\n" +
		"\n" +
		`{"linex_index": 1, "features": []}` + "\n" +
		`{"linex_index": 2, "features": [{"token": "b", "layers": [{"index": 0, "values": [3, 4]}, {"index": 1, "values": [5, 6]}]}, {"token": "c", "layers": [{"index": 0, "values": [7, 8]}, {"index": 1, "values": [9, 1e-8]}]}]}`
	jsonPath := filepath.Join(dir, "in.json")
	os.WriteFile(jsonPath, []byte(src), 0o644)
	want := []float32{1.12345678, -2, 0.5, 0.25, 3, 4, 5, 6, 7, 8, 9, 1e-8}

	// Inferred layers.
	out := filepath.Join(dir, "inferred.grain")
	if err := ImportNeuroXJSON(jsonPath, out, Meta{Model: "bert"}, nil); err != nil {
		t.Fatal(err)
	}
	r, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	m := r.Meta()
	if m.Model != "bert" || m.Dim != 2 || !slices.Equal(m.Layers, []Layer{{Name: "layer0"}, {Name: "layer1"}}) || m.DType != Float32 {
		t.Fatalf("meta %+v", m)
	}
	got := make([]float32, 12)
	if err := r.ReadRows(0, 3, got); err != nil || !slices.Equal(got, want) {
		t.Fatalf("rows %v (%v), want %v", got, err, want)
	}
	if r.NumSentences() != 3 || !slices.Equal(r.Tokens(2), []string{"b", "c"}) || len(r.Tokens(1)) != 0 {
		t.Fatalf("sentences %d, tokens %q", r.NumSentences(), r.Tokens(2))
	}
	r.Close()

	// A NeuroX layer of 2H values split into forward and backward layers of H:
	// global indices are unchanged.
	split := Meta{Layers: []Layer{{"enc", Forward}, {"enc", Backward}, {"dec", Forward}, {"dec", Backward}}, Dim: 1}
	out = filepath.Join(dir, "split.grain")
	if err := ImportNeuroXJSON(jsonPath, out, split, nil); err != nil {
		t.Fatal(err)
	}
	r, err = Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ReadRows(0, 3, got); err != nil || !slices.Equal(got, want) {
		t.Fatalf("split rows %v (%v), want %v", got, err, want)
	}
	if cols, _ := r.Meta().Columns(LayerFilter{Direction: Backward}); !slices.Equal(cols, []int{1, 3}) {
		t.Fatalf("backward columns %v", cols)
	}
	r.Close()

	// Dim inferred from the layers given.
	out = filepath.Join(dir, "dim.grain")
	if err := ImportNeuroXJSON(jsonPath, out, Meta{Layers: split.Layers, DType: Float16}, nil); err != nil {
		t.Fatal(err)
	}
	if m := mustMeta(t, out); m.Dim != 1 || m.DType != Float16 {
		t.Fatalf("meta %+v", m)
	}
}

func TestImportNeuroXJSONOnlyEmptySentences(t *testing.T) {
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "in.json")
	os.WriteFile(jsonPath, []byte(`{"linex_index": 0, "features": []}`+"\n"), 0o644)
	out := filepath.Join(dir, "out.grain")
	if err := ImportNeuroXJSON(jsonPath, out, Meta{}, nil); err == nil || !strings.Contains(err.Error(), "the file holds no tokens (its one sentence has no token)") {
		t.Fatalf("import without layers = %v", err)
	}
	if err := ImportNeuroXJSON(jsonPath, out, Meta{Layers: []Layer{{Name: "x"}}, Dim: 3}, nil); err != nil {
		t.Fatal(err)
	}
	r, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.NumSentences() != 1 || r.NumTokens() != 0 {
		t.Fatalf("%d sentences %d tokens", r.NumSentences(), r.NumTokens())
	}
}

// TestImportNeuroXJSONNoTokens: a NeuroX file without a token is an error
// that says so in the user's terms (no API names), naming the file, and
// writes nothing.
func TestImportNeuroXJSONNoTokens(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, text, want string }{
		{"empty", "", "the file holds no tokens (it is empty), so there are no activations to import"},
		{"blank", "\n\n", "the file holds no tokens (it is empty)"},
		{"one", `{"linex_index": 0, "features": []}` + "\n", "the file holds no tokens (its one sentence has no token)"},
		{"two", `{"linex_index": 0, "features": []}` + "\n" + `{"linex_index": 1, "features": []}`, "the file holds no tokens (none of its 2 sentences has a token)"},
	} {
		jsonPath := filepath.Join(dir, c.name+".json")
		os.WriteFile(jsonPath, []byte(c.text), 0o644)
		out := filepath.Join(dir, c.name+".gact")
		for _, meta := range []Meta{{}, {Layers: []Layer{{Name: "x"}}}} {
			err := ImportNeuroXJSON(jsonPath, out, meta, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), jsonPath) || strings.Contains(err.Error(), "meta") {
				t.Errorf("%s: error %v, want it to name the file and say %q", c.name, err, c.want)
			}
			if _, serr := os.Stat(out); !os.IsNotExist(serr) {
				t.Errorf("%s: %s written", c.name, out)
			}
		}
	}
}

func TestImportNeuroXJSONErrors(t *testing.T) {
	good := `{"linex_index": 0, "features": [{"token": "a", "layers": [{"index": 0, "values": [1, 2]}, {"index": 1, "values": [3, 4]}]}]}`
	tok := func(layers string) string {
		return `{"linex_index": 1, "features": [{"token": "ok", "layers": [{"index": 0, "values": [1, 2]}, {"index": 1, "values": [3, 4]}]}, {"token": "bad", "layers": ` + layers + `}]}`
	}
	for _, c := range []struct {
		name, line string
		want       []string
	}{
		{"syntax", `{"linex_index": 1, "features": [`, []string{":2:", "unexpected end of JSON"}},
		{"NaN", tok(`[{"index": 0, "values": [NaN, 2]}, {"index": 1, "values": [3, 4]}]`), []string{":2:", "NaN/Infinity"}},
		{"not an object", `[1, 2]`, []string{":2:", "JSON array, want an object"}},
		{"linex string", `{"linex_index": "1", "features": []}`, []string{":2:", `"linex_index" is a JSON string, want an integer`}},
		{"token number", `{"linex_index": 1, "features": [{"token": 5, "layers": []}]}`, []string{":2:", `"features.token" is a JSON number, want a string`}},
		{"missing linex", `{"features": []}`, []string{":2:", "missing \"linex_index\""}},
		{"missing features", `{"linex_index": 1}`, []string{":2:", "missing \"features\""}},
		{"null features", `{"linex_index": 1, "features": null}`, []string{":2:", "missing \"features\""}},
		{"linex skip", `{"linex_index": 2, "features": []}`, []string{":2:", "linex_index 2, want 1"}},
		{"linex repeat", `{"linex_index": 0, "features": []}`, []string{":2:", "linex_index 0, want 1"}},
		{"missing token", `{"linex_index": 1, "features": [{"layers": []}]}`, []string{":2:", `token 0: missing "token"`}},
		{"too few layers", tok(`[{"index": 0, "values": [1, 2]}]`), []string{":2:", `token 1 ("bad")`, "1 layers, want 2"}},
		{"too many layers", tok(`[{"index": 0, "values": [1, 2]}, {"index": 1, "values": [3, 4]}, {"index": 2, "values": [3, 4]}]`), []string{`token 1 ("bad")`, "3 layers, want 2"}},
		{"short layer", tok(`[{"index": 0, "values": [1, 2]}, {"index": 1, "values": [3]}]`), []string{":2:", `token 1 ("bad")`, "layer 1 has 1 values, want 2"}},
		{"duplicate layer", tok(`[{"index": 1, "values": [1, 2]}, {"index": 1, "values": [3, 4]}]`), []string{`token 1 ("bad")`, "layer 1 appears twice"}},
		{"index range", tok(`[{"index": 0, "values": [1, 2]}, {"index": 5, "values": [3, 4]}]`), []string{`token 1 ("bad")`, "index 5 out of range"}},
		{"missing index", tok(`[{"index": 0, "values": [1, 2]}, {"values": [3, 4]}]`), []string{`token 1 ("bad")`, `layers[1]: missing "index"`}},
		{"null value", tok(`[{"index": 0, "values": [1, null]}, {"index": 1, "values": [3, 4]}]`), []string{":2:", `token 1 ("bad")`, "layers[0] value 1", "null"}},
		{"overflow", tok(`[{"index": 0, "values": [1, 2]}, {"index": 1, "values": [3, 1e39]}]`), []string{":2:", `token 1 ("bad")`, "layers[1] value 1", "1e39"}},
		{"string value", tok(`[{"index": 0, "values": [1, "2"]}, {"index": 1, "values": [3, 4]}]`), []string{":2:", `token 1 ("bad")`, "layers[0] value 1"}},
		{"invalid UTF-8", "{\"linex_index\": 1, \"features\": [{\"token\": \"b\xffd\", \"layers\": []}]}", []string{":2:", "not valid UTF-8 (byte 44)"}},
		{"float16 overflow", tok(`[{"index": 0, "values": [1, 2]}, {"index": 1, "values": [3, 1e6]}]`), []string{":2:", "sentence 1", `token 1 ("bad")`, "float16"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			jsonPath := filepath.Join(dir, "in.json")
			os.WriteFile(jsonPath, []byte(good+"\n"+c.line+"\n"), 0o644)
			out := filepath.Join(dir, "out.grain")
			meta := Meta{}
			if c.name == "float16 overflow" {
				meta.DType = Float16
			}
			err := ImportNeuroXJSON(jsonPath, out, meta, nil)
			if err == nil {
				t.Fatal("import succeeded")
			}
			t.Log(err)
			for _, w := range append(c.want, jsonPath) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("failed import left files: %v", ents)
			}
		})
	}
	// The layer shape must agree with the metadata.
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "in.json")
	os.WriteFile(jsonPath, []byte(good+"\n"), 0o644)
	err := ImportNeuroXJSON(jsonPath, filepath.Join(dir, "o.grain"), Meta{Layers: []Layer{{Name: "a"}}, Dim: 3}, nil)
	if err == nil || !strings.Contains(err.Error(), "2 layers × 2 values") {
		t.Fatalf("shape mismatch: %v", err)
	}
	if err := ImportNeuroXJSON(filepath.Join(dir, "missing.json"), filepath.Join(dir, "o.grain"), Meta{}, nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing input: %v", err)
	}
}

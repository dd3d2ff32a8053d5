package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportNPY imports a NumPy array with its tokens file, checks what the
// file records, and converts it to NeuroX JSON and back: both importers
// must store the same activations (the same checksum).
func TestImportNPY(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "sents.txt")
	if err := os.WriteFile(tokens, []byte("The cat sat .\nIn May it rained\nEnd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const rows, neurons = 9, 12
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, neurons)
	header += strings.Repeat(" ", 63-(10+len(header))%64) + "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(header)), byte(len(header)>>8))
	b = append(b, header...)
	rng := rand.New(rand.NewPCG(2, 9))
	for range rows * neurons {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(rng.NormFloat64())))
	}
	npy := filepath.Join(dir, "acts.npy")
	if err := os.WriteFile(npy, b, 0o644); err != nil {
		t.Fatal(err)
	}
	acts := filepath.Join(dir, "acts.gact")
	code, out, errs := run("import", "--quiet", "--json", "--npy", npy, "--corpus", tokens, "--num-layers", "2", "--model", "mine", "--out", acts)
	var rep struct {
		Meta struct {
			Model, Corpus, Checksum string
			Dim                     int
			NumLayers               int `json:"num_layers"`
			NumTokens               int `json:"num_tokens"`
			NumSentences            int `json:"num_sentences"`
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil {
		t.Fatalf("import --npy: exit %d, %v: %s", code, err, errs)
	}
	if m := rep.Meta; m.Model != "mine" || m.Corpus != tokens || m.Dim != 6 || m.NumLayers != 2 || m.NumTokens != rows || m.NumSentences != 3 {
		t.Fatalf("import --npy recorded %+v", m)
	}
	// --model is a name to record: naming the output file there is no clash.
	if code, _, errs := run("import", "--quiet", "--npy", npy, "--corpus", tokens, "--num-layers", "2", "--model", "mine", "--corpus-name", acts, "--out", acts); code != 0 {
		t.Fatalf("import with --corpus-name naming the output: %s", errs)
	}
	js := filepath.Join(dir, "acts.json")
	back := filepath.Join(dir, "back.gact")
	if code, _, errs := run("export", "--quiet", "--acts", acts, "--neurox-json", js); code != 0 {
		t.Fatalf("export: %s", errs)
	}
	code, out, errs = run("import", "--quiet", "--json", "--neurox-json", js, "--out", back)
	var again struct{ Meta struct{ Checksum string } }
	if err := json.Unmarshal([]byte(out), &again); code != 0 || err != nil || again.Meta.Checksum != rep.Meta.Checksum {
		t.Fatalf("NeuroX JSON of the import reads back with checksum %q, want %q (exit %d, %v: %s)", again.Meta.Checksum, rep.Meta.Checksum, code, err, errs)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--npy", npy, "--neurox-json", js, "--corpus", tokens}, "one of them"},
		{[]string{"--neurox-json", js, "--corpus", tokens}, "describe an --npy array"},
		{[]string{"--npy", npy}, "missing --corpus"},
		{[]string{"--npy", npy, "--corpus", filepath.Join("..", "..", "analysis", "corpus", "testdata", "missing.txt")}, "missing.txt"},
		{[]string{"--npy", npy, "--corpus", tokens, "--num-layers", "5"}, "12 neurons do not split into 5 equal layers"},
	} {
		code, _, errs := run(append([]string{"import", "--quiet", "--out", filepath.Join(dir, "bad.gact")}, c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("import %q: exit %d, %q; want an error saying %q", c.args, code, errs, c.want)
		}
	}
}

package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"

	"github.com/grainlab/grain/analysis/activations"
	"github.com/grainlab/grain/engine/atomicfile"
)

func init() {
	register(command{"import", "convert NeuroX JSON or NumPy .npy activations to a grain activation file", runImport})
	register(command{"export", "convert a grain activation file to NeuroX JSON", runExport})
	register(command{"inspect", "describe (and verify) a grain activation file", runInspect})
}

func runImport(c *cli, args []string) error {
	fs := c.flags("import", "import (--neurox-json IN.json | --npy IN.npy --corpus C) --out OUT.gact [--model NAME] [--dtype float32|float16] [flags]", 0)
	in := fs.String("neurox-json", "", "NeuroX activation file (one JSON object per sentence)")
	npy := fs.String("npy", "", "NumPy array of activations (np.save): tokens × neurons, or layers × tokens × dim; float16/32/64")
	corpusPath := fs.String("corpus", "", "with --npy: the tokens, in the array's row order: CoNLL-U (.conllu[.gz]), PMB (.conll), or a NeuroX tokens file (one sentence per line)")
	numLayers := fs.Int("num-layers", 0, "with a tokens × neurons --npy array: split its neurons into this many equal layers (0: one layer)")
	out := fs.String("out", "", "grain activation file to write")
	model := textFlag(fs, "model", "", "model `name` to record")
	corpusDesc := textFlag(fs, "corpus-name", "", "source corpus `description` to record (default with --npy: the --corpus path)")
	dtype := fs.String("dtype", "float32", "stored element type: float32 or float16")
	if err := c.parse(fs, args, false); err != nil {
		return err
	}
	if (*in == "") == (*npy == "") {
		return errors.New("give the activations by --neurox-json or by --npy (one of them)")
	}
	if err := required(fs, "out"); err != nil {
		return err
	}
	if *npy != "" {
		if err := required(fs, "corpus"); err != nil {
			return err
		}
	} else if *corpusPath != "" || *numLayers != 0 {
		return errors.New("--corpus and --num-layers describe an --npy array; a NeuroX JSON file holds its tokens and layers")
	}
	var dt activations.DType
	if err := dt.UnmarshalText([]byte(*dtype)); err != nil {
		return err
	}
	if err := checkOutputs(fs, *out); err != nil {
		return err
	}
	meta := activations.Meta{Model: *model, Corpus: *corpusDesc, DType: dt, Tool: "grain import"}
	if *in != "" {
		if err := activations.ImportNeuroXJSON(*in, *out, meta, c.progress()); err != nil {
			return err
		}
		return describe(c, *out, false)
	}
	corp, err := readTokens(*corpusPath)
	if err != nil {
		return err
	}
	if meta.Corpus == "" {
		meta.Corpus = *corpusPath
	}
	if err := activations.ImportNPY(*npy, corp.Tokens(), *numLayers, *out, meta, c.progress()); err != nil {
		return err
	}
	return describe(c, *out, false)
}

func runExport(c *cli, args []string) error {
	fs := c.flags("export", "export --acts IN.gact --neurox-json OUT.json", 0)
	in := fs.String("acts", "", "grain activation file")
	out := fs.String("neurox-json", "", "NeuroX JSON file to write")
	if err := c.parse(fs, args, false); err != nil {
		return err
	}
	if err := required(fs, "acts", "neurox-json"); err != nil {
		return err
	}
	if err := checkOutputs(fs, *out); err != nil {
		return err
	}
	r, err := activations.Open(*in)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := atomicfile.Create(*out)
	if err != nil {
		return err
	}
	defer f.Abort()
	w := bufio.NewWriter(f)
	if err := activations.ExportNeuroXJSON(r, w, c.progress()); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Commit(); err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.stdout, map[string]any{"path": *out, "sentences": r.NumSentences(), "tokens": r.NumTokens()})
	}
	fmt.Fprintf(c.stdout, "wrote %s: %d sentences, %d tokens\n", *out, r.NumSentences(), r.NumTokens())
	return nil
}

func runInspect(c *cli, args []string) error {
	fs := c.flags("inspect", "inspect FILE.gact [--verify]", 0)
	verify := fs.Bool("verify", false, "check every checksum of the file")
	if err := c.parse(fs, args, true); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(c.stderr, "grain inspect: give one activation file (%d given)\n", fs.NArg())
		fs.Usage()
		return errUsage
	}
	return describe(c, fs.Arg(0), *verify)
}

func describe(c *cli, path string, verify bool) error {
	r, err := activations.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	if verify {
		if err := r.Verify(); err != nil {
			return err
		}
	}
	m := r.Meta()
	if c.json {
		return writeJSON(c.stdout, map[string]any{"path": path, "meta": m, "verified": verify})
	}
	st, _ := os.Stat(path)
	fmt.Fprintf(c.stdout, "%s: %d sentences, %d tokens, %d neurons (%d layers × %d), %s, %.1f MB\n",
		path, m.NumSentences, m.NumTokens, m.NumNeurons(), m.NumLayers, m.Dim, m.DType, float64(st.Size())/1e6)
	fmt.Fprintf(c.stdout, "model %q, corpus %q, tool %q, checksum %s\n", m.Model, m.Corpus, m.Tool, m.Checksum)
	if len(m.Masked) > 0 {
		fmt.Fprintf(c.stdout, "extracted with %d of the model's neurons clamped to 0 (meta \"masked\")\n", len(m.Masked))
	}
	t := newTable(c.stdout, "layer", "name", "direction", "neurons")
	for i, l := range m.Layers {
		lo, hi := m.LayerRange(i)
		dir := string(l.Direction)
		if dir == "" {
			dir = "-"
		}
		t.row(i, l.Name, dir, fmt.Sprintf("%d–%d", lo, hi-1))
	}
	t.flush()
	if verify {
		fmt.Fprintln(c.stdout, "verified: every chunk checksum and the footer match")
	}
	return nil
}

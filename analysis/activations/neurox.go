package activations

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"unicode/utf8"

	"github.com/grainlab/grain/engine/progress"
)

// nxLine is one line of NeuroX's JSON activation format ("jsonl"): one JSON
// object per sentence, in corpus order:
//
//	{"linex_index": 0, "features": [
//	    {"token": "The", "layers": [{"index": 0, "values": [0.1, ...]},
//	                                {"index": 1, "values": [...]}]},
//	    ...]}
//
// Each layer holds the same number of values D. NeuroX concatenates the
// layers of a token in index order, so neuron d of layer index has the
// global index index·D + d, exactly as in grain. V is float32 for fast
// decoding, json.RawMessage to pinpoint a bad value.
type nxLine[V any] struct {
	LinexIndex *int64          `json:"linex_index"`
	Features   *[]nxFeature[V] `json:"features"`
}

type nxFeature[V any] struct {
	Token  *string      `json:"token"`
	Layers []nxLayer[V] `json:"layers"`
}

type nxLayer[V any] struct {
	Index  *int `json:"index"`
	Values []V  `json:"values"`
}

var errNull = errors.New("null is not a number")

// checkValue parses one JSON value strictly as a float32, to pinpoint a bad
// value in a line that failed the fast decoding.
func checkValue(b []byte) error {
	if string(b) == "null" {
		return errNull
	}
	if _, err := strconv.ParseFloat(string(b), 32); err != nil {
		if ne, ok := err.(*strconv.NumError); ok {
			err = ne.Err
		}
		return fmt.Errorf("%s: %w", b, err)
	}
	return nil
}

// ImportNeuroXJSON converts a NeuroX JSON activation file into a grain
// activation file at outPath, streaming line by line (only one sentence is
// in memory at a time). meta supplies the model, corpus and layer
// description; when meta.Layers is empty the layers are named "layer0",
// "layer1", ... after NeuroX's indices and D is taken from the file (so a
// file without any token is then an error that says it holds none). A meta
// may also split each NeuroX layer into several grain layers (a
// bidirectional NeuroX layer of 2H values into a forward and a backward
// layer of H), provided the NeuroX layer width is a multiple of meta.Dim:
// global indices are unchanged. Errors name jsonPath:line and the token and
// layer at fault; linex_index must count 0, 1, 2, ... (blank lines are
// skipped). rep reports progress in bytes read (nil means none). On error
// nothing is written at outPath.
func ImportNeuroXJSON(jsonPath, outPath string, meta Meta, rep progress.Reporter) error {
	f, err := os.Open(jsonPath)
	if err != nil {
		return fmt.Errorf("activations: import: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("activations: import: %w", err)
	}
	if rep == nil {
		rep = progress.Nop
	}
	bar := rep.Start("import "+filepath.Base(jsonPath), st.Size())
	defer bar.Finish()
	return importNeuroX(f, jsonPath, outPath, meta, bar)
}

// importer holds the state of one import.
type importer struct {
	outPath  string
	meta     Meta
	w        *Writer
	nxLayers int // layers per token in the NeuroX file (0: not seen yet)
	nxDim    int // values per NeuroX layer
	pending  int // empty sentences seen before the Writer could be created
	row      []float32
	seen     []bool
	tokens   []string
}

func importNeuroX(src io.Reader, name, outPath string, meta Meta, bar progress.Bar) (err error) {
	im := &importer{outPath: outPath, meta: meta}
	if im.meta.Tool == "" {
		im.meta.Tool = "grain activations.ImportNeuroXJSON"
	}
	defer func() {
		if im.w != nil && err != nil {
			im.w.Abort()
		}
	}()
	if len(meta.Layers) > 0 && meta.Dim > 0 {
		if err := im.create(); err != nil {
			return err
		}
	}
	br := bufio.NewReaderSize(src, 1<<20)
	var line []byte
	sentence := int64(0)
	for lineNo := 1; ; lineNo++ {
		line = line[:0]
		var rerr error
		for {
			var part []byte
			part, rerr = br.ReadSlice('\n')
			line = append(line, part...)
			if rerr != bufio.ErrBufferFull {
				break
			}
		}
		if rerr != nil && rerr != io.EOF {
			return fmt.Errorf("activations: import %s:%d: %w", name, lineNo, rerr)
		}
		bar.Add(int64(len(line)))
		if len(bytes.TrimSpace(line)) > 0 {
			if err := im.sentence(line, sentence); err != nil {
				return fmt.Errorf("activations: import %s:%d: %w", name, lineNo, err)
			}
			sentence++
		}
		if rerr == io.EOF {
			break
		}
	}
	if im.w == nil {
		if len(im.meta.Layers) == 0 || im.meta.Dim == 0 {
			// Without a token the layers and their width are unknown, and
			// an activation file without them cannot be written.
			what := "it is empty"
			switch {
			case sentence == 1:
				what = "its one sentence has no token"
			case sentence > 1:
				what = fmt.Sprintf("none of its %d sentences has a token", sentence)
			}
			return fmt.Errorf("activations: import %s: the file holds no tokens (%s), so there are no activations to import; check that it is the NeuroX activation file you meant", name, what)
		}
		if err := im.create(); err != nil {
			return err
		}
	}
	return im.w.Close()
}

// create starts the Writer once the layer shape is known, and writes the
// empty sentences seen before.
func (im *importer) create() error {
	w, err := Create(im.outPath, im.meta)
	if err != nil {
		return err
	}
	im.w = w
	for ; im.pending > 0; im.pending-- {
		if err := w.AppendSentence(nil, nil); err != nil {
			return err
		}
	}
	return nil
}

// shape learns the NeuroX layer shape from the first token and reconciles
// it with the metadata.
func (im *importer) shape(f nxFeature[float32]) error {
	if len(f.Layers) == 0 || len(f.Layers[0].Values) == 0 {
		return fmt.Errorf("token 0 (%s): no layers or no values to infer the layer shape from", tokenName(f.Token))
	}
	im.nxLayers, im.nxDim = len(f.Layers), len(f.Layers[0].Values)
	m := &im.meta
	if len(m.Layers) == 0 {
		for i := 0; i < im.nxLayers; i++ {
			m.Layers = append(m.Layers, Layer{Name: "layer" + strconv.Itoa(i)})
		}
	}
	if m.Dim == 0 && im.nxLayers*im.nxDim%len(m.Layers) == 0 {
		m.Dim = im.nxLayers * im.nxDim / len(m.Layers)
	}
	if im.nxLayers*im.nxDim != len(m.Layers)*m.Dim || m.Dim == 0 || im.nxDim%m.Dim != 0 {
		return fmt.Errorf("the file has %d layers × %d values, which does not split into the metadata's %d layers × %d",
			im.nxLayers, im.nxDim, len(m.Layers), m.Dim)
	}
	if im.w == nil {
		return im.create()
	}
	return nil
}

// sentence decodes one line and appends it.
func (im *importer) sentence(line []byte, want int64) error {
	if !utf8.Valid(line) { // encoding/json would quietly make it U+FFFD
		return fmt.Errorf("not valid UTF-8 (byte %d)", firstInvalidUTF8(line))
	}
	var s nxLine[float32]
	err := json.Unmarshal(line, &s)
	if err != nil || bytes.Contains(line, []byte("null")) {
		if perr := pinpoint(line); perr != nil {
			return perr
		}
		if se, ok := err.(*json.SyntaxError); ok {
			if bytes.Contains(line, []byte("NaN")) || bytes.Contains(line, []byte("Infinity")) {
				return fmt.Errorf("byte %d: %w (non-finite activations such as NaN/Infinity are not valid JSON and are never stored)", se.Offset, err)
			}
			return fmt.Errorf("byte %d: %w", se.Offset, err)
		}
		if te, ok := err.(*json.UnmarshalTypeError); ok {
			if te.Field == "" {
				return fmt.Errorf("the line is a JSON %s, want an object with linex_index and features", te.Value)
			}
			return fmt.Errorf("%q is a JSON %s, want %s", te.Field, te.Value, jsonKind(te.Type))
		}
		if err != nil {
			return err
		}
	}
	if s.LinexIndex == nil {
		return errors.New(`missing "linex_index"`)
	}
	if *s.LinexIndex != want {
		return fmt.Errorf("linex_index %d, want %d (sentences must be numbered 0, 1, 2, ... in order)", *s.LinexIndex, want)
	}
	if s.Features == nil {
		return errors.New(`missing "features"`)
	}
	features := *s.Features
	if len(features) == 0 {
		if im.w == nil {
			im.pending++
			return nil
		}
		return im.w.appendSentence(nil, nil)
	}
	if im.nxLayers == 0 {
		if err := im.shape(features[0]); err != nil {
			return err
		}
	}
	n := im.nxLayers * im.nxDim
	if need := len(features) * n; cap(im.row) < need {
		im.row = make([]float32, need)
	}
	im.row = im.row[:len(features)*n]
	if len(im.seen) != im.nxLayers {
		im.seen = make([]bool, im.nxLayers)
	}
	im.tokens = im.tokens[:0]
	for t, f := range features {
		if f.Token == nil {
			return fmt.Errorf(`token %d: missing "token"`, t)
		}
		im.tokens = append(im.tokens, *f.Token)
		if len(f.Layers) != im.nxLayers {
			return fmt.Errorf("token %d (%q): %d layers, want %d", t, *f.Token, len(f.Layers), im.nxLayers)
		}
		clear(im.seen)
		for j, l := range f.Layers {
			if l.Index == nil {
				return fmt.Errorf(`token %d (%q): layers[%d]: missing "index"`, t, *f.Token, j)
			}
			li := *l.Index
			if li < 0 || li >= im.nxLayers {
				return fmt.Errorf("token %d (%q): layers[%d]: index %d out of range [0, %d)", t, *f.Token, j, li, im.nxLayers)
			}
			if im.seen[li] {
				return fmt.Errorf("token %d (%q): layer %d appears twice", t, *f.Token, li)
			}
			im.seen[li] = true
			if len(l.Values) != im.nxDim {
				return fmt.Errorf("token %d (%q): layer %d has %d values, want %d (all layers have the same number of neurons)",
					t, *f.Token, li, len(l.Values), im.nxDim)
			}
			copy(im.row[t*n+li*im.nxDim:], l.Values)
		}
	}
	return im.w.appendSentence(im.tokens, im.row)
}

// pinpoint re-decodes a line strictly to name the token and layer of a bad
// value (null, or out of float32 range). It returns nil if it finds none.
func pinpoint(line []byte) error {
	var s nxLine[json.RawMessage]
	if json.Unmarshal(line, &s) != nil {
		return nil
	}
	if s.Features == nil {
		return nil
	}
	for t, f := range *s.Features {
		for j, l := range f.Layers {
			for k, v := range l.Values {
				if err := checkValue(v); err != nil {
					return fmt.Errorf("token %d (%s): layers[%d] value %d: %w", t, tokenName(f.Token), j, k, err)
				}
			}
		}
	}
	return nil
}

// jsonKind names the JSON kind that decodes into t.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "an array"
	}
	return "an object"
}

// firstInvalidUTF8 returns the offset of b's first byte that does not start
// a valid UTF-8 sequence (len(b) if none).
func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

func tokenName(tok *string) string {
	if tok == nil {
		return "no token"
	}
	return strconv.Quote(*tok)
}

// ExportNeuroXJSON writes r in NeuroX's JSON format: one line per sentence,
// each token with its L layers ("index" 0..L-1) of D values. Values are
// written in the shortest form that reads back as the same float32, so
// ImportNeuroXJSON restores them exactly. A NaN or ±Inf activation (which
// JSON cannot hold; only a file not made by this package's Writer has one)
// is an error naming the file, sentence, token and neuron, returned before
// any of that sentence is written: the lines already written are valid.
// Progress (sentences written) goes to rep (nil: none).
func ExportNeuroXJSON(r *Reader, w io.Writer, rep progress.Reporter) error {
	if rep == nil {
		rep = progress.Nop
	}
	bar := rep.Start("export "+filepath.Base(r.Path()), int64(r.NumSentences()))
	defer bar.Finish()
	bw := bufio.NewWriterSize(w, 1<<20)
	m := r.Meta()
	n := r.NumNeurons()
	var rows []float32
	var buf []byte
	for i := 0; i < r.NumSentences(); i++ {
		start, end := r.SentenceRange(i)
		if need := (end - start) * n; cap(rows) < need {
			rows = make([]float32, need)
		}
		if err := r.ReadRows(start, end-start, rows); err != nil {
			return err
		}
		buf = append(buf[:0], `{"linex_index": `...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, `, "features": [`...)
		for t := start; t < end; t++ {
			if t > start {
				buf = append(buf, ", "...)
			}
			tok, err := json.Marshal(r.Token(t))
			if err != nil {
				return fmt.Errorf("activations: export %s: %w", r.Path(), err)
			}
			buf = append(buf, `{"token": `...)
			buf = append(buf, tok...)
			buf = append(buf, `, "layers": [`...)
			for l := 0; l < m.NumLayers; l++ {
				if l > 0 {
					buf = append(buf, ", "...)
				}
				buf = append(buf, `{"index": `...)
				buf = strconv.AppendInt(buf, int64(l), 10)
				buf = append(buf, `, "values": [`...)
				vals := rows[(t-start)*n+l*m.Dim : (t-start)*n+(l+1)*m.Dim]
				for d, v := range vals {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						return fmt.Errorf("activations: export %s: sentence %d token %d (%q): %s; JSON cannot hold non-finite values",
							r.Path(), i, t-start, r.Token(t), m.neuronValue(l*m.Dim+d, v))
					}
					if d > 0 {
						buf = append(buf, ", "...)
					}
					buf = strconv.AppendFloat(buf, float64(v), 'g', -1, 32)
				}
				buf = append(buf, "]}"...)
			}
			buf = append(buf, "]}"...)
		}
		buf = append(buf, "]}\n"...)
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("activations: export %s: %w", r.Path(), err)
		}
		bar.Add(1)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("activations: export %s: %w", r.Path(), err)
	}
	return nil
}

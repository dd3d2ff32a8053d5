package activations

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/grainlab/grain/engine/progress"
	"github.com/grainlab/grain/kernels"
)

// npyMagic starts every NumPy .npy file.
const npyMagic = "\x93NUMPY"

// npyHeader is what a .npy file's header says of its array.
type npyHeader struct {
	// dataOffset is where the array's bytes start.
	dataOffset int64
	// elem is the element size in bytes: 2 (float16), 4 (float32) or 8
	// (float64), all little-endian.
	elem  int
	shape []int
}

// dataBytes returns the bytes of the array's data (the product of its
// shape and the element size), or -1 when that overflows an int64.
func (h npyHeader) dataBytes() int64 {
	n := int64(h.elem)
	for _, d := range h.shape {
		if d != 0 && n > math.MaxInt64/int64(d) {
			return -1
		}
		n *= int64(d)
	}
	return n
}

// parseNPYHeader reads the preamble of a .npy file (format versions 1, 2
// and 3): the magic string, the version, the header length and the header,
// a Python dict literal such as
//
//	{'descr': '<f4', 'fortran_order': False, 'shape': (25094, 768), }
//
// It accepts little-endian float16, float32 and float64 arrays in C order.
func parseNPYHeader(r io.Reader) (npyHeader, error) {
	var pre [10]byte
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		return npyHeader{}, fmt.Errorf("not a .npy file: %w", noEOF(err))
	}
	if string(pre[:6]) != npyMagic {
		return npyHeader{}, errors.New("not a .npy file (no \\x93NUMPY magic)")
	}
	major := pre[6]
	var n, off int64
	switch major {
	case 1:
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			return npyHeader{}, fmt.Errorf("header length: %w", noEOF(err))
		}
		n, off = int64(binary.LittleEndian.Uint16(pre[8:10])), 10
	case 2, 3:
		var l [4]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return npyHeader{}, fmt.Errorf("header length: %w", noEOF(err))
		}
		n, off = int64(binary.LittleEndian.Uint32(l[:])), 12
	default:
		return npyHeader{}, fmt.Errorf(".npy format version %d.%d (grain reads 1, 2 and 3)", major, pre[7])
	}
	if n > 1<<20 {
		return npyHeader{}, fmt.Errorf("header of %d bytes (at most 1 MiB expected)", n)
	}
	text := make([]byte, n)
	if _, err := io.ReadFull(r, text); err != nil {
		return npyHeader{}, fmt.Errorf("header (%d bytes): %w", n, noEOF(err))
	}
	h := npyHeader{dataOffset: off + n}
	dict, err := parsePyDict(string(text))
	if err != nil {
		return npyHeader{}, fmt.Errorf("header %q: %w", strings.TrimSpace(string(text)), err)
	}
	descr, ok := dict["descr"].(string)
	if !ok {
		return npyHeader{}, errors.New("header has no 'descr' string")
	}
	switch descr {
	case "<f2":
		h.elem = 2
	case "<f4":
		h.elem = 4
	case "<f8":
		h.elem = 8
	default:
		return npyHeader{}, fmt.Errorf("element type %q: grain reads little-endian float16, float32 and float64 ('<f2', '<f4', '<f8'; convert with arr.astype('<f4'))", descr)
	}
	if fortran, ok := dict["fortran_order"].(bool); !ok {
		return npyHeader{}, errors.New("header has no 'fortran_order' True/False")
	} else if fortran {
		return npyHeader{}, errors.New("array is in Fortran (column-major) order: save np.ascontiguousarray(arr) instead")
	}
	if h.shape, ok = dict["shape"].([]int); !ok {
		return npyHeader{}, errors.New("header has no 'shape' tuple")
	}
	return h, nil
}

// noEOF turns an end of file into "truncated".
func noEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("file truncated")
	}
	return err
}

// parsePyDict parses the Python dict literal of a .npy header: string keys,
// values that are strings, True/False or tuples of non-negative integers.
func parsePyDict(s string) (map[string]any, error) {
	p := &pyParser{s: s}
	p.space()
	if !p.eat('{') {
		return nil, errors.New("not a dict literal")
	}
	d := map[string]any{}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		if _, dup := d[key]; dup {
			return nil, fmt.Errorf("key %q twice", key)
		}
		p.space()
		if !p.eat(':') {
			return nil, fmt.Errorf("no ':' after key %q", key)
		}
		p.space()
		if d[key], err = p.value(); err != nil {
			return nil, fmt.Errorf("value of %q: %w", key, err)
		}
		p.space()
		if !p.eat(',') {
			p.space()
			if !p.eat('}') {
				return nil, fmt.Errorf("no ',' or '}' after the value of %q", key)
			}
			break
		}
	}
	if p.space(); p.i != len(p.s) {
		return nil, fmt.Errorf("%q after the dict", p.s[p.i:])
	}
	return d, nil
}

// pyParser walks a Python literal.
type pyParser struct {
	s string
	i int
}

func (p *pyParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a quoted string without escapes.
func (p *pyParser) str() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", errors.New("not a quoted string")
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	if strings.IndexByte(v, '\\') >= 0 {
		return "", errors.New("escapes in strings are not supported")
	}
	p.i += end + 2
	return v, nil
}

func (p *pyParser) value() (any, error) {
	switch {
	case strings.HasPrefix(p.s[p.i:], "True"):
		p.i += 4
		return true, nil
	case strings.HasPrefix(p.s[p.i:], "False"):
		p.i += 5
		return false, nil
	case p.eat('('):
		var dims []int
		for {
			p.space()
			if p.eat(')') {
				return dims, nil
			}
			j := p.i
			for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
				p.i++
			}
			d, err := strconv.Atoi(p.s[j:p.i])
			if err != nil || d > math.MaxInt32 {
				return nil, fmt.Errorf("tuple element %q is not a dimension", p.s[j:p.i])
			}
			dims = append(dims, d)
			p.space()
			if !p.eat(',') {
				p.space()
				if !p.eat(')') {
					return nil, errors.New("no ',' or ')' in the tuple")
				}
				return dims, nil
			}
		}
	}
	return p.str()
}

// ImportNPY converts a NumPy array of activations into a grain activation
// file at outPath, streaming (one sentence in memory at a time).
// sentences holds the corpus's tokens, sentence by sentence, in the order
// of the array's rows. The array (little-endian float16, float32 or
// float64, C order) is either
//
//   - 2-D, tokens × neurons: the neurons are split into layers equal
//     layers ("layer0", "layer1", ...; layers 0 means 1), or
//   - 3-D, layers × tokens × dim, as torch.stack of a model's per-layer
//     hidden states over the corpus: layer l's neuron d becomes global
//     neuron l·dim + d (layers must then be 0 or the array's first
//     dimension).
//
// meta supplies the model, corpus and stored type; its Layers and Dim are
// set here. float64 values are rounded to the stored type directly, as
// NumPy's astype does (to float16 through kernels.Float32RoundToOdd, which
// makes no tie that float64 did not have). The number of tokens must equal
// the array's token dimension; a truncated file, another element type, a
// non-finite value and a finite value beyond the range of the stored type
// (float32's ±3.4e38, float16's ±65504; both named by row and neuron) are
// errors naming npyPath, and nothing is written at outPath.
// rep reports progress in tokens (nil means none).
func ImportNPY(npyPath string, sentences [][]string, layers int, outPath string, meta Meta, rep progress.Reporter) (err error) {
	f, err := os.Open(npyPath)
	if err != nil {
		return fmt.Errorf("activations: import: %w", err)
	}
	defer f.Close()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("activations: import %s: %s", npyPath, fmt.Sprintf(format, args...))
	}
	h, err := parseNPYHeader(bufio.NewReader(io.LimitReader(f, 1<<21)))
	if err != nil {
		return fail("%v", err)
	}
	st, err := f.Stat()
	if err != nil {
		return fail("%v", err)
	}
	switch n := h.dataBytes(); {
	case n < 0:
		return fail("the header's shape %v of %d-byte elements is larger than any file (corrupt header)", h.shape, h.elem)
	case st.Size()-h.dataOffset != n:
		return fail("the header's shape %v of %d-byte elements needs %d bytes of data; the file has %d (truncated or corrupt)",
			h.shape, h.elem, n, st.Size()-h.dataOffset)
	}
	var numLayers, tokens, dim int
	switch len(h.shape) {
	case 2:
		numLayers, tokens, dim = max(layers, 1), h.shape[0], h.shape[1]
		if dim%numLayers != 0 {
			return fail("%d neurons do not split into %d equal layers", dim, numLayers)
		}
		dim /= numLayers
	case 3:
		numLayers, tokens, dim = h.shape[0], h.shape[1], h.shape[2]
		if layers != 0 && layers != numLayers {
			return fail("the array holds %d layers (shape %v), not %d", numLayers, h.shape, layers)
		}
	default:
		return fail("shape %v: want tokens × neurons or layers × tokens × dim", h.shape)
	}
	if numLayers == 0 || dim == 0 {
		return fail("shape %v holds no neurons", h.shape)
	}
	total := 0
	for _, s := range sentences {
		total += len(s)
	}
	if total != tokens {
		return fail("%d tokens in the array (shape %v), but the corpus has %d tokens in %d sentences", tokens, h.shape, total, len(sentences))
	}
	meta.Layers, meta.NumLayers, meta.Dim = make([]Layer, numLayers), 0, dim
	for l := range meta.Layers {
		meta.Layers[l] = Layer{Name: "layer" + strconv.Itoa(l)}
	}
	if meta.Tool == "" {
		meta.Tool = "grain activations.ImportNPY"
	}
	w, err := Create(outPath, meta)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			w.Abort()
		}
	}()
	// One buffered reader per layer: a 3-D array stores each layer's
	// tokens contiguously, a 2-D array is one "layer" of all neurons.
	parts, partWidth := numLayers, dim
	if len(h.shape) == 2 {
		parts, partWidth = 1, numLayers*dim
	}
	readers := make([]*bufio.Reader, parts)
	for l := range readers {
		start := h.dataOffset + int64(l)*int64(tokens)*int64(partWidth)*int64(h.elem)
		readers[l] = bufio.NewReaderSize(io.NewSectionReader(f, start, int64(tokens)*int64(partWidth)*int64(h.elem)), 1<<20)
	}
	if rep == nil {
		rep = progress.Nop
	}
	bar := rep.Start("import "+filepath.Base(npyPath), int64(tokens))
	defer bar.Finish()
	raw := make([]byte, partWidth*h.elem)
	var rows []float32
	row := 0
	for _, s := range sentences {
		rows = rows[:0]
		for range s {
			for l, r := range readers {
				if _, err := io.ReadFull(r, raw); err != nil {
					return fail("row %d: %v", row, noEOF(err))
				}
				at := len(rows)
				rows = appendDecoded(rows, raw, h.elem, meta.DType)
				if i := firstOutOfRange(rows[at:], raw, h.elem, meta.DType); i >= 0 {
					g := l*partWidth + i
					layer, d := meta.NeuronLayer(g)
					return fail("row %d, neuron %d (layer %s, d %d): %v", row, g, meta.Layers[layer], d, outOfRange(raw, h.elem, i, meta.DType))
				}
			}
			row++
		}
		if err := w.appendSentence(s, rows); err != nil {
			if err == w.err {
				return err // an I/O error, naming outPath
			}
			return fail("array rows %d to %d: %v", row-len(s), row-1, err)
		}
		bar.Add(int64(len(s)))
	}
	return w.Close()
}

// firstOutOfRange returns the index of the first of the decoded values out
// (decoded from raw, of elem bytes each, for a file of stored type stored)
// whose element in raw is finite but beyond the range of the stored type,
// so that storing it would make it ±Inf, or -1 if there is none. A float64
// beyond float32 range decodes to ±Inf, or for a Float16 file (rounded to
// odd) to ±MaxFloat32, which half precision cannot hold either. Non-finite
// elements are left to the Writer, which refuses them.
func firstOutOfRange(out []float32, raw []byte, elem int, stored DType) int {
	if stored == Float16 {
		if elem == 2 {
			return -1
		}
		for i, v := range out {
			// The largest half is 65504; a float32 rounds to ±Inf from 65520.
			if a := math.Abs(float64(v)); a > 65504 && a <= math.MaxFloat32 && kernels.Float32ToHalf(v)&0x7fff == 0x7c00 {
				return i
			}
		}
		return -1
	}
	if elem != 8 {
		return -1 // float16 and float32 elements fit float32
	}
	for i, v := range out {
		if math.IsInf(float64(v), 0) && !math.IsInf(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])), 0) {
			return i
		}
	}
	return -1
}

// outOfRange describes element i of raw, found by firstOutOfRange, for an
// error message: "1e+300 is out of float32 range (±3.4028235e+38)".
func outOfRange(raw []byte, elem, i int, stored DType) string {
	x := float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
	if elem == 8 {
		x = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
	}
	if stored == Float16 {
		return fmt.Sprintf("%v is out of float16 range (±65504; the file stores float16)", x)
	}
	return fmt.Sprintf("%v is out of float32 range (±%v)", x, float32(math.MaxFloat32))
}

// appendDecoded appends the little-endian elements of elem bytes in raw to
// dst as float32. float64 is rounded to nearest, or for a file of stored
// type Float16 to odd, so that the writer's rounding to half is the
// float64's own rounding.
func appendDecoded(dst []float32, raw []byte, elem int, stored DType) []float32 {
	n := len(raw) / elem
	at := len(dst)
	dst = slices.Grow(dst, n)[:at+n]
	out := dst[at:]
	switch elem {
	case 2:
		decodeHalves(out, raw)
	case 4:
		decodeFloat32s(out, raw)
	case 8:
		round := func(x float64) float32 { return float32(x) }
		if stored == Float16 {
			round = kernels.Float32RoundToOdd
		}
		for i := range out {
			out[i] = round(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		}
	}
	return dst
}

package activations

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/grainlab/grain/kernels"
)

// npyBytes encodes a .npy file (format version major) the way NumPy does:
// the header dict padded with spaces to a multiple of 64 bytes, ending in a
// newline.
func npyBytes(major byte, descr string, fortran bool, shape []int, data []byte) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	tuple := "(" + strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	tuple += ")"
	order := "False"
	if fortran {
		order = "True"
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, order, tuple)
	pre := 10
	if major > 1 {
		pre = 12
	}
	pad := 64 - (pre+len(dict)+1)%64
	header := dict + strings.Repeat(" ", pad%64) + "\n"
	var b bytes.Buffer
	b.WriteString(npyMagic)
	b.Write([]byte{major, 0})
	if major > 1 {
		binary.Write(&b, binary.LittleEndian, uint32(len(header)))
	} else {
		binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	}
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func float32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// readAll returns every row of the activation file at path.
func readAll(t *testing.T, path string) (*Reader, []float32) {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	got := make([]float32, r.NumTokens()*r.NumNeurons())
	if err := r.ReadRows(0, r.NumTokens(), got); err != nil {
		t.Fatal(err)
	}
	return r, got
}

func sentencesOf(lens []int) [][]string {
	var s [][]string
	for i, n := range lens {
		toks := make([]string, n)
		for j := range toks {
			toks[j] = fmt.Sprintf("w%d.%d", i, j)
		}
		s = append(s, toks)
	}
	return s
}

// TestImportNPYWrittenByNumPy reads files that NumPy 1.24 wrote (np.save of
// v = k·0.37 − 5.1 for the k-th element, as float32, float64 and a 3-D
// float16 array of 2 layers).
func TestImportNPYWrittenByNumPy(t *testing.T) {
	want := func(n int, round func(float64) float32) []float32 {
		v := make([]float32, n)
		for k := range v {
			v[k] = round(float64(k)*0.37 - 5.1)
		}
		return v
	}
	f32 := func(x float64) float32 { return float32(x) }
	f16 := func(x float64) float32 { return kernels.HalfToFloat32(kernels.Float32ToHalf(float32(x))) }
	sents := sentencesOf([]int{3, 0, 4})
	for _, tc := range []struct {
		file   string
		layers int
		want   []float32
		dim    int
	}{
		{"numpy-f4-7x6.npy", 2, want(42, f32), 3},
		{"numpy-f8-7x6.npy", 0, want(42, f32), 6},
		{"numpy-f2-2x7x3.npy", 0, nil, 3},
	} {
		out := filepath.Join(t.TempDir(), "out.gact")
		if err := ImportNPY(filepath.Join("testdata", tc.file), sents, tc.layers, out, Meta{Model: "m"}, nil); err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		r, got := readAll(t, out)
		if tc.want == nil { // layers × tokens × dim: token t's row is layer 0's dims, then layer 1's
			src := want(42, f16)
			for tok := range 7 {
				for l := range 2 {
					tc.want = append(tc.want, src[(l*7+tok)*3:(l*7+tok+1)*3]...)
				}
			}
		}
		sameFloats(t, tc.file, got, tc.want)
		m := r.Meta()
		if m.Dim != tc.dim || m.NumNeurons() != 6 || m.Layers[0].Name != "layer0" || m.Model != "m" || r.NumSentences() != 3 {
			t.Fatalf("%s: meta %+v, %d sentences", tc.file, m, r.NumSentences())
		}
		if !slices.Equal(r.Tokens(2), sents[2]) {
			t.Fatalf("%s: sentence 2's tokens %q, want %q", tc.file, r.Tokens(2), sents[2])
		}
	}
}

// TestImportNPYRandom imports random arrays of every layout and element
// type, in every header version, and reads back exactly what was written.
func TestImportNPYRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	dir := t.TempDir()
	for trial := range 12 {
		lens := randomLens(rng, 1+rng.IntN(8), 9)
		sents := sentencesOf(lens)
		tokens := 0
		for _, n := range lens {
			tokens += n
		}
		layers, dim := 1+rng.IntN(3), 1+rng.IntN(5)
		vals := make([]float64, layers*tokens*dim)
		for i := range vals {
			vals[i] = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(5)-2))
		}
		threeD := trial%2 == 1
		descr := []string{"<f2", "<f4", "<f8"}[trial%3]
		var data []byte
		want := make([]float32, len(vals)) // row-major tokens × (layers·dim)
		for i, v := range vals {
			var got float32
			switch descr {
			case "<f2":
				h := kernels.Float32ToHalf(float32(v))
				data = binary.LittleEndian.AppendUint16(data, h)
				got = kernels.HalfToFloat32(h)
			case "<f4":
				data = binary.LittleEndian.AppendUint32(data, math.Float32bits(float32(v)))
				got = float32(v)
			case "<f8":
				data = binary.LittleEndian.AppendUint64(data, math.Float64bits(v))
				got = float32(v)
			}
			pos := i
			if threeD { // element i is (layer l, token tok, d)
				l, tok, d := i/(tokens*dim), i/dim%tokens, i%dim
				pos = tok*layers*dim + l*dim + d
			}
			want[pos] = got
		}
		shape := []int{tokens, layers * dim}
		if threeD {
			shape = []int{layers, tokens, dim}
		}
		path := filepath.Join(dir, fmt.Sprintf("a%d.npy", trial))
		if err := os.WriteFile(path, npyBytes(byte(1+trial%3), descr, false, shape, data), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, fmt.Sprintf("a%d.gact", trial))
		if err := ImportNPY(path, sents, layers, out, Meta{DType: Float32}, nil); err != nil {
			t.Fatalf("trial %d (%s, shape %v): %v", trial, descr, shape, err)
		}
		r, got := readAll(t, out)
		sameFloats(t, fmt.Sprintf("trial %d (%s, shape %v)", trial, descr, shape), got, want)
		if r.Meta().Dim != dim || len(r.Meta().Layers) != layers {
			t.Fatalf("trial %d: %d layers × %d, want %d × %d", trial, len(r.Meta().Layers), r.Meta().Dim, layers, dim)
		}
	}
}

// TestImportNPYFloat64ToHalf: float64 values a hair (2^-40 relative) above
// or below the midpoint of two adjacent halves, imported into a Float16
// file, become the nearer half, as NumPy's astype(float16) makes them;
// float32(x) would round them onto the midpoint, and half's ties to even
// would then pick the even one of the two.
func TestImportNPYFloat64ToHalf(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 2))
	const tokens, dim = 40, 7
	var data []byte
	want := make([]float32, tokens*dim)
	for i := range want {
		h := uint16(rng.IntN(0x7bfe)) // a finite half below the largest
		lo, hi := float64(kernels.HalfToFloat32(h)), float64(kernels.HalfToFloat32(h+1))
		x, near := (lo+hi)/2*(1-0x1p-40), h
		if i%2 == 1 {
			x, near = (lo+hi)/2*(1+0x1p-40), h+1
		}
		if rng.IntN(2) == 0 {
			x, near = -x, near|0x8000
		}
		data = binary.LittleEndian.AppendUint64(data, math.Float64bits(x))
		want[i] = kernels.HalfToFloat32(near)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ties.npy")
	if err := os.WriteFile(path, npyBytes(1, "<f8", false, []int{tokens, dim}, data), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "ties.gact")
	if err := ImportNPY(path, sentencesOf([]int{tokens}), 1, out, Meta{DType: Float16}, nil); err != nil {
		t.Fatal(err)
	}
	_, got := readAll(t, out)
	sameFloats(t, "float64 near half ties", got, want)
}

// TestImportNPYErrors: every defect is an error naming the file (and the
// row or field at fault), and nothing is written.
func TestImportNPYErrors(t *testing.T) {
	dir := t.TempDir()
	sents := sentencesOf([]int{2, 1})
	good := make([]float32, 3*4)
	for i := range good {
		good[i] = float32(i) - 5.5
	}
	nan := slices.Clone(good)
	nan[2*4+3] = float32(math.NaN())
	for _, tc := range []struct {
		name   string
		file   []byte
		layers int
		want   string
	}{
		{"not npy", []byte("PK\x03\x04 a zip file"), 0, "not a .npy file"},
		{"short", []byte("\x93NUM"), 0, "truncated"},
		{"version", append([]byte(npyMagic+"\x04\x00"), make([]byte, 60)...), 0, "version 4.0"},
		{"big-endian", npyBytes(1, ">f4", false, []int{3, 4}, float32Bytes(good)), 0, `element type ">f4"`},
		{"int", npyBytes(1, "<i8", false, []int{3, 4}, make([]byte, 96)), 0, `element type "<i8"`},
		{"fortran", npyBytes(1, "<f4", true, []int{3, 4}, float32Bytes(good)), 0, "Fortran"},
		{"1-D", npyBytes(1, "<f4", false, []int{12}, float32Bytes(good)), 0, "shape [12]"},
		{"tokens", npyBytes(1, "<f4", false, []int{4, 3}, float32Bytes(good)), 0, "4 tokens in the array (shape [4 3]), but the corpus has 3 tokens in 2 sentences"},
		{"truncated", npyBytes(1, "<f4", false, []int{3, 4}, float32Bytes(good)[:40]), 0, "needs 48 bytes of data; the file has 40"},
		{"appended", npyBytes(1, "<f4", false, []int{3, 4}, append(float32Bytes(good), 0)), 0, "the file has 49"},
		{"layers", npyBytes(1, "<f4", false, []int{3, 4}, float32Bytes(good)), 3, "4 neurons do not split into 3 equal layers"},
		{"3-D layers", npyBytes(1, "<f4", false, []int{2, 3, 2}, float32Bytes(good)), 3, "holds 2 layers"},
		{"no neurons", npyBytes(1, "<f4", false, []int{3, 0}, nil), 0, "holds no neurons"},
		{"huge", npyBytes(1, "<f8", false, []int{1 << 28, 16, 1 << 29}, nil), 0, "larger than any file"},
		{"huge tokens", npyBytes(1, "<f8", false, []int{3, 1<<31 - 1}, nil), 0, "needs 51539607528 bytes of data; the file has 0"},
		{"NaN", npyBytes(2, "<f4", false, []int{3, 4}, float32Bytes(nan)), 2, "array rows 2 to 2: sentence 1 token 0"},
		{"header", append([]byte(npyMagic+"\x01\x00\x10\x00"), "{'descr': '<f4' "...), 0, "no ',' or '}'"},
	} {
		in := filepath.Join(dir, tc.name+".npy")
		if err := os.WriteFile(in, tc.file, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, tc.name+".gact")
		err := ImportNPY(in, sents, tc.layers, out, Meta{}, nil)
		if err == nil || !strings.Contains(err.Error(), in) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming %s and saying %q", tc.name, err, in, tc.want)
		}
		if _, serr := os.Stat(out); !os.IsNotExist(serr) {
			t.Errorf("%s: %s exists after the error", tc.name, out)
		}
	}
}

// FuzzNPYHeader parses arbitrary preambles: an accepted one has a known
// element size, a shape, and a data offset within what was read.
func FuzzNPYHeader(f *testing.F) {
	f.Add(npyBytes(1, "<f4", false, []int{3, 4}, nil))
	f.Add(npyBytes(2, "<f2", false, []int{2, 3, 4}, nil))
	f.Add(npyBytes(3, "<f8", true, []int{5}, nil))
	f.Add([]byte(npyMagic + "\x01\x00\x20\x00{\"descr\":\"<f4\",\"shape\":(),}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseNPYHeader(bytes.NewReader(b))
		if err != nil {
			return
		}
		if h.elem != 2 && h.elem != 4 && h.elem != 8 || h.dataOffset > int64(len(b)) || h.shape == nil && h.dataOffset < 10 {
			t.Fatalf("accepted %q as %+v", b, h)
		}
		for _, d := range h.shape {
			if d < 0 {
				t.Fatalf("negative dimension in %+v", h)
			}
		}
	})
}

// TestImportNPYOutOfRange: a finite value beyond the range of the stored
// type is an error that gives the value and says so, naming the file, row
// and neuron, never one that calls it infinite or reports the float32 it
// was rounded to; nothing is written. Values that round into range import.
func TestImportNPYOutOfRange(t *testing.T) {
	dir := t.TempDir()
	f64 := func(v []float64) []byte {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
		return b
	}
	with := func(n, at int, x float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(i) - 5.5
		}
		v[at] = x
		return v
	}
	sents := sentencesOf([]int{2, 1})
	for _, c := range []struct {
		name  string
		file  []byte
		dtype DType
		want  string
	}{
		{"f8 1e300 to f32", npyBytes(1, "<f8", false, []int{3, 4}, f64(with(12, 5, 1e300))), Float32,
			"row 1, neuron 1 (layer layer0, d 1): 1e+300 is out of float32 range (±3.4028235e+38)"},
		{"f8 -1e39 to f32", npyBytes(1, "<f8", false, []int{3, 4}, f64(with(12, 11, -1e39))), 0,
			"row 2, neuron 3 (layer layer0, d 3): -1e+39 is out of float32 range"},
		{"f8 1e300 to f16", npyBytes(1, "<f8", false, []int{3, 4}, f64(with(12, 5, 1e300))), Float16,
			"row 1, neuron 1 (layer layer0, d 1): 1e+300 is out of float16 range (±65504"},
		{"f8 65520 to f16", npyBytes(1, "<f8", false, []int{3, 4}, f64(with(12, 0, 65520))), Float16,
			"row 0, neuron 0 (layer layer0, d 0): 65520 is out of float16 range"},
		{"f4 1e10 to f16", npyBytes(1, "<f4", false, []int{3, 4}, float32Bytes([]float32{0, 1, 2, 3, 4, 5, 6, -1e10, 8, 9, 10, 11})), Float16,
			"row 1, neuron 3 (layer layer1, d 1): -1e+10 is out of float16 range"},
		// 3-D: layer 1, token 2, d 0 is global neuron 2 of row 2.
		{"3-D f8 to f32", npyBytes(1, "<f8", false, []int{2, 3, 2}, f64(with(12, 10, 2e300))), Float32,
			"row 2, neuron 2 (layer layer1, d 0): 2e+300 is out of float32 range"},
	} {
		in := filepath.Join(dir, "range.npy")
		if err := os.WriteFile(in, c.file, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "range.gact")
		layers := 0
		if c.name == "f4 1e10 to f16" {
			layers = 2
		}
		err := ImportNPY(in, sents, layers, out, Meta{DType: c.dtype}, nil)
		if err == nil || !strings.Contains(err.Error(), in) || !strings.Contains(err.Error(), c.want) ||
			strings.Contains(err.Error(), "Inf") || strings.Contains(err.Error(), "3.4028235e+38,") {
			t.Errorf("%s: error %v, want one naming %s and saying %q", c.name, err, in, c.want)
		}
		if _, serr := os.Stat(out); !os.IsNotExist(serr) {
			t.Errorf("%s: %s exists after the error", c.name, out)
		}
	}
	// In range after rounding: just above MaxFloat32 (below its rounding
	// threshold) and just below half's rounding threshold 65520.
	for _, c := range []struct {
		x     float64
		dtype DType
		want  float32
	}{
		{math.MaxFloat32 * (1 + 0x1p-26), Float32, math.MaxFloat32},
		{-math.MaxFloat32 * (1 + 0x1p-26), Float32, -math.MaxFloat32},
		{65519.99, Float16, 65504},
		{-65504, Float16, -65504},
	} {
		in := filepath.Join(dir, "in.npy")
		v := with(12, 4, c.x)
		os.WriteFile(in, npyBytes(1, "<f8", false, []int{3, 4}, f64(v)), 0o644)
		out := filepath.Join(dir, fmt.Sprintf("in-%v.gact", c.x))
		if err := ImportNPY(in, sents, 1, out, Meta{DType: c.dtype}, nil); err != nil {
			t.Fatalf("%v into %s: %v", c.x, c.dtype, err)
		}
		if _, got := readAll(t, out); got[4] != c.want {
			t.Errorf("%v into %s: stored %v, want %v", c.x, c.dtype, got[4], c.want)
		}
	}
}

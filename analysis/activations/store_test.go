package activations

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/grainlab/grain/kernels"
)

// corpus is what a test wrote: tokens and float32 rows per sentence.
type corpus struct {
	tokens [][]string
	rows   [][]float32
}

// all returns the expected rows of the whole file, rounded through the
// stored element type.
func (c corpus) all(t DType) []float32 {
	var out []float32
	for _, r := range c.rows {
		out = append(out, r...)
	}
	if t == Float16 {
		for i, v := range out {
			out[i] = kernels.HalfToFloat32(kernels.Float32ToHalf(v))
		}
	}
	return out
}

func (c corpus) numTokens() int {
	n := 0
	for _, s := range c.tokens {
		n += len(s)
	}
	return n
}

func testMeta(layers, dim int, t DType) Meta {
	m := Meta{Model: "test-model", Dim: dim, DType: t, Corpus: "synthetic", Tool: "grain test"}
	for l := 0; l < layers; l++ {
		dir := Forward
		if l%2 == 1 {
			dir = Backward
		}
		m.Layers = append(m.Layers, Layer{Name: fmt.Sprintf("enc%d", l/2), Direction: dir})
	}
	return m
}

// randomCorpus makes sentences of the given lengths with values of mixed
// magnitudes (within half range) and tokens of varied text.
func randomCorpus(rng *rand.Rand, lens []int, neurons int) corpus {
	var c corpus
	words := []string{"the", "dog", "ran", ",", "É", "日本", "a b", "", "\"q\"", "x\\y", "\n"}
	for _, n := range lens {
		toks := make([]string, n)
		rows := make([]float32, n*neurons)
		for i := range toks {
			toks[i] = words[rng.IntN(len(words))]
		}
		for i := range rows {
			rows[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-4)))
		}
		c.tokens = append(c.tokens, toks)
		c.rows = append(c.rows, rows)
	}
	return c
}

func writeCorpus(t testing.TB, path string, meta Meta, c corpus) {
	t.Helper()
	w, err := Create(path, meta)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for i := range c.tokens {
		if err := w.AppendSentence(c.tokens[i], c.rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// openModes opens path memory-mapped (where supported) and with ReadAt.
func openModes(t testing.TB, path string) map[string]*Reader {
	t.Helper()
	out := map[string]*Reader{}
	for name, mm := range map[string]bool{"mmap": true, "readat": false} {
		r, err := open(path, mm)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() { r.Close() })
		out[name] = r
	}
	return out
}

func sameFloats(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: value %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range []struct {
		layers, dim, chunk int
		lens               []int
	}{
		{1, 1, 0, []int{1}},
		{2, 3, 4, []int{5, 0, 3, 1, 0, 9, 2}},  // odd N: float16 rows need padding
		{3, 5, 1, []int{2, 3}},                 // one row per chunk
		{4, 16, 7, nil},                        // the empty input set
		{2, 8, 0, []int{0, 0, 0}},              // only empty sentences
		{2, 33, 0, randomLens(rng, 60, 40)},    // default chunk, several chunks
		{2, 7, 13, randomLens(rng, 40, 25)},    // chunks straddle sentences
		{1, 300, 0, randomLens(rng, 20, 12)},   // wide rows
		{6, 4, 1024, randomLens(rng, 500, 20)}, // many sentences, one chunk
		{2, 2, 3, randomLens(rng, 5, 3)},       // tiny
	} {
		for _, dt := range []DType{Float32, Float16} {
			name := fmt.Sprintf("L%dxD%d/chunk%d/%d-sentences/%s", c.layers, c.dim, c.chunk, len(c.lens), dt)
			t.Run(name, func(t *testing.T) {
				meta := testMeta(c.layers, c.dim, dt)
				meta.ChunkRows = c.chunk
				n := c.layers * c.dim
				data := randomCorpus(rng, c.lens, n)
				path := filepath.Join(t.TempDir(), "acts.grain")
				writeCorpus(t, path, meta, data)
				for mode, r := range openModes(t, path) {
					checkReader(t, mode, r, meta, data, rng)
				}
			})
		}
	}
}

func randomLens(rng *rand.Rand, n, maxLen int) []int {
	lens := make([]int, n)
	for i := range lens {
		lens[i] = rng.IntN(maxLen + 1)
	}
	return lens
}

func checkReader(t *testing.T, mode string, r *Reader, meta Meta, data corpus, rng *rand.Rand) {
	t.Helper()
	n := meta.NumNeurons()
	T := data.numTokens()
	m := r.Meta()
	if m.Model != meta.Model || m.Corpus != meta.Corpus || m.Tool != meta.Tool || m.Dim != meta.Dim ||
		m.DType != meta.DType || !slices.Equal(m.Layers, meta.Layers) || m.NumLayers != len(meta.Layers) ||
		m.NumTokens != T || m.NumSentences != len(data.tokens) || !strings.HasPrefix(m.Checksum, "crc32c:") {
		t.Fatalf("%s: meta %+v, wrote %+v", mode, m, meta)
	}
	if meta.ChunkRows != 0 && m.ChunkRows != meta.ChunkRows {
		t.Fatalf("%s: chunk rows %d, want %d", mode, m.ChunkRows, meta.ChunkRows)
	}
	if r.NumTokens() != T || r.NumNeurons() != n || r.NumSentences() != len(data.tokens) {
		t.Fatalf("%s: %d tokens %d neurons %d sentences, want %d %d %d", mode,
			r.NumTokens(), r.NumNeurons(), r.NumSentences(), T, n, len(data.tokens))
	}
	row := 0
	for i, toks := range data.tokens {
		s, e := r.SentenceRange(i)
		if s != row || e != row+len(toks) {
			t.Fatalf("%s: sentence %d = [%d, %d), want [%d, %d)", mode, i, s, e, row, row+len(toks))
		}
		if got := r.Tokens(i); !slices.Equal(got, toks) {
			t.Fatalf("%s: sentence %d tokens %q, want %q", mode, i, got, toks)
		}
		for j := range toks {
			if r.Token(row+j) != toks[j] || r.SentenceOf(row+j) != i {
				t.Fatalf("%s: row %d: token %q sentence %d, want %q %d", mode, row+j, r.Token(row+j), r.SentenceOf(row+j), toks[j], i)
			}
		}
		row = e
	}
	want := data.all(meta.DType)
	got := make([]float32, T*n)
	if err := r.ReadRows(0, T, got); err != nil {
		t.Fatalf("%s: %v", mode, err)
	}
	sameFloats(t, mode+" full read", got, want)
	if meta.DType == Float16 {
		exact := data.all(Float32)
		for i := range got {
			if d := math.Abs(float64(got[i] - exact[i])); d > math.Abs(float64(exact[i]))/2048+math.Ldexp(1, -25) {
				t.Fatalf("%s: value %d = %v, wrote %v: beyond half precision", mode, i, got[i], exact[i])
			}
		}
	}
	for k := 0; k < 20 && T > 0; k++ {
		start := rng.IntN(T)
		cnt := rng.IntN(T - start + 1)
		buf := make([]float32, cnt*n)
		if err := r.ReadRows(start, cnt, buf); err != nil {
			t.Fatalf("%s: ReadRows(%d, %d): %v", mode, start, cnt, err)
		}
		sameFloats(t, fmt.Sprintf("%s ReadRows(%d, %d)", mode, start, cnt), buf, want[start*n:(start+cnt)*n])

		cols := make([]int, rng.IntN(2*n+1))
		for j := range cols {
			cols[j] = rng.IntN(n)
		}
		if k%2 == 1 { // runs of consecutive columns: the second half, then the first
			cols = cols[:0]
			for j := range n {
				cols = append(cols, (j+n/2)%n)
			}
		}
		gbuf := make([]float32, cnt*len(cols))
		if err := r.ReadRowsColumns(start, cnt, cols, gbuf); err != nil {
			t.Fatalf("%s: ReadRowsColumns: %v", mode, err)
		}
		for i := 0; i < cnt; i++ {
			for j, c := range cols {
				if math.Float32bits(gbuf[i*len(cols)+j]) != math.Float32bits(want[(start+i)*n+c]) {
					t.Fatalf("%s: gather row %d col %d = %v, want %v", mode, start+i, c, gbuf[i*len(cols)+j], want[(start+i)*n+c])
				}
			}
		}
	}
	for _, rg := range [][2]int{{0, T}, {T / 3, T / 2}, {T, 0}} {
		v, err := r.ViewRows(rg[0], rg[1])
		if err != nil {
			t.Fatalf("%s: ViewRows(%d, %d): %v", mode, rg[0], rg[1], err)
		}
		sameFloats(t, fmt.Sprintf("%s ViewRows(%d, %d)", mode, rg[0], rg[1]), v, want[rg[0]*n:(rg[0]+rg[1])*n])
	}
	if viewable := strings.HasSuffix(mode, "mmap") && meta.DType == Float32 && nativeLittle && runtime.GOOS == "linux"; r.Viewable() != viewable {
		t.Fatalf("%s %s: Viewable() = %v", mode, meta.DType, r.Viewable())
	}
	for _, block := range []int{1, 3, m.ChunkRows, 2 * m.ChunkRows, 1000} {
		var streamed []float32
		next := 0
		err := r.Blocks(block, func(start, cnt int, rows []float32) error {
			if start != next || cnt < 1 || cnt > block || len(rows) != cnt*n {
				return fmt.Errorf("block at %d of %d rows (%d values), want start %d", start, cnt, len(rows), next)
			}
			next += cnt
			streamed = append(streamed, rows...)
			return nil
		})
		if err != nil {
			t.Fatalf("%s: Blocks(%d): %v", mode, block, err)
		}
		sameFloats(t, fmt.Sprintf("%s Blocks(%d)", mode, block), streamed, want)
	}
	if cols, err := m.Columns(LayerFilter{Direction: Backward}); err == nil {
		var streamed []float32
		if err := r.BlocksColumns(5, cols, func(_, _ int, rows []float32) error {
			streamed = append(streamed, rows...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var wantCols []float32
		for i := 0; i < T; i++ {
			for _, c := range cols {
				wantCols = append(wantCols, want[i*n+c])
			}
		}
		sameFloats(t, mode+" BlocksColumns(backward)", streamed, wantCols)
	}
	if err := r.Verify(); err != nil {
		t.Fatalf("%s: Verify: %v", mode, err)
	}
}

func TestBlocksStopsOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.grain")
	writeCorpus(t, path, testMeta(1, 2, Float32), randomCorpus(rand.New(rand.NewPCG(1, 1)), []int{4, 4, 4}, 2))
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stop := errors.New("stop")
	calls := 0
	if err := r.Blocks(2, func(int, int, []float32) error { calls++; return stop }); err != stop || calls != 1 {
		t.Fatalf("Blocks = %v after %d calls, want stop after 1", err, calls)
	}
	if err := r.Blocks(0, func(int, int, []float32) error { return nil }); err == nil {
		t.Fatal("Blocks(0) succeeded")
	}
}

// smallFile writes a small float16 file with an odd row width (so it has
// data padding), several chunks and a few sentences, and returns its bytes.
func smallFile(t *testing.T, dir string) (string, []byte, corpus) {
	t.Helper()
	meta := testMeta(1, 3, Float16)
	meta.ChunkRows = 2
	data := randomCorpus(rand.New(rand.NewPCG(5, 6)), []int{2, 0, 3}, 3)
	path := filepath.Join(dir, "small.grain")
	writeCorpus(t, path, meta, data)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b, data
}

func TestTruncatedAtEveryCut(t *testing.T) {
	dir := t.TempDir()
	_, whole, _ := smallFile(t, dir)
	cut := filepath.Join(dir, "cut.grain")
	for n := 0; n < len(whole); n++ {
		if err := os.WriteFile(cut, whole[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		for _, mm := range []bool{true, false} {
			r, err := open(cut, mm)
			if err == nil {
				r.Close()
				t.Fatalf("cut at %d of %d bytes: Open succeeded", n, len(whole))
			}
			if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), cut) {
				t.Fatalf("cut at %d: error %q does not say truncated and name the file", n, err)
			}
		}
	}
}

func TestEveryFlippedByteIsCaught(t *testing.T) {
	dir := t.TempDir()
	_, whole, data := smallFile(t, dir)
	want := data.all(Float16)
	bad := filepath.Join(dir, "bad.grain")
	for i := range whole {
		b := slices.Clone(whole)
		b[i] ^= 0x10
		if err := os.WriteFile(bad, b, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, mm := range []bool{true, false} {
			r, err := open(bad, mm)
			if err != nil {
				continue // caught at Open
			}
			got := make([]float32, len(want))
			rerr := r.ReadRows(0, r.NumTokens(), got)
			verr := r.Verify()
			r.Close()
			if rerr == nil && !slices.Equal(got, want) {
				t.Fatalf("byte %d flipped: ReadRows returned wrong data without error", i)
			}
			if verr == nil {
				t.Fatalf("byte %d flipped: Verify passed", i)
			}
		}
	}
}

func TestCorruptChunkFailsItsReads(t *testing.T) {
	dir := t.TempDir()
	meta := testMeta(2, 4, Float32)
	meta.ChunkRows = 3
	data := randomCorpus(rand.New(rand.NewPCG(9, 9)), []int{4, 4, 4}, 8)
	path := filepath.Join(dir, "c.grain")
	writeCorpus(t, path, meta, data)
	b, _ := os.ReadFile(path)
	b[headerSize+4*32+5] ^= 1 // row 4: chunk 1 = rows [3, 6)
	os.WriteFile(path, b, 0o644)
	for mode, r := range openModes(t, path) {
		buf := make([]float32, 12*8)
		err := r.ReadRows(5, 1, buf)
		if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "rows [3, 6)") {
			t.Fatalf("%s: ReadRows over the corrupt chunk: %v", mode, err)
		}
		if err := r.ReadRowsColumns(2, 2, []int{0}, buf); !errors.Is(err, ErrChecksum) {
			t.Fatalf("%s: ReadRowsColumns over the corrupt chunk: %v", mode, err)
		}
		if err := r.Blocks(6, func(int, int, []float32) error { return nil }); !errors.Is(err, ErrChecksum) {
			t.Fatalf("%s: Blocks: %v", mode, err)
		}
		if _, err := r.ViewRows(4, 1); !errors.Is(err, ErrChecksum) {
			t.Fatalf("%s: ViewRows: %v", mode, err)
		}
		for _, rng := range [][2]int{{0, 3}, {6, 6}} {
			if err := r.ReadRows(rng[0], rng[1], buf); err != nil {
				t.Fatalf("%s: ReadRows(%d, %d) of intact chunks: %v", mode, rng[0], rng[1], err)
			}
		}
		err = r.Verify()
		if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "rows [3, 6)") {
			t.Fatalf("%s: Verify: %v", mode, err)
		}
	}
}

// TestFirstNonFinite puts each non-finite pattern at every position of
// buffers longer and shorter than the scan's 64-byte stride, among the
// largest finite values of either sign.
func TestFirstNonFinite(t *testing.T) {
	for _, c := range []struct {
		dt     DType
		finite []uint32
		bad    []uint32
	}{
		{Float32, []uint32{0x7f7fffff, 0xff7fffff, 0, 0x80000000, 1}, []uint32{0x7f800000, 0xff800000, 0x7fc00000, 0xffffffff, 0x7f800001}},
		{Float16, []uint32{0x7bff, 0xfbff, 0, 0x8000, 1}, []uint32{0x7c00, 0xfc00, 0x7e00, 0xffff, 0x7c01}},
	} {
		e := c.dt.Size()
		put := func(b []byte, i int, v uint32) {
			if e == 4 {
				binary.LittleEndian.PutUint32(b[4*i:], v)
			} else {
				binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
			}
		}
		for n := 0; n <= 70; n++ {
			b := make([]byte, n*e)
			for i := range n {
				put(b, i, c.finite[i%len(c.finite)])
			}
			if got := c.dt.firstNonFinite(b); got != -1 {
				t.Fatalf("%s: %d finite values: firstNonFinite = %d", c.dt, n, got)
			}
			for p := range n {
				for _, v := range c.bad {
					put(b, p, v)
					if got := c.dt.firstNonFinite(b); got != p {
						t.Fatalf("%s: %#x at %d of %d: firstNonFinite = %d", c.dt, v, p, n, got)
					}
				}
				put(b, p, c.finite[p%len(c.finite)])
			}
		}
	}
}

func TestNonFiniteRejected(t *testing.T) {
	for _, dt := range []DType{Float32, Float16} {
		path := filepath.Join(t.TempDir(), "nf.grain")
		w, err := Create(path, testMeta(2, 2, dt))
		if err != nil {
			t.Fatal(err)
		}
		good := []float32{1, 2, 3, 4}
		if err := w.AppendSentence([]string{"ok"}, good); err != nil {
			t.Fatal(err)
		}
		bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
		if dt == Float16 {
			bad = append(bad, 70000, -1e30)
		}
		for _, v := range bad {
			rows := []float32{0, 0, 0, 0, 5, 6, 7, 8}
			rows[6] = v
			err := w.AppendSentence([]string{"a", "bee"}, rows)
			if err == nil {
				t.Fatalf("%s: value %v accepted", dt, v)
			}
			for _, s := range []string{"sentence 1", `token 1 ("bee")`, "neuron 2", "enc0/backward"} {
				if !strings.Contains(err.Error(), s) {
					t.Fatalf("%s: error %q does not contain %q", dt, err, s)
				}
			}
		}
		if err := w.AppendSentence([]string{"fine"}, []float32{-1, 0, 65504, 1e-9}); err != nil {
			t.Fatalf("writer unusable after a rejected sentence: %v", err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if r.NumSentences() != 2 || r.NumTokens() != 2 || r.Tokens(1)[0] != "fine" {
			t.Fatalf("%s: file has %d sentences %d tokens", dt, r.NumSentences(), r.NumTokens())
		}
		r.Close()
	}
}

// plantValue overwrites element g of row in the file at path with bits (a
// float32, or a float16 in the low bits, as the file stores) and rewrites
// every checksum to match: a file that only a finiteness check can fault,
// as another tool might write it.
func plantValue(t *testing.T, path string, row, g int, bits uint32) {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	e, rb, cr, rows, old := int64(r.dtype.Size()), r.rowBytes, r.chunkRows, r.rows, r.meta.Checksum
	crcs := r.footerOff + 8*int64(r.sentences+1) + 8*int64(r.rows+1)
	r.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if off := headerSize + int64(row)*rb + int64(g)*e; e == 4 {
		le.PutUint32(b[off:], bits)
	} else {
		le.PutUint16(b[off:], uint16(bits))
	}
	c := row / cr
	lo, hi := int64(c*cr), int64(min(rows, (c+1)*cr))
	le.PutUint32(b[crcs+4*int64(c):], crc32.Checksum(b[headerSize+lo*rb:headerSize+hi*rb], castagnoli))
	copy(b[bytes.LastIndex(b, []byte(old)):], checksumString(crc32.Checksum(b[headerSize:headerSize+int64(rows)*rb], castagnoli)))
	fixChecksums(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestNonFiniteInFileIsReported plants a NaN and a later +Inf in files
// whose checksums are valid: Verify and ExportNeuroXJSON report the first
// one by file, row, sentence, token and neuron, and the export stops before
// writing it (whatever it wrote is valid JSON).
func TestNonFiniteInFileIsReported(t *testing.T) {
	for _, dt := range []DType{Float32, Float16} {
		nan, inf := uint32(0x7fc00000), uint32(0x7f800000)
		if dt == Float16 {
			nan, inf = 0x7e00, 0x7c00
		}
		path := filepath.Join(t.TempDir(), "nf.grain")
		meta := testMeta(2, 2, dt)
		meta.ChunkRows = 2
		writeCorpus(t, path, meta, corpus{
			tokens: [][]string{{"a", "b"}, {"c", "dee", "e"}},
			rows:   [][]float32{make([]float32, 8), make([]float32, 12)},
		})
		plantValue(t, path, 3, 2, nan)
		plantValue(t, path, 4, 0, inf)
		for mode, r := range openModes(t, path) {
			what := dt.String() + " " + mode
			if err := r.ReadRows(0, r.NumTokens(), make([]float32, 20)); err != nil {
				t.Fatalf("%s: the checksums are not valid: %v", what, err)
			}
			err := r.Verify()
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("%s: Verify = %v, want ErrFormat", what, err)
			}
			for _, s := range []string{path, "row 3", `sentence 1 token 1 ("dee")`, "neuron 2 (layer enc0/backward, d 0) is NaN"} {
				if !strings.Contains(err.Error(), s) {
					t.Fatalf("%s: Verify error %q does not contain %q", what, err, s)
				}
			}
			var buf bytes.Buffer
			err = ExportNeuroXJSON(r, &buf, nil)
			if err == nil {
				t.Fatalf("%s: export of a NaN succeeded", what)
			}
			for _, s := range []string{path, `sentence 1 token 1 ("dee")`, "neuron 2 (layer enc0/backward, d 0) is NaN"} {
				if !strings.Contains(err.Error(), s) {
					t.Fatalf("%s: export error %q does not contain %q", what, err, s)
				}
			}
			for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
				if line != "" && !json.Valid([]byte(line)) {
					t.Fatalf("%s: export wrote invalid JSON %q before failing", what, line)
				}
			}
		}
	}
}

func TestAppendErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.grain")
	w, err := Create(path, testMeta(2, 3, Float32))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, c := range []struct {
		tokens []string
		rows   []float32
		want   string
	}{
		{[]string{"a"}, make([]float32, 5), "5 values for 1 tokens, want 6"},
		{[]string{"a", "b"}, make([]float32, 6), "6 values for 2 tokens, want 12"},
		{nil, make([]float32, 1), "1 values for 0 tokens, want 0"},
		{[]string{"\xff"}, make([]float32, 6), "not valid UTF-8"},
	} {
		if err := w.AppendSentence(c.tokens, c.rows); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("AppendSentence(%q, %d values) = %v, want %q", c.tokens, len(c.rows), err, c.want)
		}
	}
	if w.NumSentences() != 0 || w.NumTokens() != 0 {
		t.Fatal("rejected sentences were counted")
	}
}

func TestCreateErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		meta Meta
		want string
	}{
		{Meta{Dim: 4}, "no layers"},
		{Meta{Layers: []Layer{{Name: "a"}}}, "dim 0"},
		{Meta{Layers: []Layer{{Name: "a"}}, Dim: 2, NumLayers: 2}, "num_layers 2 but 1 layers"},
		{Meta{Layers: []Layer{{Name: "a"}, {Name: "a"}}, Dim: 2}, "duplicate layer a"},
		{Meta{Layers: []Layer{{Name: "a", Direction: "sideways"}}, Dim: 2}, "unknown direction"},
		{Meta{Layers: []Layer{{Name: ""}}, Dim: 2}, "name must be non-empty"},
		{Meta{Layers: []Layer{{Name: "a"}}, Dim: 2, DType: 9}, "invalid dtype"},
		{Meta{Layers: []Layer{{Name: "a"}}, Dim: 2, ChunkRows: -1}, "chunk_rows -1"},
		{Meta{Layers: []Layer{{Name: "a"}, {Name: "b"}}, Dim: 1 << 28}, "too many"},
		{Meta{Layers: []Layer{{Name: "a"}}, Dim: 2, Masked: []int{3, 1}}, "masked neuron 1 (entry 1): want distinct indices ≥ 0 in ascending order"},
		{Meta{Layers: []Layer{{Name: "a"}}, Dim: 2, Masked: []int{-1}}, "masked neuron -1 (entry 0)"},
		{Meta{Layers: []Layer{{Name: "a"}}, Dim: 2, Masked: []int{2, 2}}, "masked neuron 2 (entry 1)"},
	} {
		path := filepath.Join(dir, "x.grain")
		if _, err := Create(path, c.meta); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Create(%+v) = %v, want %q", c.meta, err, c.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("failed Creates left %d files", len(ents))
	}
	// A bidirectional layer is two layers with one name.
	ok := Meta{Layers: []Layer{{"enc0", Forward}, {"enc0", Backward}}, Dim: 2}
	w, err := Create(filepath.Join(dir, "ok.grain"), ok)
	if err != nil {
		t.Fatal(err)
	}
	w.Abort()
}

func TestUnclosedWriterLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "acts.grain")
	w, err := Create(path, testMeta(1, 4, Float32))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if err := w.AppendSentence([]string{"a", "b"}, make([]float32, 8)); err != nil {
			t.Fatal(err)
		}
	}
	// The process "crashes" here: Close is never called.
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("destination exists before Close: %v", err)
	}
	if _, err := Open(path); err == nil {
		t.Fatal("Open of an unclosed file succeeded")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			t.Fatalf("visible file %s before Close", e.Name())
		}
	}
	w.Abort()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("Abort left %d files", len(ents))
	}
	if err := w.AppendSentence(nil, nil); err == nil {
		t.Fatal("AppendSentence after Abort succeeded")
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close after Abort succeeded")
	}
}

func TestReadArgumentErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.grain")
	writeCorpus(t, path, testMeta(1, 2, Float32), randomCorpus(rand.New(rand.NewPCG(1, 3)), []int{3, 2}, 2))
	for mode, r := range openModes(t, path) {
		buf := make([]float32, 100)
		for _, c := range []struct {
			err  error
			want string
		}{
			{r.ReadRows(-1, 1, buf), "out of range"},
			{r.ReadRows(4, 2, buf), "rows [4, 6) out of range [0, 5)"},
			{r.ReadRows(0, 3, buf[:5]), "dst has 5 values"},
			{r.ReadRowsColumns(0, 1, []int{2}, buf), "column 2"},
			{r.ReadRowsColumns(0, 1, []int{-1}, buf), "column -1"},
		} {
			if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
				t.Errorf("%s: error %v, want %q", mode, c.err, c.want)
			}
		}
		if err := r.ReadRows(5, 0, nil); err != nil {
			t.Errorf("%s: empty read at the end: %v", mode, err)
		}
		r.Close()
		if err := r.ReadRows(0, 1, buf); err == nil {
			t.Errorf("%s: read after Close succeeded", mode)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("Open of a missing file succeeded")
	}
	notGrain := filepath.Join(dir, "x.txt")
	os.WriteFile(notGrain, []byte("hello, this is a text file, not activations at all; long enough to have a header and a trailer of sixty-four bytes each."), 0o644)
	if _, err := Open(notGrain); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "not a grain activation file") {
		t.Fatalf("Open(text file) = %v", err)
	}
	os.WriteFile(notGrain, []byte("hi"), 0o644)
	if _, err := Open(notGrain); !errors.Is(err, ErrFormat) {
		t.Fatalf("Open(short text file) = %v", err)
	}
	path, whole, _ := smallFile(t, dir)
	// A newer format version (its header checksum intact) is refused by name.
	b := slices.Clone(whole)
	b[8] = 2
	binary.LittleEndian.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
	os.WriteFile(path, b, 0o644)
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "format version 2") {
		t.Fatalf("Open(version 2) = %v", err)
	}
	// Trailing garbage after a complete file.
	os.WriteFile(path, append(slices.Clone(whole), 0), 0o644)
	if _, err := Open(path); err == nil {
		t.Fatal("Open with a trailing byte succeeded")
	}
}

func TestLayerHelpers(t *testing.T) {
	m := Meta{Layers: []Layer{{"emb", NoDirection}, {"enc1", Forward}, {"enc1", Backward}, {"enc2", Forward}, {"enc2", Backward}}, NumLayers: 5, Dim: 3}
	if lo, hi := m.LayerRange(2); lo != 6 || hi != 9 {
		t.Fatalf("LayerRange(2) = %d, %d", lo, hi)
	}
	if l, d := m.NeuronLayer(10); l != 3 || d != 1 {
		t.Fatalf("NeuronLayer(10) = %d, %d", l, d)
	}
	if s := m.NeuronName(8); s != "enc1/backward:2" {
		t.Fatalf("NeuronName(8) = %q", s)
	}
	if s := m.NeuronName(1); s != "emb:1" {
		t.Fatalf("NeuronName(1) = %q", s)
	}
	for _, c := range []struct {
		f    LayerFilter
		want []int
	}{
		{LayerFilter{}, []int{0, 1, 2, 3, 4}},
		{LayerFilter{Names: []string{"enc1"}, Direction: Forward}, []int{1}},
		{LayerFilter{Names: []string{"enc2", "emb"}}, []int{0, 3, 4}},
		{LayerFilter{Direction: Backward}, []int{2, 4}},
	} {
		got, err := m.SelectLayers(c.f)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("SelectLayers(%+v) = %v, %v; want %v", c.f, got, err, c.want)
		}
	}
	cols, err := m.Columns(LayerFilter{Names: []string{"enc1"}, Direction: Forward})
	if err != nil || !slices.Equal(cols, []int{3, 4, 5}) {
		t.Fatalf("Columns(enc1 forward) = %v, %v", cols, err)
	}
	for _, f := range []LayerFilter{
		{Names: []string{"enc9"}},
		{Names: []string{"emb"}, Direction: Forward},
		{Direction: "up"},
	} {
		if _, err := m.Columns(f); err == nil {
			t.Errorf("Columns(%+v) succeeded", f)
		}
	}
}

func TestConcurrentReads(t *testing.T) {
	meta := testMeta(2, 6, Float16)
	meta.ChunkRows = 5
	rng := rand.New(rand.NewPCG(21, 22))
	data := randomCorpus(rng, randomLens(rng, 50, 10), 12)
	path := filepath.Join(t.TempDir(), "cc.grain")
	writeCorpus(t, path, meta, data)
	want := data.all(Float16)
	T := data.numTokens()
	for mode, r := range openModes(t, path) {
		errs := make(chan error, 4)
		for g := 0; g < 4; g++ {
			go func(seed uint64) {
				rng := rand.New(rand.NewPCG(seed, 0))
				buf := make([]float32, T*12)
				for k := 0; k < 200; k++ {
					start := rng.IntN(T)
					n := rng.IntN(T-start) + 1
					if err := r.ReadRows(start, n, buf); err != nil {
						errs <- err
						return
					}
					if !slices.Equal(buf[:n*12], want[start*12:(start+n)*12]) {
						errs <- fmt.Errorf("%s: ReadRows(%d, %d) returned wrong values", mode, start, n)
						return
					}
				}
				errs <- nil
			}(uint64(g))
		}
		for g := 0; g < 4; g++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestUnalignedAndPanics covers the byte-by-byte decoding used when rows are
// not 4-byte aligned, and the panics of index methods.
func TestUnalignedAndPanics(t *testing.T) {
	dir := t.TempDir()
	meta := testMeta(2, 3, Float32)
	data := randomCorpus(rand.New(rand.NewPCG(4, 4)), []int{3, 0, 2}, 6)
	path := filepath.Join(dir, "u.grain")
	writeCorpus(t, path, meta, data)
	b, _ := os.ReadFile(path)
	shifted := make([]byte, len(b)+1)
	copy(shifted[1:], b)
	r, err := newMemReader("shifted", shifted[1:], true)
	if err != nil {
		t.Fatal(err)
	}
	if r.Viewable() {
		t.Fatal("an unaligned mapping is Viewable")
	}
	got := make([]float32, 5*6)
	if err := r.ReadRows(0, 5, got); err != nil {
		t.Fatal(err)
	}
	sameFloats(t, "unaligned ReadRows", got, data.all(Float32))
	if err := r.ReadRowsColumns(0, 5, []int{5, 0}, got); err != nil || got[0] != data.rows[0][5] || got[1] != data.rows[0][0] {
		t.Fatalf("unaligned ReadRowsColumns: %v %v", got[:2], err)
	}
	for name, f := range map[string]func(){
		"SentenceRange(3)": func() { r.SentenceRange(3) },
		"SentenceOf(5)":    func() { r.SentenceOf(5) },
		"Token(-1)":        func() { r.Token(-1) },
		"LayerRange(2)":    func() { r.meta.LayerRange(2) },
		"NeuronLayer(6)":   func() { r.meta.NeuronLayer(6) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
	r.Close()
	defer func() {
		if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "closed Reader") {
			t.Fatalf("Tokens after Close: panic %v", p)
		}
	}()
	r.Tokens(0)
}

// TestAppendedBytesAreNamed: bytes after a complete file are reported as
// appended (ErrFormat with their count), not as a file cut short.
func TestAppendedBytesAreNamed(t *testing.T) {
	dir := t.TempDir()
	_, whole, _ := smallFile(t, dir)
	longer := filepath.Join(dir, "longer.grain")
	for _, extra := range []int{1, 10, 5000} {
		if err := os.WriteFile(longer, append(append([]byte(nil), whole...), make([]byte, extra)...), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, mm := range []bool{true, false} {
			r, err := open(longer, mm)
			if err == nil {
				r.Close()
				t.Fatalf("%d bytes appended: Open succeeded", extra)
			}
			if want := fmt.Sprintf("%d bytes follow the end trailer", extra); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), longer) {
				t.Fatalf("%d bytes appended: error %q, want ErrFormat saying %q and naming the file", extra, err, want)
			}
		}
	}
}

// TestInvalidUTF8TokenRefused: a file whose token bytes are not UTF-8 (the
// Writer never writes one; checksums repaired so that only this is wrong)
// fails to open, naming the row.
func TestInvalidUTF8TokenRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.gact")
	writeCorpus(t, path, testMeta(1, 3, Float32), corpus{tokens: [][]string{{"the", "qzqz"}}, rows: [][]float32{{1, 2, 3, 4, 5, 6}}})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("qzqz"))
	if i < 0 || bytes.Count(b, []byte("qzqz")) != 1 {
		t.Fatal("token bytes not found once")
	}
	b[i+1] = 0xff
	fixChecksums(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), `the token of row 1 ("q\xffqz") is not valid UTF-8`) {
		t.Fatalf("Open: %v", err)
	}
}

// TestCorruptVersionIsNotANewerFormat: a bit flipped in the format-version
// field (such as byte 10, making version 65537) is a corrupt header, caught
// by its checksum, never taken for a newer format.
func TestCorruptVersionIsNotANewerFormat(t *testing.T) {
	dir := t.TempDir()
	path, whole, _ := smallFile(t, dir)
	for bit := range 32 {
		b := slices.Clone(whole)
		b[8+bit/8] ^= 1 << (bit % 8)
		os.WriteFile(path, b, 0o644)
		for _, mm := range []bool{true, false} {
			_, err := open(path, mm)
			if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "corrupt header") || !strings.Contains(err.Error(), path) ||
				strings.Contains(err.Error(), "version") {
				t.Fatalf("version field bit %d flipped: error %v, want a corrupt header naming the file, not a version", bit, err)
			}
		}
	}
	os.WriteFile(path, whole, 0o644)
	if r, err := Open(path); err != nil {
		t.Fatalf("the intact file: %v", err)
	} else {
		r.Close()
	}
}

// TestCorruptEndMagic: a complete file whose end magic alone is damaged is
// a corrupt trailer (ErrFormat), not a truncated file; one cut short is
// still truncated (TestTruncatedAtEveryCut).
func TestCorruptEndMagic(t *testing.T) {
	dir := t.TempDir()
	path, whole, _ := smallFile(t, dir)
	for i := len(whole) - 8; i < len(whole); i++ {
		b := slices.Clone(whole)
		b[i] ^= 0x10
		os.WriteFile(path, b, 0o644)
		for _, mm := range []bool{true, false} {
			_, err := open(path, mm)
			if !errors.Is(err, ErrFormat) || errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "corrupt trailer: bad end magic") ||
				!strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "truncated") {
				t.Fatalf("byte %d of the end magic flipped: error %v, want a corrupt trailer naming the file", i, err)
			}
		}
	}
	// The trailer damaged beyond its magic: its checksum fails, and the end
	// may as well be missing; so is a file cut at its last byte.
	b := slices.Clone(whole)
	b[len(b)-1] ^= 0x10
	b[len(b)-20] ^= 0x10
	os.WriteFile(path, b, 0o644)
	if _, err := Open(path); !errors.Is(err, ErrTruncated) {
		t.Fatalf("trailer and end magic damaged: error %v, want ErrTruncated", err)
	}
	os.WriteFile(path, whole[:len(whole)-1], 0o644)
	if _, err := Open(path); !errors.Is(err, ErrTruncated) || strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("cut by one byte: error %v, want ErrTruncated", err)
	}
}

package activations

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/grainlab/grain/engine/progress"
)

// newMemReader reads a file held in memory: through ReaderAt, or as if
// memory-mapped when mapped is set. Fuzzing uses it to avoid disk.
func newMemReader(name string, data []byte, mapped bool) (*Reader, error) {
	r := &Reader{path: name, ra: bytes.NewReader(data), size: int64(len(data))}
	if mapped {
		r.mm = data
	}
	if err := r.init(); err != nil {
		return nil, fmt.Errorf("activations: open %s: %w", name, err)
	}
	return r, nil
}

// fixChecksums recomputes the header, footer and trailer CRCs of b where its
// structure allows, so that fuzzing reaches the checks behind them.
func fixChecksums(b []byte) {
	if len(b) < headerSize+trailerSize {
		return
	}
	le := binary.LittleEndian
	le.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
	t := b[len(b)-trailerSize:]
	if off := le.Uint64(t[0:]); off <= uint64(len(b)-trailerSize) {
		le.PutUint32(t[48:], crc32.Checksum(b[off:len(b)-trailerSize], castagnoli))
	}
	le.PutUint32(t[52:], crc32.Checksum(t[:52], castagnoli))
}

// FuzzOpen opens arbitrary bytes as an activation file and reads everything
// in it: it must fail or succeed, never panic or allocate beyond the file.
// With fix set, the checksums are repaired first so that mutations reach the
// structural checks.
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	for i, c := range []struct {
		layers, dim, chunk int
		dt                 DType
		lens               []int
	}{
		{1, 3, 2, Float16, []int{2, 0, 3}},
		{2, 2, 1, Float32, []int{1, 2}},
		{1, 1, 0, Float32, nil},
	} {
		meta := testMeta(c.layers, c.dim, c.dt)
		meta.ChunkRows = c.chunk
		path := filepath.Join(dir, "seed"+string(rune('0'+i)))
		writeCorpus(f, path, meta, randomCorpus(rng, c.lens, c.layers*c.dim))
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Add([]byte("GRAINACT"), false)
	f.Fuzz(func(t *testing.T, data []byte, fix bool) {
		if fix {
			data = bytes.Clone(data)
			fixChecksums(data)
		}
		for _, mapped := range []bool{true, false} {
			r, err := newMemReader("fuzz", data, mapped)
			if err != nil {
				continue
			}
			n := r.NumNeurons()
			buf := make([]float32, 4*n)
			for start := 0; start < r.NumTokens(); start += 4 {
				k := min(4, r.NumTokens()-start)
				_ = r.ReadRows(start, k, buf)
				_ = r.ReadRowsColumns(start, k, []int{0, n - 1}, buf)
				_ = r.Token(start)
				_ = r.SentenceOf(start)
			}
			for i := 0; i < r.NumSentences(); i++ {
				r.SentenceRange(i)
				r.Tokens(i)
			}
			_ = r.Blocks(3, func(int, int, []float32) error { return nil })
			_, _ = r.ViewRows(0, r.NumTokens())
			_ = r.Verify()
			var out bytes.Buffer
			_ = ExportNeuroXJSON(r, &out, nil)
			r.Close()
		}
	})
}

// FuzzImportNeuroXJSON imports arbitrary text as a NeuroX JSON file: it
// must fail or produce a file that opens, verifies and exports.
func FuzzImportNeuroXJSON(f *testing.F) {
	f.Add([]byte(`{"linex_index": 0, "features": [{"token": "a", "layers": [{"index": 0, "values": [1, 2]}, {"index": 1, "values": [3, 4]}]}]}` + "\n" +
		`{"linex_index": 1, "features": []}` + "\n"))
	f.Add([]byte(`{"linex_index": 0, "features": [{"token": "a", "layers": [{"index": 0, "values": [1.5e-8]}]}, {"token": "b", "layers": [{"index": 0, "values": [null]}]}]}`))
	f.Add([]byte(`{"linex_index": 0, "features": []}` + "\n\n" + `{"linex_index": 1, "features": [{"token": "x", "layers": [{"index": 0, "values": [NaN]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := fastTempDir(t)
		out := filepath.Join(dir, "out.grain")
		err := importNeuroX(bytes.NewReader(data), "fuzz.json", out, Meta{DType: Float16}, progress.Nop.Start("", 0))
		if err != nil {
			if _, serr := os.Stat(out); serr == nil {
				t.Fatalf("failed import (%v) left %s", err, out)
			}
			return
		}
		r, err := Open(out)
		if err != nil {
			t.Fatalf("imported file does not open: %v", err)
		}
		defer r.Close()
		if err := r.Verify(); err != nil {
			t.Fatalf("imported file does not verify: %v", err)
		}
		var exported bytes.Buffer
		if err := ExportNeuroXJSON(r, &exported, nil); err != nil {
			t.Fatal(err)
		}
		// Re-importing the export reproduces the activations exactly.
		again := filepath.Join(dir, "again.grain")
		if err := importNeuroX(bytes.NewReader(exported.Bytes()), "export", again, r.Meta(), progress.Nop.Start("", 0)); err != nil {
			t.Fatalf("re-import of the export: %v", err)
		}
		if m := mustMeta(t, again); m.Checksum != r.Meta().Checksum || m.NumTokens != r.NumTokens() {
			t.Fatalf("re-import differs: %+v vs %+v", m, r.Meta())
		}
	})
}

// fastTempDir returns a temporary directory on tmpfs when there is one, so
// that fuzzing does not wait for the disk (the Writer syncs its file).
func fastTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("/dev/shm", "grain-fuzz-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

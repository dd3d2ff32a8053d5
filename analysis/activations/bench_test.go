package activations

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// benchFile writes a file of rows tokens × 2 layers × 512 neurons.
func benchFile(b *testing.B, dt DType, rows int) string {
	b.Helper()
	meta := testMeta(2, 512, dt)
	path := filepath.Join(b.TempDir(), "bench.grain")
	w, err := Create(path, meta)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Abort()
	rng := rand.New(rand.NewPCG(1, 1))
	const sentence = 32
	toks := make([]string, sentence)
	vals := make([]float32, sentence*1024)
	for i := range toks {
		toks[i] = "tok"
	}
	for i := range vals {
		vals[i] = float32(rng.NormFloat64())
	}
	for r := 0; r < rows; r += sentence {
		if err := w.AppendSentence(toks, vals); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkReadRows reads blocks of 1024 rows (4 MiB of float32 output) in
// turn from a 16384-row file in the page cache; MB/s counts float32 output.
// The memmove case copies the same blocks between two Go slices: the
// memory bandwidth that the float32 mmap case should approach.
func BenchmarkReadRows(b *testing.B) {
	const rows, block = 16384, 1024
	b.Run("memmove", func(b *testing.B) {
		src := make([]float32, rows*1024)
		for i := range src {
			src[i] = float32(i) // touch every page: untouched pages all map to the zero page
		}
		dst := make([]float32, block*1024)
		b.SetBytes(int64(4 * len(dst)))
		start := 0
		for b.Loop() {
			copy(dst, src[start*1024:(start+block)*1024])
			start = (start + block) % rows
		}
	})
	for _, dt := range []DType{Float32, Float16} {
		path := benchFile(b, dt, rows)
		for _, mode := range []struct {
			name string
			mmap bool
		}{{"mmap", true}, {"readat", false}} {
			b.Run(dt.String()+"/"+mode.name, func(b *testing.B) {
				r, err := open(path, mode.mmap)
				if err != nil {
					b.Fatal(err)
				}
				defer r.Close()
				dst := make([]float32, block*r.NumNeurons())
				b.SetBytes(int64(4 * len(dst)))
				start := 0
				for b.Loop() {
					if err := r.ReadRows(start, block, dst); err != nil {
						b.Fatal(err)
					}
					start = (start + block) % rows
				}
			})
		}
	}
}

// BenchmarkReadRowsColumns gathers one layer (512 of 1024 neurons); MB/s
// counts float32 output.
func BenchmarkReadRowsColumns(b *testing.B) {
	const rows, block = 16384, 1024
	for _, dt := range []DType{Float32, Float16} {
		path := benchFile(b, dt, rows)
		b.Run(dt.String(), func(b *testing.B) {
			r, err := Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			cols, err := r.Meta().Columns(LayerFilter{Direction: Backward})
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]float32, block*len(cols))
			b.SetBytes(int64(4 * len(dst)))
			start := 0
			for b.Loop() {
				if err := r.ReadRowsColumns(start, block, cols, dst); err != nil {
					b.Fatal(err)
				}
				start = (start + block) % rows
			}
		})
	}
}

// BenchmarkVerify checks every chunk of a 64 MiB float32 file; this is also
// the cost of the first read of each chunk. MB/s counts file data.
func BenchmarkVerify(b *testing.B) {
	r, err := Open(benchFile(b, Float32, 16384))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.SetBytes(int64(r.NumTokens() * r.NumNeurons() * 4))
	for b.Loop() {
		if err := r.Verify(); err != nil {
			b.Fatal(err)
		}
	}
}

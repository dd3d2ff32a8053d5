package probe

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/grainlab/grain/engine/safetensors"
)

// FuzzLoad feeds arbitrary bytes to Load: never a panic, and a probe it
// accepts passes Check.
func FuzzLoad(f *testing.F) {
	dir := f.TempDir()
	p := New([]string{"A", "B"}, 3)
	copy(p.Weight, []float32{1, -2, 0.5, 0, 3, -1})
	path := filepath.Join(dir, "seed.safetensors")
	if err := Save(path, p); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	other, err := safetensors.Marshal(&safetensors.File{Tensors: []safetensors.Tensor{
		safetensors.NewF16("linear.weight", []int{2, 2}, []float32{1, 2, 3, 4}),
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(other)
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "p.safetensors")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		q, err := Load(path)
		if err != nil {
			return
		}
		if err := q.Check(); err != nil {
			t.Fatalf("Load accepted an invalid probe: %v", err)
		}
	})
}

package model

import (
	"testing"

	"github.com/grainlab/grain/engine/safetensors"
)

// FuzzFromFile feeds arbitrary bytes, as a safetensors file, to the model
// loader: it must reject what is not a valid model with an error, never a
// panic. The seeds are real (tiny) model files of both kinds.
func FuzzFromFile(f *testing.F) {
	for _, kind := range []string{NLM, NMT} {
		m := tiny(f, kind, 0)
		sf, err := m.File(F16)
		if err != nil {
			f.Fatal(err)
		}
		b, err := safetensors.Marshal(sf)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := safetensors.Unmarshal(data)
		if err != nil {
			return
		}
		m, err := FromFile(sf)
		if err != nil {
			return
		}
		if err := m.Config.Validate(); err != nil {
			t.Fatalf("loaded a model with an invalid config: %v", err)
		}
	})
}

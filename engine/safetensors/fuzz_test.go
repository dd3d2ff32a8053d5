package safetensors

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// FuzzRead checks that Unmarshal never panics and that every file it accepts
// re-serialises to a file that parses to the same tensors and metadata, and
// that re-serialising is a fixed point.
func FuzzRead(f *testing.F) {
	f.Add(golden)
	f.Add([]byte("\x08\x00\x00\x00\x00\x00\x00\x00{}      "))
	f.Add(raw(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"b":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}`, le32(1)))
	f.Add(raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, le32(1, 2)))
	f.Add(raw(`{"__metadata__":null}`, nil))
	f.Add(raw(`{"__metadata__":{"k":"v"},"x":{"dtype":"BF16","shape":[1,1],"data_offsets":[0,2]}}`, []byte{1, 2}))
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 4; i++ {
		file := &File{Tensors: []Tensor{randomTensor(r, "p"), randomTensor(r, "q")}}
		enc, err := Marshal(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Unmarshal(data)
		if err != nil {
			return
		}
		enc, err := Marshal(file)
		if err != nil {
			t.Fatalf("accepted file does not re-encode: %v", err)
		}
		again, err := Unmarshal(enc)
		if err != nil {
			t.Fatalf("re-encoded file does not parse: %v", err)
		}
		if !sameTensors(file, again) {
			t.Fatalf("re-encoded file differs:\n%+v\n%+v", file, again)
		}
		if enc2, err := Marshal(again); err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("re-encoding is not a fixed point: %v", err)
		}
	})
}

package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/grainlab/grain/kernels"
)

// golden is a tiny file built by hand from the specification: metadata
// {"format":"pt"}, tensor "a" F32 [2] = {1, -2} and scalar "b" I32 = 7. The
// 138-byte JSON is padded with 6 spaces to 144 = 0x90 bytes.
var golden = []byte("\x90\x00\x00\x00\x00\x00\x00\x00" +
	`{"__metadata__":{"format":"pt"},` +
	`"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},` +
	`"b":{"dtype":"I32","shape":[],"data_offsets":[8,12]}}` +
	"      " +
	"\x00\x00\x80\x3f" + "\x00\x00\x00\xc0" + // 1.0f, -2.0f
	"\x07\x00\x00\x00") // int32 7

func goldenFile() *File {
	return &File{
		Tensors: []Tensor{
			NewI32("b", nil, []int32{7}),
			NewF32("a", []int{2}, []float32{1, -2}),
		},
		Metadata: map[string]string{"format": "pt"},
	}
}

func TestGoldenBytes(t *testing.T) {
	got, err := Marshal(goldenFile())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, golden) {
		t.Fatalf("Marshal:\n got %q\nwant %q", got, golden)
	}
	f, err := Unmarshal(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Metadata, map[string]string{"format": "pt"}) {
		t.Errorf("metadata %v", f.Metadata)
	}
	if len(f.Tensors) != 2 || f.Tensors[0].Name != "a" || f.Tensors[1].Name != "b" {
		t.Fatalf("tensors %+v", f.Tensors)
	}
	a, err := f.Tensor("a").Float32()
	if err != nil || !reflect.DeepEqual(a, []float32{1, -2}) {
		t.Errorf("a = %v, %v", a, err)
	}
	b, err := f.Tensor("b").Int32()
	if err != nil || !reflect.DeepEqual(b, []int32{7}) || f.Tensor("b").NumElements() != 1 {
		t.Errorf("b = %v, %v", b, err)
	}
	if f.Tensor("c") != nil {
		t.Error("Tensor(c) should be nil")
	}
}

// raw builds a file from a header string (not padded) and a data buffer.
func raw(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func le32(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// TestHandBuilt parses files laid out unlike grain's writer: unsorted names,
// data in a different order than the header, white space, no padding,
// metadata last.
func TestHandBuilt(t *testing.T) {
	data := append(le32(3, 4, 5), []byte{9, 8}...)
	data = binary.LittleEndian.AppendUint16(data, kernels.Float32ToHalf(1.5))
	data = binary.LittleEndian.AppendUint16(data, kernels.Float32ToBF16(-0.25))
	data = binary.LittleEndian.AppendUint64(data, math.Float64bits(math.Pi))
	data = binary.LittleEndian.AppendUint64(data, uint64(1<<40+3))
	hdr := ` { "z": {"shape": [3], "dtype": "F32", "data_offsets": [0, 12]},
	"u": {"data_offsets": [12, 14], "dtype": "U8", "shape": [1, 2]},
	"h": {"dtype": "F16", "shape": [], "data_offsets": [14, 16]},
	"g": {"dtype": "BF16", "shape": [1], "data_offsets": [16, 18]},
	"e": {"dtype": "F64", "shape": [1, 1], "data_offsets": [18, 26]},
	"empty": {"dtype": "F32", "shape": [0, 5], "data_offsets": [26, 26]},
	"i": {"dtype": "I64", "shape": [1], "data_offsets": [26, 34]},
	"__metadata__": {"k": "v\n\u00e9"} }  `
	f, err := Unmarshal(raw(strings.TrimPrefix(hdr, " "), data))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range f.Tensors {
		names = append(names, x.Name)
	}
	if want := []string{"e", "empty", "g", "h", "i", "u", "z"}; !reflect.DeepEqual(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
	if f.Metadata["k"] != "v\né" {
		t.Errorf("metadata %q", f.Metadata)
	}
	check := func(name string, want []float32) {
		t.Helper()
		got, err := f.Tensor(name).Float32()
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, %v; want %v", name, got, err, want)
		}
	}
	check("z", []float32{3, 4, 5})
	check("h", []float32{1.5})
	check("g", []float32{-0.25})
	check("e", []float32{float32(math.Pi)})
	check("empty", []float32{})
	if v, err := f.Tensor("e").Float64(); err != nil || v[0] != math.Pi {
		t.Errorf("e as float64 = %v, %v", v, err)
	}
	if v, err := f.Tensor("u").Uint8(); err != nil || !reflect.DeepEqual(v, []uint8{9, 8}) {
		t.Errorf("u = %v, %v", v, err)
	}
	if v, err := f.Tensor("i").Int64(); err != nil || v[0] != 1<<40+3 {
		t.Errorf("i = %v, %v", v, err)
	}
	// The re-encoded file is grain's canonical layout of the same tensors.
	enc, err := Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Unmarshal(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f, g) {
		t.Errorf("re-encoded file differs:\n%+v\n%+v", f, g)
	}
}

func TestAccessorTypeChecks(t *testing.T) {
	i32 := NewI32("labels", []int{2}, []int32{1, 2})
	if _, err := i32.Float32(); err == nil || !strings.Contains(err.Error(), `"labels"`) {
		t.Errorf("Float32 on I32: %v", err)
	}
	f32 := NewF32("w", []int{1}, []float32{1})
	for name, fn := range map[string]func() error{
		"Int32":   func() error { _, err := f32.Int32(); return err },
		"Int64":   func() error { _, err := f32.Int64(); return err },
		"Uint8":   func() error { _, err := f32.Uint8(); return err },
		"Float64": func() error { _, err := i32.Float64(); return err },
	} {
		if err := fn(); err == nil {
			t.Errorf("%s: no error on dtype mismatch", name)
		}
	}
	bad := Tensor{Name: "short", DType: F32, Shape: []int{3}, Data: make([]byte, 8)}
	if _, err := bad.Float32(); err == nil || !strings.Contains(err.Error(), "short") {
		t.Errorf("Float32 on short data: %v", err)
	}
	huge := Tensor{Name: "huge", DType: F32, Shape: []int{1 << 62, 4}}
	if _, err := huge.Float32(); err == nil {
		t.Error("Float32 accepted an overflowing shape")
	}
	d := NewF64("d", []int{2}, []float64{0.1, 1e300})
	if v, err := d.Float32(); err != nil || v[0] != float32(0.1) || !math.IsInf(float64(v[1]), 1) {
		t.Errorf("F64 to float32: %v %v", v, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("NewF32 with a wrong length did not panic")
		}
	}()
	NewF32("x", []int{2, 2}, []float32{1})
}

func randomTensor(r *rand.Rand, name string) Tensor {
	rank := r.IntN(4)
	shape := make([]int, rank)
	n := 1
	for i := range shape {
		shape[i] = r.IntN(5)
		n *= shape[i]
	}
	switch r.IntN(7) {
	case 0:
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return NewF32(name, shape, v)
	case 1:
		v := make([]float64, n)
		for i := range v {
			v[i] = r.NormFloat64()
		}
		return NewF64(name, shape, v)
	case 2:
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return NewF16(name, shape, v)
	case 3:
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return NewBF16(name, shape, v)
	case 4:
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(r.Uint32())
		}
		return NewI32(name, shape, v)
	case 5:
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(r.Uint64())
		}
		return NewI64(name, shape, v)
	default:
		v := make([]uint8, n)
		for i := range v {
			v[i] = uint8(r.Uint32())
		}
		return NewU8(name, shape, v)
	}
}

func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	for trial := 0; trial < 200; trial++ {
		f := &File{}
		for i := r.IntN(6); i > 0; i-- {
			name := string(rune('a'+r.IntN(26))) + string(rune('a'+r.IntN(26)))
			if f.Tensor(name) == nil {
				f.Tensors = append(f.Tensors, randomTensor(r, name))
			}
		}
		if r.IntN(2) == 0 {
			f.Metadata = map[string]string{"format": "pt", "quote\"": "tab\t\x01<>&\u2028"}
		}
		enc, err := Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if n := binary.LittleEndian.Uint64(enc); n%8 != 0 {
			t.Fatalf("header length %d not a multiple of 8", n)
		}
		// Deterministic: the input order of the tensors does not matter.
		shuffled := &File{Tensors: append([]Tensor(nil), f.Tensors...), Metadata: f.Metadata}
		r.Shuffle(len(shuffled.Tensors), func(i, j int) {
			shuffled.Tensors[i], shuffled.Tensors[j] = shuffled.Tensors[j], shuffled.Tensors[i]
		})
		if enc2, _ := Marshal(shuffled); !bytes.Equal(enc, enc2) {
			t.Fatal("Marshal depends on tensor order")
		}
		path := filepath.Join(dir, "t.safetensors")
		if err := WriteFile(path, shuffled); err != nil {
			t.Fatal(err)
		}
		if onDisk, _ := os.ReadFile(path); !bytes.Equal(onDisk, enc) {
			t.Fatal("WriteFile differs from Marshal")
		}
		g, err := ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !sameTensors(f, g) {
			t.Fatalf("round trip differs:\n%+v\n%+v", f, g)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

// sameTensors compares the tensors (by name, ignoring order, nil vs empty
// shape) and the metadata (nil vs empty) of two files.
func sameTensors(a, b *File) bool {
	if len(a.Tensors) != len(b.Tensors) || len(a.Metadata) != len(b.Metadata) {
		return false
	}
	for k, v := range a.Metadata {
		if w, ok := b.Metadata[k]; !ok || v != w {
			return false
		}
	}
	for _, x := range a.Tensors {
		y := b.Tensor(x.Name)
		if y == nil || x.DType != y.DType || len(x.Shape) != len(y.Shape) || !bytes.Equal(x.Data, y.Data) {
			return false
		}
		for i := range x.Shape {
			if x.Shape[i] != y.Shape[i] {
				return false
			}
		}
	}
	return true
}

func TestMarshalErrors(t *testing.T) {
	ok := NewF32("w", []int{1}, []float32{1})
	cases := map[string]*File{
		"duplicate tensor name":   {Tensors: []Tensor{ok, ok}},
		"reserved":                {Tensors: []Tensor{NewF32(metaKey, nil, []float32{1})}},
		"unknown dtype":           {Tensors: []Tensor{{Name: "x", DType: "F33"}}},
		"bytes of data":           {Tensors: []Tensor{{Name: "x", DType: F32, Shape: []int{2}, Data: make([]byte, 7)}}},
		"invalid shape":           {Tensors: []Tensor{{Name: "x", DType: F32, Shape: []int{-1}}}},
		"name is not valid UTF-8": {Tensors: []Tensor{NewF32("\xff", nil, []float32{1})}},
		"not valid UTF-8":         {Metadata: map[string]string{"k": "\xfe"}},
	}
	for want, f := range cases {
		if _, err := Marshal(f); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got error %v", want, err)
		}
	}
	dir := t.TempDir()
	if err := WriteFile(filepath.Join(dir, "x"), cases["reserved"]); err == nil {
		t.Error("WriteFile accepted an invalid file")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed WriteFile left files: %v", entries)
	}
}

// TestCorrupt checks that every malformed file is rejected with an error
// that says what is wrong and names the tensor at fault.
func TestCorrupt(t *testing.T) {
	eight := le32(1, 2)
	tensor := func(name, dtype, shape, offs string) string {
		return `"` + name + `":{"dtype":"` + dtype + `","shape":` + shape + `,"data_offsets":` + offs + `}`
	}
	hdrA := tensor("a", "F32", "[2]", "[0,8]")
	goodHeader := "{" + hdrA + "}"
	tooLong := binary.LittleEndian.AppendUint64(nil, 1000)
	tooLong = append(tooLong, goodHeader...)
	cases := []struct {
		name string
		file []byte
		want []string
	}{
		{"short", []byte{1, 2, 3}, []string{"too short"}},
		{"header beyond file", tooLong, []string{"header length 1000", "beyond"}},
		{"huge header length", binary.LittleEndian.AppendUint64(nil, 1<<63), []string{"beyond"}},
		{"empty header", raw("", nil), []string{"does not start with '{'"}},
		{"not an object", raw(`["a"]`, nil), []string{"does not start with '{'"}},
		{"invalid json", raw(`{"a":{"dtype":"F32",}}`, eight), []string{"invalid header"}},
		{"truncated json", raw(`{"a":{"dtype":"F32"`, eight), []string{"invalid header"}},
		{"not utf-8", raw("{\"\xff\":{}}", nil), []string{"UTF-8"}},
		{"unknown dtype", raw("{"+tensor("a", "F33", "[2]", "[0,8]")+"}", eight), []string{`tensor "a"`, "unknown dtype", "F33"}},
		{"dtype not string", raw(`{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}`, eight), []string{`tensor "a"`, "dtype"}},
		{"size mismatch", raw("{"+tensor("a", "F32", "[3]", "[0,8]")+"}", eight), []string{`tensor "a"`, "needs 12 bytes", "span 8"}},
		{"shape overflow", raw("{"+tensor("a", "F32", "[4611686018427387904,4611686018427387904]", "[0,8]")+"}", eight), []string{`tensor "a"`, "more than 2^64"}},
		{"dimension too large", raw("{"+tensor("a", "F32", "[18446744073709551615]", "[0,8]")+"}", eight), []string{`tensor "a"`, "too large"}},
		{"negative dim", raw("{"+tensor("a", "F32", "[-2]", "[0,8]")+"}", eight), []string{`tensor "a"`, "shape", "non-negative integer"}},
		{"float dim", raw("{"+tensor("a", "F32", "[2.0]", "[0,8]")+"}", eight), []string{`tensor "a"`, "non-negative integer"}},
		{"three offsets", raw("{"+tensor("a", "F32", "[2]", "[0,8,8]")+"}", eight), []string{`tensor "a"`, "3 values"}},
		{"offsets out of order", raw("{"+tensor("a", "F32", "[0]", "[8,0]")+"}", eight), []string{`tensor "a"`, "out of order"}},
		{"outside buffer", raw("{"+tensor("a", "F32", "[4]", "[0,16]")+"}", eight), []string{`tensor "a"`, "outside the 8-byte data buffer"}},
		{"overlap", raw("{"+tensor("a", "F32", "[2]", "[0,8]")+","+tensor("b", "F32", "[1]", "[4,8]")+"}", eight), []string{`tensor "b"`, "overlap", `"a"`}},
		{"same range", raw("{"+tensor("a", "F32", "[2]", "[0,8]")+","+tensor("b", "F32", "[2]", "[0,8]")+"}", eight), []string{"overlap"}},
		{"hole", raw("{"+tensor("a", "F32", "[1]", "[4,8]")+"}", eight), []string{`tensor "a"`, "hole of 4 bytes"}},
		{"hole between", raw("{"+tensor("a", "F32", "[1]", "[0,4]")+","+tensor("b", "U8", "[1]", "[5,6]")+"}", append(eight, 0)[:6]), []string{`tensor "b"`, "hole of 1 bytes"}},
		{"trailing garbage", raw(goodHeader, append(eight, 0xde, 0xad)), []string{"2 bytes of trailing data"}},
		{"trailing header data", raw(goodHeader+` {}`, eight), []string{"after the header object"}},
		{"trailing header text", raw(goodHeader+`x`, eight), []string{"invalid header"}},
		{"duplicate name", raw("{"+hdrA+","+hdrA+"}", eight), []string{`duplicate key "a"`}},
		{"duplicate metadata", raw(`{"__metadata__":{},"__metadata__":{}}`, nil), []string{"duplicate key"}},
		{"duplicate field", raw(`{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight), []string{`tensor "a"`, `duplicate field "dtype"`}},
		{"unknown field", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, eight), []string{`tensor "a"`, `unknown field "x"`}},
		{"missing shape", raw(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, eight), []string{`tensor "a"`, "missing shape"}},
		{"missing dtype", raw(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, eight), []string{"missing dtype"}},
		{"missing offsets", raw(`{"a":{"dtype":"F32","shape":[2]}}`, eight), []string{"missing data_offsets"}},
		{"tensor not object", raw(`{"a":[1]}`, eight), []string{`tensor "a"`}},
		{"metadata not object", raw(`{"__metadata__":["k"]}`, nil), []string{metaKey, "want '{'"}},
		{"metadata not strings", raw(`{"__metadata__":{"k":1}}`, nil), []string{metaKey, `key "k"`, "want a string"}},
		{"metadata duplicate key", raw(`{"__metadata__":{"k":"1","k":"2"}}`, nil), []string{metaKey, `duplicate key "k"`}},
	}
	dir := t.TempDir()
	for _, c := range cases {
		_, err := Unmarshal(c.file)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
	path := filepath.Join(dir, "bad.safetensors")
	if err := os.WriteFile(path, raw("{"+tensor("w", "F32", "[3]", "[0,8]")+"}", eight), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `tensor "w"`) {
		t.Errorf("ReadFile error does not name file and tensor: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("ReadFile of a missing file succeeded")
	}
}

// TestEmptyAndZeroSized covers a file without tensors and zero-sized tensors
// sharing an offset.
func TestEmptyAndZeroSized(t *testing.T) {
	enc, err := Marshal(&File{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "\x08\x00\x00\x00\x00\x00\x00\x00{}      "; string(enc) != want {
		t.Errorf("empty file %q, want %q", enc, want)
	}
	f, err := Unmarshal(raw(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"b":{"dtype":"I32","shape":[1],"data_offsets":[0,4]},"c":{"dtype":"U8","shape":[0,3],"data_offsets":[4,4]}}`, le32(1)))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != 3 || len(f.Tensors[0].Data) != 0 {
		t.Errorf("%+v", f.Tensors)
	}
	// The reference implementation accepts null metadata.
	if f, err := Unmarshal(raw(`{"__metadata__":null}`, nil)); err != nil || f.Metadata != nil || len(f.Tensors) != 0 {
		t.Errorf("null metadata: %+v, %v", f, err)
	}
}

// Package safetensors reads and writes the safetensors tensor file format.
//
// A safetensors file is
//
//	N      8 bytes, little-endian uint64: the length of the header
//	header N bytes of UTF-8 JSON:
//	       {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
//	        ..., "__metadata__": {"key": "value", ...}}
//	buffer the tensors' bytes, little-endian, row-major; [begin, end) of a
//	       tensor is relative to the start of the buffer
//
// Unmarshal and ReadFile validate a file completely and reject, with an error
// that names the file (ReadFile) and the tensor: a header length beyond the
// file; a header that is not valid UTF-8 JSON of the form above (duplicate
// tensor names, duplicate, missing or unknown fields, anything but white
// space after the JSON object; "__metadata__" may be an object of strings or
// null); an unknown dtype; a span end−begin that differs from
// product(shape)·dtype size; offsets with begin > end or outside the buffer;
// tensors that overlap or leave a hole between them; bytes after the last
// tensor. Tensor data returned by Unmarshal shares the input slice.
//
// Marshal and WriteFile produce deterministic output in the layout of the
// reference implementation (huggingface/safetensors): compact JSON with
// "__metadata__" first (omitted when empty, its keys sorted), then the tensors
// sorted by name, each as {"dtype":…,"shape":…,"data_offsets":…}; the header
// is padded with spaces to a multiple of 8 bytes; the tensors' bytes follow in
// the same name order without gaps. (The reference orders tensors by dtype
// alignment before name; grain orders by name only, which every reader
// accepts.) WriteFile writes through engine/atomicfile, so a reader never sees
// a partial file.
//
// Accessors convert the raw bytes to Go slices: Float32 accepts F32, F16,
// BF16 and F64 (rounding F64 to nearest), Float64 accepts the same four
// exactly, and Int32, Int64 and Uint8 require exactly I32, I64 and U8. They
// return an error naming the tensor on a dtype mismatch. The constructors
// NewF32, NewF64, NewF16, NewBF16, NewI32, NewI64 and NewU8 build tensors from
// Go slices and panic if the slice length does not match the shape.
package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"

	"github.com/grainlab/grain/kernels"
)

// DType is a safetensors element type, spelled as in the file header.
type DType string

// The dtypes of the safetensors specification.
const (
	BOOL   DType = "BOOL"
	U8     DType = "U8"
	I8     DType = "I8"
	F8E4M3 DType = "F8_E4M3"
	F8E5M2 DType = "F8_E5M2"
	U16    DType = "U16"
	I16    DType = "I16"
	F16    DType = "F16"
	BF16   DType = "BF16"
	U32    DType = "U32"
	I32    DType = "I32"
	F32    DType = "F32"
	U64    DType = "U64"
	I64    DType = "I64"
	F64    DType = "F64"
)

// metaKey is the header key of the metadata, reserved among tensor names.
const metaKey = "__metadata__"

var dtypeSizes = map[DType]int{
	BOOL: 1, U8: 1, I8: 1, F8E4M3: 1, F8E5M2: 1,
	U16: 2, I16: 2, F16: 2, BF16: 2,
	U32: 4, I32: 4, F32: 4,
	U64: 8, I64: 8, F64: 8,
}

// Size is the number of bytes of one element, or 0 for an unknown dtype.
func (d DType) Size() int { return dtypeSizes[d] }

// Tensor is one named tensor: its element type, shape and raw little-endian
// row-major bytes. A tensor with an empty shape is a scalar (one element).
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// File is the content of a safetensors file: its tensors (sorted by name when
// returned by Unmarshal or ReadFile) and its string metadata.
type File struct {
	Tensors  []Tensor
	Metadata map[string]string
}

// Tensor returns the tensor called name, or nil if the file has none.
func (f *File) Tensor(name string) *Tensor {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i]
		}
	}
	return nil
}

// NumElements is the product of the shape (1 for a scalar). It returns -1 if
// a dimension is negative or the product overflows an int.
func (t *Tensor) NumElements() int {
	n, ok := numElements(t.Shape)
	if !ok {
		return -1
	}
	return n
}

// numElements multiplies the dimensions, reporting false on a negative
// dimension or overflow.
func numElements(shape []int) (int, bool) {
	n := uint64(1)
	zero := false
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d == 0 {
			zero = true
			continue
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		n = lo
	}
	if zero {
		return 0, true
	}
	return int(n), true
}

// checkDType returns an error naming t unless its dtype is one of want.
func (t *Tensor) checkDType(want ...DType) error {
	for _, d := range want {
		if t.DType == d {
			return t.checkSize()
		}
	}
	return fmt.Errorf("tensor %q: dtype %s, want %v", t.Name, t.DType, want)
}

// Float32 returns the elements as float32. F32 is copied, F16 and BF16 are
// widened exactly and F64 is rounded to nearest; other dtypes are an error.
func (t *Tensor) Float32() ([]float32, error) {
	if err := t.checkDType(F32, F16, BF16, F64); err != nil {
		return nil, err
	}
	d := t.Data
	out := make([]float32, len(d)/t.DType.Size())
	switch t.DType {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
	case F16:
		for i := range out {
			out[i] = kernels.HalfToFloat32(binary.LittleEndian.Uint16(d[2*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = kernels.BF16ToFloat32(binary.LittleEndian.Uint16(d[2*i:]))
		}
	case F64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(d[8*i:])))
		}
	}
	return out, nil
}

// Float64 returns the elements as float64; F64, F32, F16 and BF16 convert
// exactly, other dtypes are an error.
func (t *Tensor) Float64() ([]float64, error) {
	if t.DType == F64 {
		if err := t.checkSize(); err != nil {
			return nil, err
		}
		out := make([]float64, len(t.Data)/8)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
		}
		return out, nil
	}
	f, err := t.Float32()
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return out, nil
}

// Int32 returns the elements of an I32 tensor; other dtypes are an error.
func (t *Tensor) Int32() ([]int32, error) {
	if err := t.checkDType(I32); err != nil {
		return nil, err
	}
	out := make([]int32, len(t.Data)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return out, nil
}

// Int64 returns the elements of an I64 tensor; other dtypes are an error.
func (t *Tensor) Int64() ([]int64, error) {
	if err := t.checkDType(I64); err != nil {
		return nil, err
	}
	out := make([]int64, len(t.Data)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return out, nil
}

// Uint8 returns a copy of the elements of a U8 tensor; other dtypes are an
// error.
func (t *Tensor) Uint8() ([]uint8, error) {
	if err := t.checkDType(U8); err != nil {
		return nil, err
	}
	return append([]uint8(nil), t.Data...), nil
}

// newTensor allocates a tensor of dtype d for shape and checks that n values
// fill it exactly.
func newTensor(name string, d DType, shape []int, n int) Tensor {
	want, ok := numElements(shape)
	if !ok || want != n {
		panic(fmt.Sprintf("safetensors: tensor %q: %d values for shape %v", name, n, shape))
	}
	return Tensor{Name: name, DType: d, Shape: append([]int(nil), shape...), Data: make([]byte, n*d.Size())}
}

// NewF32 returns an F32 tensor holding v. It panics if len(v) is not the
// product of shape.
func NewF32(name string, shape []int, v []float32) Tensor {
	t := newTensor(name, F32, shape, len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(t.Data[4*i:], math.Float32bits(x))
	}
	return t
}

// NewF64 returns an F64 tensor holding v. It panics if len(v) is not the
// product of shape.
func NewF64(name string, shape []int, v []float64) Tensor {
	t := newTensor(name, F64, shape, len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(t.Data[8*i:], math.Float64bits(x))
	}
	return t
}

// NewF16 returns an F16 tensor holding v rounded to nearest (ties to even).
// It panics if len(v) is not the product of shape.
func NewF16(name string, shape []int, v []float32) Tensor {
	t := newTensor(name, F16, shape, len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(t.Data[2*i:], kernels.Float32ToHalf(x))
	}
	return t
}

// NewBF16 returns a BF16 tensor holding v rounded to nearest (ties to even).
// It panics if len(v) is not the product of shape.
func NewBF16(name string, shape []int, v []float32) Tensor {
	t := newTensor(name, BF16, shape, len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(t.Data[2*i:], kernels.Float32ToBF16(x))
	}
	return t
}

// NewI32 returns an I32 tensor holding v. It panics if len(v) is not the
// product of shape.
func NewI32(name string, shape []int, v []int32) Tensor {
	t := newTensor(name, I32, shape, len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(t.Data[4*i:], uint32(x))
	}
	return t
}

// NewI64 returns an I64 tensor holding v. It panics if len(v) is not the
// product of shape.
func NewI64(name string, shape []int, v []int64) Tensor {
	t := newTensor(name, I64, shape, len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(t.Data[8*i:], uint64(x))
	}
	return t
}

// NewU8 returns a U8 tensor holding a copy of v. It panics if len(v) is not
// the product of shape.
func NewU8(name string, shape []int, v []uint8) Tensor {
	t := newTensor(name, U8, shape, len(v))
	copy(t.Data, v)
	return t
}

package engine

import "fmt"

// Storage is a backend's memory behind one or more tensors.
type Storage interface {
	// Backend is the backend that owns the memory.
	Backend() Backend
}

// Tensor is a dense row-major matrix on a device. The zero value is not
// usable; tensors come from Backend.Alloc (or a backend's own constructors).
type Tensor struct {
	rows, cols int
	dtype      DType
	storage    Storage
	offset     int // element offset of row 0 in storage
	view       bool
}

// NewTensor is for backend implementations: it describes rows×cols elements
// of dtype dt starting at element offset off of s.
func NewTensor(s Storage, rows, cols int, dt DType, off int) *Tensor {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("engine: negative shape %d×%d", rows, cols))
	}
	return &Tensor{rows: rows, cols: cols, dtype: dt, storage: s, offset: off}
}

// Rows is the number of rows.
func (t *Tensor) Rows() int { return t.rows }

// Cols is the number of columns.
func (t *Tensor) Cols() int { return t.cols }

// Len is rows·cols.
func (t *Tensor) Len() int { return t.rows * t.cols }

// DType is the element type.
func (t *Tensor) DType() DType { return t.dtype }

// Storage is the backend memory (for backend implementations).
func (t *Tensor) Storage() Storage { return t.storage }

// Offset is the element offset of row 0 in Storage (for backend
// implementations).
func (t *Tensor) Offset() int { return t.offset }

// IsView reports whether t is a view made by Slice or Reshape.
func (t *Tensor) IsView() bool { return t.view }

// Backend is the owning backend.
func (t *Tensor) Backend() Backend { return t.storage.Backend() }

// Slice returns a view of rows [i, j).
func (t *Tensor) Slice(i, j int) *Tensor {
	if i < 0 || j < i || j > t.rows {
		panic(fmt.Sprintf("engine: row slice [%d:%d] of %d rows", i, j, t.rows))
	}
	return &Tensor{rows: j - i, cols: t.cols, dtype: t.dtype, storage: t.storage, offset: t.offset + i*t.cols, view: true}
}

// Reshape returns a view with the same elements as rows×cols.
func (t *Tensor) Reshape(rows, cols int) *Tensor {
	if rows*cols != t.Len() || rows < 0 {
		panic(fmt.Sprintf("engine: reshape %d×%d to %d×%d", t.rows, t.cols, rows, cols))
	}
	return &Tensor{rows: rows, cols: cols, dtype: t.dtype, storage: t.storage, offset: t.offset, view: true}
}

func (t *Tensor) String() string {
	return fmt.Sprintf("%s[%d×%d]", t.dtype, t.rows, t.cols)
}

// MustBe panics unless t is rows×cols of dtype dt; backends use it to check
// operands. A negative rows or cols matches any size.
func (t *Tensor) MustBe(what string, rows, cols int, dt DType) {
	if t == nil {
		panic("engine: " + what + " is nil")
	}
	if (rows >= 0 && t.rows != rows) || (cols >= 0 && t.cols != cols) || t.dtype != dt {
		want := fmt.Sprintf("%s[%s×%s]", dt, dim(rows), dim(cols))
		panic(fmt.Sprintf("engine: %s is %v, want %s", what, t, want))
	}
}

func dim(n int) string {
	if n < 0 {
		return "*"
	}
	return fmt.Sprint(n)
}

// AllocFrom allocates a tensor on b and uploads src ([]float32, []float64
// or []int32 of rows·cols elements).
func AllocFrom(b Backend, rows, cols int, src any) (*Tensor, error) {
	var dt DType
	switch src.(type) {
	case []float32:
		dt = Float32
	case []float64:
		dt = Float64
	case []int32:
		dt = Int32
	default:
		panic(fmt.Sprintf("engine: AllocFrom of %T", src))
	}
	t, err := b.Alloc(rows, cols, dt)
	if err != nil {
		return nil, err
	}
	b.Upload(t, src)
	return t, nil
}

// Package fused holds grain's fused neural-network operations as custom
// Gorgonia ops: an embedding lookup, dropout, an LSTM layer (one or both
// directions) over a whole padded sequence, the attentional LSTM decoder
// with input feeding over a whole target sequence, and the output
// projection with softmax cross-entropy over non-pad positions. Gorgonia
// keeps the graph, symbolic differentiation and execution order; the
// forward and backward computations of every op run on grain's engine
// (engine.NN plus Gemm and friends), so a backend that implements engine.NN
// runs the models.
//
// # Conventions
//
// All sequence tensors are time-major matrices: a batch of B sequences of T
// steps with d features is a (T·B)×d Float32 node whose row t·B+b is step t
// of sequence b. valid nodes are (T·B)×1 Float32 0/1 row validities (1 for
// a real token, 0 for padding); sequences are padded on the right. Ids and
// labels are n×1 Int32 nodes (labels < 0 are padding). Neuron masks are 1×n
// Float32 nodes of 0s and 1s: a masked neuron's output is exactly 0 at
// every step before it feeds anything else, and an all-ones mask changes no
// bit of any value. Masks and dropout seeds are inputs, so changing them
// needs no graph rebuild.
//
// # Ops and their gradients
//
// Every op implements gorgonia.SDOp. Its SymDiff adds one backward node
// that computes all of the op's gradients in one pass (returning the
// gradient of its first differentiable input) and, for each further
// differentiable input, a pick node that returns that input's gradient
// from the backward pass. Ops keep their outputs, saved activations and
// gradients in their Env's arena of buffers, shared by all graphs built on
// that Env and keyed by the op's name, so graphs built for different
// sequence lengths reuse the same memory; only one graph may run at a
// time. A pick node returns the buffer its backward node filled, so the
// gradient of a parameter is the same memory in every graph.
//
// # Device backends
//
// Gorgonia's values are host arrays. On a backend without host memory
// (CUDA) the arena lives in device memory and the data stays there: an
// op's output value is a host copy of its buffer that is downloaded only
// when host code reads it (Env.Host), an op reading another op's output
// uses the buffer, the model's weights (and the optimizer's moments) are
// resident on the device (uploaded once, updated there, downloaded when a
// file is written), and small values (masks, biases, validities) are
// uploaded only when they change. Training and evaluation batches then
// move only their token ids, and decoding a few values per hypothesis
// and step (Stepper.Best). The tests run the models on the CPU both ways
// (enginetest.Hostless) and require bit-identical results and bounded
// traffic; engine/cuda's TestGPUModels compares CUDA with the CPU.
//
// # Reference
//
// reference.go builds each op from Gorgonia's own fine-grained operations
// (in float64); the tests check every fused op's forward values (≤ 1e-5)
// and gradients (≤ 1e-4 relative) against it.
package fused

import (
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"unsafe"

	"github.com/chewxy/hm"
	"github.com/grainlab/grain/engine"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Env is where fused ops run: the engine backend and the arena of buffers
// that the ops of all graphs built on it share.
//
// On a backend that keeps tensors in host memory (engine.HostMemory, the
// CPU) the arena buffers are host slices that Gorgonia's values share, and
// values are used in place.
//
// On a device backend (CUDA) the arena buffers live on the device and an
// op's output value is the host copy of its buffer, downloaded only when
// host code asks for it (Host). As on the CPU, a value must be read before
// its op runs again (after that it holds the new run's data); where the
// buffer was overwritten without a new value, or the new value has another
// shape, Host is an error that says so. An op finds the device tensor of a
// host value it reads (Tensor) in one of three ways:
//   - an op's output whose buffer no op has taken since (buf) is read
//     from the buffer itself, without a transfer;
//   - a resident value (Resident: the model's weights) has a device copy
//     that is uploaded only after its host data changed, and that code
//     may update on the device (Updated) and SyncHost downloads;
//   - any other value is uploaded into a device copy kept per host
//     address, and a small one (≤ shadowMax elements: masks, biases,
//     validities) only when it differs from the data last uploaded.
type Env struct {
	B      engine.Backend
	NN     engine.NN
	host   engine.HostMemory         // nil on a device backend
	arena  map[string][]float32      // host arena buffers (host backends)
	darena map[string]*engine.Tensor // device arena buffers (device backends)
	// copies are the host copies of device arena buffers that ops returned
	// as values; hostKey finds a key from its host copy's address.
	copies   map[string]*hostCopy
	hostKey  map[uintptr]string
	resident map[uintptr]*residentCopy
	mirror   map[uintptr]*mirrorCopy
	iarena   map[string]*engine.Tensor // Int32 buffers (row lists, labels)
	ones     *engine.Tensor            // 1×n of ones, for column sums and row gathers
	sum      *engine.Tensor            // 1×1 Float64, for losses
}

// hostCopy is the host copy of device arena buffer key, returned as an
// op's value of its first n elements.
type hostCopy struct {
	key   string
	s     []float32
	n     int
	state copyState
}

// copyState says how a host copy and its device buffer relate.
type copyState int

const (
	// copyPending: the buffer holds the value; the host copy is not
	// downloaded yet.
	copyPending copyState = iota
	// copyCurrent: both hold the value.
	copyCurrent
	// copyHost: only the host copy holds the value (downloaded, and the
	// buffer taken since).
	copyHost
	// copyLost: the buffer was taken before the value was downloaded.
	copyLost
)

// residentCopy is the device copy of a resident host value.
type residentCopy struct {
	t                   *engine.Tensor
	host                []float32
	hostNewer, devNewer bool
}

// mirrorCopy is the device copy of another host value; shadow holds the
// data last uploaded for a small value (nil when unknown).
type mirrorCopy struct {
	t      *engine.Tensor
	shadow []float32
}

// shadowMax is the size up to which a value's last upload is remembered,
// so that an unchanged value is not uploaded again.
const shadowMax = 1 << 14

// NewEnv returns an Env on b, which must implement engine.NN; the error
// says so otherwise.
func NewEnv(b engine.Backend) (*Env, error) {
	nn, ok := b.(engine.NN)
	if !ok {
		return nil, fmt.Errorf("fused: backend %s does not implement engine.NN", b.Name())
	}
	host, _ := b.(engine.HostMemory)
	return &Env{B: b, NN: nn, host: host, arena: map[string][]float32{}, darena: map[string]*engine.Tensor{},
		copies: map[string]*hostCopy{}, hostKey: map[uintptr]string{}, resident: map[uintptr]*residentCopy{},
		mirror: map[uintptr]*mirrorCopy{}, iarena: map[string]*engine.Tensor{}}, nil
}

// OnDevice reports whether the arena lives in device memory.
func (e *Env) OnDevice() bool { return e.host == nil }

// buf returns the arena buffer key as a rows×cols engine tensor to write,
// growing it when needed. Its contents are whatever the last user left
// there. On a device backend, a value an op returned from this buffer and
// nobody downloaded is lost (see Host).
func (e *Env) buf(key string, rows, cols int) *engine.Tensor {
	if c := e.copies[key]; c != nil {
		switch c.state {
		case copyPending:
			c.state = copyLost
		case copyCurrent:
			c.state = copyHost
		}
	}
	return e.saved(key, rows, cols)
}

// saved is buf for a buffer that the caller only reads (a backward pass
// reading what its forward pass left there): the op's value stays valid.
func (e *Env) saved(key string, rows, cols int) *engine.Tensor {
	n := rows * cols
	if e.host == nil {
		return grow(e, e.darena, key, n).Reshape(rows, cols)
	}
	s := e.arena[key]
	if cap(s) < n {
		s = make([]float32, n)
		e.arena[key] = s
	}
	return e.host.Wrap(s[:n], rows, cols)
}

// grow returns the first n elements of the device buffer m[k] as an n×1
// tensor. When the buffer holds fewer than n it is replaced by one of at
// least twice its size; the old one is not freed (a view of it may still
// be in use by the running op), so the memory lost is at most the final
// size of each buffer.
func grow(e *Env, m map[string]*engine.Tensor, k string, n int) *engine.Tensor {
	t := m[k]
	if t == nil || t.Rows() < n {
		size := n
		if t != nil {
			size = max(n, 2*t.Rows())
		}
		t = e.alloc(size)
		m[k] = t
	}
	return t.Slice(0, n)
}

// alloc returns a new device tensor of n×1 Float32 (at least one element).
func (e *Env) alloc(n int) *engine.Tensor { return e.allocAs(max(n, 1), 1, engine.Float32) }

// allocAs returns a new rows×cols tensor of dt; a failure (the device's
// memory is full) is a backendFailure.
func (e *Env) allocAs(rows, cols int, dt engine.DType) *engine.Tensor {
	t, err := e.B.Alloc(rows, cols, dt)
	if err != nil {
		panic(backendFailure{fmt.Errorf("fused: %w", err)})
	}
	return t
}

// backendFailure is how the Env's helpers, which return no error, report
// a failure of the backend (out of device memory, a device error seen at a
// download): Catch turns it back into an error at the package's API.
type backendFailure struct{ err error }

// Catch, deferred by a function that returns an error, turns a backend
// failure inside the fused ops (out of device memory; a device error) into
// that error; any other panic goes on.
func Catch(err *error) {
	if r := recover(); r != nil {
		f, ok := r.(backendFailure)
		if !ok {
			panic(r)
		}
		if *err == nil {
			*err = f.err
		}
	}
}

// download copies a device tensor into host memory; a failure is a
// backendFailure.
func (e *Env) download(dst []float32, src *engine.Tensor) {
	if err := e.B.Download(dst, src); err != nil {
		panic(backendFailure{fmt.Errorf("fused: %w", err)})
	}
}

// zbuf is buf filled with zeros.
func (e *Env) zbuf(key string, rows, cols int) *engine.Tensor {
	t := e.buf(key, rows, cols)
	e.B.Fill(t, 0)
	return t
}

// hostCopyOf returns the host copy of device arena buffer key as the
// value of its first n elements (pending: not downloaded).
func (e *Env) hostCopyOf(key string, n int) *hostCopy {
	c := e.copies[key]
	if c == nil {
		c = &hostCopy{key: key}
		e.copies[key] = c
	}
	if cap(c.s) < n {
		if cap(c.s) > 0 {
			delete(e.hostKey, address(c.s))
		}
		c.s = make([]float32, max(n, 2*cap(c.s)))
		e.hostKey[address(c.s)] = key
	}
	c.n, c.state = n, copyPending
	return c
}

// copyOf returns the host copy that the data of a value is, or nil. A
// value at a host copy's address with another length is what the op
// returned in an earlier run for another shape: its data is gone (lost).
func (e *Env) copyOf(s []float32) *hostCopy {
	key, ok := e.hostKey[address(s)]
	if !ok || len(s) == 0 {
		return nil
	}
	c := e.copies[key]
	if c.n != len(s) {
		c.lost()
	}
	return c
}

// lost panics for a value whose buffer was overwritten before it was read.
func (c *hostCopy) lost() {
	panic(fmt.Sprintf("fused: the value of %s was overwritten on the device before it was read (read an op's output before its op runs again)", c.key))
}

// Host returns the host data of a Float32 value, downloading it first if
// it is an op's output not downloaded yet (device backends). A device
// error is a panic that Catch turns into an error.
func (e *Env) Host(v G.Value) []float32 {
	s := float32s(v)
	if e.host != nil {
		return s
	}
	if c := e.copyOf(s); c != nil {
		switch c.state {
		case copyPending:
			e.download(s, e.darena[c.key].Slice(0, c.n))
			c.state = copyCurrent
		case copyLost:
			c.lost()
		}
	}
	return s
}

// address is the address of a slice's first element (0 when empty), which
// identifies host values across the Gorgonia values that share them.
func address(s []float32) uintptr {
	if cap(s) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(s)))
}

// value wraps arena buffer key (of n elements) as a Gorgonia value of the
// given shape, sharing its memory (on a device backend, its host copy,
// pending: see Host).
func (e *Env) value(key string, shape ...int) G.Value {
	n := 1
	for _, d := range shape {
		n *= d
	}
	var s []float32
	if e.host != nil {
		s = e.arena[key][:n]
	} else {
		s = e.hostCopyOf(key, n).s[:n]
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(s))
}

// sum64 returns the Env's 1×1 Float64 tensor (for a loss sum), allocated
// on first use.
func (e *Env) sum64() *engine.Tensor {
	if e.sum == nil {
		e.sum = e.allocAs(1, 1, engine.Float64)
	}
	return e.sum
}

// onesRow returns a 1×n tensor of ones.
func (e *Env) onesRow(n int) *engine.Tensor {
	if e.ones == nil || e.ones.Cols() < n {
		t := e.allocAs(1, max(n, 1024), engine.Float32)
		e.B.Fill(t, 1)
		e.ones = t
	}
	return e.ones.Reshape(e.ones.Cols(), 1).Slice(0, n).Reshape(1, n)
}

// colSums sets the 1×c dst to the column sums of the r×c src, as the
// product onesᵀ·src: one GEMM, much faster than a summing loop for the bias
// gradients of (T·B)×4H gate matrices (float32 accumulation, as BLAS-based
// frameworks do).
func (e *Env) colSums(dst, src *engine.Tensor) {
	e.B.Gemm(false, false, 1, e.onesRow(src.Rows()), src, 0, dst, engine.FP32)
}

// ibuf returns the first n values of the Int32 arena buffer key as an n×1
// tensor, growing it when needed.
func (e *Env) ibuf(key string, n int) *engine.Tensor {
	t := e.iarena[key]
	if t == nil || t.Rows() < n {
		size := n
		if t != nil {
			size = max(n, 2*t.Rows()) // the old one is not freed (as in grow)
		}
		t = e.allocAs(max(size, 1), 1, engine.Int32)
		e.iarena[key] = t
	}
	return t.Slice(0, n)
}

// upload copies v into the Int32 arena buffer key and returns it as a
// len(v)×1 tensor.
func (e *Env) upload(key string, v []int32) *engine.Tensor {
	t := e.ibuf(key, len(v))
	e.B.Upload(t, v)
	return t
}

// ints32 returns the first n values of the Int32 arena buffer key as an
// n×1 tensor (as the last upload left them).
func (e *Env) ints32(key string, n int) *engine.Tensor { return e.iarena[key].Slice(0, n) }

// ArenaBytes is the memory held by the arena: host buffers, and on a
// device backend the device buffers and the device copies of host values
// (buffers replaced by larger ones are not counted).
func (e *Env) ArenaBytes() int64 {
	var n int64
	for _, s := range e.arena {
		n += 4 * int64(cap(s))
	}
	for _, c := range e.copies {
		n += 4 * int64(cap(c.s))
	}
	for _, t := range e.darena {
		n += 4 * int64(t.Len())
	}
	for _, c := range e.resident {
		n += 4 * int64(c.t.Len())
	}
	for _, c := range e.mirror {
		n += 4 * int64(c.t.Len())
	}
	return n
}

// tensorOf returns a Float32 Gorgonia value as an rows×cols engine tensor
// (rows×cols must be its size): its memory on a host backend, its device
// tensor on a device backend (see Env).
func (e *Env) tensorOf(v G.Value, rows, cols int) *engine.Tensor {
	s := float32s(v)
	if e.host != nil {
		return e.host.Wrap(s, rows, cols)
	}
	n := len(s)
	if n != rows*cols {
		panic(fmt.Sprintf("fused: value of %d elements as %d×%d", n, rows, cols))
	}
	if c := e.copyOf(s); c != nil {
		switch c.state {
		case copyPending, copyCurrent:
			return e.darena[c.key].Slice(0, n).Reshape(rows, cols)
		case copyLost:
			c.lost()
		}
	}
	addr := address(s)
	if r := e.resident[addr]; r != nil && len(r.host) == n {
		if r.hostNewer {
			e.B.Upload(r.t, s)
			r.hostNewer = false
		}
		return r.t.Reshape(rows, cols)
	}
	c := e.mirror[addr]
	if c == nil || c.t.Rows() < n {
		c = &mirrorCopy{t: e.alloc(n)}
		e.mirror[addr] = c
	}
	t := c.t.Slice(0, n)
	if c.shadow != nil && sameBits(c.shadow, s) {
		return t.Reshape(rows, cols)
	}
	e.B.Upload(t, s)
	c.shadow = nil
	if n <= shadowMax {
		c.shadow = append(make([]float32, 0, n), s...)
	}
	return t.Reshape(rows, cols)
}

// sameBits reports whether a and b hold the same bits (so −0 differs from
// 0, and a NaN equals itself).
func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i, x := range a {
		if math.Float32bits(x) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// float32s returns the data of a Float32 dense value.
func float32s(v G.Value) []float32 {
	d, ok := v.(*tensor.Dense)
	if !ok || d.Dtype() != tensor.Float32 {
		panic(fmt.Sprintf("fused: value %T (%v) is not a Float32 dense tensor", v, v.Dtype()))
	}
	return d.Data().([]float32)
}

// mat wraps a 2-D Float32 value as an engine tensor of its shape.
func (e *Env) mat(v G.Value) *engine.Tensor {
	s := v.Shape()
	if len(s) != 2 {
		panic(fmt.Sprintf("fused: value of shape %v is not a matrix", s))
	}
	return e.tensorOf(v, s[0], s[1])
}

// Tensor returns a 2-D Float32 value as an engine tensor of its shape, for
// code that works on values outside the fused ops (the optimizer): the
// value's own memory on a host backend, its device tensor on a device
// backend (see Env). Code that changes the tensor must call Updated.
func (e *Env) Tensor(v G.Value) *engine.Tensor { return e.mat(v) }

// Resident makes the values resident on a device backend: each keeps one
// device copy, uploaded when it is next used (out of device memory is a
// panic that Catch turns into an error). Call it again after writing
// a resident value's host data (a device copy that Updated changed is
// then overwritten: call SyncHost first to keep it). On a host backend it
// does nothing.
func (e *Env) Resident(vs ...*tensor.Dense) {
	if e.host != nil {
		return
	}
	for _, v := range vs {
		s := float32s(v)
		addr := address(s)
		r := e.resident[addr]
		if r == nil || len(r.host) != len(s) {
			if r != nil {
				e.B.Free(r.t)
			}
			r = &residentCopy{t: e.alloc(len(s))}
			e.resident[addr] = r
		}
		r.host, r.hostNewer, r.devNewer = s, true, false
	}
}

// IsResident reports whether v is resident (on a host backend every value
// is, in place).
func (e *Env) IsResident(v G.Value) bool {
	if e.host != nil {
		return true
	}
	s := float32s(v)
	r := e.resident[address(s)]
	return r != nil && len(r.host) == len(s)
}

// Updated records that the device tensor that Tensor returned for v has
// been changed on the device: v's value is now the device's (an op's
// output is downloaded again by Host; a resident value's host data by
// SyncHost); for any other value the device copy is dropped and v keeps
// its host data.
func (e *Env) Updated(v G.Value) {
	if e.host != nil {
		return
	}
	s := float32s(v)
	addr := address(s)
	if c := e.copyOf(s); c != nil && (c.state == copyPending || c.state == copyCurrent) {
		c.state = copyPending
		return
	}
	if r := e.resident[addr]; r != nil && len(r.host) == len(s) {
		r.devNewer = true
		return
	}
	if c := e.mirror[addr]; c != nil {
		c.shadow = nil
	}
}

// SyncHost brings the host data of the given resident values up to date:
// those that were Updated on the device are downloaded (nil ones are
// skipped).
func (e *Env) SyncHost(vs ...*tensor.Dense) error {
	for _, v := range vs {
		if v == nil {
			continue
		}
		if r := e.resident[address(float32s(v))]; r != nil {
			if err := e.syncResident(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *Env) syncResident(r *residentCopy) error {
	if !r.devNewer {
		return nil
	}
	if err := e.B.Download(r.host, r.t); err != nil {
		return fmt.Errorf("fused: %w", err)
	}
	r.devNewer = false
	return nil
}

// Release ends the residency of the values (nil ones are skipped): each
// one's host data is brought up to date (as SyncHost) and its device copy
// freed. It releases them all and returns the first error.
func (e *Env) Release(vs ...*tensor.Dense) error {
	var err error
	for _, v := range vs {
		if v == nil {
			continue
		}
		addr := address(float32s(v))
		r := e.resident[addr]
		if r == nil {
			continue
		}
		if e := e.syncResident(r); err == nil {
			err = e
		}
		e.B.Free(r.t)
		delete(e.resident, addr)
	}
	return err
}

// Free releases the Env's device memory (buffers, resident values, device
// copies); the Env must not be used after. On a host backend it leaves the
// memory to the garbage collector.
func (e *Env) Free() {
	if e.host != nil {
		return
	}
	for _, t := range e.darena {
		e.B.Free(t)
	}
	for _, t := range e.iarena {
		e.B.Free(t)
	}
	for _, r := range e.resident {
		e.B.Free(r.t)
	}
	for _, c := range e.mirror {
		e.B.Free(c.t)
	}
	e.B.Free(e.ones)
	e.B.Free(e.sum)
	e.darena, e.iarena, e.resident, e.mirror, e.ones, e.sum = nil, nil, nil, nil, nil, nil
}

// scalar returns the float value of a scalar Gorgonia value (the upstream
// gradient of a loss).
func scalar(v G.Value) float32 {
	switch x := v.(type) {
	case *G.F32:
		return float32(*x)
	case *G.F64:
		return float32(*x)
	case *tensor.Dense:
		switch d := x.Data().(type) {
		case float32:
			return d
		case []float32:
			return d[0]
		}
	}
	panic(fmt.Sprintf("fused: %T is not a float32 scalar", v))
}

// Types of the op signatures.
var (
	f32Mat = G.TensorType{Dims: 2, Of: tensor.Float32}
	i32Mat = G.TensorType{Dims: 2, Of: tensor.Int32}
	f32    = tensor.Float32
)

// base holds what every fused op has: its Env and a name that is unique
// within a graph and the same for the corresponding op of every graph on
// the Env (it keys the arena).
type base struct {
	env  *Env
	name string
}

func (o *base) ReturnsPtr() bool       { return true }
func (o *base) CallsExtern() bool      { return false }
func (o *base) OverwritesInput() int   { return -1 }
func (o *base) key(part string) string { return o.name + "/" + part }

// hashOp hashes the op's kind, name and identity: Gorgonia merges nodes
// whose ops and children hash alike, and two fused ops are never
// interchangeable.
func hashOp(h hash.Hash, kind string, op any) { fmt.Fprintf(h, "grain.%s@%p", kind, op) }

func hashcode(kind string, op any) uint32 {
	h := fnv.New32a()
	hashOp(h, kind, op)
	return h.Sum32()
}

func fnType(in []hm.Type, out hm.Type) hm.Type {
	return hm.NewFnType(append(append([]hm.Type(nil), in...), out)...)
}

func shapeOf(ds G.DimSizer) (tensor.Shape, error) {
	s, ok := ds.(tensor.Shape)
	if !ok {
		return nil, errors.New("fused: input shape is not a tensor.Shape")
	}
	return s, nil
}

// pick returns the gradient that a backward op left in the arena under key.
type pick struct {
	base
	shape tensor.Shape
}

// pickGrad makes a node that yields arena buffer key (the gradient of one
// input) after node bwd has run.
func pickGrad(env *Env, key string, shape tensor.Shape, bwd *G.Node) (*G.Node, error) {
	return G.ApplyOp(&pick{base: base{env: env, name: key}, shape: shape.Clone()}, bwd)
}

func (p *pick) Arity() int                                     { return 1 }
func (p *pick) Type() hm.Type                                  { return hm.NewFnType(f32Mat, f32Mat) }
func (p *pick) InferShape(...G.DimSizer) (tensor.Shape, error) { return p.shape.Clone(), nil }
func (p *pick) Do(...G.Value) (G.Value, error)                 { return p.env.value(p.name, p.shape...), nil }
func (p *pick) WriteHash(h hash.Hash)                          { hashOp(h, "pick", p) }
func (p *pick) Hashcode() uint32                               { return hashcode("pick", p) }
func (p *pick) String() string                                 { return "pick " + p.name }
func (p *pick) DiffWRT(int) []bool                             { return []bool{false} }
func (p *pick) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, errors.New("fused: gradients of gradients are not supported")
}

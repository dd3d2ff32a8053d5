//go:build grain_cuda

package cuda

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sort"
	"sync"
	"unsafe"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/kernels"
	"gorgonia.org/cu"
)

// Backend is the CUDA implementation of engine.Backend on one device: its
// primary context, one non-blocking stream on which every operation is
// queued in program order, a cuBLAS handle bound to that stream, and
// grain's kernels loaded from their PTX. A Backend may be used from several
// goroutines; operations are serialised.
type Backend struct {
	mu       sync.Mutex
	ordinal  int
	dev      cu.Device
	ctx      cu.CUContext
	stream   cu.Stream
	blas     cublasHandle
	mods     []cu.Module
	fns      [numKernels]cu.Function
	sms      int
	describe string

	flags   hostMapped // kernels' error flags (see flagNames)
	scratch *storage   // workspace of multi-stage kernels and GEMM input rounding
	args    [maxArgs]uint64
	argp    [maxArgs]unsafe.Pointer

	// AsyncUploader (async.go): a copy stream and a ring of events,
	// created on first use, and the live staging buffers.
	copyStream cu.Stream
	events     [numEvents]cu.Event
	nextEvent  int
	stagings   map[*staging]struct{}

	live   map[*storage]struct{}
	err    error // sticky: the first device error
	closed bool
}

// storage is one device allocation.
type storage struct {
	b     *Backend
	ptr   cu.DevicePtr
	bytes int64
}

func (s *storage) Backend() engine.Backend { return s.b }

// Open opens CUDA device ordinal directly (engine.Open("cuda:N") is the
// usual way).
func Open(ordinal int) (*Backend, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b := &Backend{ordinal: ordinal, live: map[*storage]struct{}{}, stagings: map[*staging]struct{}{}}
	var err error
	if b.dev, err = cu.GetDevice(ordinal); err != nil {
		return nil, fmt.Errorf("cuda:%d: %v", ordinal, cuErr(err))
	}
	if b.ctx, err = b.dev.RetainPrimaryCtx(); err != nil {
		return nil, fmt.Errorf("cuda:%d: primary context: %v", ordinal, cuErr(err))
	}
	fail := func(what string, err error) (*Backend, error) {
		b.release()
		return nil, fmt.Errorf("cuda:%d: %s: %v", ordinal, what, cuErr(err))
	}
	if err := cu.SetCurrentContext(b.ctx); err != nil {
		return fail("context", err)
	}
	if b.stream, err = cu.MakeStream(cu.NonBlocking); err != nil {
		return fail("stream", err)
	}
	if b.blas, err = newCublas(unsafe.Pointer(b.stream.C())); err != nil {
		return fail("cuBLAS", err)
	}
	mods := kernels.PTXModules()
	names := make([]string, 0, len(mods))
	for n := range mods {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		m, err := cu.LoadData(mods[n])
		if err != nil {
			return fail("loading the PTX of kernels/"+n+".cu", err)
		}
		b.mods = append(b.mods, m)
	}
	for id, name := range kernelNames {
		found := false
		for _, m := range b.mods {
			if f, err := m.Function(name); err == nil {
				b.fns[id], found = f, true
				break
			}
		}
		if !found {
			return fail("kernels", fmt.Errorf("%s is in no PTX module", name))
		}
	}
	if b.flags, err = newHostMapped(4 * numFlags); err != nil {
		return fail("error flags", err)
	}
	clear(b.flagWords())
	if b.sms, err = b.dev.Attribute(cu.MultiprocessorCount); err != nil {
		return fail("device attributes", err)
	}
	b.describe = b.description()
	return b, nil
}

// release frees what Open and the AsyncUploader acquired; safe on a partly
// opened backend.
func (b *Backend) release() {
	for s := range b.stagings {
		s.release()
		s.data = nil
	}
	b.stagings = nil
	if b.copyStream != (cu.Stream{}) {
		for i := range b.events {
			cu.DestroyEvent(&b.events[i])
		}
		b.copyStream.Destroy()
	}
	if b.flags.p != nil {
		b.flags.free()
		b.flags.p = nil
	}
	for _, m := range b.mods {
		m.Unload()
	}
	b.mods = nil
	if b.blas.h != nil {
		b.blas.destroy()
		b.blas.h = nil
	}
	if b.stream != (cu.Stream{}) {
		b.stream.Destroy()
	}
	b.dev.ReleasePrimaryCtx()
}

func (b *Backend) description() string {
	name, _ := b.dev.Name()
	major, minor, _ := b.dev.ComputeCapability()
	mem, _ := b.dev.TotalMem()
	drv := cu.Version()
	v := cublasVersion()
	return fmt.Sprintf("cuda:%d: %s (sm_%d%d, %d SMs, %.1f GiB), driver API %d.%d, cuBLAS %d.%d.%d (%s), kernels: PTX of %s",
		b.ordinal, name, major, minor, b.sms, float64(mem)/(1<<30), drv/1000, drv%1000/10,
		v/10000, v/100%100, v%100, loadPath(1), kernels.PTXCompiler)
}

// Name is "cuda:N".
func (b *Backend) Name() string { return fmt.Sprintf("cuda:%d", b.ordinal) }

// Describe names the device, the driver, cuBLAS and the kernels' PTX.
func (b *Backend) Describe() string { return b.describe }

// Close waits for queued work, frees every tensor the backend allocated and
// releases the device. Tensors of a closed backend are invalid.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cu.SetCurrentContext(b.ctx)
	err := b.syncLocked()
	if b.copyStream != (cu.Stream{}) {
		b.copyStream.Synchronize()
	}
	for s := range b.live {
		cu.MemFree(s.ptr)
		s.ptr = 0
	}
	b.live = nil
	b.release()
	b.closed = true
	return err
}

// enter locks the backend and makes its context current on this OS thread;
// it returns false (and leaves the backend locked) once a device error has
// been recorded, so that no more work is queued.
func (b *Backend) enter() bool {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		panic("cuda: backend " + b.Name() + " is closed")
	}
	runtime.LockOSThread()
	if b.err != nil {
		return false
	}
	if err := cu.SetCurrentContext(b.ctx); err != nil {
		b.fail(fmt.Errorf("cuda: making the context current: %v", cuErr(err)))
		return false
	}
	return true
}

func (b *Backend) leave() {
	runtime.UnlockOSThread()
	b.mu.Unlock()
}

// run queues the work of one operation, recording its error.
func (b *Backend) run(op string, work func() error) {
	if b.enter() {
		if err := work(); err != nil {
			b.fail(fmt.Errorf("cuda: %s: %w", op, cuErr(err)))
		}
	}
	b.leave()
}

// fail records the first device error; later operations are skipped and
// Sync, Download and Alloc report it.
func (b *Backend) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// Err returns the recorded device error without waiting for queued work.
func (b *Backend) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// cuErr turns an error of gorgonia.org/cu (a CUresult, which it names
// tersely) into one with the driver's own name and description.
func cuErr(err error) error {
	if v := reflect.ValueOf(err); err != nil && v.Kind() == reflect.Int {
		return errors.New(driverError(int(v.Int())))
	}
	return err
}

// ErrOutOfMemory is wrapped by the errors of allocations that fail for
// lack of GPU memory.
var ErrOutOfMemory = errors.New("out of GPU memory")

// Alloc returns a zero-filled tensor in device memory. Allocation failures,
// out-of-memory ones included, are returned (wrapping ErrOutOfMemory), as is
// a device error recorded earlier.
func (b *Backend) Alloc(rows, cols int, dt engine.DType) (*engine.Tensor, error) {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("cuda: Alloc %d×%d", rows, cols))
	}
	bytes := int64(rows) * int64(cols) * int64(dt.Size())
	s := &storage{b: b, bytes: bytes}
	var err error
	if b.enter() {
		err = b.allocLocked(s, fmt.Sprintf("%d×%d %v", rows, cols, dt))
	}
	if err == nil {
		err = b.err
	}
	b.leave()
	if err != nil {
		return nil, err
	}
	return engine.NewTensor(s, rows, cols, dt, 0), nil
}

// allocLocked gives s device memory of s.bytes bytes, zeroed in stream
// order.
func (b *Backend) allocLocked(s *storage, what string) error {
	if s.bytes == 0 {
		return nil
	}
	p, err := cu.MemAlloc(s.bytes)
	if err != nil {
		if err == cu.OutOfMemory {
			free, total, _ := cu.MemInfo()
			return fmt.Errorf("cuda: %w: %s needs %s on %s (%s free of %s)", ErrOutOfMemory, what,
				bytesString(s.bytes), b.Name(), bytesString(free), bytesString(total))
		}
		return fmt.Errorf("cuda: allocating %s (%s): %v", what, bytesString(s.bytes), cuErr(err))
	}
	s.ptr = p
	b.live[s] = struct{}{}
	if err := cu.MemsetD8Async(p, 0, s.bytes, b.stream); err != nil {
		b.fail(fmt.Errorf("cuda: zeroing %s: %v", what, cuErr(err)))
	}
	return nil
}

// Allocated reports the device memory allocated by Alloc and not yet
// freed: the number of buffers and their bytes.
func (b *Backend) Allocated() (buffers int, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.live {
		buffers++
		bytes += s.bytes
	}
	return buffers, bytes
}

// Free releases t's device memory after the queued work that may use it;
// freeing a view does nothing.
func (b *Backend) Free(t *engine.Tensor) {
	if t == nil || t.IsView() {
		return
	}
	s := b.mine(t)
	if s.ptr == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cu.SetCurrentContext(b.ctx)
	b.freeLocked(s)
}

func (b *Backend) freeLocked(s *storage) {
	if err := b.stream.Synchronize(); err != nil {
		b.fail(fmt.Errorf("cuda: %v", cuErr(err)))
	}
	if err := cu.MemFree(s.ptr); err != nil {
		b.fail(fmt.Errorf("cuda: freeing %s: %v", bytesString(s.bytes), cuErr(err)))
	}
	delete(b.live, s)
	s.ptr = 0
}

// mine returns t's storage, panicking if t belongs to another backend.
func (b *Backend) mine(t *engine.Tensor) *storage {
	if t == nil {
		panic("cuda: nil tensor")
	}
	s, ok := t.Storage().(*storage)
	if !ok || s.b != b {
		panic(fmt.Sprintf("cuda: tensor %v belongs to backend %s, not %s", t, t.Backend().Name(), b.Name()))
	}
	return s
}

// ptr is the device address of t's first element, checking dtype dt.
func (b *Backend) ptr(t *engine.Tensor, dt engine.DType) uint64 {
	s := b.mine(t)
	if t.DType() != dt {
		panic(fmt.Sprintf("cuda: tensor %v, want %v", t, dt))
	}
	if t.Len() > 0 && s.ptr == 0 {
		panic(fmt.Sprintf("cuda: tensor %v was freed", t))
	}
	return uint64(s.ptr) + uint64(t.Offset())*uint64(dt.Size())
}

// Upload copies host data into dst in stream order. The copy is staged by
// the driver before Upload returns, so src may be reused at once.
func (b *Backend) Upload(dst *engine.Tensor, src any) {
	p, n, dt := hostSlice(src)
	if n != dst.Len() {
		panic(fmt.Sprintf("cuda: Upload of %d values into %v", n, dst))
	}
	d := b.ptr(dst, dt)
	if n == 0 {
		return
	}
	b.run("Upload", func() error {
		return cu.MemcpyHtoDAsync(cu.DevicePtr(d), p, int64(n*dt.Size()), b.stream)
	})
	runtime.KeepAlive(src)
}

// Download copies src into dst after all queued work, and returns the
// recorded device error, if any.
func (b *Backend) Download(dst any, src *engine.Tensor) error {
	p, n, dt := hostSlice(dst)
	if n != src.Len() {
		panic(fmt.Sprintf("cuda: Download of %v into %d values", src, n))
	}
	s := b.ptr(src, dt)
	var err error
	if b.enter() {
		if n > 0 {
			if e := cu.MemcpyDtoHAsync(p, cu.DevicePtr(s), int64(n*dt.Size()), b.stream); e != nil {
				b.fail(fmt.Errorf("cuda: Download: %v", cuErr(e)))
			}
		}
		err = b.syncLocked()
	}
	if err == nil {
		err = b.err
	}
	b.leave()
	runtime.KeepAlive(dst)
	return err
}

// Sync waits for all queued work and returns the recorded device error.
func (b *Backend) Sync() error {
	var err error
	if b.enter() {
		err = b.syncLocked()
	}
	if err == nil {
		err = b.err
	}
	b.leave()
	return err
}

// syncLocked waits for the stream and turns raised kernel flags into the
// sticky error.
func (b *Backend) syncLocked() error {
	if err := b.stream.Synchronize(); err != nil {
		b.fail(fmt.Errorf("cuda: %v", cuErr(err)))
		return b.err
	}
	for i, f := range b.flagWords() {
		if f != 0 {
			b.fail(fmt.Errorf("cuda: %s", flagNames[i]))
			b.flagWords()[i] = 0
		}
	}
	return b.err
}

// hostSlice returns the address, length and dtype of a []float32,
// []float64 or []int32.
func hostSlice(x any) (unsafe.Pointer, int, engine.DType) {
	switch s := x.(type) {
	case []float32:
		return unsafe.Pointer(unsafe.SliceData(s)), len(s), engine.Float32
	case []float64:
		return unsafe.Pointer(unsafe.SliceData(s)), len(s), engine.Float64
	case []int32:
		return unsafe.Pointer(unsafe.SliceData(s)), len(s), engine.Int32
	}
	panic(fmt.Sprintf("cuda: host data of type %T", x))
}

// Error flags that kernels raise in host-mapped memory (kernels/grain.cuh
// GRAIN_FLAG_*), and the errors they become.
const numFlags = 4

var flagNames = [numFlags]string{
	"GatherColumns: an index is outside the source's columns",
	"SoftmaxCrossEntropy: a label is outside [0, k)",
	"Embedding: an id is outside the table's rows",
	"AttentionForward: a length is outside [1, S]",
}

func (b *Backend) flagWords() []int32 { return unsafe.Slice((*int32)(b.flags.p), numFlags) }

// scratchLocked returns a device workspace of at least bytes bytes, valid
// until the next call (operations run in stream order, so one operation's
// workspace is free again when the next one runs).
func (b *Backend) scratchLocked(bytes int64) (uint64, error) {
	if b.scratch != nil && b.scratch.bytes >= bytes {
		return uint64(b.scratch.ptr), nil
	}
	if b.scratch != nil {
		b.freeLocked(b.scratch)
	}
	s := &storage{b: b, bytes: max(bytes, 1<<20)}
	if err := b.allocLocked(s, "workspace"); err != nil {
		b.scratch = nil
		return 0, err
	}
	b.scratch = s
	return uint64(s.ptr), nil
}

func bytesString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

var _ engine.Backend = (*Backend)(nil)

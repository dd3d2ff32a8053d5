package engine

import "fmt"

// AsyncUploader is implemented by backends whose tensors do not live in
// host memory (the CUDA backend), so that a stream of host data (token
// blocks larger than device memory) can be copied to the device while the
// device computes on earlier blocks. Copies run on a copy stream of their
// own, from page-locked host buffers (Staging), ordered against the
// backend's work by Events:
//
//	for i, block := range blocks {        // two buffers: k = i % 2
//		stage[k].Wait()                   // its copy of block i−2 is done
//		read block i into stage[k].Float32s()
//		up.UploadAsync(dev[k], stage[k], used[k]) // after block i−2's work
//		... queue the work on dev[k] ...
//		used[k] = up.Record()             // the end of that work
//	}
//
// Reading block i+1 on the host, copying it, and computing on block i then
// overlap. Callers check for it with a type assertion and otherwise use
// Upload.
type AsyncUploader interface {
	// NewStaging allocates a page-locked host buffer of n float32 values.
	NewStaging(n int) (Staging, error)
	// Record returns an event that completes when all work queued on the
	// backend so far has finished.
	Record() (Event, error)
	// UploadAsync queues a copy of src's first dst.Len() values into dst
	// and returns at once. The copy starts after event after (nil: at
	// once, overtaking any work queued before, even the zero-fill of a
	// fresh Alloc of dst; pass the event recorded after the last work that
	// touches dst, or after its allocation), and every operation queued
	// after UploadAsync sees the copied values. src must not be written
	// until src.Wait returns.
	UploadAsync(dst *Tensor, src Staging, after Event)
}

// Staging is a page-locked host buffer of an AsyncUploader.
type Staging interface {
	// Float32s is the buffer's memory.
	Float32s() []float32
	// Wait blocks until every copy queued from the buffer has finished, and
	// returns a device error if one was recorded.
	Wait() error
	// Free waits and releases the buffer.
	Free()
}

// Event marks a point in a backend's queued work (see AsyncUploader).
type Event interface {
	// Wait blocks until the work before the event has finished.
	Wait() error
}

// uploadChunkValues is the size, in float32 values, of each host buffer of
// UploadRows (64 MiB).
const uploadChunkValues = 16 << 20

// UploadRows fills dst (rows × cols, Float32) with the rows that
// read(start, n, buf) writes into buf (n·cols values, row-major), in chunks
// of at most 64 MiB (at least one row), and returns the first error of read
// or of the copies; when it returns, dst holds the rows for all work queued
// afterwards and read is not called again. On an AsyncUploader the chunks
// go through two page-locked buffers, so that reading chunk i+1 overlaps
// the copy of chunk i and the copies run at the copy engine's page-locked
// rate; elsewhere, or when page-locked memory is refused, through one host
// buffer and Upload. Either way it holds at most two chunks of host memory,
// whatever dst's size.
func UploadRows(b Backend, dst *Tensor, read func(start, n int, buf []float32) error) error {
	if dst.DType() != Float32 {
		panic(fmt.Sprintf("engine: UploadRows into %v", dst))
	}
	rows, cols := dst.Rows(), dst.Cols()
	if rows == 0 || cols == 0 {
		return nil
	}
	chunk := max(1, min(rows, uploadChunkValues/cols))
	if up, ok := b.(AsyncUploader); ok {
		want := min(2, (rows+chunk-1)/chunk) // one buffer per chunk, up to two
		stages := make([]Staging, 0, want)
		defer func() {
			for _, s := range stages {
				s.Free()
			}
		}()
		for range want {
			s, err := up.NewStaging(chunk * cols)
			if err != nil {
				break
			}
			stages = append(stages, s)
		}
		if len(stages) == want {
			return uploadStaged(up, dst, chunk, stages, read)
		}
	}
	buf := make([]float32, chunk*cols)
	for start := 0; start < rows; start += chunk {
		n := min(chunk, rows-start)
		if err := read(start, n, buf[:n*cols]); err != nil {
			return err
		}
		b.Upload(dst.Slice(start, start+n), buf[:n*cols])
	}
	return nil
}

// uploadStaged is UploadRows through the page-locked buffers stages (one
// per chunk, up to two, used in turn).
func uploadStaged(up AsyncUploader, dst *Tensor, chunk int, stages []Staging, read func(start, n int, buf []float32) error) error {
	rows, cols := dst.Rows(), dst.Cols()
	// The copies run on the uploader's own stream: they start after the
	// work queued so far, which may still use dst's memory.
	after, err := up.Record()
	if err != nil {
		return err
	}
	for i, start := 0, 0; start < rows; i, start = i+1, start+chunk {
		s := stages[i%len(stages)]
		if err := s.Wait(); err != nil {
			return err
		}
		n := min(chunk, rows-start)
		if err := read(start, n, s.Float32s()[:n*cols]); err != nil {
			return err
		}
		up.UploadAsync(dst.Slice(start, start+n), s, after)
	}
	for _, s := range stages {
		if err := s.Wait(); err != nil {
			return err
		}
	}
	return nil
}

package engine

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
	// once; pass the event recorded after the last work that reads dst's
	// previous contents), and every operation queued after UploadAsync
	// sees the copied values. src must not be written until src.Wait
	// returns.
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

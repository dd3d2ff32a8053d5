//go:build grain_cuda

package cuda

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/grainlab/grain/engine"
	"gorgonia.org/cu"
)

// The backend's engine.AsyncUploader: copies from page-locked staging
// buffers run on a second stream, ordered against the main stream with
// events.

// numEvents is the size of the ring of events that Record hands out: an
// Event is re-recorded after that many more Records, and waiting on it then
// waits for later work (never for less).
const numEvents = 64

type staging struct {
	b        *Backend
	p        unsafe.Pointer
	data     []float32
	ev       cu.Event // recorded after each copy from the buffer
	recorded bool
}

type event struct {
	b  *Backend
	ev cu.Event
}

// NewStaging allocates a page-locked host buffer of n float32 values.
func (b *Backend) NewStaging(n int) (engine.Staging, error) {
	if n < 0 {
		panic(fmt.Sprintf("cuda: NewStaging(%d)", n))
	}
	s := &staging{b: b}
	var err error
	if b.enter() {
		err = b.asyncLocked()
		if err == nil {
			s.p, err = newPinned(max(4*n, 4))
		}
		if err == nil {
			s.ev, err = cu.MakeEvent(cu.DisableTiming)
			if err != nil {
				freePinned(s.p)
				err = fmt.Errorf("cuda: event: %v", cuErr(err))
			}
		}
	}
	if err == nil {
		err = b.err
	}
	b.leave()
	if err != nil {
		return nil, err
	}
	s.data = unsafe.Slice((*float32)(s.p), n)
	b.mu.Lock()
	b.stagings[s] = struct{}{}
	b.mu.Unlock()
	return s, nil
}

// asyncLocked creates the copy stream and the event ring on first use.
func (b *Backend) asyncLocked() error {
	if b.copyStream != (cu.Stream{}) {
		return nil
	}
	s, err := cu.MakeStream(cu.NonBlocking)
	if err != nil {
		return fmt.Errorf("cuda: copy stream: %v", cuErr(err))
	}
	for i := range b.events {
		if b.events[i], err = cu.MakeEvent(cu.DisableTiming); err != nil {
			for _, e := range b.events[:i] {
				cu.DestroyEvent(&e)
			}
			s.Destroy()
			return fmt.Errorf("cuda: events: %v", cuErr(err))
		}
	}
	b.copyStream = s
	return nil
}

// Record returns an event that completes when the work queued so far has
// finished.
func (b *Backend) Record() (engine.Event, error) {
	var e *event
	var err error
	if b.enter() {
		if err = b.asyncLocked(); err == nil {
			ev := b.events[b.nextEvent%numEvents]
			b.nextEvent++
			if err = ev.Record(b.stream); err != nil {
				err = fmt.Errorf("cuda: Record: %v", cuErr(err))
			}
			e = &event{b: b, ev: ev}
		}
	}
	if err == nil {
		err = b.err
	}
	b.leave()
	if err != nil {
		return nil, err
	}
	return e, nil
}

// UploadAsync queues a copy of src's first dst.Len() values into dst on
// the copy stream, after event after, and makes the backend's later work
// wait for it.
func (b *Backend) UploadAsync(dst *engine.Tensor, src engine.Staging, after engine.Event) {
	s, ok := src.(*staging)
	if !ok || s.b != b {
		panic(fmt.Sprintf("cuda: UploadAsync from a staging buffer of another backend (%T)", src))
	}
	if s.data == nil && dst.Len() > 0 {
		panic("cuda: UploadAsync from a freed staging buffer")
	}
	var wait *event
	if after != nil {
		if wait, ok = after.(*event); !ok || wait.b != b {
			panic(fmt.Sprintf("cuda: UploadAsync after an event of another backend (%T)", after))
		}
	}
	n := dst.Len()
	if n > len(s.data) {
		panic(fmt.Sprintf("cuda: UploadAsync of %v from a staging buffer of %d values", dst, len(s.data)))
	}
	d := b.ptr(dst, engine.Float32)
	if n == 0 {
		return
	}
	b.run("UploadAsync", func() error {
		if err := b.asyncLocked(); err != nil {
			return err
		}
		if wait != nil {
			if err := b.copyStream.Wait(wait.ev, 0); err != nil {
				return err
			}
		}
		if err := cu.MemcpyHtoDAsync(cu.DevicePtr(d), s.p, int64(4*n), b.copyStream); err != nil {
			return err
		}
		if err := s.ev.Record(b.copyStream); err != nil {
			return err
		}
		s.recorded = true
		return b.stream.Wait(s.ev, 0)
	})
}

// Wait blocks until the work before the event has finished.
func (e *event) Wait() error {
	return e.b.waitEvent(e.ev, "event")
}

func (s *staging) Float32s() []float32 { return s.data }

// Wait blocks until every copy queued from the buffer has finished.
func (s *staging) Wait() error {
	if s.data == nil {
		return nil // freed, or released by Close
	}
	if !s.recorded {
		return s.b.Err()
	}
	return s.b.waitEvent(s.ev, "staging buffer")
}

// Free waits for the buffer's copies and releases it.
func (s *staging) Free() {
	if s.data == nil {
		return
	}
	s.Wait()
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.stagings[s]; ok {
		runtime.LockOSThread()
		cu.SetCurrentContext(b.ctx)
		s.release()
		runtime.UnlockOSThread()
		delete(b.stagings, s)
	}
	s.data = nil
}

func (s *staging) release() {
	cu.DestroyEvent(&s.ev)
	freePinned(s.p)
}

func (b *Backend) waitEvent(ev cu.Event, what string) error {
	var err error
	if b.enter() {
		if e := ev.Synchronize(); e != nil {
			b.fail(fmt.Errorf("cuda: waiting for a %s: %v", what, cuErr(e)))
		}
	}
	err = b.err
	b.leave()
	return err
}

var _ engine.AsyncUploader = (*Backend)(nil)

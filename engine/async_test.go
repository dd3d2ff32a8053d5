package engine_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/cpu"
	"github.com/grainlab/grain/engine/enginetest"
)

// lazyUploader is the CPU backend with an engine.AsyncUploader whose copies
// happen late, as a GPU's may: a copy reads its page-locked buffer only
// when the buffer is waited for, so a buffer rewritten before Wait uploads
// the wrong rows; and it fails the test when a copy is not ordered after
// the work queued before it (queued counts that work, and an event is the
// count when it was recorded).
type lazyUploader struct {
	engine.Backend
	t        *testing.T
	queued   int
	refuse   bool // NewStaging fails
	live     int  // staging buffers not freed
	stagings int  // staging buffers made
}

type countEvent int

func (countEvent) Wait() error { return nil }

type lazyStaging struct {
	u       *lazyUploader
	data    []float32
	pending []*engine.Tensor // copies queued from the buffer, not yet made
	freed   bool
}

func (u *lazyUploader) NewStaging(n int) (engine.Staging, error) {
	if u.refuse {
		return nil, errors.New("page-locked memory refused")
	}
	u.live++
	u.stagings++
	return &lazyStaging{u: u, data: make([]float32, n)}, nil
}

func (u *lazyUploader) Record() (engine.Event, error) { return countEvent(u.queued), nil }

func (u *lazyUploader) UploadAsync(dst *engine.Tensor, src engine.Staging, after engine.Event) {
	if e, ok := after.(countEvent); !ok || int(e) < u.queued {
		u.t.Errorf("UploadAsync after %v, with %d operations queued before: the copy may overtake them", after, u.queued)
	}
	s := src.(*lazyStaging)
	s.pending = append(s.pending, dst)
}

func (s *lazyStaging) Float32s() []float32 { return s.data }

func (s *lazyStaging) Wait() error {
	for _, dst := range s.pending {
		s.u.Upload(dst, slices.Clone(s.data[:dst.Len()]))
	}
	s.pending = nil
	return nil
}

func (s *lazyStaging) Free() {
	if !s.freed {
		s.Wait()
		s.freed = true
		s.u.live--
	}
}

// TestUploadRowsContract runs UploadRows on lazyUploader (5.3 chunks of
// 64 MiB into a row view, after one queued operation), and with
// page-locked memory refused (the host-buffer path): the view holds the
// rows, the rows around it are untouched, every copy came after the
// queued work, both buffers were used and freed.
func TestUploadRowsContract(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		t.Run(map[bool]string{false: "page-locked", true: "refused"}[refuse], func(t *testing.T) { uploadRowsContract(t, refuse) })
	}
}

func uploadRowsContract(t *testing.T, refuse bool) {
	const cols = 1 << 16
	chunk := (16 << 20) / cols
	rows := 5*chunk + chunk/3
	value := func(i, j int) float32 { return float32(i%1009)*0.5 + float32(j%7) + 0.25 }
	u := &lazyUploader{Backend: cpu.New(), t: t, refuse: refuse}
	whole, err := u.Alloc(rows+2, cols, engine.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Free(whole)
	u.Fill(whole, -7)
	u.queued++
	err = engine.UploadRows(u, whole.Slice(1, rows+1), func(start, n int, buf []float32) error {
		for i := range n {
			for j := range cols {
				buf[i*cols+j] = value(start+i, j)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	enginetest.CheckFilledView(t, cpu.Float32s(whole), rows, cols, -7, value)
	if wantStagings := map[bool]int{false: 2, true: 0}[refuse]; u.stagings != wantStagings || u.live != 0 {
		t.Errorf("%d page-locked buffers made (want %d), %d not freed", u.stagings, wantStagings, u.live)
	}
}

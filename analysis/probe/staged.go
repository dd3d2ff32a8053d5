package probe

import (
	"fmt"
	"math/rand/v2"

	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/engine"
)

// staged is a design matrix and its labels made available on a device in
// chunks whose sizes are multiples of the batch size. When the whole matrix
// fits the memory budget it is uploaded once (or, on a host-memory backend
// with in-memory data, used in place); otherwise one chunk buffer is
// refilled from the Matrix as each chunk's turn comes. A device that can
// copy asynchronously (engine.AsyncUploader) gets the resident matrix
// through engine.UploadRows' page-locked buffers, from any Matrix; other
// devices get in-memory data (*dataset.Dense) straight from its rows, and
// the rest through UploadRows' host buffer: never a whole host copy.
type staged struct {
	b          engine.Backend
	x          dataset.Matrix
	rows, cols int
	batch      int
	chunkRows  int
	// resident holds the device copy when everything fits.
	resident *engine.Tensor
	// yDev holds the labels (nil when staged without labels).
	yDev *engine.Tensor
	// streaming buffers: the chunk read buffer (nil for in-memory data on a
	// device, uploaded from dense's rows) and the chunk on the device.
	host     []float32
	dense    *dataset.Dense
	buf      *engine.Tensor
	bufOwned bool
	owned    []*engine.Tensor
}

// stage prepares x (and its labels y, unless y is nil) for batches of the
// given size within a device memory budget in bytes.
func stage(b engine.Backend, x dataset.Matrix, y []int32, batch int, budget int64) (_ *staged, err error) {
	rows, cols := x.Dims()
	s := &staged{b: b, x: x, rows: rows, cols: cols, batch: batch}
	perRow := int64(cols) * 4
	chunk := int(budget / max(perRow, 1))
	chunk -= chunk % batch
	if chunk < batch {
		chunk = batch
	}
	defer func() {
		if err != nil {
			s.free()
		}
	}()
	if y != nil && rows > 0 {
		yDev, err := engine.AllocFrom(b, rows, 1, y)
		if err != nil {
			return nil, fmt.Errorf("probe: labels on %s: %w", b.Name(), err)
		}
		s.yDev = yDev
		s.owned = append(s.owned, yDev)
	}
	hm, hostMem := b.(engine.HostMemory)
	dense, inMemory := x.(*dataset.Dense)
	if rows <= chunk {
		s.chunkRows = rows
		if inMemory && hostMem {
			s.resident = hm.Wrap(dense.Data, rows, cols)
			return s, nil
		}
		if hostMem {
			data := make([]float32, rows*cols)
			if err := readAll(x, data); err != nil {
				return nil, err
			}
			s.resident = hm.Wrap(data, rows, cols)
			return s, nil
		}
		t, err := b.Alloc(rows, cols, engine.Float32)
		if err != nil {
			return nil, fmt.Errorf("probe: %d×%d design matrix on %s: %w (lower the memory budget to stream it)", rows, cols, b.Name(), err)
		}
		s.owned = append(s.owned, t)
		s.resident = t
		if _, async := b.(engine.AsyncUploader); inMemory && !async {
			b.Upload(t, dense.RowSlice(0, rows))
			return s, nil
		}
		read := func(start, n int, dst []float32) error { return dataset.ReadRowsParallel(x, start, n, dst) }
		if err := engine.UploadRows(b, t, read); err != nil {
			return nil, fmt.Errorf("probe: design matrix to %s: %w", b.Name(), err)
		}
		return s, nil
	}
	s.chunkRows = chunk
	if hostMem {
		s.host = make([]float32, chunk*cols)
		s.buf = hm.Wrap(s.host, chunk, cols)
		return s, nil
	}
	t, err := b.Alloc(chunk, cols, engine.Float32)
	if err != nil {
		return nil, fmt.Errorf("probe: chunk buffer on %s: %w", b.Name(), err)
	}
	s.buf, s.bufOwned = t, true
	s.owned = append(s.owned, t)
	if inMemory {
		s.dense = dense
	} else {
		s.host = make([]float32, chunk*cols)
	}
	return s, nil
}

func readAll(x dataset.Matrix, dst []float32) error {
	rows, cols := x.Dims()
	const block = 8192
	for st := 0; st < rows; st += block {
		n := min(block, rows-st)
		if err := x.ReadRows(st, n, dst[st*cols:(st+n)*cols]); err != nil {
			return err
		}
	}
	return nil
}

func (s *staged) free() {
	for _, t := range s.owned {
		s.b.Free(t)
	}
	s.owned = nil
}

// each calls fn on every batch (x: rows × cols view, y: rows × 1 labels or
// nil when staged without labels).
// With shuffle nil the batches come in order (NeuroX's protocol: batch i is
// rows [i·B, (i+1)·B)); otherwise the chunk order and the batch order within
// each chunk are permuted with shuffle.
func (s *staged) each(shuffle *rand.Rand, fn func(x, y *engine.Tensor)) error {
	nChunks := (s.rows + s.chunkRows - 1) / s.chunkRows
	chunks := identity(nChunks)
	if shuffle != nil {
		shuffle.Shuffle(len(chunks), func(i, j int) { chunks[i], chunks[j] = chunks[j], chunks[i] })
	}
	for _, c := range chunks {
		start := c * s.chunkRows
		n := min(s.chunkRows, s.rows-start)
		var x *engine.Tensor
		switch {
		case s.resident != nil:
			x = s.resident
		case s.dense != nil:
			x = s.buf.Slice(0, n)
			s.b.Upload(x, s.dense.RowSlice(start, n))
		default:
			h := s.host[:n*s.cols]
			if err := s.x.ReadRows(start, n, h); err != nil {
				return err
			}
			x = s.buf.Slice(0, n)
			if s.bufOwned {
				s.b.Upload(x, h)
			}
		}
		var y *engine.Tensor
		if s.yDev != nil {
			y = s.yDev.Slice(start, start+n)
		}
		nb := (n + s.batch - 1) / s.batch
		batches := identity(nb)
		if shuffle != nil {
			shuffle.Shuffle(nb, func(i, j int) { batches[i], batches[j] = batches[j], batches[i] })
		}
		for _, bi := range batches {
			lo, hi := bi*s.batch, min((bi+1)*s.batch, n)
			var yb *engine.Tensor
			if y != nil {
				yb = y.Slice(lo, hi)
			}
			fn(x.Slice(lo, hi), yb)
		}
		if s.resident == nil {
			// The buffer is refilled for the next chunk: queued work that
			// reads it must finish first.
			if err := s.b.Sync(); err != nil {
				return err
			}
		}
	}
	return nil
}

func identity(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return p
}

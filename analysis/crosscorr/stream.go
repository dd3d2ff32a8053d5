package crosscorr

import (
	"errors"
	"fmt"
	"math"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/progress"
)

// input is one model during a computation.
type input struct {
	name     string
	src      Source
	view     RowViewer // nil when src cannot expose rows in place
	n        int
	stats    *engine.ColumnStats
	constant []int
	// std standardizes the blocks, with its Shift and Scale uploaded
	// (1×n Float32); w and g (n×1 Float32) are its Correction, which
	// turns the products of the blocks into correlations once the exact
	// moments are known.
	std                Standardization
	shift, scale, w, g *engine.Tensor
	// The token block buffers of the input's path (see the package
	// documentation): B×n blocks, one or, double-buffered, two; beside
	// each of those the double-buffered path's page-locked buffer; the
	// uploading path's host read buffer (nil when rows are viewed).
	blocks []*engine.Tensor
	stage  []engine.Staging
	host   []float32
	// The current token block: x holds its rows and z is the block that a
	// sweep standardizes them into (x == z unless x views rows in place).
	x, z *engine.Tensor
}

// job is one product Z_aᵀ·Z_b / T of standardized activations to
// accumulate: the correlations between the neurons of inputs a and b (a == b
// gives a model's own correlation matrix).
type job struct {
	a, b   int
	keep   bool       // hold the whole n_a×n_b result in r
	reduce bool       // per-neuron extremes (and top-k) in rows and cols
	r      []float32  // n_a×n_b row-major, when keep
	rows   []Extremes // per neuron of a, over the neurons of b
	cols   []Extremes // per neuron of b, over the neurons of a
}

// tile is the part [i0, i1) × [j0, j1) of a job's result that one sweep
// accumulates.
type tile struct {
	j              *job
	i0, i1, j0, j1 int
}

func (t tile) elems() int { return (t.i1 - t.i0) * (t.j1 - t.j0) }

// panelKey names the columns [lo, hi) of an input gathered into a panel
// because a tile uses only part of the input's neurons.
type panelKey struct{ in, lo, hi int }

// sweep is one streaming pass over all tokens that accumulates a set of
// tiles.
type sweep struct {
	tiles  []tile
	inputs []int
	panels []panelKey
}

// plan is how a computation fits the memory budget.
type plan struct {
	blockRows  int
	ringRows   int // rows of the first sweep's ring of block moments
	sweeps     []sweep
	arenaElems int // largest Σ tile elements held in the backend by one sweep
	stageElems int // largest Σ tile elements staged on the host by one sweep
	panelCols  int // largest Σ panel widths of one sweep
	maxRows    int // largest tile height
	maxCols    int // largest tile width
}

// runner executes the sweeps for a set of jobs.
type runner struct {
	be     engine.Backend
	hm     engine.HostMemory    // non-nil when tensors can wrap host memory
	up     engine.AsyncUploader // non-nil on the double-buffered path
	pr     engine.PreRounded    // non-nil when GEMM inputs can be pre-rounded
	in     []*input
	jobs   []*job
	tokens int
	opt    Options
	owned  []*engine.Tensor
	stages []engine.Staging
	// used[k] marks the end of the work queued on the inputs' blocks[k]
	// (double-buffered path; before any, the end of their allocation,
	// whose zero-fill an upload must not overtake).
	used [2]engine.Event
	// reserve is host memory outside the streaming passes that the budget
	// must leave free (the float64 workspace of LinReg and SVCCA).
	reserve int64
}

func newRunner(be engine.Backend, models []Model, opt Options) (*runner, error) {
	if err := opt.validate(); err != nil {
		return nil, err
	}
	if err := CheckAligned(models); err != nil {
		return nil, err
	}
	r := &runner{be: be, opt: opt, tokens: models[0].Source.NumTokens()}
	r.detect()
	for _, m := range models {
		in := &input{name: m.Name, src: m.Source, n: m.Source.NumNeurons()}
		in.view, _ = m.Source.(RowViewer)
		if v, ok := m.Source.(interface{ Viewable() bool }); ok && !v.Viewable() {
			in.view = nil // its views would be copies the budget does not count
		}
		r.in = append(r.in, in)
	}
	return r, nil
}

// detect looks for the backend's optional interfaces: engine.HostMemory
// (the host-memory path), else engine.AsyncUploader (the double-buffered
// path), and engine.PreRounded.
func (r *runner) detect() {
	r.hm, _ = r.be.(engine.HostMemory)
	if r.hm == nil {
		r.up, _ = r.be.(engine.AsyncUploader)
	}
	r.pr, _ = r.be.(engine.PreRounded)
}

// addJob registers the product of inputs a and b.
func (r *runner) addJob(a, b int, keep, reduce bool) *job {
	j := &job{a: a, b: b, keep: keep, reduce: reduce}
	na, nb := r.in[a].n, r.in[b].n
	if keep {
		j.r = make([]float32, na*nb)
	}
	if reduce {
		j.rows, j.cols = newExtremes(na), newExtremes(nb)
	}
	r.jobs = append(r.jobs, j)
	return j
}

func newExtremes(n int) []Extremes {
	e := make([]Extremes, n)
	for i := range e {
		e[i].Max.Neuron, e[i].Min.Neuron = -1, -1
	}
	return e
}

// rowFactor is h_m in the budget formula, the float32 values per token and
// neuron that an input's block buffers hold: 4 on the double-buffered path
// (two device blocks, two page-locked buffers); 1 when the block is the
// only buffer (host memory, or rows viewed in place and uploaded); else 2
// (a host read buffer beside the device block).
func (r *runner) rowFactor(in *input) int64 {
	switch {
	case r.up != nil:
		return 4
	case r.hm != nil || in.view != nil:
		return 1
	}
	return 2
}

// tileCost is the bytes one element of a job's tile holds: 4 on the
// backend, plus 4 of host staging for top-k on backends without host
// memory; 0 for kept results on host-memory backends, where the GEMM
// accumulates into the (already counted) result itself.
func (r *runner) tileCost(j *job) int64 {
	switch {
	case j.keep && r.hm != nil:
		return 0
	case r.opt.TopK > 0 && j.reduce && !j.keep && r.hm == nil:
		return 8
	}
	return 4
}

// plan splits the jobs into tiles and sweeps and chooses the block height
// under the memory budget, as described in the package documentation.
func (r *runner) plan() (*plan, error) {
	total := r.opt.memory()
	budget := total - min(processReserve, total/4)
	var resident int64
	for _, j := range r.jobs {
		if j.keep {
			resident += 4 * int64(r.in[j.a].n) * int64(r.in[j.b].n)
		}
	}
	if resident+r.reserve > budget/2 {
		return nil, fmt.Errorf("crosscorr: the full correlation matrices and their float64 workspace need %s, more than half the usable memory budget %s of %s (raise the budget)",
			bytesString(resident+r.reserve), bytesString(budget), bytesString(total))
	}
	resident += r.reserve
	avail := budget - resident
	var first *plan
	var err error
	for div := int64(2); div <= maxShareDiv; div *= 2 {
		p, e := r.planShare(budget, resident, avail/div)
		if e != nil {
			err = e
			continue
		}
		if p.blockRows >= min(r.tokens, targetBlockRows) {
			return p, nil
		}
		if first == nil {
			first = p
		}
	}
	if first == nil {
		return nil, err
	}
	return first, nil
}

// planShare plans with share bytes for the tiles of one sweep.
func (r *runner) planShare(budget, resident, share int64) (*plan, error) {
	avail := budget - resident
	var tiles []tile
	for _, j := range r.jobs {
		na, nb := r.in[j.a].n, r.in[j.b].n
		c := r.tileCost(j)
		if c == 0 || int64(na)*int64(nb)*c <= share {
			tiles = append(tiles, tile{j, 0, na, 0, nb})
			continue
		}
		// Row panels of full width when they are tall enough (always for
		// kept results, so each tile is a contiguous block of rows), else
		// near-square tiles.
		np, mp := int(min(share/(c*int64(nb)), int64(na))), nb
		if !j.keep && np < min(na, 64) {
			s := int(math.Sqrt(float64(share / c)))
			np = min(na, s)
			mp = int(min(int64(nb), share/(c*int64(max(np, 1)))))
		}
		if np < 1 || mp < 1 {
			return nil, fmt.Errorf("crosscorr: usable memory budget %s is too small for one row of a %d×%d correlation tile", bytesString(budget), na, nb)
		}
		for i0 := 0; i0 < na; i0 += np {
			for j0 := 0; j0 < nb; j0 += mp {
				tiles = append(tiles, tile{j, i0, min(i0+np, na), j0, min(j0+mp, nb)})
			}
		}
	}
	p := &plan{}
	var cur sweep
	var curBytes int64
	for _, t := range tiles {
		b := int64(t.elems()) * r.tileCost(t.j)
		if len(cur.tiles) > 0 && curBytes+b > share {
			p.sweeps = append(p.sweeps, cur)
			cur, curBytes = sweep{}, 0
		}
		cur.tiles = append(cur.tiles, t)
		curBytes += b
	}
	p.sweeps = append(p.sweeps, cur)

	var tileBytes int64
	for s := range p.sweeps {
		sw := &p.sweeps[s]
		cols := r.layOut(sw)
		var arena, stage int
		var bytes int64
		for _, t := range sw.tiles {
			switch c := r.tileCost(t.j); c {
			case 8:
				stage += t.elems()
				fallthrough
			case 4:
				arena += t.elems()
			}
			bytes += int64(t.elems()) * r.tileCost(t.j)
			p.maxRows = max(p.maxRows, t.i1-t.i0)
			p.maxCols = max(p.maxCols, t.j1-t.j0)
		}
		p.arenaElems = max(p.arenaElems, arena)
		p.stageElems = max(p.stageElems, stage)
		p.panelCols = max(p.panelCols, cols)
		tileBytes = max(tileBytes, bytes)
	}
	// A sweep holds the blocks, the gathered panels and the tiles, and the
	// first, double-buffered, the ring of block moments (ringBytes per
	// row: float64 mean and m2 of every neuron on the device and on the
	// host).
	var blockBytes, ringBytes int64
	for _, in := range r.in {
		blockBytes += 4 * int64(in.n) * r.rowFactor(in)
		if r.up != nil {
			ringBytes += 32 * int64(in.n)
		}
	}
	rowBytes := blockBytes + 4*int64(p.panelCols)
	var ring int64 // room kept for the ring beside the tiles
	if r.up != nil {
		want := max(ringMinRows, int64(r.tokens+MaxBlockRows-1)/MaxBlockRows)
		ring = max(ringBytes, min(want*ringBytes, (avail-tileBytes)/8))
	}
	rows := (avail - tileBytes - ring) / rowBytes
	p.blockRows = int(min(rows, int64(min(r.tokens, MaxBlockRows))))
	if need := min(r.tokens, minBlockRows); p.blockRows < need {
		return nil, fmt.Errorf("crosscorr: usable memory budget %s is too small: blocks of %d tokens need %s beside %s of correlation tiles and matrices",
			bytesString(budget), need, bytesString(int64(need)*rowBytes), bytesString(tileBytes+ring+resident))
	}
	p.ringRows = 1
	if r.up != nil {
		blocks := (r.tokens + p.blockRows - 1) / p.blockRows
		p.ringRows = int(min(int64(blocks), ring/ringBytes))
	}
	return p, nil
}

// layOut sets the inputs a sweep's tiles read and the column panels
// gathered for them, and returns the columns per token row the panel
// buffer needs: the panels' total width, or neuron-major every input's
// whole width.
func (r *runner) layOut(sw *sweep) int {
	major := r.neuronMajor()
	used := make([]bool, len(r.in))
	seen := map[panelKey]bool{}
	sw.inputs, sw.panels = nil, nil
	cols := 0
	for _, t := range sw.tiles {
		used[t.j.a], used[t.j.b] = true, true
		for _, k := range []panelKey{{t.j.a, t.i0, t.i1}, {t.j.b, t.j0, t.j1}} {
			if !major && (k.lo > 0 || k.hi < r.in[k.in].n) && !seen[k] {
				seen[k] = true
				sw.panels = append(sw.panels, k)
				cols += k.hi - k.lo
			}
		}
	}
	for m, u := range used {
		if u {
			sw.inputs = append(sw.inputs, m)
			if major {
				cols += r.in[m].n
			}
		}
	}
	return cols
}

// neuronMajor reports whether the sweeps standardize each block
// neuron-major (engine.PreRounded's StandardizeRoundedT, into the panel
// buffer: a row of every neuron) and multiply the blocks as Y_aᵀ·Y_b =
// GemmPreRounded(false, true, Y_aᵀ, Y_bᵀ), both operands contiguous along
// the tokens. It does on device backends in TF32 and BF16, where the
// token-major products ran 1.5× slower on an H100 (FP32 products were not
// slower; bench/RESULTS.md, "GPU"). Column panels are then row slices, and
// need no gathering.
func (r *runner) neuronMajor() bool {
	return r.pr != nil && r.hm == nil && r.opt.Precision != engine.FP32
}

// alloc allocates a Float32 tensor that the runner frees at the end, and
// its host memory when the backend has host memory.
func (r *runner) alloc(rows, cols int) (*engine.Tensor, []float32, error) {
	if r.hm != nil {
		h := make([]float32, rows*cols)
		return r.hm.Wrap(h, rows, cols), h, nil
	}
	t, err := r.be.Alloc(rows, cols, engine.Float32)
	if err != nil {
		return nil, nil, err
	}
	r.owned = append(r.owned, t)
	return t, nil, nil
}

func (r *runner) allocDT(rows, cols int, dt engine.DType) (*engine.Tensor, error) {
	t, err := r.be.Alloc(rows, cols, dt)
	if err != nil {
		return nil, err
	}
	r.owned = append(r.owned, t)
	return t, nil
}

func (r *runner) free() {
	for _, t := range r.owned {
		r.be.Free(t)
	}
	r.owned = nil
	for _, s := range r.stages {
		s.Free()
	}
	r.stages = nil
}

// execute plans the registered jobs and runs them.
func (r *runner) execute() error {
	p, err := r.plan()
	if err != nil {
		return err
	}
	return r.run(p)
}

// run executes the sweeps of plan p.
func (r *runner) run(p *plan) error {
	defer r.free()
	B := p.blockRows
	if err := r.allocBlocks(B); err != nil {
		return err
	}
	if err := r.sample(); err != nil {
		return err
	}
	bar := r.opt.reporter().Start("crosscorr: correlations", int64(r.tokens)*int64(len(p.sweeps)))
	defer bar.Finish()
	w := &workspace{}
	var err error
	if p.arenaElems > 0 {
		if w.arena, w.arenaHost, err = r.alloc(p.arenaElems, 1); err != nil {
			return err
		}
	}
	if p.panelCols > 0 {
		if w.panels, _, err = r.alloc(B*p.panelCols, 1); err != nil {
			return err
		}
	}
	w.stage = make([]float32, p.stageElems)
	if w.rv, _, err = r.alloc(p.maxRows, 1); err != nil {
		return err
	}
	if w.cv, _, err = r.alloc(p.maxCols, 1); err != nil {
		return err
	}
	if w.ri, err = r.allocDT(p.maxRows, 1, engine.Int32); err != nil {
		return err
	}
	if w.ci, err = r.allocDT(p.maxCols, 1, engine.Int32); err != nil {
		return err
	}
	// The first sweep standardizes with the sample and gathers the exact
	// moments; the others standardize with those. If the sample does not
	// fit them, the first sweep's products are made again with them.
	for s := range p.sweeps {
		bar.SetStatus(fmt.Sprintf("sweep %d/%d", s+1, len(p.sweeps)))
		var ring *momentRing
		if s == 0 {
			if ring, err = r.newRing(B, p.ringRows); err != nil {
				return err
			}
		}
		err := r.sweep(&p.sweeps[s], ring, B, w, bar)
		if ring != nil {
			ring.free()
		}
		if errors.Is(err, errNotTypical) {
			if err = r.exact(); err == nil {
				again := r.opt.reporter().Start("crosscorr: correlations again, standardized with the exact moments (the sampled rows were not typical of the tokens)", int64(r.tokens))
				err = r.sweep(&p.sweeps[s], nil, B, w, again)
				again.Finish()
			}
		} else if err == nil && s == 0 && len(p.sweeps) > 1 {
			err = r.exact()
		}
		if err != nil {
			return err
		}
	}
	for _, j := range r.jobs {
		for i, v := range j.r {
			j.r[i] = clamp(v)
		}
	}
	return nil
}

// allocBlocks allocates every input's block buffers for blocks of B
// tokens.
func (r *runner) allocBlocks(B int) error {
	nb := 1
	if r.up != nil {
		nb = 2
	}
	for _, in := range r.in {
		var h []float32
		for range nb {
			t, ht, err := r.alloc(B, in.n)
			if err != nil {
				return err
			}
			in.blocks, h = append(in.blocks, t), ht
		}
		switch {
		case r.up != nil:
			for range nb {
				s, err := r.up.NewStaging(B * in.n)
				if err != nil {
					return fmt.Errorf("crosscorr: model %q: page-locked buffer of %d tokens: %w", in.name, B, err)
				}
				r.stages = append(r.stages, s)
				in.stage = append(in.stage, s)
			}
		case in.view != nil:
		case r.hm != nil:
			in.host = h // the block wraps it
		default:
			in.host = make([]float32, B*in.n)
		}
	}
	if r.up != nil {
		ev, err := r.up.Record()
		if err != nil {
			return err
		}
		r.used = [2]engine.Event{ev, ev}
	}
	return nil
}

// stream calls work for every block of tokens [t0, t0+b), b = min(B, T−t0),
// once the block's rows of the inputs ins are current (in.x, in.z). On the
// double-buffered path block i goes through buffers k = i mod 2 and the
// event recorded after work marks the end of the work on them, as
// engine.AsyncUploader describes: while the device computes on block i,
// the host reads block i+1 and the copy engine uploads it, and the host
// waits only for a buffer's copy of block i−1 before refilling it (work
// may wait for the device too: the first sweep's ring downloads).
func (r *runner) stream(ins []int, B int, work func(t0, b int) error) error {
	for i, t0 := 0, 0; t0 < r.tokens; i, t0 = i+1, t0+B {
		b, k := min(B, r.tokens-t0), i%2
		for _, m := range ins {
			var err error
			if r.up != nil {
				err = r.fill(r.in[m], k, t0, b)
			} else {
				err = r.load(r.in[m], t0, b)
			}
			if err != nil {
				return err
			}
		}
		if err := work(t0, b); err != nil {
			return err
		}
		if r.up != nil {
			ev, err := r.up.Record()
			if err != nil {
				return err
			}
			r.used[k] = ev
		}
	}
	return nil
}

// load makes rows [t0, t0+b) of in current on the host-memory and
// uploading paths: viewed in place or read into the block (host memory),
// else uploaded into the block from the view or the read buffer.
func (r *runner) load(in *input, t0, b int) error {
	in.z = in.blocks[0].Slice(0, b)
	in.x = in.z
	var h []float32
	if in.view != nil {
		v, err := in.view.ViewRows(t0, b)
		if err != nil {
			return fmt.Errorf("crosscorr: model %q: %w", in.name, err)
		}
		if len(v) != b*in.n {
			return fmt.Errorf("crosscorr: model %q: viewing %d rows gave %d values, want %d", in.name, b, len(v), b*in.n)
		}
		if r.hm != nil {
			in.x = r.hm.Wrap(v, b, in.n)
			return nil
		}
		h = v
	} else {
		h = in.host[:b*in.n]
		if err := in.src.ReadRows(t0, b, h); err != nil {
			return fmt.Errorf("crosscorr: model %q: %w", in.name, err)
		}
		if r.hm != nil {
			return nil // the block wraps in.host
		}
	}
	r.be.Upload(in.z, h)
	return nil
}

// fill makes rows [t0, t0+b) of in current on the double-buffered path,
// through page-locked buffer and device block k: it waits for the buffer's
// previous copy, reads the rows into the buffer and queues their copy into
// the block after the end of the block's previous work.
func (r *runner) fill(in *input, k, t0, b int) error {
	st := in.stage[k]
	if err := st.Wait(); err != nil {
		return err
	}
	if err := in.src.ReadRows(t0, b, st.Float32s()[:b*in.n]); err != nil {
		return fmt.Errorf("crosscorr: model %q: %w", in.name, err)
	}
	in.x = in.blocks[k].Slice(0, b)
	in.z = in.x
	r.up.UploadAsync(in.x, st, r.used[k])
	return nil
}

// sample sets every input's standardization from a sample of its rows
// (SampleStandardization) and uploads it.
func (r *runner) sample() error {
	for _, in := range r.in {
		var err error
		if in.std, err = SampleStandardization(in.src); err != nil {
			return fmt.Errorf("crosscorr: model %q: %w", in.name, err)
		}
		if in.shift, err = r.upload(in.std.Shift, 1, in.n); err != nil {
			return err
		}
		if in.scale, err = r.upload(in.std.Scale, 1, in.n); err != nil {
			return err
		}
	}
	return nil
}

// momentRing holds the moments of the first sweep's blocks: block i's go
// into row i mod R of an R×n ring per input (R = plan.ringRows: 1, or on
// the double-buffered path as many blocks as the budget allows), which is
// downloaded when full, so the block loop waits for the device only once
// per R blocks. The rows are merged into the inputs' ColumnStats (fresh
// ones, made by newRing) in block order, so R does not change the result. A non-finite moment is traced
// to its value by re-reading the block on the host.
type momentRing struct {
	r            *runner
	B, R         int
	mean, m2     []*engine.Tensor // per input, R×n Float64
	hmean, hm2   [][]float64      // their host copies
	filled, next int              // rows filled; the token row of the block in row 0
}

func (r *runner) newRing(B, R int) (*momentRing, error) {
	g := &momentRing{r: r, B: B, R: R}
	for _, in := range r.in {
		in.stats = engine.NewColumnStats(in.n)
		mean, err := r.be.Alloc(R, in.n, engine.Float64)
		if err != nil {
			g.free()
			return nil, err
		}
		g.mean = append(g.mean, mean)
		m2, err := r.be.Alloc(R, in.n, engine.Float64)
		if err != nil {
			g.free()
			return nil, err
		}
		g.m2 = append(g.m2, m2)
		g.hmean, g.hm2 = append(g.hmean, make([]float64, R*in.n)), append(g.hm2, make([]float64, R*in.n))
	}
	return g, nil
}

func (g *momentRing) free() {
	for _, t := range append(g.mean, g.m2...) {
		g.r.be.Free(t)
	}
	g.mean, g.m2 = nil, nil
}

// row returns the ring row that receives input m's moments of the current
// block.
func (g *momentRing) row(m int) (mean, m2 *engine.Tensor) {
	return g.mean[m].Slice(g.filled, g.filled+1), g.m2[m].Slice(g.filled, g.filled+1)
}

// advance ends the current block, and flushes the ring when it is full.
func (g *momentRing) advance() error {
	if g.filled++; g.filled < g.R {
		return nil
	}
	return g.flush()
}

// flush downloads the filled rows, checks them and merges them in block
// order.
func (g *momentRing) flush() error {
	r := g.r
	if g.filled == 0 {
		return nil
	}
	for m, in := range r.in {
		if err := r.be.Download(g.hmean[m][:g.filled*in.n], g.mean[m].Slice(0, g.filled)); err != nil {
			return err
		}
		if err := r.be.Download(g.hm2[m][:g.filled*in.n], g.m2[m].Slice(0, g.filled)); err != nil {
			return err
		}
	}
	for s := range g.filled {
		t0 := g.next + s*g.B
		b := min(g.B, r.tokens-t0)
		for m, in := range r.in {
			mean, m2 := g.hmean[m][s*in.n:(s+1)*in.n], g.hm2[m][s*in.n:(s+1)*in.n]
			for j := range mean {
				if !finite(mean[j]) || !finite(m2[j]) {
					return locate(in, t0, b)
				}
			}
			in.stats.Merge(int64(b), mean, m2)
		}
	}
	g.next, g.filled = g.next+g.filled*g.B, 0
	return nil
}

// finish sets every input's constant neurons and the vectors w and g of
// its Correction, from its exact moments.
func (r *runner) finish() error {
	for _, in := range r.in {
		var w, g []float32
		w, g, in.constant = in.std.Correction(in.stats)
		if in.w != nil {
			r.be.Upload(in.w, w)
			r.be.Upload(in.g, g)
			continue
		}
		var err error
		if in.w, err = r.upload(w, in.n, 1); err != nil {
			return err
		}
		if in.g, err = r.upload(g, in.n, 1); err != nil {
			return err
		}
	}
	return nil
}

// fits reports whether every input's sampled standardization Fits its
// exact moments.
func (r *runner) fits() bool {
	for _, in := range r.in {
		if !in.std.Fits(in.stats) {
			return false
		}
	}
	return true
}

// exact standardizes every input by its exact moments from now on
// (Exact), with w and g to match. A neuron whose activations could
// overflow float32 even centred on their mean is an error naming it.
func (r *runner) exact() error {
	for _, in := range r.in {
		in.std = Exact(in.stats)
		if j := in.std.centredOverflow(in.stats); j >= 0 {
			return fmt.Errorf("crosscorr: model %q, neuron %d: activations of mean %.4g and σ %.4g may lie beyond float32's range once centred (up to σ·√T = %.4g from the mean); scale them down",
				in.name, j, in.stats.Mean[j], math.Sqrt(in.stats.Variance(j)), math.Sqrt(in.stats.Variance(j)*float64(in.stats.N)))
		}
		r.be.Upload(in.shift, in.std.Shift)
		r.be.Upload(in.scale, in.std.Scale)
	}
	return r.finish()
}

// errNotTypical is the first sweep's report that its sampled
// standardization does not fit the exact moments (runner.fits).
var errNotTypical = errors.New("crosscorr: the sampled rows are not typical of the tokens")

// upload allocates a rows×cols tensor that the runner frees at the end,
// holding v.
func (r *runner) upload(v []float32, rows, cols int) (*engine.Tensor, error) {
	t, err := engine.AllocFrom(r.be, rows, cols, v)
	if err != nil {
		return nil, err
	}
	r.owned = append(r.owned, t)
	return t, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// locate re-reads rows [t0, t0+b) of in on the host and names their first
// NaN or ±Inf.
func locate(in *input, t0, b int) error {
	h := make([]float32, b*in.n)
	if err := in.src.ReadRows(t0, b, h); err != nil {
		return fmt.Errorf("crosscorr: model %q: %w", in.name, err)
	}
	return nonFinite(in, t0, h)
}

// nonFinite names the first NaN or ±Inf in the block h of in starting at
// token row t0.
func nonFinite(in *input, t0 int, h []float32) error {
	if err := firstNonFinite(h, in.n, func(k int) int { return t0 + k }); err != nil {
		return fmt.Errorf("crosscorr: model %q: %w", in.name, err)
	}
	return fmt.Errorf("crosscorr: model %q: non-finite statistics in rows [%d, %d)", in.name, t0, t0+len(h)/in.n)
}

// firstNonFinite names the first NaN or ±Inf in the rows h of n values,
// row k being token row tokenRow(k); nil when every value is finite.
func firstNonFinite(h []float32, n int, tokenRow func(k int) int) error {
	for i, v := range h {
		if !finite(float64(v)) {
			return fmt.Errorf("token row %d, neuron %d: activation %v is not finite", tokenRow(i/n), i%n, v)
		}
	}
	return nil
}

// workspace holds the buffers that sweeps reuse.
type workspace struct {
	arena     *engine.Tensor // tiles (p.arenaElems×1)
	arenaHost []float32      // arena's memory on host-memory backends
	panels    *engine.Tensor // gathered column panels (B·panelCols×1)
	stage     []float32      // host copies of tiles for top-k
	rv, cv    *engine.Tensor // reduced values (maxRows×1, maxCols×1)
	ri, ci    *engine.Tensor // their indices
}

// liveTile is a tile with its accumulator during a sweep.
type liveTile struct {
	tile
	c    *engine.Tensor
	host []float32 // c's values on the host, when c lives in host memory
}

// sweep streams all tokens once for one set of tiles: it standardizes
// every block, y = (x − shift)·scale, and accumulates Y_aᵀ·Y_b into each
// tile, then turns the tiles into correlations with AffineOuter (see
// finish) and reduces them. The first sweep (ring non-nil) also reads the
// inputs that its tiles do not use, and gives every input's moments,
// from the same loads as the standardization where the backend can
// (StandardizeRoundedTMoments). In TF32 and BF16 on an engine.PreRounded
// backend the blocks are rounded as they are standardized and the GEMMs
// skip their rounding copies (the same products).
func (r *runner) sweep(s *sweep, ring *momentRing, B int, w *workspace, bar progress.Bar) error {
	live := make([]liveTile, len(s.tiles))
	off := 0
	for k, t := range s.tiles {
		rows, cols := t.i1-t.i0, t.j1-t.j0
		lt := liveTile{tile: t}
		if r.tileCost(t.j) == 0 {
			nb := r.in[t.j.b].n
			lt.host = t.j.r[t.i0*nb : t.i1*nb]
			lt.c = r.hm.Wrap(lt.host, rows, cols)
		} else {
			e := rows * cols
			lt.c = w.arena.Slice(off, off+e).Reshape(rows, cols)
			if w.arenaHost != nil {
				lt.host = w.arenaHost[off : off+e]
			}
			off += e
		}
		live[k] = lt
	}
	panels := make(map[panelKey]*engine.Tensor, len(s.panels))
	idx := make(map[panelKey]*engine.Tensor, len(s.panels))
	poff := 0
	for _, k := range s.panels {
		wd := k.hi - k.lo
		panels[k] = w.panels.Slice(poff, poff+B*wd).Reshape(B, wd)
		poff += B * wd
		ix := make([]int32, wd)
		for c := range ix {
			ix[c] = int32(k.lo + c)
		}
		t, err := engine.AllocFrom(r.be, 1, wd, ix)
		if err != nil {
			return err
		}
		defer r.be.Free(t)
		idx[k] = t
	}
	major := r.neuronMajor()
	majorOff := map[int]int{} // neuron-major: input → its block's offset in w.panels
	if major {
		for _, m := range s.inputs {
			majorOff[m] = poff
			poff += B * r.in[m].n
		}
	}
	// operand is neurons [lo, hi) of input in's current block of b tokens:
	// b × (hi−lo) token-major, or (hi−lo) × b neuron-major.
	operand := func(in, lo, hi, b int) *engine.Tensor {
		if major {
			n, off := r.in[in].n, majorOff[in]
			return w.panels.Slice(off, off+n*b).Reshape(n, b).Slice(lo, hi)
		}
		if lo == 0 && hi == r.in[in].n {
			return r.in[in].z
		}
		return panels[panelKey{in, lo, hi}].Slice(0, b)
	}
	p := r.opt.Precision
	rounded := r.pr != nil && p != engine.FP32
	gemm := r.be.Gemm
	if rounded {
		gemm = r.pr.GemmPreRounded
	}
	used := make([]bool, len(r.in))
	for _, m := range s.inputs {
		used[m] = true
	}
	read := s.inputs
	if ring != nil {
		read = make([]int, len(r.in))
		for m := range read {
			read[m] = m
		}
	}
	err := r.stream(read, B, func(t0, b int) error {
		for _, m := range read {
			in := r.in[m]
			var mean, m2 *engine.Tensor
			if ring != nil {
				mean, m2 = ring.row(m)
			}
			switch {
			case major && used[m] && ring != nil:
				r.pr.StandardizeRoundedTMoments(operand(m, 0, in.n, b), in.x, in.shift, in.scale, mean, m2, p)
				continue
			case ring != nil: // before the block is standardized in place
				r.be.ColMoments(in.x, mean, m2)
			}
			switch {
			case !used[m]:
			case major:
				r.pr.StandardizeRoundedT(operand(m, 0, in.n, b), in.x, in.shift, in.scale, p)
			case rounded:
				r.pr.StandardizeRounded(in.z, in.x, in.shift, in.scale, p)
			default:
				r.be.Standardize(in.z, in.x, in.shift, in.scale)
			}
		}
		for _, k := range s.panels {
			r.be.GatherColumns(panels[k].Slice(0, b), r.in[k.in].z, idx[k])
		}
		beta := float32(1)
		if t0 == 0 {
			beta = 0
		}
		for _, lt := range live {
			gemm(!major, major, 1, operand(lt.j.a, lt.i0, lt.i1, b), operand(lt.j.b, lt.j0, lt.j1, b), beta, lt.c, p)
		}
		bar.Add(int64(b))
		if ring != nil {
			return ring.advance()
		}
		return nil
	})
	if err == nil && ring != nil {
		if err = ring.flush(); err == nil {
			err = r.finish()
		}
		if err == nil && !r.fits() {
			return errNotTypical // before any tile is reduced or kept
		}
	}
	if err != nil {
		return err
	}
	soff := 0
	for _, lt := range live {
		a, b := r.in[lt.j.a], r.in[lt.j.b]
		vec := func(v *engine.Tensor, lo, hi int) *engine.Tensor { return v.Slice(lo, hi).Reshape(1, hi-lo) }
		r.be.AffineOuter(lt.c, vec(a.w, lt.i0, lt.i1), vec(b.w, lt.j0, lt.j1), vec(a.g, lt.i0, lt.i1), vec(b.g, lt.j0, lt.j1))
		if lt.j.reduce {
			if err := r.reduceTile(lt, w); err != nil {
				return err
			}
		}
		host := lt.host
		switch {
		case lt.j.keep && host == nil:
			nb := r.in[lt.j.b].n
			host = lt.j.r[lt.i0*nb : lt.i1*nb]
			if err := r.be.Download(host, lt.c); err != nil {
				return err
			}
		case r.opt.TopK > 0 && lt.j.reduce && host == nil:
			host = w.stage[soff : soff+lt.elems()]
			soff += lt.elems()
			if err := r.be.Download(host, lt.c); err != nil {
				return err
			}
		}
		if r.opt.TopK > 0 && lt.j.reduce {
			if err := r.be.Sync(); err != nil {
				return err
			}
			topTile(lt.tile, host, r.opt.TopK)
		}
	}
	return r.be.Sync()
}

// reduceTile merges the tile's per-row and per-column max |r| and min |r|
// into its job's extremes.
func (r *runner) reduceTile(lt liveTile, w *workspace) error {
	rows, cols := lt.i1-lt.i0, lt.j1-lt.j0
	rv, ri := w.rv.Slice(0, rows), w.ri.Slice(0, rows)
	cv, ci := w.cv.Slice(0, cols).Reshape(1, cols), w.ci.Slice(0, cols).Reshape(1, cols)
	rvh, rih := make([]float32, rows), make([]int32, rows)
	cvh, cih := make([]float32, cols), make([]int32, cols)
	for _, op := range []engine.ReduceOp{engine.MaxAbs, engine.MinAbs} {
		r.be.ReduceRows(op, lt.c, rv, ri)
		r.be.ReduceCols(op, lt.c, cv, ci)
		for _, d := range []struct {
			dst any
			src *engine.Tensor
		}{{rvh, rv}, {rih, ri}, {cvh, cv}, {cih, ci}} {
			if err := r.be.Download(d.dst, d.src); err != nil {
				return err
			}
		}
		for k := range rows {
			mergeExtreme(&lt.j.rows[lt.i0+k], op, rvh[k], lt.j0+int(rih[k]))
		}
		for k := range cols {
			mergeExtreme(&lt.j.cols[lt.j0+k], op, cvh[k], lt.i0+int(cih[k]))
		}
	}
	return nil
}

func mergeExtreme(e *Extremes, op engine.ReduceOp, v float32, partner int) {
	l := &e.Max
	if op == engine.MinAbs {
		l = &e.Min
	}
	a, cur := math.Abs(float64(v)), math.Abs(l.R)
	better := a > cur
	if op == engine.MinAbs {
		better = a < cur
	}
	if l.Neuron < 0 || better || (a == cur && partner < l.Neuron) {
		*l = Link{Neuron: partner, R: float64(clamp(v))}
	}
}

// topTile merges the k largest |r| of every row and column of a tile (host
// values, row-major) into its job's top lists.
func topTile(t tile, h []float32, k int) {
	cols := t.j1 - t.j0
	for i := t.i0; i < t.i1; i++ {
		row := h[(i-t.i0)*cols : (i-t.i0+1)*cols]
		for c, v := range row {
			j := t.j0 + c
			pushTop(&t.j.rows[i].Top, k, Link{Neuron: j, R: float64(clamp(v))})
			pushTop(&t.j.cols[j].Top, k, Link{Neuron: i, R: float64(clamp(v))})
		}
	}
}

// pushTop inserts l into top, kept sorted by |R| descending then Neuron
// ascending and at most k long.
func pushTop(top *[]Link, k int, l Link) {
	t := *top
	if len(t) == k && !linkBefore(l, t[k-1]) {
		return
	}
	p := len(t)
	for p > 0 && linkBefore(l, t[p-1]) {
		p--
	}
	if len(t) < k {
		t = append(t, Link{})
	}
	copy(t[p+1:], t[p:len(t)-1])
	t[p] = l
	*top = t
}

func linkBefore(a, b Link) bool {
	x, y := math.Abs(a.R), math.Abs(b.R)
	return x > y || (x == y && a.Neuron < b.Neuron)
}

// clamp limits a correlation to [−1, 1] (rounding can leave it just
// outside).
func clamp(v float32) float32 { return max(-1, min(1, v)) }

// bytesString renders a byte count for messages ("1.5 GiB").
func bytesString(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, e := float64(n)/unit, 0
	for v >= unit && e < 4 {
		v /= unit
		e++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[e])
}

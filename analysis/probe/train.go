package probe

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/progress"
)

// Mode selects a training protocol (see the package documentation).
type Mode string

const (
	// ModeNeuroX is NeuroX's exact protocol.
	ModeNeuroX Mode = "neurox"
	// ModeFast is grain's faster protocol with early stopping.
	ModeFast Mode = "fast"
)

// ParseMode parses "neurox" or "fast".
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case ModeNeuroX, ModeFast:
		return Mode(s), nil
	}
	return "", fmt.Errorf("unknown probe mode %q (want neurox or fast)", s)
}

// Config holds the training settings. Zero fields take the mode's defaults
// from DefaultConfig.
type Config struct {
	Mode Mode
	// L1 and L2 are λ1 and λ2 of the elastic-net penalty.
	L1, L2 float64
	// Epochs is the number of epochs (neurox) or the maximum number of
	// rounds (fast; see MinSteps).
	Epochs int
	// BatchSize is the number of rows per Adam step.
	BatchSize int
	// LR is Adam's learning rate.
	LR float64
	// Seed seeds the weight initialisation, the dev split and the batch
	// order.
	Seed uint64
	// DevFraction is the share of training rows held out for early
	// stopping (fast mode; only when the split, whole blocks of
	// dataset.HoldOut, holds at least MinDevRows rows, else every round is
	// trained and the last kept).
	DevFraction float64
	// Patience is the number of rounds without dev improvement before fast
	// mode stops.
	Patience int
	// MinSteps is fast mode's floor on its budget of Adam steps. A round
	// is one epoch, or, when Epochs epochs would take fewer than MinSteps
	// steps (small data), the ⌈MinSteps/(Epochs·batches per epoch)⌉ epochs
	// that reach it: dev accuracy is checked, Patience counted and the
	// cosine decay spread over rounds, so a 2,000-row probe trains as long
	// (in steps) as a 25,000-row one instead of stopping after ≈ 90 steps.
	// Neurox mode ignores it.
	MinSteps int
	// MemoryBudget caps the bytes of design matrix kept on the device at
	// once; larger data is streamed in chunks every epoch.
	MemoryBudget int64
	// Precision of the GEMMs (FP32 unless asked otherwise).
	Precision engine.Precision
	// Cosine decays the learning rate over Epochs as
	// LR·(1 + cos(π·step/totalSteps))/2 (fast mode's default).
	Cosine bool
	// AfterEpoch, if set, is called after every epoch with the current
	// weights (e.g. to trace held-out accuracy); an error stops training.
	AfterEpoch func(epoch int, current *Probe) error
}

// DefaultConfig returns the defaults of a mode, with λ1 = λ2 = 1e-5.
func DefaultConfig(mode Mode) Config {
	c := Config{Mode: mode, L1: 1e-5, L2: 1e-5, Seed: 1, MemoryBudget: 2 << 30}
	switch mode {
	case ModeNeuroX:
		c.Epochs, c.BatchSize, c.LR = 10, 32, 1e-3
	default:
		c.Mode = ModeFast
		c.Epochs, c.BatchSize, c.DevFraction, c.Patience = 6, 128, 0.05, 2
		c.LR, c.Cosine, c.MinSteps = 5e-3, true, 1000
	}
	return c
}

func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig(c.Mode)
	if c.Mode != ModeNeuroX && c.Mode != ModeFast {
		return c, fmt.Errorf("unknown probe mode %q", c.Mode)
	}
	if c.Epochs == 0 {
		c.Epochs = d.Epochs
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	if c.LR == 0 {
		c.LR = d.LR
	}
	if c.MemoryBudget == 0 {
		c.MemoryBudget = d.MemoryBudget
	}
	if c.Mode == ModeFast {
		if c.DevFraction == 0 {
			c.DevFraction = d.DevFraction
		}
		if c.Patience == 0 {
			c.Patience = d.Patience
		}
		if c.MinSteps == 0 {
			c.MinSteps = d.MinSteps
		}
	}
	switch {
	case !(c.L1 >= 0 && c.L2 >= 0) || math.IsInf(c.L1, 0) || math.IsInf(c.L2, 0):
		return c, fmt.Errorf("elastic-net λ1=%g λ2=%g must be finite and ≥ 0", c.L1, c.L2)
	case c.Epochs < 1 || c.BatchSize < 1 || !(c.LR > 0) || math.IsInf(c.LR, 0):
		return c, fmt.Errorf("need epochs ≥ 1, batch ≥ 1, a finite lr > 0 (got %d, %d, %g)", c.Epochs, c.BatchSize, c.LR)
	case c.MinSteps < 0:
		return c, fmt.Errorf("min steps %d < 0", c.MinSteps)
	case !(c.DevFraction >= 0 && c.DevFraction < 1):
		return c, fmt.Errorf("dev fraction %g outside [0, 1)", c.DevFraction)
	}
	return c, nil
}

// MinDevRows is the smallest dev split fast mode stops early on (and
// grain gridsearch chooses (λ1, λ2) on): below it, a handful of tokens
// would decide.
const MinDevRows = 20

// Epoch records one epoch of training.
type Epoch struct {
	Epoch int `json:"epoch"`
	// Loss is the mean cross-entropy over the epoch's batches plus the
	// penalty at the end of the epoch.
	Loss float64 `json:"loss"`
	// DevAccuracy is the dev-split accuracy after the epoch (fast mode, at
	// the end of each round; nil after other epochs).
	DevAccuracy *float64      `json:"dev_accuracy,omitempty"`
	Elapsed     time.Duration `json:"elapsed_ns"`
}

// Log is the history of a training run.
type Log struct {
	Epochs []Epoch `json:"epochs"`
	// BestEpoch is the epoch whose weights were kept (1-based).
	BestEpoch int `json:"best_epoch"`
	// Steps is the number of Adam steps taken.
	Steps int `json:"steps"`
	// Staging is the time spent before the first epoch making the training
	// rows available to the device (on a GPU, uploading them when they stay
	// resident; not counted in the epochs' Elapsed).
	Staging time.Duration `json:"staging_ns"`
}

// InitialWeights returns the seeded initial weight (k × n) and bias (k),
// drawn U(−1/√n, 1/√n) like PyTorch's nn.Linear: weights first, then bias.
func InitialWeights(k, n int, seed uint64) (w, b []float32) {
	r := rand.New(rand.NewPCG(seed, 0x1a2b3c4d))
	bound := 1 / math.Sqrt(float64(n))
	w, b = make([]float32, k*n), make([]float32, k)
	for i := range w {
		w[i] = float32((2*r.Float64() - 1) * bound)
	}
	for i := range b {
		b[i] = float32((2*r.Float64() - 1) * bound)
	}
	return w, b
}

// Train fits a probe on d (every row must have a known label) with cfg on
// backend b, reporting progress to rep.
func Train(b engine.Backend, d *dataset.Dataset, cfg Config, rep progress.Reporter) (*Probe, *Log, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	if err := d.Validate(); err != nil {
		return nil, nil, err
	}
	rows, n := d.X.Dims()
	k := len(d.Labels)
	if k < 2 {
		return nil, nil, fmt.Errorf("probe needs at least 2 labels, have %d", k)
	}
	if rows == 0 || n == 0 {
		return nil, nil, fmt.Errorf("probe needs data, have %d rows × %d neurons", rows, n)
	}
	for i, y := range d.Y {
		if y == dataset.Unknown {
			return nil, nil, fmt.Errorf("training row %d has a label outside the label set", i)
		}
	}
	if err := d.CheckFinite(); err != nil {
		return nil, nil, fmt.Errorf("probe training data: %w", err)
	}
	if rep == nil {
		rep = progress.Nop
	}
	train, dev := d, (*dataset.Dataset)(nil)
	if cfg.Mode == ModeFast && cfg.DevFraction > 0 {
		keep, held := dataset.HoldOut(rows, 256, cfg.DevFraction, cfg.Seed)
		if dataset.SpanRows(held) >= MinDevRows && len(keep) > 0 {
			if train, err = d.Subset(keep); err != nil {
				return nil, nil, err
			}
			if dev, err = d.Subset(held); err != nil {
				return nil, nil, err
			}
		}
	}
	t, err := newTrainer(b, train, k, cfg)
	if err != nil {
		return nil, nil, err
	}
	defer t.free()
	log, err := t.run(train, dev, rep)
	if err != nil {
		return nil, nil, err
	}
	log.Staging = t.staging
	p := New(d.Labels, n)
	if err := t.download(p); err != nil {
		return nil, nil, err
	}
	p.Meta = map[string]string{
		"mode": string(cfg.Mode), "l1": fmt.Sprint(cfg.L1), "l2": fmt.Sprint(cfg.L2),
		"epochs": strconv.Itoa(len(log.Epochs)), "best_epoch": strconv.Itoa(log.BestEpoch),
		"batch_size": strconv.Itoa(cfg.BatchSize), "lr": fmt.Sprint(cfg.LR), "seed": fmt.Sprint(cfg.Seed),
		"min_steps":  strconv.Itoa(cfg.MinSteps),
		"train_rows": strconv.Itoa(rows), "device": b.Name(),
	}
	return p, log, p.Check()
}

// trainer holds the device state of one training run.
type trainer struct {
	b        engine.Backend
	cfg      Config
	k, n     int
	data     *staged
	dev      *staged        // the dev split, staged on first use (fast mode)
	w, bias  *engine.Tensor // k×n, 1×k
	mw, vw   *engine.Tensor
	mb, vb   *engine.Tensor
	gw, gb   *engine.Tensor
	logits   *engine.Tensor // batch×k
	losses   *engine.Tensor // one slot per batch of an epoch, 1×1 each
	sumSq    *engine.Tensor
	bestW    *engine.Tensor
	bestBias *engine.Tensor
	step     int
	// perRound is the number of epochs in a round (see Config.MinSteps);
	// training runs at most cfg.Epochs rounds.
	perRound int
	// totalSteps is the number of steps of cfg.Epochs rounds.
	totalSteps int
	allocs     []*engine.Tensor
	staging    time.Duration // stage's time, for Log.Staging
}

func newTrainer(b engine.Backend, d *dataset.Dataset, k int, cfg Config) (*trainer, error) {
	rows, n := d.X.Dims()
	t := &trainer{b: b, cfg: cfg, k: k, n: n}
	var err error
	alloc := func(r, c int, dt engine.DType) *engine.Tensor {
		if err != nil {
			return nil
		}
		var x *engine.Tensor
		x, err = b.Alloc(r, c, dt)
		if err == nil {
			t.allocs = append(t.allocs, x)
		}
		return x
	}
	t.w, t.bias = alloc(k, n, engine.Float32), alloc(1, k, engine.Float32)
	t.mw, t.vw = alloc(k, n, engine.Float32), alloc(k, n, engine.Float32)
	t.mb, t.vb = alloc(1, k, engine.Float32), alloc(1, k, engine.Float32)
	t.gw, t.gb = alloc(k, n, engine.Float32), alloc(1, k, engine.Float32)
	t.logits = alloc(cfg.BatchSize, k, engine.Float32)
	nb := (rows + cfg.BatchSize - 1) / cfg.BatchSize
	t.perRound = 1
	if cfg.Mode == ModeFast && nb*cfg.Epochs < cfg.MinSteps {
		t.perRound = (cfg.MinSteps + nb*cfg.Epochs - 1) / (nb * cfg.Epochs)
	}
	t.totalSteps = nb * cfg.Epochs * t.perRound
	t.losses = alloc(nb, 1, engine.Float64)
	t.sumSq = alloc(1, 1, engine.Float64)
	if cfg.Mode == ModeFast {
		t.bestW, t.bestBias = alloc(k, n, engine.Float32), alloc(1, k, engine.Float32)
	}
	if err != nil {
		t.free()
		return nil, fmt.Errorf("probe: device memory: %w", err)
	}
	w0, b0 := InitialWeights(k, n, cfg.Seed)
	b.Upload(t.w, w0)
	b.Upload(t.bias, b0)
	start := time.Now()
	if t.data, err = stage(b, d.X, d.Y, cfg.BatchSize, cfg.MemoryBudget); err != nil {
		t.free()
		return nil, err
	}
	t.staging = time.Since(start)
	return t, nil
}

func (t *trainer) free() {
	for _, x := range t.allocs {
		t.b.Free(x)
	}
	t.allocs = nil
	for _, s := range []*staged{t.data, t.dev} {
		if s != nil {
			s.free()
		}
	}
}

// run trains for up to cfg.Epochs rounds of t.perRound epochs.
func (t *trainer) run(train, dev *dataset.Dataset, rep progress.Reporter) (*Log, error) {
	cfg := t.cfg
	log := &Log{}
	rows := t.data.rows
	epochs := cfg.Epochs * t.perRound
	bar := rep.Start(fmt.Sprintf("probe (%s)", cfg.Mode), int64(epochs)*int64(rows))
	defer bar.Finish()
	order := rand.New(rand.NewPCG(cfg.Seed, 0xba7c4))
	best, sinceBest := -1.0, 0
	lossHost := make([]float64, t.losses.Rows())
	for epoch := 1; epoch <= epochs; epoch++ {
		start := time.Now()
		var shuffle *rand.Rand
		if cfg.Mode == ModeFast {
			shuffle = order
		}
		nb := 0
		err := t.data.each(shuffle, func(x, y *engine.Tensor) {
			t.stepBatch(x, y, t.losses.Slice(nb, nb+1))
			nb++
			bar.Add(int64(x.Rows()))
		})
		if err != nil {
			return nil, err
		}
		if err := t.b.Download(lossHost, t.losses); err != nil {
			return nil, fmt.Errorf("probe training: %w", err)
		}
		// Each slot holds a batch's summed cross-entropy.
		var ce float64
		for _, l := range lossHost[:nb] {
			ce += l
		}
		pen, err := t.penalty()
		if err != nil {
			return nil, err
		}
		e := Epoch{Epoch: epoch, Loss: ce/float64(rows) + pen}
		if math.IsNaN(e.Loss) || math.IsInf(e.Loss, 0) {
			return nil, fmt.Errorf("probe training diverged at epoch %d (loss %g): lower the learning rate, λ1 (%g) or λ2 (%g), or scale the activations down", epoch, e.Loss, t.cfg.L1, t.cfg.L2)
		}
		if err := t.checkMoments(epoch); err != nil {
			return nil, err
		}
		status := fmt.Sprintf("epoch %d loss %.4f", epoch, e.Loss)
		roundEnd := epoch%t.perRound == 0
		if dev != nil && roundEnd {
			acc, err := t.devAccuracy(dev)
			if err != nil {
				return nil, err
			}
			e.DevAccuracy = &acc
			status += fmt.Sprintf(" dev acc %.4f", acc)
			if acc > best {
				best, sinceBest, log.BestEpoch = acc, 0, epoch
				t.b.Copy(t.bestW, t.w)
				t.b.Copy(t.bestBias, t.bias)
			} else {
				sinceBest++
			}
		} else if dev == nil {
			log.BestEpoch = epoch
		}
		e.Elapsed = time.Since(start)
		log.Epochs = append(log.Epochs, e)
		if cfg.AfterEpoch != nil {
			cur := New(train.Labels, t.n)
			if err := t.download(cur); err != nil {
				return nil, err
			}
			if err := cfg.AfterEpoch(epoch, cur); err != nil {
				return nil, err
			}
		}
		bar.SetStatus(status)
		if dev != nil && roundEnd && sinceBest >= cfg.Patience {
			break
		}
	}
	if dev != nil {
		t.b.Copy(t.w, t.bestW)
		t.b.Copy(t.bias, t.bestBias)
	}
	log.Steps = t.step
	return log, t.b.Sync()
}

// stepBatch takes one Adam step on the batch x (rows × n) with labels y,
// writing the batch's summed cross-entropy into lossSlot.
func (t *trainer) stepBatch(x, y, lossSlot *engine.Tensor) {
	b, rows := t.b, x.Rows()
	logits := t.logits.Slice(0, rows)
	b.Gemm(false, true, 1, x, t.w, 0, logits, t.cfg.Precision)
	b.AddRowVector(logits, t.bias)
	// d(mean CE)/d(logits) = (softmax − onehot)/rows, written over logits.
	b.SoftmaxCrossEntropy(logits, y, logits, lossSlot, 1/float32(rows))
	b.Gemm(true, false, 1, logits, x, 0, t.gw, t.cfg.Precision)
	b.SumCols(t.gb, logits)
	// The penalty's (sub)gradient λ1·sign(W) + λ2·W/‖W‖ is folded into
	// the weights' Adam step; at W = 0 the L2 term adds 0 (PyTorch's autograd
	// of sqrt(ΣW²) would give NaN there, a state no U(±1/√N) start reaches).
	var l2s float64
	if t.cfg.L2 > 0 {
		if norm := t.norm(); norm > 0 {
			l2s = t.cfg.L2 / norm
		}
	}
	t.step++
	lr := t.cfg.LR
	if t.cfg.Cosine {
		lr *= (1 + math.Cos(math.Pi*float64(t.step-1)/float64(t.totalSteps))) / 2
	}
	h := engine.Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: t.step}
	b.AdamUpdate(t.bias, t.gb, t.mb, t.vb, h)
	h.L1, h.L2Scale = t.cfg.L1, l2s
	b.AdamUpdate(t.w, t.gw, t.mw, t.vw, h)
}

// norm returns ‖W‖_F (a device synchronisation).
func (t *trainer) norm() float64 {
	t.b.SumSquares(t.sumSq, t.w)
	var s [1]float64
	if err := t.b.Download(s[:], t.sumSq); err != nil {
		return math.NaN()
	}
	return math.Sqrt(s[0])
}

// checkMoments fails when a squared gradient overflowed float32 in Adam's
// second moment (a gradient above about 1.8e19, from a huge λ or huge
// activations): every later step of that weight would be 0, and training
// would return its starting weights with a finite loss.
func (t *trainer) checkMoments(epoch int) error {
	for _, v := range []*engine.Tensor{t.vw, t.vb} {
		host := make([]float32, v.Len())
		if err := t.b.Download(host, v); err != nil {
			return fmt.Errorf("probe training: %w", err)
		}
		for _, x := range host {
			if math.IsInf(float64(x), 0) || math.IsNaN(float64(x)) {
				return fmt.Errorf("probe training: at epoch %d a squared gradient overflowed float32 (a gradient above 1.8e19), so Adam stopped updating the weights: lower λ1 (%g) or λ2 (%g), or scale the activations down", epoch, t.cfg.L1, t.cfg.L2)
			}
		}
	}
	return nil
}

func (t *trainer) penalty() (float64, error) {
	w := make([]float32, t.k*t.n)
	if err := t.b.Download(w, t.w); err != nil {
		return 0, err
	}
	p := &Probe{Weight: w}
	return p.Penalty(t.cfg.L1, t.cfg.L2), nil
}

func (t *trainer) download(p *Probe) error {
	if err := t.b.Download(p.Weight, t.w); err != nil {
		return err
	}
	return t.b.Download(p.Bias, t.bias)
}

// devAccuracy scores the current weights on the dev split, staged on the
// device once for the whole run.
func (t *trainer) devAccuracy(dev *dataset.Dataset) (float64, error) {
	if t.dev == nil {
		s, err := stage(t.b, dev.X, nil, predictBatch, t.cfg.MemoryBudget)
		if err != nil {
			return 0, err
		}
		t.dev = s
	}
	pred, err := predictStaged(t.b, t.w, t.bias, t.dev)
	if err != nil {
		return 0, err
	}
	correct := 0
	for i, y := range dev.Y {
		if pred[i] == y {
			correct++
		}
	}
	return float64(correct) / float64(len(dev.Y)), nil
}

// Package train trains grain's models: Adam with gradient-norm clipping on
// grain's engine (a gorgonia.Solver), dropout, length-bucketed batches,
// early stopping on the validation loss with learning-rate decay, a
// checkpoint after every epoch (and optionally every N batches), and
// resumption that continues the interrupted run exactly.
//
// # Determinism
//
// A run is a function of the model's initial weights, the data and the
// Options: the batches of epoch e are batch.Plan.Epoch(train, Seed, e), the
// dropout masks of optimizer step s are drawn from
// engine.DropoutHash(Seed, s), and every kernel splits its work in a fixed
// way. A resumed run therefore takes the same batches with the same
// dropout masks as an uninterrupted one and ends bit-identical.
//
// # Checkpoints
//
// A checkpoint directory holds
//
//	model-<steps>.safetensors   the model after <steps> optimizer steps (F32)
//	state.safetensors           optimizer moments "adam.m/<param>" and
//	                            "adam.v/<param>" (F32) and, as metadata
//	                            "grain.train_state", the State as JSON,
//	                            naming the model file and its SHA-256 and
//	                            holding the data's fingerprint, and
//	                            "grain.train_state_crc32c", a CRC32C of
//	                            that JSON and the moments (MetaStateCRC)
//	best.safetensors            the model with the lowest validation loss
//
// The model file is written before the state that names it and the older
// model file is removed after, so an interruption at any point leaves a
// consistent checkpoint (at worst the previous one). Resuming fails with an
// error naming state.safetensors, and saying why, when its checksum does
// not match (a state without one, from before it existed, is read
// unchecked), a moment is NaN or ±Inf (or a second moment negative), its
// model file is missing, differs from its SHA-256 or holds a non-finite
// weight, or its options, config, vocabularies or data differ from the
// resuming run's. The data are compared by their DataFingerprint (the
// SHA-256 of each side's token ids, so a copy of the same file at another
// path resumes); a state without one (written before it existed) resumes
// without that check, and the resumed run's checkpoints record it.
package train

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/progress"
	"github.com/grainlab/grain/nn/batch"
	"github.com/grainlab/grain/nn/model"
	G "gorgonia.org/gorgonia"
)

// Options are the training hyper-parameters.
type Options struct {
	// Batch is the number of sentences per batch; Bounds the length
	// buckets (nil: batch.DefaultBounds).
	Batch  int   `json:"batch"`
	Bounds []int `json:"bounds"`
	// LR is Adam's initial learning rate; Clip the maximum global gradient
	// norm (0: none).
	LR   float64 `json:"lr"`
	Clip float64 `json:"clip"`
	// Epochs is the maximum number of epochs. Patience stops training
	// after that many epochs in a row without a lower validation loss
	// (0: never stop early); after each such epoch the learning rate is
	// multiplied by Decay (0 or 1: constant).
	Epochs   int     `json:"epochs"`
	Patience int     `json:"patience"`
	Decay    float64 `json:"decay"`
	// Seed seeds the batch order and dropout.
	Seed uint64 `json:"seed"`
	// Dir is the checkpoint directory ("" for none); CheckpointEvery adds
	// a checkpoint every that many batches within an epoch (0: only at the
	// end of each epoch).
	Dir             string `json:"-"`
	CheckpointEvery int    `json:"-"`
	// Progress shows a bar per epoch with the loss and tokens/s; Log gets
	// one line per epoch. Either may be nil.
	Progress progress.Reporter `json:"-"`
	Log      io.Writer         `json:"-"`
	// Interrupt, when non-nil, is asked after every batch; when it returns
	// true the run checkpoints (if Dir is set) and returns ErrInterrupted.
	Interrupt func() bool `json:"-"`
}

// ErrInterrupted is returned when Options.Interrupt stopped the run.
var ErrInterrupted = errors.New("training interrupted")

// EpochStats summarises one epoch.
type EpochStats struct {
	Epoch     int     `json:"epoch"`
	TrainLoss float64 `json:"train_loss"`
	ValLoss   float64 `json:"val_loss"`
	ValPPL    float64 `json:"val_ppl"`
	LR        float64 `json:"lr"`
	Seconds   float64 `json:"seconds"`
	TokensPS  float64 `json:"tokens_per_s"`
}

// State is where a run stands; it is saved in checkpoints.
type State struct {
	Options Options `json:"options"`
	// Epoch is the current epoch (from 0) and Batch the next batch in it.
	Epoch int `json:"epoch"`
	Batch int `json:"batch"`
	// Steps is the number of optimizer steps taken.
	Steps int     `json:"steps"`
	LR    float64 `json:"lr"`
	// The current epoch's summed training loss and tokens so far.
	EpochLoss   float64 `json:"epoch_loss"`
	EpochTokens int     `json:"epoch_tokens"`
	// BestVal is the lowest validation loss per token (+Inf before the
	// first epoch ends; stored as null), at BestEpoch; Bad counts the
	// epochs since.
	BestVal   *float64     `json:"best_val_loss"`
	BestEpoch int          `json:"best_epoch"`
	Bad       int          `json:"bad_epochs"`
	Done      bool         `json:"done"`
	History   []EpochStats `json:"history"`
	// ModelFile and ModelSHA256 name the checkpoint's model file.
	ModelFile   string `json:"model_file"`
	ModelSHA256 string `json:"model_sha256"`
	// Data identifies the training and validation data of the run. It is
	// nil only in a state read from a checkpoint written before grain
	// recorded it; New then resumes without the check and records it.
	Data *DataFingerprint `json:"data,omitempty"`
}

// Data are the training and validation examples.
type Data struct {
	Train, Val []batch.Example
}

// check fills in the default Bounds and validates the options: batch and
// epochs ≥ 1, LR finite and > 0, Clip finite and ≥ 0, Decay in [0, 1]
// (NaN and ±Inf are errors naming the option; the options are also stored
// as JSON in checkpoints, which cannot hold them).
func (o *Options) check() error {
	if o.Bounds == nil {
		o.Bounds = batch.DefaultBounds
	}
	switch {
	case o.Batch < 1:
		return fmt.Errorf("train: batch size %d < 1", o.Batch)
	case !(o.LR > 0 && o.LR <= math.MaxFloat64): // NaN, +Inf
		return fmt.Errorf("train: learning rate %v is not a finite number > 0", o.LR)
	case !(o.Clip >= 0 && o.Clip <= math.MaxFloat64):
		return fmt.Errorf("train: clip %v is not a finite number ≥ 0", o.Clip)
	case o.Epochs < 1:
		return fmt.Errorf("train: epochs %d < 1", o.Epochs)
	case !(o.Decay >= 0 && o.Decay <= 1):
		return fmt.Errorf("train: decay %v outside [0, 1]", o.Decay)
	}
	return nil
}

// Trainer trains one model.
type Trainer struct {
	m     *model.Model
	d     Data
	o     Options
	plan  batch.Plan
	adam  *Adam
	State State
}

// New prepares training m on d. If o.Dir holds a checkpoint, the model's
// weights, the optimizer and the run's position are restored from it (the
// model must have the checkpoint's config and vocabularies, d the same
// examples (DataFingerprint; otherwise the error wraps ErrDataChanged),
// and o the same options apart from Epochs, Patience and the output
// settings).
func New(m *model.Model, d Data, o Options) (*Trainer, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	plan := batch.Plan{Size: o.Batch, Bounds: o.Bounds}
	for name, set := range map[string][]batch.Example{"training": d.Train, "validation": d.Val} {
		for i, e := range set {
			if !plan.Fits(e) {
				return nil, fmt.Errorf("train: %s example %d (source %d, target %d tokens) is empty or longer than the largest bucket %d: filter the data first",
					name, i, len(e.Src), len(e.Tgt), plan.MaxLen())
			}
		}
	}
	if len(d.Train) == 0 || len(d.Val) == 0 {
		return nil, fmt.Errorf("train: %d training and %d validation examples: both are needed", len(d.Train), len(d.Val))
	}
	fp := d.Fingerprints()
	t := &Trainer{m: m, d: d, o: o, plan: plan, adam: NewAdam(m.Env(), o.LR, o.Clip), State: State{Options: o, LR: o.LR, Data: &fp}}
	if o.Dir != "" {
		if err := os.MkdirAll(o.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		if err := t.resume(); err != nil {
			return nil, err
		}
	}
	t.adam.LR = t.State.LR
	return t, nil
}

func (t *Trainer) logf(format string, args ...any) {
	if t.o.Log != nil {
		fmt.Fprintf(t.o.Log, format+"\n", args...)
	}
}

// Run trains until Epochs or early stopping, returning the final state.
// When it returns, the model's host weights are up to date.
func (t *Trainer) Run() (_ *State, err error) {
	defer func() {
		for _, e := range []error{t.adam.Release(), t.m.SyncWeights()} {
			if err == nil {
				err = e
			}
		}
	}()
	rep := t.o.Progress
	if rep == nil {
		rep = progress.Nop
	}
	s := &t.State
	for !s.Done && s.Epoch < t.o.Epochs {
		specs := t.plan.Epoch(t.d.Train, t.o.Seed, s.Epoch, true)
		bar := rep.Start(fmt.Sprintf("epoch %d/%d", s.Epoch+1, t.o.Epochs), int64(len(specs)))
		bar.Add(int64(s.Batch))
		start, tokens := time.Now(), 0
		for s.Batch < len(specs) {
			b := batch.Make(t.d.Train, specs[s.Batch])
			res, err := t.Step(b)
			if err != nil {
				bar.Finish()
				return s, err
			}
			s.Batch++
			s.EpochLoss += res.LossSum
			s.EpochTokens += res.Tokens
			tokens += res.Tokens
			bar.Add(1)
			bar.SetStatus(fmt.Sprintf("loss %.3f  %.0f tok/s  lr %.2g", s.EpochLoss/float64(max(s.EpochTokens, 1)),
				float64(tokens)/time.Since(start).Seconds(), s.LR))
			if t.o.Interrupt != nil && t.o.Interrupt() {
				bar.Finish()
				if err := t.checkpoint(); err != nil {
					return s, err
				}
				return s, ErrInterrupted
			}
			if t.o.CheckpointEvery > 0 && s.Batch%t.o.CheckpointEvery == 0 && s.Batch < len(specs) {
				if err := t.checkpoint(); err != nil {
					bar.Finish()
					return s, err
				}
			}
		}
		bar.Finish()
		elapsed := time.Since(start).Seconds()
		val, err := Evaluate(t.m, t.d.Val, t.plan, rep)
		if err != nil {
			return s, err
		}
		st := EpochStats{Epoch: s.Epoch + 1, TrainLoss: s.EpochLoss / float64(max(s.EpochTokens, 1)), ValLoss: val.Loss(),
			ValPPL: val.Perplexity(), LR: s.LR, Seconds: elapsed, TokensPS: float64(tokens) / elapsed}
		s.History = append(s.History, st)
		t.logf("epoch %d: train loss %.4f, val loss %.4f (ppl %.2f), lr %.3g, %.0f s, %.0f tok/s",
			st.Epoch, st.TrainLoss, st.ValLoss, st.ValPPL, st.LR, st.Seconds, st.TokensPS)
		if s.BestVal == nil || st.ValLoss < *s.BestVal {
			v := st.ValLoss
			s.BestVal, s.BestEpoch, s.Bad = &v, st.Epoch, 0
			if t.o.Dir != "" {
				if err := t.m.Save(t.path("best.safetensors"), model.F32); err != nil {
					return s, err
				}
			}
		} else {
			s.Bad++
			if t.o.Decay > 0 && t.o.Decay < 1 {
				s.LR *= t.o.Decay
				t.adam.LR = s.LR
			}
			if t.o.Patience > 0 && s.Bad >= t.o.Patience {
				t.logf("early stop: no better validation loss for %d epochs (best %.4f at epoch %d)", s.Bad, *s.BestVal, s.BestEpoch)
				s.Done = true
			}
		}
		s.Epoch, s.Batch, s.EpochLoss, s.EpochTokens = s.Epoch+1, 0, 0, 0
		if err := t.checkpoint(); err != nil {
			return s, err
		}
	}
	return s, nil
}

// Step runs one optimizer step on b (Run calls it for every batch; it is
// exported for benchmarks). On a device backend the model's host weights
// are current after Model.SyncWeights.
func (t *Trainer) Step(b *batch.Batch) (model.Result, error) {
	g, res, err := t.m.Run(b, model.Train, engine.DropoutHash(t.o.Seed, uint64(t.State.Steps)))
	if err != nil {
		return res, err
	}
	grads := g.Grads()
	vgs := make([]G.ValueGrad, len(grads))
	for i, p := range t.m.Params {
		vgs[i] = valueGrad{v: p.Value, g: grads[i]}
	}
	if err := t.adam.Step(vgs); err != nil {
		return res, err
	}
	t.State.Steps = t.adam.Steps
	return res, nil
}

// Eval is a corpus-level loss.
type Eval struct {
	LossSum float64
	Tokens  int
}

// Loss is the mean cross-entropy per target token.
func (e Eval) Loss() float64 { return e.LossSum / float64(max(e.Tokens, 1)) }

// Perplexity is exp(Loss).
func (e Eval) Perplexity() float64 { return math.Exp(e.Loss()) }

// Evaluate computes the model's loss over examples (in corpus order,
// without dropout) with the model's current masks, with a progress bar of
// the examples scored on rep (nil: none).
func Evaluate(m *model.Model, examples []batch.Example, plan batch.Plan, rep progress.Reporter) (Eval, error) {
	if rep == nil {
		rep = progress.Nop
	}
	bar := rep.Start("loss", int64(len(examples)))
	defer bar.Finish()
	var e Eval
	for _, spec := range plan.Epoch(examples, 0, 0, false) {
		_, res, err := m.Run(batch.Make(examples, spec), model.Eval, 0)
		if err != nil {
			return e, err
		}
		e.LossSum += res.LossSum
		e.Tokens += res.Tokens
		n := 0 // rows that are not padding
		for _, i := range spec.Rows {
			if i >= 0 {
				n++
			}
		}
		bar.Add(int64(n))
	}
	return e, nil
}

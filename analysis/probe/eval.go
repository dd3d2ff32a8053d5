package probe

import (
	"fmt"

	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/engine"
)

// predictBatch is the number of rows scored per GEMM when predicting.
const predictBatch = 4096

// Predict returns argmax_l (W·z + b)[l] for every row z of x (ties: the
// lowest label id).
func Predict(b engine.Backend, p *Probe, x dataset.Matrix) ([]int32, error) {
	_, cols := x.Dims()
	if cols != p.Neurons {
		return nil, fmt.Errorf("probe expects %d neurons, activations have %d", p.Neurons, cols)
	}
	k := len(p.Labels)
	w, err := engine.AllocFrom(b, k, cols, p.Weight)
	if err != nil {
		return nil, err
	}
	defer b.Free(w)
	bias, err := engine.AllocFrom(b, 1, k, p.Bias)
	if err != nil {
		return nil, err
	}
	defer b.Free(bias)
	s, err := stage(b, x, nil, predictBatch, 256<<20)
	if err != nil {
		return nil, err
	}
	defer s.free()
	return predictStaged(b, w, bias, s)
}

// predictStaged scores the staged rows with device weights w (k × n) and
// bias (1 × k) and returns each row's argmax label.
func predictStaged(b engine.Backend, w, bias *engine.Tensor, s *staged) ([]int32, error) {
	rows, k := s.rows, w.Rows()
	pred := make([]int32, rows)
	if rows == 0 {
		return pred, nil
	}
	var allocs []*engine.Tensor
	defer func() {
		for _, t := range allocs {
			b.Free(t)
		}
	}()
	alloc := func(r, c int, dt engine.DType) (*engine.Tensor, error) {
		t, err := b.Alloc(r, c, dt)
		if err == nil {
			allocs = append(allocs, t)
		}
		return t, err
	}
	batch := min(s.batch, rows)
	logits, err := alloc(batch, k, engine.Float32)
	if err != nil {
		return nil, err
	}
	vals, err := alloc(batch, 1, engine.Float32)
	if err != nil {
		return nil, err
	}
	// Predictions of every row stay on the device until the end.
	idx, err := alloc(rows, 1, engine.Int32)
	if err != nil {
		return nil, err
	}
	done := 0
	err = s.each(nil, func(xb, _ *engine.Tensor) {
		n := xb.Rows()
		l := logits.Slice(0, n)
		b.Gemm(false, true, 1, xb, w, 0, l, engine.FP32)
		b.AddRowVector(l, bias)
		b.ReduceRows(engine.Max, l, vals.Slice(0, n), idx.Slice(done, done+n))
		done += n
	})
	if err != nil {
		return nil, err
	}
	return pred, b.Download(pred, idx)
}

// Metrics are a probe's scores on a labeled set.
type Metrics struct {
	// Accuracy is the share of rows predicted correctly (rows whose label
	// is Unknown count as wrong).
	Accuracy float64 `json:"accuracy"`
	// MacroF1 is the unweighted mean over labels present in the gold or
	// predicted labels of the per-label F1 (a gold label the probe does not
	// know has F1 0).
	MacroF1 float64 `json:"macro_f1"`
	// Majority is the accuracy of always predicting the most frequent
	// label of the training set (MajorityLabel).
	Majority      float64 `json:"majority_baseline"`
	MajorityLabel string  `json:"majority_label"`
	// PerLabel holds accuracy (= recall), precision and F1 per label: the
	// probe's labels in order, then the gold labels it does not know.
	PerLabel []LabelScore `json:"per_label"`
	Rows     int          `json:"rows"`
	// Unseen is the number of rows whose gold label is not in the probe's
	// label set.
	Unseen int `json:"unseen_label_rows"`
}

// LabelScore is one label's scores.
type LabelScore struct {
	Label     string  `json:"label"`
	Count     int     `json:"count"`
	Accuracy  float64 `json:"accuracy"`
	Precision float64 `json:"precision"`
	F1        float64 `json:"f1"`
}

// Score compares predictions with gold labels. majority is the label id
// that the majority baseline predicts (the most frequent training label).
// Gold rows marked dataset.Unknown carry labels outside labels: unseen
// names them and unseenCounts[i] rows carry unseen[i]; each present one
// enters the macro-F1 with F1 0. A gold id outside labels (other than
// dataset.Unknown) or a prediction outside them is an error.
func Score(labels []string, gold, pred []int32, majority int32, unseen []string, unseenCounts []int) (Metrics, error) {
	if len(gold) != len(pred) {
		return Metrics{}, fmt.Errorf("score: %d gold labels, %d predictions", len(gold), len(pred))
	}
	if len(unseen) != len(unseenCounts) {
		return Metrics{}, fmt.Errorf("score: %d unseen labels, %d counts", len(unseen), len(unseenCounts))
	}
	k := len(labels)
	tp, goldN, predN := make([]int, k), make([]int, k), make([]int, k)
	m := Metrics{Rows: len(gold)}
	correct, maj := 0, 0
	for i, g := range gold {
		p := pred[i]
		if p < 0 || int(p) >= k {
			return Metrics{}, fmt.Errorf("score: prediction %d of row %d outside [0, %d)", p, i, k)
		}
		predN[p]++
		if g == dataset.Unknown {
			m.Unseen++
			continue
		}
		if g < 0 || int(g) >= k {
			return Metrics{}, fmt.Errorf("score: gold label %d of row %d outside [0, %d)", g, i, k)
		}
		goldN[g]++
		if g == p {
			correct++
			tp[g]++
		}
		if g == majority {
			maj++
		}
	}
	if len(gold) > 0 {
		m.Accuracy = float64(correct) / float64(len(gold))
		m.Majority = float64(maj) / float64(len(gold))
	}
	if majority >= 0 && int(majority) < k {
		m.MajorityLabel = labels[majority]
	}
	var f1Sum float64
	var f1N int
	for l := 0; l < k; l++ {
		s := LabelScore{Label: labels[l], Count: goldN[l]}
		if goldN[l] > 0 {
			s.Accuracy = float64(tp[l]) / float64(goldN[l])
		}
		if predN[l] > 0 {
			s.Precision = float64(tp[l]) / float64(predN[l])
		}
		if s.Accuracy+s.Precision > 0 {
			s.F1 = 2 * s.Accuracy * s.Precision / (s.Accuracy + s.Precision)
		}
		if goldN[l] > 0 || predN[l] > 0 {
			f1Sum += s.F1
			f1N++
		}
		m.PerLabel = append(m.PerLabel, s)
	}
	for i, name := range unseen {
		if unseenCounts[i] > 0 {
			m.PerLabel = append(m.PerLabel, LabelScore{Label: name, Count: unseenCounts[i]})
			f1N++
		}
	}
	if f1N > 0 {
		m.MacroF1 = f1Sum / float64(f1N)
	}
	return m, nil
}

// MajorityOf returns the most frequent label id of y (lowest id on ties).
func MajorityOf(y []int32, numLabels int) int32 {
	c := make([]int, numLabels)
	for _, v := range y {
		if v >= 0 && int(v) < numLabels {
			c[v]++
		}
	}
	best := 0
	for l := range c {
		if c[l] > c[best] {
			best = l
		}
	}
	return int32(best)
}

// Evaluate predicts d with p and scores it; majority is the training
// majority label id (see MajorityOf).
func Evaluate(b engine.Backend, p *Probe, d *dataset.Dataset, majority int32) (Metrics, error) {
	if len(d.Labels) != len(p.Labels) {
		return Metrics{}, fmt.Errorf("dataset has %d labels, probe %d", len(d.Labels), len(p.Labels))
	}
	for i := range d.Labels {
		if d.Labels[i] != p.Labels[i] {
			return Metrics{}, fmt.Errorf("label %d is %q in the dataset but %q in the probe", i, d.Labels[i], p.Labels[i])
		}
	}
	pred, err := Predict(b, p, d.X)
	if err != nil {
		return Metrics{}, err
	}
	return Score(p.Labels, d.Y, pred, majority, d.UnseenLabels, d.UnseenCounts())
}

// Package synthetic makes activation sets with planted neurons: data where it
// is known which neurons carry which label, so that probes, rankings and
// ablations can be checked against the truth.
//
// For a label sequence y (one label per token) and N neurons, each label l
// gets PlantedPerLabel distinct "planted" neurons at seeded random indices.
// A planted neuron j of label l reads
//
//	x_j = Signal·[y = l] + Noise·ε
//
// and every other neuron is pure noise, x_j = Noise·ε, with ε ~ N(0, 1)
// independent. The first planted neuron of each label also gets
// CopiesPerLabel correlated copies, x_c = x_j + CopyNoise·ε′, which carry
// the same information (the case where elastic net spreads weight over
// redundant neurons).
package synthetic

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/grainlab/grain/analysis/dataset"
)

// Config describes a planted-neuron activation set.
type Config struct {
	Neurons         int
	PlantedPerLabel int
	CopiesPerLabel  int
	Signal          float64
	Noise           float64
	CopyNoise       float64
	Seed            uint64
}

// DefaultConfig returns settings under which a linear probe reaches high but
// not perfect accuracy from the planted neurons alone.
func DefaultConfig(neurons int) Config {
	return Config{Neurons: neurons, PlantedPerLabel: 2, CopiesPerLabel: 1, Signal: 3, Noise: 1, CopyNoise: 0.5, Seed: 1}
}

// Truth records where the signal was planted.
type Truth struct {
	// Planted[l] are the planted neurons of label l (ascending).
	Planted [][]int `json:"planted"`
	// Copies[j] are the correlated copies of planted neuron j.
	Copies map[int][]int `json:"copies"`
}

// Carriers returns every neuron that carries label information: planted
// neurons and their copies, ascending.
func (t *Truth) Carriers() []int {
	var c []int
	for _, p := range t.Planted {
		c = append(c, p...)
	}
	for _, cs := range t.Copies {
		c = append(c, cs...)
	}
	sort.Ints(c)
	return c
}

// PlantedSet returns all planted neurons (without copies), ascending.
func (t *Truth) PlantedSet() []int {
	var c []int
	for _, p := range t.Planted {
		c = append(c, p...)
	}
	sort.Ints(c)
	return c
}

// Activations generates the tokens × neurons activations for labels y in
// [0, numLabels); a token labelled dataset.Unknown gets a pure-noise row.
func Activations(y []int32, numLabels int, cfg Config) (*dataset.Dense, *Truth, error) {
	need := numLabels * (cfg.PlantedPerLabel + cfg.CopiesPerLabel)
	if cfg.Neurons < need {
		return nil, nil, fmt.Errorf("synthetic: %d labels need at least %d neurons, have %d", numLabels, need, cfg.Neurons)
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x91a7))
	perm := r.Perm(cfg.Neurons)
	truth := &Truth{Planted: make([][]int, numLabels), Copies: map[int][]int{}}
	owner := make([]int, cfg.Neurons) // label+1 for planted neurons, 0 otherwise
	copyOf := make([]int, cfg.Neurons)
	for j := range copyOf {
		copyOf[j] = -1
	}
	next := 0
	for l := 0; l < numLabels; l++ {
		for p := 0; p < cfg.PlantedPerLabel; p++ {
			j := perm[next]
			next++
			truth.Planted[l] = append(truth.Planted[l], j)
			owner[j] = l + 1
		}
		for c := 0; c < cfg.CopiesPerLabel; c++ {
			j := perm[next]
			next++
			src := truth.Planted[l][0]
			truth.Copies[src] = append(truth.Copies[src], j)
			copyOf[j] = src
		}
		sort.Ints(truth.Planted[l])
	}
	n := cfg.Neurons
	x := make([]float32, len(y)*n)
	for i, lab := range y {
		if (lab < 0 && lab != dataset.Unknown) || int(lab) >= numLabels {
			return nil, nil, fmt.Errorf("synthetic: label %d of token %d outside [0, %d)", lab, i, numLabels)
		}
		row := x[i*n : (i+1)*n]
		for j := range row {
			v := cfg.Noise * r.NormFloat64()
			if owner[j] == int(lab)+1 {
				v += cfg.Signal
			}
			row[j] = float32(v)
		}
		for j, src := range copyOf {
			if src >= 0 {
				row[j] = row[src] + float32(cfg.CopyNoise*r.NormFloat64())
			}
		}
	}
	return &dataset.Dense{Data: x, Rows: len(y), Cols: n}, truth, nil
}

// ZipfLabels draws n labels in [0, k) with P(l) ∝ 1/(l+1)^s, seeded, so
// that the majority baseline is well above chance.
func ZipfLabels(n, k int, s float64, seed uint64) []int32 {
	r := rand.New(rand.NewPCG(seed, 0x21bf))
	cum := make([]float64, k)
	var tot float64
	for l := 0; l < k; l++ {
		tot += 1 / math.Pow(float64(l+1), s)
		cum[l] = tot
	}
	y := make([]int32, n)
	for i := range y {
		u := r.Float64() * tot
		y[i] = int32(sort.SearchFloat64s(cum, u))
		if int(y[i]) >= k {
			y[i] = int32(k - 1)
		}
	}
	return y
}

// Dataset generates a labeled planted-neuron dataset with n tokens, k
// Zipf-distributed labels named L00, L01, ...
func Dataset(n, k int, cfg Config) (*dataset.Dataset, *Truth, error) {
	y := ZipfLabels(n, k, 1, cfg.Seed)
	x, truth, err := Activations(y, k, cfg)
	if err != nil {
		return nil, nil, err
	}
	labels := make([]string, k)
	for l := range labels {
		labels[l] = fmt.Sprintf("L%02d", l)
	}
	return &dataset.Dataset{X: x, Y: y, Labels: labels}, truth, nil
}

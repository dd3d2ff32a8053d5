package model

import (
	"fmt"

	"github.com/grainlab/grain/analysis/activations"
	"github.com/grainlab/grain/analysis/ranking"
	"gorgonia.org/tensor"
)

// NeuronLayer is one layer of a model's global neuron index: its neurons
// are g ∈ [Offset, Offset+Size).
type NeuronLayer struct {
	activations.Layer
	Size, Offset int
	// Stored marks the layers that extraction writes to the activation
	// store (all of them first, all of Hidden neurons).
	Stored bool
}

// NeuronLayers lists the layers of the global neuron index in order (see
// the package documentation).
func (c Config) NeuronLayers() []NeuronLayer {
	var ls []NeuronLayer
	off := 0
	add := func(name string, dir activations.Direction, size int, stored bool) {
		ls = append(ls, NeuronLayer{Layer: activations.Layer{Name: name, Direction: dir}, Size: size, Offset: off, Stored: stored})
		off += size
	}
	h := c.Hidden
	switch c.Kind {
	case NLM:
		for l := range c.Layers {
			add(fmt.Sprintf("lstm%d", l), activations.Forward, h, true)
		}
		add("embed", activations.NoDirection, c.Embed, false)
	case NMT:
		for l := range c.EncLayers {
			add(fmt.Sprintf("enc%d", l), activations.Forward, h, true)
			if c.encDirs(l) == 2 {
				add(fmt.Sprintf("enc%d", l), activations.Backward, h, true)
			}
		}
		add("src_embed", activations.NoDirection, c.Embed, false)
		add("tgt_embed", activations.NoDirection, c.Embed, false)
		for l := range c.Layers {
			add(fmt.Sprintf("dec%d", l), activations.Forward, h, false)
		}
		add("attention", activations.NoDirection, h, false)
	}
	return ls
}

// Masks holds a model's neuron masks: one 1×Size tensor of 0s and 1s per
// neuron layer, shared by every graph of the model, so that changing a
// mask needs no graph rebuild. A new model's masks are all ones.
type Masks struct {
	layers []NeuronLayer
	values []*tensor.Dense
	total  int
	stored int
}

func newMasks(c Config) *Masks {
	m := &Masks{layers: c.NeuronLayers()}
	for _, l := range m.layers {
		m.values = append(m.values, tensor.New(tensor.WithShape(1, l.Size), tensor.WithBacking(make([]float32, l.Size))))
		m.total += l.Size
		if l.Stored {
			m.stored += l.Size
		}
	}
	m.Reset()
	return m
}

// Layers lists the neuron layers.
func (m *Masks) Layers() []NeuronLayer { return m.layers }

// NumNeurons is the size of the global neuron index.
func (m *Masks) NumNeurons() int { return m.total }

// StoredNeurons is the number of neurons that extraction stores (the first
// indices of the global index).
func (m *Masks) StoredNeurons() int { return m.stored }

// Reset unmasks every neuron.
func (m *Masks) Reset() {
	for _, v := range m.values {
		for i := range v.Data().([]float32) {
			v.Data().([]float32)[i] = 1
		}
	}
}

// Zero masks (clamps to 0) the neurons with the given global indices,
// keeping earlier masking.
func (m *Masks) Zero(neurons []int) error {
	for _, g := range neurons {
		if g < 0 || g >= m.total {
			return fmt.Errorf("neuron %d outside [0, %d)", g, m.total)
		}
		for i, l := range m.layers {
			if g >= l.Offset && g < l.Offset+l.Size {
				m.values[i].Data().([]float32)[g-l.Offset] = 0
				break
			}
		}
	}
	return nil
}

// Masked returns the global indices of the masked neurons, ascending.
func (m *Masks) Masked() []int {
	var out []int
	for i, l := range m.layers {
		for d, v := range m.values[i].Data().([]float32) {
			if v == 0 {
				out = append(out, l.Offset+d)
			}
		}
	}
	return out
}

// value returns the mask tensor of the layer with the given name and
// direction.
func (m *Masks) value(name string, dir activations.Direction) *tensor.Dense {
	for i, l := range m.layers {
		if l.Name == name && l.Direction == dir {
			return m.values[i]
		}
	}
	panic(fmt.Sprintf("model: no neuron layer %s/%s", name, dir))
}

// SelectNeurons picks neurons to mask from a ranking file: the top or
// bottom percent % of its ordering, or a random percent % of its neurons
// (ranking.PickNeurons with the seed), returned as global neuron indices.
// The ranking must rank this model's stored neurons or all of its neurons
// (NumNeurons equal to StoredNeurons() or NumNeurons()), or some of its
// stored neurons named by its Columns (a ranking of some layers of an
// activation file: the percentages are then of those neurons).
func (m *Masks) SelectNeurons(f *ranking.File, how ranking.Pick, percent float64, seed uint64) ([]int, error) {
	switch {
	case f.Fits(m.stored) || f.Columns == nil && f.NumNeurons == m.total:
	case f.Columns != nil:
		return nil, fmt.Errorf("the ranking ranks neurons up to %d of an activation file; this model stores (extracts) %d", f.Columns[len(f.Columns)-1], m.stored)
	default:
		return nil, fmt.Errorf("the ranking ranks %d neurons; this model has %d stored (extracted) neurons and %d in all",
			f.NumNeurons, m.stored, m.total)
	}
	picked, err := ranking.PickNeurons(how, f.Ordering, f.NumNeurons, percent, seed)
	if err != nil {
		return nil, err
	}
	// Ascending picks through ascending Columns stay ascending.
	return ranking.GlobalNeurons(f.Columns, picked), nil
}

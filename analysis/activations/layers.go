package activations

import (
	"fmt"
	"strings"
)

// LayerRange returns the global neuron indices [lo, hi) of layer l:
// lo = l·D, hi = (l+1)·D. It panics if l is out of range.
func (m Meta) LayerRange(l int) (lo, hi int) {
	if l < 0 || l >= len(m.Layers) {
		panic(fmt.Sprintf("activations: layer %d out of range [0, %d)", l, len(m.Layers)))
	}
	return l * m.Dim, (l + 1) * m.Dim
}

// NeuronLayer splits the global neuron index g = layer·D + d. It panics if g
// is out of range.
func (m Meta) NeuronLayer(g int) (layer, d int) {
	if g < 0 || g >= m.NumNeurons() {
		panic(fmt.Sprintf("activations: neuron %d out of range [0, %d)", g, m.NumNeurons()))
	}
	return g / m.Dim, g % m.Dim
}

// NeuronName names global neuron g for reports: "layer:d", where layer is
// the Layer's String, e.g. "enc1/forward:37".
func (m Meta) NeuronName(g int) string {
	l, d := m.NeuronLayer(g)
	return fmt.Sprintf("%s:%d", m.Layers[l], d)
}

// neuronValue describes value v of global neuron g for an error message:
// "neuron 37 (layer enc1/forward, d 37) is NaN".
func (m Meta) neuronValue(g int, v float32) string {
	l, d := m.NeuronLayer(g)
	return fmt.Sprintf("neuron %d (layer %s, d %d) is %v", g, m.Layers[l], d, v)
}

// LayerFilter selects layers. A layer is selected when its name is one of
// Names (or Names is empty) and its direction is Direction (or Direction is
// NoDirection). "Layer enc1, forward half" is
// LayerFilter{Names: []string{"enc1"}, Direction: Forward}.
type LayerFilter struct {
	Names     []string
	Direction Direction
}

// SelectLayers returns the indices of the layers f selects, ascending. It is
// an error if a name matches no layer or nothing is selected.
func (m Meta) SelectLayers(f LayerFilter) ([]int, error) {
	switch f.Direction {
	case NoDirection, Forward, Backward:
	default:
		return nil, fmt.Errorf("activations: unknown direction %q (want %q or %q)", f.Direction, Forward, Backward)
	}
	want := make(map[string]bool, len(f.Names))
	for _, n := range f.Names {
		want[n] = true
	}
	found := make(map[string]bool, len(f.Names))
	var sel []int
	for i, l := range m.Layers {
		if len(want) > 0 && !want[l.Name] {
			continue
		}
		found[l.Name] = true
		if f.Direction == NoDirection || l.Direction == f.Direction {
			sel = append(sel, i)
		}
	}
	for _, n := range f.Names {
		if !found[n] {
			return nil, fmt.Errorf("activations: no layer named %q (layers: %s)", n, m.layerList())
		}
	}
	if len(sel) == 0 {
		return nil, fmt.Errorf("activations: no layer matches names %q, direction %q (layers: %s)", f.Names, f.Direction, m.layerList())
	}
	return sel, nil
}

// Columns returns the global neuron indices of the layers f selects,
// ascending: the cols argument of ReadRowsColumns and BlocksColumns for
// layer-wise analyses.
func (m Meta) Columns(f LayerFilter) ([]int, error) {
	layers, err := m.SelectLayers(f)
	if err != nil {
		return nil, err
	}
	cols := make([]int, 0, len(layers)*m.Dim)
	for _, l := range layers {
		lo, hi := m.LayerRange(l)
		for g := lo; g < hi; g++ {
			cols = append(cols, g)
		}
	}
	return cols, nil
}

func (m Meta) layerList() string {
	s := make([]string, len(m.Layers))
	for i, l := range m.Layers {
		s[i] = l.String()
	}
	return strings.Join(s, ", ")
}

//go:build !cgo

package kernels

import "math"

// Adam applies one Adam step to p with gradient g and moments m, v, in
// float32 arithmetic as torch.optim.Adam does for float32 parameters, after
// adding the elastic-net (sub)gradient l1·sign(p) + l2s·p to g (g itself is
// not modified):
//
//	m ← m + (1−β1)(g − m)                 (torch's lerp_)
//	v ← β2·v + (1−β2)·g²
//	p ← p − stepSize · m / (sqrt(v)/bc2Sqrt + eps)
//
// where stepSize = lr/(1−β1^t) and bc2Sqrt = sqrt(1−β2^t) are computed by
// the caller in float64 (see AdamScalars).
func Adam(p, g, m, v []float32, beta1, beta2 float64, stepSize, bc2Sqrt, eps, l1, l2s float64) {
	_ = g[:len(p)]
	_ = m[:len(p)]
	_ = v[:len(p)]
	w1 := float32(1 - beta1)
	b2, w2 := float32(beta2), float32(1-beta2)
	ss, bc, ep := float32(stepSize), float32(bc2Sqrt), float32(eps)
	a1, a2 := math.Float32bits(float32(l1)), float32(l2s)
	for i := range p {
		gi := g[i]
		if pi := p[i]; pi != 0 {
			gi += math.Float32frombits(a1^math.Float32bits(pi)&(1<<31)) + a2*pi
		}
		mi := m[i] + w1*(gi-m[i])
		vi := b2*v[i] + w2*gi*gi
		m[i], v[i] = mi, vi
		denom := float32(math.Sqrt(float64(vi)))/bc + ep
		p[i] -= ss * mi / denom
	}
}

package engine

import (
	"math"
	"testing"
)

// TestInvStd: 1/σ in float32 for ordinary columns; 0, listed as constant,
// for a column with no spread, one whose spread is below float32's
// resolution of its mean, and one whose 1/σ would overflow float32.
func TestInvStd(t *testing.T) {
	s := NewColumnStats(5)
	// Columns: ordinary, zero variance, σ = 5e-8·|μ|, σ = 1e-40, NaN variance.
	s.Merge(100, []float64{3, 2, 1000, 0, 0}, []float64{100 * 4, 0, 100 * 25e-10, 100 * 1e-80, math.NaN()})
	inv, constant := s.InvStd()
	if inv[0] != 0.5 {
		t.Errorf("1/σ of σ = 2: %v", inv[0])
	}
	if len(constant) != 4 || constant[0] != 1 || constant[1] != 2 || constant[2] != 3 || constant[3] != 4 {
		t.Fatalf("constant columns %v, want [1 2 3 4]", constant)
	}
	for _, j := range constant {
		if inv[j] != 0 {
			t.Errorf("column %d: 1/σ = %v, want 0", j, inv[j])
		}
	}
}

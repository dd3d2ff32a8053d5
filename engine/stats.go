package engine

import "math"

// ColumnStats accumulates per-column mean and variance over a stream of row
// blocks in float64. Each block's moments come from Backend.ColMoments; Merge
// combines them with the pairwise update of Chan, Golub & LeVeque (1979):
//
//	n = nA + nB,  δ = meanB − meanA
//	mean = meanA + δ·nB/n
//	M2 = M2A + M2B + δ²·nA·nB/n
//
// which is exact in exact arithmetic and stable in floating point.
type ColumnStats struct {
	N    int64
	Mean []float64
	M2   []float64
}

// NewColumnStats returns empty statistics for cols columns.
func NewColumnStats(cols int) *ColumnStats {
	return &ColumnStats{Mean: make([]float64, cols), M2: make([]float64, cols)}
}

// Merge adds a block of n rows with per-column mean and m2.
func (s *ColumnStats) Merge(n int64, mean, m2 []float64) {
	if len(mean) != len(s.Mean) || len(m2) != len(s.M2) {
		panic("engine: ColumnStats.Merge width mismatch")
	}
	if n == 0 {
		return
	}
	if s.N == 0 {
		copy(s.Mean, mean)
		copy(s.M2, m2)
		s.N = n
		return
	}
	na, nb := float64(s.N), float64(n)
	tot := na + nb
	for j := range s.Mean {
		d := mean[j] - s.Mean[j]
		s.Mean[j] += d * nb / tot
		s.M2[j] += m2[j] + d*d*na*nb/tot
	}
	s.N += n
}

// Variance returns the population variance M2/N of column j.
func (s *ColumnStats) Variance(j int) float64 {
	if s.N == 0 {
		return 0
	}
	return s.M2[j] / float64(s.N)
}

// InvStd returns 1/sqrt(population variance) per column as float32, with 0
// for constant columns (so a standardized constant column is all zeros) and
// the list of those columns. A column is constant when its standard
// deviation is at most 1e-7 of its mean's magnitude (float32's resolution)
// or so small (below about 3e-39) that its inverse overflows float32.
func (s *ColumnStats) InvStd() (inv []float32, constant []int) {
	inv = make([]float32, len(s.Mean))
	for j := range inv {
		v := s.Variance(j)
		c := float32(1 / math.Sqrt(v))
		if v <= 0 || math.Sqrt(v) <= 1e-7*math.Abs(s.Mean[j]) || math.IsNaN(v) || math.IsInf(float64(c), 0) {
			constant = append(constant, j)
			continue
		}
		inv[j] = c
	}
	return inv, constant
}

// MeanFloat32 returns the means rounded to float32.
func (s *ColumnStats) MeanFloat32() []float32 {
	m := make([]float32, len(s.Mean))
	for j, v := range s.Mean {
		m[j] = float32(v)
	}
	return m
}

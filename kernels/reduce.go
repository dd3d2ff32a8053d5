package kernels

import "math"

// Reduction selects what ReduceRows and ReduceCols compute. It mirrors
// engine.ReduceOp.
type Reduction uint8

const (
	// Max is the largest value.
	Max Reduction = iota
	// Min is the smallest value.
	Min
	// MaxAbs is the value of largest magnitude, with its sign.
	MaxAbs
	// MinAbs is the value of smallest magnitude, with its sign.
	MinAbs
)

// better reports whether candidate c beats the current best b under op.
// Strict comparison keeps the first (lowest-index) element on ties.
func better(op Reduction, c, b float32) bool {
	switch op {
	case Max:
		return c > b
	case Min:
		return c < b
	case MaxAbs:
		return abs32(c) > abs32(b)
	default:
		return abs32(c) < abs32(b)
	}
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// ReduceRows reduces each row r in [r0, r1) of the rows×cols matrix x:
// vals[r] is the selected value and idx[r] (if idx is non-nil) its column.
// Ties go to the lowest column. NaN never wins a comparison.
func ReduceRows(op Reduction, x []float32, cols, r0, r1 int, vals []float32, idx []int32) {
	for r := r0; r < r1; r++ {
		row := x[r*cols : (r+1)*cols]
		best, bi := row[0], 0
		for j := 1; j < len(row); j++ {
			if better(op, row[j], best) {
				best, bi = row[j], j
			}
		}
		vals[r] = best
		if idx != nil {
			idx[r] = int32(bi)
		}
	}
}

// ReduceCols reduces each column c in [c0, c1) of the rows×cols matrix x
// over all rows: vals[c] is the selected value and idx[c] (if non-nil) its
// row. Ties go to the lowest row.
func ReduceCols(op Reduction, x []float32, rows, cols, c0, c1 int, vals []float32, idx []int32) {
	copy(vals[c0:c1], x[c0:c1])
	if idx != nil {
		for c := c0; c < c1; c++ {
			idx[c] = 0
		}
	}
	for r := 1; r < rows; r++ {
		row := x[r*cols : (r+1)*cols]
		for c := c0; c < c1; c++ {
			if better(op, row[c], vals[c]) {
				vals[c] = row[c]
				if idx != nil {
					idx[c] = int32(r)
				}
			}
		}
	}
}

// SumCols adds, for columns [c0, c1), the sum over all rows of x into
// dst[c] (dst is an accumulator the caller zeroes), in float64.
func SumCols(x []float32, rows, cols, c0, c1 int, dst []float64) {
	for r := 0; r < rows; r++ {
		row := x[r*cols : (r+1)*cols]
		for c := c0; c < c1; c++ {
			dst[c] += float64(row[c])
		}
	}
}

// SumSquares returns Σ x[i]² in float64.
func SumSquares(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a, b, c, d := float64(x[i]), float64(x[i+1]), float64(x[i+2]), float64(x[i+3])
		s0 += a * a
		s1 += b * b
		s2 += c * c
		s3 += d * d
	}
	for ; i < len(x); i++ {
		v := float64(x[i])
		s0 += v * v
	}
	return (s0 + s1) + (s2 + s3)
}

// colMomentsGo computes, for columns [c0, c1) of the rows×cols matrix x,
// mean[c] = Σ_r x[r,c]/rows and m2[c] = Σ_r (x[r,c] − mean[c])², in float64
// with two passes over the data (no cancellation): ColMoments of builds
// without cgo, and the reference the C kernel is checked against.
func colMomentsGo(x []float32, rows, cols, c0, c1 int, mean, m2 []float64) {
	for c := c0; c < c1; c++ {
		mean[c], m2[c] = 0, 0
	}
	if rows == 0 {
		return
	}
	for r := 0; r < rows; r++ {
		row := x[r*cols : (r+1)*cols]
		for c := c0; c < c1; c++ {
			mean[c] += float64(row[c])
		}
	}
	n := float64(rows)
	for c := c0; c < c1; c++ {
		mean[c] /= n
	}
	for r := 0; r < rows; r++ {
		row := x[r*cols : (r+1)*cols]
		for c := c0; c < c1; c++ {
			d := float64(row[c]) - mean[c]
			m2[c] += d * d
		}
	}
}

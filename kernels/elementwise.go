package kernels

import "math"

// Standardize sets dst[r,c] = (src[r,c] − mean[c])·invStd[c] for rows
// [r0, r1) of a row-major matrix with len(mean) columns. dst may alias src.
func Standardize(dst, src []float32, r0, r1 int, mean, invStd []float32) {
	cols := len(mean)
	for r := r0; r < r1; r++ {
		s := src[r*cols : (r+1)*cols]
		d := dst[r*cols : (r+1)*cols]
		for c := range s {
			d[c] = (s[c] - mean[c]) * invStd[c]
		}
	}
}

// StandardizeTransposed writes the transpose of Standardize for the
// columns c in [c0, c1) of the rows × cols matrix src (cols = len(mean)):
// dst[c·rows + r] = (src[r·cols + c] − mean[c])·invStd[c], dst being
// cols × rows. Rows go in blocks of 64 so that the reads of a block stay in
// cache while each column's row of dst is written.
func StandardizeTransposed(dst, src []float32, rows, c0, c1 int, mean, invStd []float32) {
	cols := len(mean)
	const block = 64
	for r0 := 0; r0 < rows; r0 += block {
		r1 := min(r0+block, rows)
		for c := c0; c < c1; c++ {
			m, s := mean[c], invStd[c]
			d := dst[c*rows : (c+1)*rows]
			for r := r0; r < r1; r++ {
				d[r] = (src[r*cols+c] - m) * s
			}
		}
	}
}

// SoftThreshold sets x[i] ← sign(x[i])·max(|x[i]| − t, 0), the proximal
// operator of t·‖x‖₁.
func SoftThreshold(x []float32, t float32) {
	for i, v := range x {
		switch {
		case v > t:
			x[i] = v - t
		case v < -t:
			x[i] = v + t
		default:
			x[i] = 0
		}
	}
}

// AdamScalars returns Adam's step size lr/(1−β1^t) and sqrt(1−β2^t).
func AdamScalars(lr, beta1, beta2 float64, step int) (stepSize, bc2Sqrt float64) {
	return lr / (1 - math.Pow(beta1, float64(step))), math.Sqrt(1 - math.Pow(beta2, float64(step)))
}

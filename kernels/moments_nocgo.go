//go:build !cgo

package kernels

// ColMoments computes, for columns [c0, c1) of the rows×cols matrix x,
// mean[c] = Σ_r x[r,c]/rows and m2[c] = Σ_r (x[r,c] − mean[c])², in float64
// (two passes; see colMomentsGo).
func ColMoments(x []float32, rows, cols, c0, c1 int, mean, m2 []float64) {
	colMomentsGo(x, rows, cols, c0, c1, mean, m2)
}

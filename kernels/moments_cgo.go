//go:build cgo

package kernels

/*
#cgo CFLAGS: -O3
#include "moments.h"
*/
import "C"

import "unsafe"

// ColMoments computes, for columns [c0, c1) of the rows×cols matrix x,
// mean[c] = Σ_r x[r,c]/rows and m2[c] = Σ_r (x[r,c] − mean[c])², in float64.
// This build makes one pass over x (C kernel in moments.h, AVX2 when the
// CPU has it) accumulating sums shifted by the column's first value k:
//
//	s1 = Σ_r (x[r,c] − k),  s2 = Σ_r (x[r,c] − k)²
//	mean = k + s1/rows,     m2 = s2 − s1²/rows
//
// The shift keeps s1 small (a few standard deviations times rows), so the
// subtraction loses nothing that matters in float64; colMomentsGo is the
// two-pass version of builds without cgo.
func ColMoments(x []float32, rows, cols, c0, c1 int, mean, m2 []float64) {
	if c1 <= c0 {
		return
	}
	if rows == 0 {
		for c := c0; c < c1; c++ {
			mean[c], m2[c] = 0, 0
		}
		return
	}
	_, _, _ = x[(rows-1)*cols+c1-1], mean[c1-1], m2[c1-1]
	k := make([]float64, cols)
	for c := c0; c < c1; c++ {
		k[c] = float64(x[c])
		mean[c], m2[c] = 0, 0
	}
	C.grain_colmoments((*C.float)(unsafe.Pointer(&x[0])), C.long(rows), C.long(cols), C.long(c0), C.long(c1),
		(*C.double)(unsafe.Pointer(&k[0])), (*C.double)(unsafe.Pointer(&mean[0])), (*C.double)(unsafe.Pointer(&m2[0])))
	n := float64(rows)
	for c := c0; c < c1; c++ {
		s1, s2 := mean[c], m2[c]
		mean[c] = k[c] + s1/n
		m2[c] = max(s2-s1*s1/n, 0)
	}
}

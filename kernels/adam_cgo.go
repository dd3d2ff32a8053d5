//go:build cgo

package kernels

/*
#cgo CFLAGS: -O3
#cgo LDFLAGS: -lm
#include "adam.h"
*/
import "C"

import "unsafe"

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
// the caller in float64 (see AdamScalars). This build runs the C kernel in
// adam.h (vectorised by the compiler); adam_go.go is the same in Go for
// builds without cgo.
func Adam(p, g, m, v []float32, beta1, beta2 float64, stepSize, bc2Sqrt, eps, l1, l2s float64) {
	if len(p) == 0 {
		return
	}
	_, _, _ = g[len(p)-1], m[len(p)-1], v[len(p)-1]
	C.grain_adam((*C.float)(unsafe.Pointer(&p[0])), (*C.float)(unsafe.Pointer(&g[0])),
		(*C.float)(unsafe.Pointer(&m[0])), (*C.float)(unsafe.Pointer(&v[0])), C.long(len(p)),
		C.float(1-beta1), C.float(beta2), C.float(1-beta2), C.float(stepSize), C.float(bc2Sqrt),
		C.float(eps), C.float(l1), C.float(l2s))
}

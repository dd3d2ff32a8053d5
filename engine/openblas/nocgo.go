//go:build !cgo

package openblas

import "errors"

// Without cgo there is no dlopen: Impl is gonum's pure-Go BLAS.

func dlopenBLAS(string) error                                                   { return errors.New("built without cgo (CGO_ENABLED=0)") }
func setThreads(int)                                                            {}
func getThreads() int                                                           { return 0 }
func config() string                                                            { return "" }
func dsyevd(int, []float64, []float64, bool) (bool, error)                      { return false, nil }
func dgesdd(int, int, []float64, []float64, []float64, []float64) (bool, error) { return false, nil }

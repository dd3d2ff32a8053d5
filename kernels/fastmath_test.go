package kernels

import (
	"math"
	"testing"
)

func TestExp32(t *testing.T) {
	for x := float32(-87); x < 88; x += 0.37 {
		got, want := float64(Exp32(x)), math.Exp(float64(x))
		if math.Abs(got-want) > 2.5e-7*want {
			t.Fatalf("Exp32(%g) = %g, want %g", x, got, want)
		}
	}
	if !math.IsInf(float64(Exp32(100)), 1) || Exp32(-1000) > 1.3e-38 || !math.IsNaN(float64(Exp32(float32(math.NaN())))) {
		t.Fatal("Exp32 out of range or NaN")
	}
}

package kernels

import "math"

// Exp32 returns e^x in float32 arithmetic with a relative error below
// 2.5·10⁻⁷ (2.47·10⁻⁷ the largest measured): x is clamped to [−87.3, 88.7]
// (so it returns ≈1.2·10⁻³⁸ below that range; NaN passes through), and from
// x ≈ 88.376, where k reaches 128, it returns +Inf although e^x is still
// finite up to 88.72 (grain's callers pass x ≤ 0); x = k·ln2 + r with
// |r| ≤ ln2/2 (k by the 1.5·2²³ rounding trick, Cody–Waite split of ln2),
// e^r by its degree-6 Taylor polynomial, and the result scaled by 2^k
// through the exponent bits. The C kernels (nn.h) compute the same.
func Exp32(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
		magic = 12582912 // 1.5·2²³
	)
	if x < -87.3 {
		x = -87.3
	}
	if x > 88.7 {
		x = 88.7
	}
	// Adding 1.5·2²³ leaves round(x·log2 e) in the low mantissa bits (Go
	// keeps float32 rounding exact).
	kf := x*log2e + magic
	k := int32(math.Float32bits(kf) - math.Float32bits(magic))
	kf -= magic
	r := x - kf*ln2hi - kf*ln2lo
	p := 1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))
	return p * math.Float32frombits(uint32(k+127)<<23)
}

// Sigmoid32 returns 1/(1 + e^−x) using Exp32.
func Sigmoid32(x float32) float32 { return 1 / (1 + Exp32(-x)) }

// Tanh32 returns tanh(x) = sign(x)·(1 − e^−2|x|)/(1 + e^−2|x|) using
// Exp32; its absolute error is below 3·10⁻⁷.
func Tanh32(x float32) float32 {
	a := x
	if a < 0 {
		a = -a
	}
	e := Exp32(-2 * a)
	t := (1 - e) / (1 + e)
	if x < 0 {
		return -t
	}
	return t
}

package kernels

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// halfValue is the exact value of a finite half bit pattern, computed from
// the definition in float64.
func halfValue(h uint16) float64 {
	s := 1.0
	if h&0x8000 != 0 {
		s = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	if e == 0 {
		return s * m * math.Ldexp(1, -24)
	}
	return s * (1 + m/1024) * math.Ldexp(1, e-15)
}

func TestHalfToFloat32AllValues(t *testing.T) {
	for i := 0; i < 65536; i++ {
		h := uint16(i)
		f := HalfToFloat32(h)
		exp := h >> 10 & 0x1f
		switch {
		case exp == 0x1f && h&0x3ff == 0:
			if !math.IsInf(float64(f), 0) || math.Signbit(float64(f)) != (h&0x8000 != 0) {
				t.Fatalf("HalfToFloat32(%#04x) = %v, want Inf", h, f)
			}
		case exp == 0x1f:
			if !math.IsNaN(float64(f)) {
				t.Fatalf("HalfToFloat32(%#04x) = %v, want NaN", h, f)
			}
		default:
			if float64(f) != halfValue(h) || math.Signbit(float64(f)) != (h&0x8000 != 0) {
				t.Fatalf("HalfToFloat32(%#04x) = %v, want %v", h, f, halfValue(h))
			}
		}
		// Every half round-trips bit-exactly, NaN payloads and signs included.
		if back := Float32ToHalf(f); back != h {
			t.Fatalf("Float32ToHalf(HalfToFloat32(%#04x)) = %#04x", h, back)
		}
	}
}

// refHalf rounds x to half precision by searching the sorted finite halves
// in float64, ties to even: an independent reference for Float32ToHalf.
func refHalf(v float64, pos []float64) uint16 {
	var sign uint16
	if math.Signbit(v) {
		sign, v = 0x8000, -v
	}
	switch {
	case math.IsNaN(v):
		panic("NaN")
	case v >= 65520: // 65504 + half an ulp (16): ties to even goes up to Inf
		return sign | 0x7c00
	}
	// pos[h] is the value of half h for h in [0, 0x7bff]; find lo ≤ v < hi.
	i := sort.Search(len(pos), func(i int) bool { return pos[i] > v })
	if i == len(pos) {
		return sign | 0x7bff
	}
	lo, hi := uint16(i-1), uint16(i)
	dlo, dhi := v-pos[lo], pos[hi]-v
	switch {
	case dlo < dhi:
		return sign | lo
	case dhi < dlo:
		return sign | hi
	case lo&1 == 0:
		return sign | lo
	}
	return sign | hi
}

func TestFloat32ToHalfAgainstFloat64(t *testing.T) {
	pos := make([]float64, 0x7c00)
	for h := range pos {
		pos[h] = halfValue(uint16(h))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(x float32) {
		t.Helper()
		if got, want := Float32ToHalf(x), refHalf(float64(x), pos); got != want {
			t.Fatalf("Float32ToHalf(%g = %#08x) = %#04x, want %#04x", x, math.Float32bits(x), got, want)
		}
	}
	for i := 0; i < 2_000_000; i++ {
		var x float32
		switch i % 4 {
		case 0: // any finite float32
			x = math.Float32frombits(rng.Uint32())
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				continue
			}
		case 1: // the half range, uniformly in exponent
			x = float32(math.Ldexp(rng.Float64()+0.5, rng.IntN(46)-30))
		case 2: // exact midpoints between adjacent halves, and their neighbours
			h := uint16(rng.IntN(0x7bff))
			mid := float32((pos[h] + pos[h+1]) / 2)
			x = []float32{mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, 1e9)}[rng.IntN(3)]
		case 3: // the subnormal range
			x = float32(rng.Float64() * math.Ldexp(1, -13))
		}
		if rng.IntN(2) == 0 {
			x = -x
		}
		check(x)
	}
	for _, x := range []float32{0, 65504, 65519.996, 65520, 1e9, math.MaxFloat32,
		float32(math.Ldexp(1, -25)), math.Nextafter32(float32(math.Ldexp(1, -25)), 1),
		float32(math.Ldexp(1, -24)), float32(math.Ldexp(1, -14)), math.SmallestNonzeroFloat32} {
		check(x)
		check(-x)
	}
}

// TestFloat32RoundToOdd: float64 → float32 to odd → half to nearest is the
// float64 rounded to half directly (refHalf), on random values and on
// values a hair off a tie between two halves, where rounding to nearest
// twice is wrong; exact float32 values pass unchanged.
func TestFloat32RoundToOdd(t *testing.T) {
	pos := make([]float64, 0x7c00)
	for h := range pos {
		pos[h] = halfValue(uint16(h))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	twice := 0
	for i := range 1_000_000 {
		var x float64
		switch i % 3 {
		case 0: // the half range, uniformly in exponent
			x = math.Ldexp(rng.Float64()+0.5, rng.IntN(46)-30)
		case 1: // a tie between adjacent halves, moved by far less than a float32 ulp
			h := uint16(rng.IntN(0x7bff))
			mid := (pos[h] + pos[h+1]) / 2
			x = mid * (1 + float64(rng.IntN(3)-1)*0x1p-40)
		case 2: // any float64 that float32 holds
			x = float64(math.Float32frombits(rng.Uint32() & 0x7f7fffff))
		}
		if rng.IntN(2) == 0 {
			x = -x
		}
		odd := Float32RoundToOdd(x)
		if got, want := Float32ToHalf(odd), refHalf(x, pos); got != want {
			t.Fatalf("Float32ToHalf(Float32RoundToOdd(%v)) = %#04x, want %#04x", x, got, want)
		}
		if Float32ToHalf(float32(x)) != refHalf(x, pos) {
			twice++
		}
		// odd is x, or the one of the two float32 values around x whose last bit is set.
		other := math.Nextafter32(odd, float32(math.Inf(1))) // the other neighbour when odd ≠ x
		if float64(odd) > x {
			other = math.Nextafter32(odd, float32(math.Inf(-1)))
		}
		exact := float64(float32(x)) == x
		around := (float64(odd) < x) != (float64(other) < x)
		if exact && float64(odd) != x || !exact && (!around || math.Float32bits(odd)&1 == 0) {
			t.Fatalf("Float32RoundToOdd(%v) = %v: not x rounded to odd", x, odd)
		}
	}
	if twice == 0 {
		t.Fatal("no value in the test is rounded wrongly by float32 then half: the ties are not exercised")
	}
	t.Logf("%d of 1e6 values rounded wrongly by float32(x) then half", twice)
	for _, c := range []struct {
		x    float64
		want float32
	}{{1e300, math.MaxFloat32}, {-1e300, -math.MaxFloat32}, {math.Inf(1), float32(math.Inf(1))}, {1e-60, math.SmallestNonzeroFloat32}} {
		if got := Float32RoundToOdd(c.x); got != c.want {
			t.Fatalf("Float32RoundToOdd(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if !math.IsNaN(float64(Float32RoundToOdd(math.NaN()))) {
		t.Fatal("Float32RoundToOdd(NaN) is not NaN")
	}
}

func TestFloat32ToHalfSpecial(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, c := range []struct {
		x    float32
		want uint16
	}{
		{0, 0}, {float32(math.Copysign(0, -1)), 0x8000}, {1, 0x3c00}, {-2, 0xc000},
		{65504, 0x7bff}, {65520, 0x7c00}, {inf, 0x7c00}, {-inf, 0xfc00},
		{float32(math.Ldexp(1, -24)), 0x0001}, {float32(math.Ldexp(1, -25)), 0},
		{math.Nextafter32(float32(math.Ldexp(1, -25)), 1), 0x0001},
		{float32(math.Ldexp(1023, -24)) + float32(math.Ldexp(1, -25)), 0x0400}, // carry into the normals
		{math.Float32frombits(0x7fc00000), 0x7e00},                             // quiet NaN
		{math.Float32frombits(0x7f800001), 0x7e00},                             // payload below half's: stays NaN
		{math.Float32frombits(0xff802000), 0xfc01},                             // signalling NaN, negative
	} {
		if got := Float32ToHalf(c.x); got != c.want {
			t.Errorf("Float32ToHalf(%#08x) = %#04x, want %#04x", math.Float32bits(c.x), got, c.want)
		}
	}
}

func TestBF16(t *testing.T) {
	cases := map[float32]uint16{1: 0x3f80, -2: 0xc000, 1.00390625: 0x3f80, 1.01171875: 0x3f82, 3.4e38: 0x7f80}
	for x, want := range cases {
		if got := Float32ToBF16(x); got != want {
			t.Errorf("Float32ToBF16(%v) = %#04x, want %#04x", x, got, want)
		}
	}
	if v := BF16ToFloat32(0x3f82); v != 1.015625 {
		t.Errorf("BF16ToFloat32 = %v", v)
	}
	if b := Float32ToBF16(float32(math.NaN())); b&0x7f80 != 0x7f80 || b&0x7f == 0 {
		t.Errorf("NaN -> %#04x", b)
	}
}

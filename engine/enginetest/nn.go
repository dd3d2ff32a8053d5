package enginetest

import (
	"math"
	"sort"
	"testing"

	"github.com/grainlab/grain/engine"
)

// RunNN runs the conformance suite of the engine.NN operations on b, which
// must implement engine.NN. Each operation is compared with a float64
// reference written here on seeded random inputs with random neuron masks
// and padding; tolerances are 1e-5 of max(1, |reference|) for forward
// values and 1e-5 for gradients, except where stated.
func RunNN(t *testing.T, b engine.Backend) {
	nn, ok := b.(engine.NN)
	if !ok {
		t.Fatalf("backend %s does not implement engine.NN", b.Name())
	}
	s := &nnSuite{suite: suite{b: b}, nn: nn}
	for _, c := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Embedding", s.embedding},
		{"LSTMCell", s.lstmCell},
		{"Attention", s.attention},
		{"TanhMask", s.tanhMask},
		{"DropoutMask", s.dropout},
		{"SoftmaxCrossEntropyMasked", s.softmaxMasked},
		{"LogSoftmax", s.logSoftmax},
		{"RowTopK", s.rowTopK},
		{"CopyColumns", s.copyColumns},
	} {
		t.Run(c.name, c.fn)
	}
}

type nnSuite struct {
	suite
	nn engine.NN
}

// mask01 returns a 0/1 mask of n elements with about a quarter zeros.
func mask01(r interface{ IntN(int) int }, n int) []float32 {
	m := make([]float32, n)
	for i := range m {
		if r.IntN(4) != 0 {
			m[i] = 1
		}
	}
	return m
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func (s *nnSuite) embedding(t *testing.T) {
	r := rng(200)
	v, e, n := 31, 50, 700 // large enough for a multi-core split
	table := randn(r, v*e, 1)
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(r.IntN(v))
	}
	ids[3], ids[4] = 5, 5 // repeated ids accumulate
	mask := mask01(r, e)
	tt, ti, tm := s.upload(t, v, e, table), s.upload(t, n, 1, ids), s.upload(t, 1, e, mask)
	dst := s.alloc(t, n, e, engine.Float32)
	s.nn.EmbeddingForward(dst, tt, ti, tm)
	want := make([]float64, n*e)
	for i, id := range ids {
		for j := 0; j < e; j++ {
			want[i*e+j] = float64(table[int(id)*e+j]) * float64(mask[j])
		}
	}
	closeTo(t, "EmbeddingForward", s.f32(t, dst), want, 0)
	dy := randn(r, n*e, 1)
	dTable := s.upload(t, v, e, randn(r, v*e, 1)) // overwritten, not added to
	s.nn.EmbeddingBackward(dTable, s.upload(t, n, e, dy), ti, tm)
	wantD := make([]float64, v*e)
	for i, id := range ids {
		for j := 0; j < e; j++ {
			wantD[int(id)*e+j] += float64(dy[i*e+j]) * float64(mask[j])
		}
	}
	closeTo(t, "EmbeddingBackward", s.f32(t, dTable), wantD, 1e-6)
}

// lstmRef is one LSTM step in float64; it returns the activations, c, h
// and, given dh and dcIn, the gradients dGates and dcPrev.
func lstmRef(pre, cPrev, mask, valid []float32, rows, h int, dh, dcIn []float32) (act, c, hh, dG, dcPrev []float64) {
	act, c, hh = make([]float64, rows*4*h), make([]float64, rows*h), make([]float64, rows*h)
	dG, dcPrev = make([]float64, rows*4*h), make([]float64, rows*h)
	for r := 0; r < rows; r++ {
		v := float64(valid[r])
		for j := 0; j < h; j++ {
			g := pre[r*4*h:]
			i, f, u, o := sigmoid(float64(g[j])), sigmoid(float64(g[h+j])), math.Tanh(float64(g[2*h+j])), sigmoid(float64(g[3*h+j]))
			a := act[r*4*h:]
			a[j], a[h+j], a[2*h+j], a[3*h+j] = i, f, u, o
			var cp float64
			if cPrev != nil {
				cp = float64(cPrev[r*h+j])
			}
			cc := v * (f*cp + i*u)
			tc := math.Tanh(cc)
			c[r*h+j] = cc
			m := float64(mask[j])
			hh[r*h+j] = v * m * o * tc
			dhe := v * m * float64(dh[r*h+j])
			dct := v * (float64(dcIn[r*h+j]) + dhe*o*(1-tc*tc))
			d := dG[r*4*h:]
			d[j] = dct * u * i * (1 - i)
			d[h+j] = dct * cp * f * (1 - f)
			d[2*h+j] = dct * i * (1 - u*u)
			d[3*h+j] = dhe * tc * o * (1 - o)
			dcPrev[r*h+j] = dct * f
		}
	}
	return
}

func (s *nnSuite) lstmCell(t *testing.T) {
	r := rng(210)
	rows, h := 67, 40
	for _, withPrev := range []bool{true, false} {
		pre := randn(r, rows*4*h, 1.5)
		var cPrev []float32
		var tcp *engine.Tensor
		if withPrev {
			cPrev = randn(r, rows*h, 1)
			tcp = s.upload(t, rows, h, cPrev)
		}
		mask, valid := mask01(r, h), mask01(r, rows)
		dh, dc := randn(r, rows*h, 1), randn(r, rows*h, 1)
		act, c, hh, dG, dcPrev := lstmRef(pre, cPrev, mask, valid, rows, h, dh, dc)

		tg := s.upload(t, rows, 4*h, pre)
		tc, th := s.alloc(t, rows, h, engine.Float32), s.alloc(t, rows, h, engine.Float32)
		tm, tv := s.upload(t, 1, h, mask), s.upload(t, rows, 1, valid)
		s.nn.LSTMCellForward(tg, tcp, tc, th, tm, tv)
		closeTo(t, "LSTMCellForward gates", s.f32(t, tg), act, 1e-5)
		closeTo(t, "LSTMCellForward c", s.f32(t, tc), c, 1e-5)
		gotH := s.f32(t, th)
		closeTo(t, "LSTMCellForward h", gotH, hh, 1e-5)
		for i, v := range gotH {
			if (mask[i%h] == 0 || valid[i/h] == 0) && v != 0 {
				t.Fatalf("masked or padded h[%d] = %g, want 0", i, v)
			}
		}
		tdh, tdc := s.upload(t, rows, h, dh), s.upload(t, rows, h, dc)
		tdg := s.alloc(t, rows, 4*h, engine.Float32)
		s.nn.LSTMCellBackward(tg, tcp, tc, tm, tv, tdh, tdc, tdg)
		closeTo(t, "LSTMCellBackward dGates", s.f32(t, tdg), dG, 1e-5)
		closeTo(t, "LSTMCellBackward dcPrev", s.f32(t, tdc), dcPrev, 1e-5)
	}
}

func (s *nnSuite) attention(t *testing.T) {
	r := rng(220)
	bsz, sl, d, dv := 64, 8, 32, 40
	q, keys, values := randn(r, bsz*d, 1), randn(r, sl*bsz*d, 1), randn(r, sl*bsz*dv, 1)
	lengths := make([]int32, bsz)
	for i := range lengths {
		lengths[i] = int32(1 + (i*5)%sl)
	}
	dCtx := randn(r, bsz*dv, 1)
	dk0, dv0 := randn(r, sl*bsz*d, 1), randn(r, sl*bsz*dv, 1)

	probs := make([]float64, bsz*sl)
	ctx := make([]float64, bsz*dv)
	dq := make([]float64, bsz*d)
	dKeys, dValues := toF64(dk0), toF64(dv0)
	for b := 0; b < bsz; b++ {
		n := int(lengths[b])
		sc := make([]float64, n)
		mx := math.Inf(-1)
		for st := 0; st < n; st++ {
			for k := 0; k < d; k++ {
				sc[st] += float64(q[b*d+k]) * float64(keys[(st*bsz+b)*d+k])
			}
			mx = math.Max(mx, sc[st])
		}
		var z float64
		for st := range sc {
			z += math.Exp(sc[st] - mx)
		}
		dp := make([]float64, n)
		var dot float64
		for st := 0; st < n; st++ {
			p := math.Exp(sc[st]-mx) / z
			probs[b*sl+st] = p
			for k := 0; k < dv; k++ {
				ctx[b*dv+k] += p * float64(values[(st*bsz+b)*dv+k])
				dp[st] += float64(dCtx[b*dv+k]) * float64(values[(st*bsz+b)*dv+k])
			}
			dot += p * dp[st]
		}
		for st := 0; st < n; st++ {
			p := probs[b*sl+st]
			ds := p * (dp[st] - dot)
			row := st*bsz + b
			for k := 0; k < d; k++ {
				dq[b*d+k] += ds * float64(keys[row*d+k])
				dKeys[row*d+k] += ds * float64(q[b*d+k])
			}
			for k := 0; k < dv; k++ {
				dValues[row*dv+k] += p * float64(dCtx[b*dv+k])
			}
		}
	}
	tq, tk, tv := s.upload(t, bsz, d, q), s.upload(t, sl*bsz, d, keys), s.upload(t, sl*bsz, dv, values)
	tl := s.upload(t, 1, bsz, lengths)
	tp, tc := s.alloc(t, bsz, sl, engine.Float32), s.alloc(t, bsz, dv, engine.Float32)
	s.nn.AttentionForward(tq, tk, tv, tl, tp, tc)
	closeTo(t, "AttentionForward probs", s.f32(t, tp), probs, 1e-6)
	closeTo(t, "AttentionForward ctx", s.f32(t, tc), ctx, 1e-5)
	tdq := s.upload(t, bsz, d, randn(r, bsz*d, 1)) // overwritten
	tdk, tdv := s.upload(t, sl*bsz, d, dk0), s.upload(t, sl*bsz, dv, dv0)
	s.nn.AttentionBackward(tq, tk, tv, tp, s.upload(t, bsz, dv, dCtx), tdq, tdk, tdv)
	closeTo(t, "AttentionBackward dq", s.f32(t, tdq), dq, 1e-5)
	closeTo(t, "AttentionBackward dKeys", s.f32(t, tdk), dKeys, 1e-5)
	closeTo(t, "AttentionBackward dValues", s.f32(t, tdv), dValues, 1e-5)
}

func (s *nnSuite) tanhMask(t *testing.T) {
	r := rng(230)
	rows, h := 17, 11
	x, dy := randn(r, rows*h, 2), randn(r, rows*h, 1)
	x[0], x[1] = 1e-4, -30
	mask := mask01(r, h)
	mask[0], mask[1] = 1, 1
	want, wantD := make([]float64, rows*h), make([]float64, rows*h)
	for i, v := range x {
		m := float64(mask[i%h])
		want[i] = m * math.Tanh(float64(v))
	}
	tx, tm := s.upload(t, rows, h, x), s.upload(t, 1, h, mask)
	s.nn.TanhMask(tx, tm)
	y := s.f32(t, tx)
	closeTo(t, "TanhMask", y, want, 1e-6)
	for i, v := range y {
		wantD[i] = float64(dy[i]) * float64(mask[i%h]) * (1 - float64(v)*float64(v))
	}
	tdy := s.upload(t, rows, h, dy)
	s.nn.TanhMaskBackward(tdy, tdy, tx, tm) // in place
	closeTo(t, "TanhMaskBackward", s.f32(t, tdy), wantD, 1e-6)
}

func (s *nnSuite) dropout(t *testing.T) {
	rows, cols := 300, 101
	const p, seed = 0.3, 42
	tm := s.alloc(t, rows, cols, engine.Float32)
	s.nn.DropoutMask(tm, p, seed)
	got := s.f32(t, tm)
	zeros := 0
	keep := float32(1) / (1 - p)
	for i, v := range got {
		u := float32(engine.DropoutHash(seed, uint64(i))>>40) * (1.0 / (1 << 24))
		want := keep
		if u < p {
			want, zeros = 0, zeros+1
		}
		if v != want {
			t.Fatalf("DropoutMask[%d] = %g, want %g", i, v, want)
		}
	}
	if frac := float64(zeros) / float64(len(got)); math.Abs(frac-p) > 0.01 {
		t.Fatalf("DropoutMask dropped %.4f of the elements, want %.2f", frac, p)
	}
	s.nn.DropoutMask(tm, 0, seed)
	for _, v := range s.f32(t, tm) {
		if v != 1 {
			t.Fatalf("DropoutMask with p = 0 gave %g", v)
		}
	}
}

func (s *nnSuite) softmaxMasked(t *testing.T) {
	r := rng(240)
	n, k := 41, 101
	logits := randn(r, n*k, 4)
	logits[k] = 200 // would overflow a naive exp
	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(r.IntN(k))
		if i%5 == 2 {
			labels[i] = -1
		}
	}
	const scale = 0.125
	wantLoss, wantGrad := refSoftmaxXent(logits, labels, k, scale)
	tl, tlab := s.upload(t, n, k, logits), s.upload(t, n, 1, labels)
	loss := s.alloc(t, 1, 1, engine.Float64)
	s.nn.SoftmaxCrossEntropyMasked(tl, tlab, nil, loss, 1)
	if g := s.f64(t, loss)[0]; math.Abs(g-wantLoss) > 1e-6*wantLoss {
		t.Fatalf("loss %g want %g", g, wantLoss)
	}
	s.nn.SoftmaxCrossEntropyMasked(tl, tlab, tl, loss, scale) // gradient in place
	if g := s.f64(t, loss)[0]; math.Abs(g-wantLoss) > 1e-6*wantLoss {
		t.Fatalf("loss with gradient %g want %g", g, wantLoss)
	}
	closeTo(t, "SoftmaxCrossEntropyMasked grad", s.f32(t, tl), wantGrad, 1e-6)
}

func (s *nnSuite) logSoftmax(t *testing.T) {
	r := rng(250)
	n, k := 9, 53
	x := randn(r, n*k, 5)
	x[0] = 300
	want := make([]float64, n*k)
	for i := 0; i < n; i++ {
		row := x[i*k : (i+1)*k]
		mx, logZ := refLogSumExp(row)
		for j, v := range row {
			want[i*k+j] = float64(v) - mx - logZ
		}
	}
	tx := s.upload(t, n, k, x)
	td := s.alloc(t, n, k, engine.Float32)
	s.nn.LogSoftmax(td, tx)
	closeTo(t, "LogSoftmax", s.f32(t, td), want, 1e-5)
	s.nn.LogSoftmax(tx, tx)
	closeTo(t, "LogSoftmax in place", s.f32(t, tx), want, 1e-5)
}

// rowTopK checks RowTopK exactly against a full sort of each row (values
// desc, ties by the lower column, NaN last), on rows with many ties,
// ±Inf and NaNs, wider and narrower than a thread block, k from 1 to c.
func (s *nnSuite) rowTopK(t *testing.T) {
	r := rng(255)
	for _, sh := range []struct{ n, c, k int }{{11, 300, 12}, {7, 300, 1}, {5, 6, 6}, {300, 40, 3}} {
		x := make([]float32, sh.n*sh.c)
		for i := range x {
			x[i] = float32(r.IntN(20)) / 4 // few distinct values: ties
		}
		inf, nan := float32(math.Inf(1)), float32(math.NaN())
		x[3], x[sh.c+1], x[sh.c+2], x[2*sh.c] = nan, -inf, inf, nan
		for j := range sh.c {
			x[(sh.n-1)*sh.c+j] = nan // a row of NaNs only
		}
		vals, idx := s.alloc(t, sh.n, sh.k, engine.Float32), s.alloc(t, sh.n, sh.k, engine.Int32)
		s.nn.RowTopK(vals, idx, s.upload(t, sh.n, sh.c, x))
		gotV, gotI := s.f32(t, vals), s.i32(t, idx)
		for i := range sh.n {
			row := x[i*sh.c : (i+1)*sh.c]
			order := make([]int, sh.c)
			for j := range order {
				order[j] = j
			}
			sort.SliceStable(order, func(a, b int) bool {
				va, vb := row[order[a]], row[order[b]]
				if na, nb := math.IsNaN(float64(va)), math.IsNaN(float64(vb)); na || nb {
					return !na && nb
				}
				return va > vb
			})
			for j := range sh.k {
				g := i*sh.k + j
				if int(gotI[g]) != order[j] || math.Float32bits(gotV[g]) != math.Float32bits(row[order[j]]) {
					t.Fatalf("%d×%d, k %d: row %d, place %d: column %d (%v), want %d (%v)",
						sh.n, sh.c, sh.k, i, j, gotI[g], gotV[g], order[j], row[order[j]])
				}
			}
		}
	}
}

func (s *nnSuite) copyColumns(t *testing.T) {
	r := rng(260)
	rows := 19
	wide := randn(r, rows*10, 1)
	narrow := randn(r, rows*3, 1)
	tw, tn := s.upload(t, rows, 10, wide), s.upload(t, rows, 3, narrow)
	s.nn.CopyToColumns(tw, 6, tn)
	want := toF64(wide)
	for i := 0; i < rows; i++ {
		for j := 0; j < 3; j++ {
			want[i*10+6+j] = float64(narrow[i*3+j])
		}
	}
	closeTo(t, "CopyToColumns", s.f32(t, tw), want, 0)
	tb := s.alloc(t, rows, 4, engine.Float32)
	s.nn.CopyFromColumns(tb, tw, 5)
	wantB := make([]float64, rows*4)
	for i := 0; i < rows; i++ {
		for j := 0; j < 4; j++ {
			wantB[i*4+j] = want[i*10+5+j]
		}
	}
	closeTo(t, "CopyFromColumns", s.f32(t, tb), wantB, 0)
}

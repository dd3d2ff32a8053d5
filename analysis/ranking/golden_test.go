package ranking

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"
)

// goldenFile is testdata/golden.json, written by testdata/gen_golden.py
// with NumPy 1.24. To regenerate it (only needed when the cases change):
//
//	cd analysis/ranking && /usr/bin/python3 testdata/gen_golden.py
type goldenFile struct {
	NumPyVersion string       `json:"numpy_version"`
	Percentages  []float64    `json:"percentages"`
	Fractions    []float64    `json:"fractions"`
	Stride       int          `json:"stride"`
	Notes        []string     `json:"notes"`
	Cases        []goldenCase `json:"cases"`
}

type goldenCase struct {
	Name             string    `json:"name"`
	Labels           int       `json:"labels"`
	Neurons          int       `json:"neurons"`
	Weights          string    `json:"weights_f32le"`      // base64 float32 LE, labels × neurons
	TotalsBits       []uint32  `json:"totals_bits"`        // np.sum per row, float32 bits
	ArgsortSHA256    string    `json:"argsort_sha256"`     // stable ascending argsort rows as uint32 LE
	TopCounts        [][]int   `json:"top_counts"`         // [percentage][label]
	BottomCounts     [][]int   `json:"bottom_counts"`      // [percentage][label]
	TopLists         [][][]int `json:"top_lists"`          // [percentage][label], small cases only
	BottomLists      [][][]int `json:"bottom_lists"`       // [percentage][label], small cases only
	HardMasks        []string  `json:"hard_masks"`         // [fraction]: per-row bitmasks
	UnionSizes       []int     `json:"union_sizes"`        // [k]: |U_k|
	UnionMasks       string    `json:"union_masks"`        // [k]: bitmask of U_k
	UnionMasksSHA256 string    `json:"union_masks_sha256"` // instead of UnionMasks for big cases
}

func loadGolden(t *testing.T) goldenFile {
	t.Helper()
	data, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mask packs a set of neurons like np.packbits(bitorder="little").
func mask(neurons []int, n int) []byte {
	m := make([]byte, (n+7)/8)
	for _, j := range neurons {
		m[j/8] |= 1 << (j % 8)
	}
	return m
}

// TestGoldenNumPy requires exact agreement with NeuroX's NumPy computations:
// bit-exact float32 totals, the per-row sort order, every per-label
// top/bottom list, the hard-threshold sets and the ordering's union sets.
func TestGoldenNumPy(t *testing.T) {
	g := loadGolden(t)
	if len(g.Cases) == 0 || g.Stride != DefaultStride {
		t.Fatalf("golden file has %d cases, stride %d", len(g.Cases), g.Stride)
	}
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			raw := b64(t, c.Weights)
			w := make([]float32, len(raw)/4)
			for i := range w {
				w[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
			r, err := NewRanker(w, c.Labels, c.Neurons)
			if err != nil {
				t.Fatal(err)
			}
			for l, want := range c.TotalsBits {
				if got := math.Float32bits(r.Total(l)); got != want {
					t.Errorf("label %d: total %v (%#08x), NumPy %v (%#08x)", l, r.Total(l), got, math.Float32frombits(want), want)
				}
			}
			sum := sha256.New()
			for _, j := range r.asc {
				binary.Write(sum, binary.LittleEndian, uint32(j))
			}
			if got := hex.EncodeToString(sum.Sum(nil)); got != c.ArgsortSHA256 {
				t.Fatalf("sort order differs from NumPy's stable argsort")
			}
			// With the sort order equal to NumPy's, a list is equal to
			// NumPy's when it is the same-length prefix of that order.
			for pi, p := range g.Percentages {
				top, bottom := r.TopNeurons(p), r.BottomNeurons(p)
				for l := range c.Labels {
					asc := r.asc[l*c.Neurons : (l+1)*c.Neurons]
					checkList(t, fmt.Sprintf("top p=%v label %d", p, l), top.PerLabel[l], c.TopCounts[pi][l], func(i int) int { return int(asc[c.Neurons-1-i]) })
					checkList(t, fmt.Sprintf("bottom p=%v label %d", p, l), bottom.PerLabel[l], c.BottomCounts[pi][l], func(i int) int { return int(asc[i]) })
					if c.TopLists != nil && !slices.Equal(top.PerLabel[l], c.TopLists[pi][l]) {
						t.Errorf("top p=%v label %d: %v, NumPy %v", p, l, top.PerLabel[l], c.TopLists[pi][l])
					}
					if c.BottomLists != nil && !slices.Equal(bottom.PerLabel[l], c.BottomLists[pi][l]) {
						t.Errorf("bottom p=%v label %d: %v, NumPy %v", p, l, bottom.PerLabel[l], c.BottomLists[pi][l])
					}
				}
			}
			rowBytes := (c.Neurons + 7) / 8
			for fi, f := range g.Fractions {
				want := b64(t, c.HardMasks[fi])
				sel := r.HardThreshold(f)
				for l, list := range sel.PerLabel {
					if !slices.IsSorted(list) || string(mask(list, c.Neurons)) != string(want[l*rowBytes:(l+1)*rowBytes]) {
						t.Errorf("hard threshold %v label %d differs from NumPy", f, l)
					}
				}
			}
			o := r.Ordering(DefaultStride)
			if !slices.Equal(o.Cutoffs, c.UnionSizes) {
				t.Errorf("cutoffs %v\nNumPy union sizes %v", o.Cutoffs, c.UnionSizes)
			}
			var masks []byte
			for k, cutoff := range o.Cutoffs {
				u := o.Neurons[:cutoff]
				masks = append(masks, mask(u, c.Neurons)...)
				if k%10 == 0 { // the unions are TopNeurons' unions
					if sel := r.TopNeurons(float64(k) / DefaultStride); string(mask(sel.Union, c.Neurons)) != string(mask(u, c.Neurons)) {
						t.Errorf("step %d: ordering prefix is not TopNeurons(%d/100).Union", k, k)
					}
				}
			}
			if c.UnionMasks != "" && string(masks) != string(b64(t, c.UnionMasks)) {
				t.Error("ordering union sets differ from NumPy")
			}
			if h := sha256.Sum256(masks); c.UnionMasksSHA256 != "" && hex.EncodeToString(h[:]) != c.UnionMasksSHA256 {
				t.Error("ordering union sets differ from NumPy")
			}
		})
	}
}

// checkList checks that got has length n and got[i] = want(i).
func checkList(t *testing.T, what string, got []int, n int, want func(int) int) {
	t.Helper()
	if len(got) != n {
		t.Errorf("%s: %d neurons, NumPy %d", what, len(got), n)
		return
	}
	for i, j := range got {
		if j != want(i) {
			t.Errorf("%s: neuron %d at %d, NumPy %d", what, j, i, want(i))
			return
		}
	}
}

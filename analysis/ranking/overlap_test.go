package ranking

import (
	"math"
	"slices"
	"testing"
)

func TestTopOverlap(t *testing.T) {
	ov, err := TopOverlap([]int{4, 1, 7, 2, 9}, []int{7, 3, 4, 8, 1}, 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	if ov.K != 3 || ov.Count != 2 || !slices.Equal(ov.Shared, []int{4, 7}) || math.Abs(ov.Jaccard-0.5) > 1e-12 || ov.Chance != 0.9 {
		t.Errorf("overlap %+v", ov)
	}
	if ov, _ := TopOverlap([]int{1, 2}, []int{2, 1, 5}, 10, 6); ov.K != 2 || ov.Count != 2 || ov.Jaccard != 1 {
		t.Errorf("short orderings: %+v", ov)
	}
	for _, bad := range [][]int{{1, 1}, {-1}, {6}} {
		if _, err := TopOverlap(bad, []int{1}, 1, 6); err == nil {
			t.Errorf("ordering %v accepted", bad)
		}
	}
	if _, err := TopOverlap([]int{1}, []int{1}, 0, 6); err == nil {
		t.Error("k = 0 accepted")
	}
}

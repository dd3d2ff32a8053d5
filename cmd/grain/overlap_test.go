package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grainlab/grain/analysis/ranking"
)

func TestOverlap(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int, ordering []int) string {
		path := filepath.Join(dir, name)
		method := ranking.MethodOrdering
		if len(ordering) < n {
			method = "other-tool" // grain's orderings list every neuron; another tool's ranking may list fewer
		}
		if err := ranking.WriteFile(path, &ranking.File{Version: ranking.FormatVersion, Method: method, NumNeurons: n, Ordering: ordering}); err != nil {
			t.Fatal(err)
		}
		return path
	}
	a := write("a.json", 10, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	b := write("b.json", 10, []int{1, 9, 0, 8, 2, 7, 3, 6, 4, 5})
	partial := write("partial.json", 10, []int{9, 1, 4})
	other := write("other.json", 12, []int{0})
	selection := filepath.Join(dir, "top.json")
	if err := ranking.WriteFile(selection, &ranking.File{Version: ranking.FormatVersion, Method: ranking.MethodTop, NumNeurons: 10, Ordering: []int{2, 5, 7}}); err != nil {
		t.Fatal(err)
	}

	code, js, errs := run("overlap", "--json", "--k", "2,4,10", a, b)
	var rep overlapReport
	if code != 0 || json.Unmarshal([]byte(js), &rep) != nil {
		t.Fatalf("exit %d: %s %s", code, errs, js)
	}
	// top 2: {0,1} ∩ {1,9} = {1}; top 4: {0..3} ∩ {1,9,0,8} = {0,1}; all 10 shared.
	want := []ranking.Overlap{
		{K: 2, Count: 1, Chance: 0.4, Jaccard: 1.0 / 3, Shared: []int{1}},
		{K: 4, Count: 2, Chance: 1.6, Jaccard: 2.0 / 6, Shared: []int{0, 1}},
		{K: 10, Count: 10, Chance: 10, Jaccard: 1, Shared: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
	}
	if rep.Neurons != 10 || len(rep.Overlaps) != 3 {
		t.Fatalf("report %+v", rep)
	}
	for i, o := range rep.Overlaps {
		w := want[i]
		if o.K != w.K || o.Count != w.Count || o.Chance != w.Chance || o.Jaccard != w.Jaccard || !slicesEqual(o.Shared, w.Shared) {
			t.Errorf("k %d: %+v, want %+v", w.K, o, w)
		}
	}
	// A partial ranking cuts k to its length, reported once.
	code, js, errs = run("overlap", "--json", "--k", "2,5,10,50", partial, b)
	rep = overlapReport{}
	if code != 0 || json.Unmarshal([]byte(js), &rep) != nil || len(rep.Overlaps) != 2 || rep.Overlaps[1].K != 3 || rep.Overlaps[1].Count != 2 {
		t.Fatalf("partial ranking: exit %d %s %+v", code, errs, rep)
	}
	if code, text, _ := run("overlap", "--k", "2,4", a, b); code != 0 || !strings.Contains(text, "shared neurons") || !strings.Contains(text, "0.4") {
		t.Fatalf("text output:\n%s", text)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{a}, "overlap compares two ranking files"},
		{[]string{a, other}, "ranks 10 neurons (no columns recorded) and"},
		{[]string{"--k", "0", a, b}, `--k "0": bad entry "0"`},
		{[]string{"--k", "5,x", a, b}, `bad entry "x"`},
		{[]string{a, filepath.Join(dir, "none.json")}, "none.json"},
		{[]string{a, selection}, `top.json is a selection (method "top"`},
	} {
		code, _, errs := run(append([]string{"overlap"}, c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want it to mention %q", c.args, code, errs, c.want)
		}
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

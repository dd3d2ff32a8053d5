package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/grainlab/grain/analysis/ranking"
)

func init() {
	register(command{"overlap", "neurons shared by two rankings of one model's neurons: top-k overlap against chance (e.g. two properties' probes, or a probe's and MaxCorr's)", runOverlap})
}

// overlapReport is what grain overlap reports.
type overlapReport struct {
	A        string            `json:"a"`
	B        string            `json:"b"`
	Neurons  int               `json:"neurons"`
	Overlaps []ranking.Overlap `json:"overlaps"`
}

func runOverlap(c *cli, args []string) error {
	fs := c.flags("overlap", "overlap [--k 10,50,100] A.json B.json", 0)
	ks := fs.String("k", "10,50,100", "comma-separated numbers of top neurons to compare (cut to the shorter ranking's length)")
	if err := c.parse(fs, args, true); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("overlap compares two ranking files (grain rank/lca/crosscorr --out), got %d", fs.NArg())
	}
	var files [2]*ranking.File
	for i, path := range fs.Args() {
		f, err := readRanked(path)
		if err != nil {
			return err
		}
		if len(f.Ordering) == 0 {
			return fmt.Errorf("%s lists no neurons", path)
		}
		files[i] = f
	}
	a, b := fs.Arg(0), fs.Arg(1)
	c0, c1 := files[0].Columns, files[1].Columns
	if files[0].NumNeurons != files[1].NumNeurons || c0 != nil && c1 != nil && !slices.Equal(c0, c1) {
		return fmt.Errorf("%s ranks %s and %s %s: they rank different models or layers (rank both on the same neurons: the same model, and the same --layers/--direction or none)", a, describeRecorded(c0, files[0].NumNeurons), b, describeRecorded(c1, files[1].NumNeurons))
	}
	warnOtherModel(c, a, files[0], files[1].Model)
	columns := c0 // the global neurons, when either file records them
	if columns == nil {
		columns = c1
	}
	n := files[0].NumNeurons
	rep := overlapReport{A: a, B: b, Neurons: n}
	for _, f := range strings.Split(*ks, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k < 1 {
			return fmt.Errorf("--k %q: bad entry %q (want numbers of top neurons ≥ 1, comma-separated)", *ks, f)
		}
		o, err := ranking.TopOverlap(files[0].Ordering, files[1].Ordering, k, n)
		if err != nil {
			return err
		}
		if len(rep.Overlaps) > 0 && rep.Overlaps[len(rep.Overlaps)-1].K == o.K {
			continue // k beyond a ranking's length: the shorter list again
		}
		o.Shared = ranking.GlobalNeurons(columns, o.Shared) // reported by global index
		rep.Overlaps = append(rep.Overlaps, o)
	}
	if c.json {
		return writeJSON(c.stdout, rep)
	}
	fmt.Fprintf(c.stdout, "%s (%s, %d listed) and %s (%s, %d listed), %d neurons\n",
		a, files[0].Method, len(files[0].Ordering), b, files[1].Method, len(files[1].Ordering), n)
	t := newTable(c.stdout, "top k", "shared", "chance", "Jaccard", "shared neurons")
	for _, o := range rep.Overlaps {
		t.row(o.K, o.Count, fmt.Sprintf("%.1f", o.Chance), o.Jaccard, intList(o.Shared, 15))
	}
	t.flush()
	return nil
}

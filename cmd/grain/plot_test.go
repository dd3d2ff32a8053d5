package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/grainlab/grain/analysis/gridsearch"
	"github.com/grainlab/grain/analysis/ranking"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

// TestPDFDateFromSourceDateEpoch: with a fixed date (SOURCE_DATE_EPOCH),
// the same plot saved twice, a second apart, is the same PDF, dated then.
func TestPDFDateFromSourceDateEpoch(t *testing.T) {
	pdfDate("1700000000")
	res := &gridsearch.Result{Tolerance: 0.01, Points: []gridsearch.Point{
		{L1: 0, L2: 0, DevAccuracy: 0.9, Union: 40, MeanPerLabel: 12},
		{L1: 1e-3, L2: 0, DevAccuracy: 0.85, Union: 10, MeanPerLabel: 3},
	}}
	dir := t.TempDir()
	var files [2][]byte
	for i := range files {
		path := filepath.Join(dir, "grid.pdf")
		if err := plotGrid(res, path); err != nil {
			t.Fatal(err)
		}
		files[i], _ = os.ReadFile(path)
		time.Sleep(1100 * time.Millisecond)
	}
	if !bytes.Equal(files[0], files[1]) || !bytes.Contains(files[0], []byte("D:20231114")) {
		t.Fatalf("two PDFs of one plot differ (%d, %d bytes) or lack the fixed date", len(files[0]), len(files[1]))
	}
}

// TestReferenceLineIsInRange: a reference line above (or below) every data
// point widens the y axis to show it (the unmasked score of a sweep was
// drawn off the chart).
func TestReferenceLineIsInRange(t *testing.T) {
	p := plot.New()
	if err := addSelectionLine(p, ranking.PickTop, plotter.XYs{{X: 5, Y: 20}, {X: 10, Y: 30}}, "top"); err != nil {
		t.Fatal(err)
	}
	addReference(p, 35.3, "none clamped")
	addReference(p, 12, "floor")
	if p.Y.Min > 12 || p.Y.Max < 35.3 {
		t.Fatalf("y axis [%g, %g] leaves out the reference lines at 12 and 35.3", p.Y.Min, p.Y.Max)
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/grainlab/grain/analysis/gridsearch"
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

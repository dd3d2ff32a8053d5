// Package models finds grain's shipped models: the NMT and language models
// that grain trained itself from grain's shared data, committed in this
// directory as safetensors files (README.md beside this file gives the
// command that trained each, its training time and its scores, which
// models_test.go reproduces).
//
//	nmt-en-de-s1   English→German NMT, seed 1 (the demo's model)
//	nmt-en-de-s2   English→German NMT, seed 2
//	nmt-en-fr      English→French NMT, seed 1
//	nlm-en         English LSTM language model, seed 1
package models

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/grainlab/grain/analysis/corpus"
)

// Names lists the shipped models.
var Names = []string{"nmt-en-de-s1", "nmt-en-de-s2", "nmt-en-fr", "nlm-en"}

// Dir returns the directory of the shipped model files: $GRAIN_MODELS when
// set, else nn/models in grain's source tree (see corpus.SourceDir).
func Dir() (string, error) {
	if d := os.Getenv("GRAIN_MODELS"); d != "" {
		return d, nil
	}
	root, err := corpus.SourceDir()
	if err != nil {
		return "", fmt.Errorf("shipped models: %w (set GRAIN_MODELS to their folder)", err)
	}
	return filepath.Join(root, "nn", "models"), nil
}

// Path returns the file of the shipped model called name.
func Path(name string) (string, error) {
	known := false
	for _, n := range Names {
		known = known || n == name
	}
	if !known {
		return "", fmt.Errorf("no shipped model %q (shipped: %s)", name, strings.Join(Names, ", "))
	}
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, name+".safetensors")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("shipped model %s: %w", name, err)
	}
	return p, nil
}

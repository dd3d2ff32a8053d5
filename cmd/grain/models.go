package main

import "github.com/grainlab/grain/nn/models"

// defaultModel is the shipped model the demo analyses.
const defaultModel = "nmt-en-de-s1"

// shippedModel returns a path from which a shipped model loads.
func shippedModel(name string) (string, error) { return models.Path(name) }

package activations

// Dims returns (NumTokens, NumNeurons), so that a Reader is a design matrix
// for grain's analyses (dataset.Matrix).
func (r *Reader) Dims() (rows, cols int) { return r.NumTokens(), r.NumNeurons() }

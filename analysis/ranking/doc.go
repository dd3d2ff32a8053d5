// Package ranking ranks neurons by their importance for linguistic labels:
// from a linear probe's weights (Linguistic Correlation Analysis, Dalvi et
// al. 2019) and, without a probe, from class means of activations
// (Antverg & Belinkov 2022). The probe methods reproduce NeuroX
// (neurox/interpretation/linear_probe.py, probeless.py) exactly, including
// its float32 arithmetic as performed by NumPy 1.x.
//
// # Probe rankings
//
// A Ranker holds a probe's weight matrix W (labels × neurons, row-major) as
// A = |W| in float32. For label l with row a = A[l]:
//
// TopNeurons(p) selects, per label, the shortest prefix of the neurons sorted
// by descending a whose cumulative mass reaches p of the label's total:
//
//	total = np.sum(a)                     // float32, see NumPySum
//	order = np.argsort(a)[::-1]           // descending
//	cum   = np.cumsum(a[order])           // sequential float32 running sum
//	thr   = float32(float64(total) · p)   // NumPy 1.x promotion, see below
//	k     = first i with cum[i] ≥ thr     // compared in float32
//	list  = order[:k+1], or all of order if there is no such i
//
// so p = 0 still selects the top neuron of every label, and p > 1 selects
// all neurons of a label with a positive total (an all-zero row yields its
// top neuron for any finite p). At p = 1 the sequential running sum may end
// below the pairwise total, which also selects all neurons, or reach it
// before the smallest weights, which leaves them out. The order is a
// stable ascending sort reversed: exactly equal weights come out with the
// higher neuron index first. (NeuroX's np.argsort uses NumPy's unstable
// default quicksort, which leaves the order of ties to the NumPy build; with
// exact ties at the cut, such as the zeros an L1 penalty produces, even the
// selected set can differ between NumPy builds. grain's rule is the stable
// one, pinned down by the golden test.)
//
// NumPySum reproduces np.sum bit for bit: pairwise summation as in NumPy's
// source, applied to blocks of 8192 elements (NumPy's reduction buffer size)
// whose sums are added in turn (the golden test pins the block rule on rows
// of 10,000 neurons).
//
// The threshold follows NumPy 1.x (Debian's 1.24 in the golden test): in
// total_mass * percentage the float32 scalar meets a Python float and the
// product is computed in float64; in cum_sums >= threshold the float64
// scalar meets a float32 array and is rounded to float32 before the float32
// comparison. NumPy 2 (NEP 50) instead multiplies in float32; on the rare
// rows where that matters, grain matches NumPy 1.x.
//
// BottomNeurons(p) is the same with the ascending order (ties: lower index
// first). Both return each label's list in selection order and their union,
// ascending.
//
// HardThreshold(fraction) selects, per label, the neurons with
// a[j] > float32(float64(max(a)) / fraction), in index order (NumPy 1.x again
// divides in float64 and compares in float32).
//
// Ordering(stride) ranks all neurons: for k = 0, 1, …, stride it takes the
// union U_k of TopNeurons(k/stride) over labels, appends the neurons of U_k
// not yet ordered, and records the ordering's length as a cutoff, giving
// stride+1 cutoffs. NeuroX leaves the order inside one step arbitrary
// (Python set order); grain orders the neurons added in one step by
// descending weight mass Σ_l A[l][j] (summed in float64), ties lower index
// first. A neuron that is in no U_k (possible when a label's cumulative sum
// reaches its total before the smallest weights, e.g. exact zeros) is missing
// from NeuroX's ordering; grain appends such neurons after the last cutoff,
// in the same mass order, so Neurons is always a permutation of all neurons
// and Neurons[:Cutoffs[stride]] is NeuroX's ordering (up to the order
// inside each step).
//
// GranularOrdering(granularity, stride) is NeuroX's
// get_neuron_ordering_granular: with the same unions U_0 … U_stride,
//
//	s := 0
//	for i := 0; i <= numNeurons; i += granularity {
//		for |U_s| < i { s++ }
//		append U_s \ ordered (same order as above); record a cutoff if non-empty
//	}
//
// Where NeuroX would index past U_stride (an IndexError, when |U_stride| is
// smaller than the last i) grain stops the loop; the remaining neurons are
// appended after the last cutoff as in Ordering.
//
// FixedBottom(k) is the last k neurons of Ordering(100). Random(n, q, seed)
// selects each of n neurons independently when a uniform u ∈ [0, 1) from a
// seeded PCG generator satisfies u ≤ q, as NeuroX does with np.random.
//
// Ordering computes every row's sort and cumulative sums once and finds each
// cut by binary search (the running sums of non-negative values never
// decrease), which gives the same cuts as the linear scan of the definition.
//
// # Probeless ranking
//
// A MeanAccumulator streams activations with their labels and forms the
// class means μ_c (float64). The overall score of neuron j is
// Σ_{a<b} |μ_a[j] − μ_b[j]| over unordered pairs of labels that have
// examples, the score of neuron j for label c is Σ_{b≠c} |μ_c[j] − μ_b[j]|,
// and the rankings sort by descending score, ties lower index first (NeuroX
// reverses an ascending argsort, which puts the higher index first; its means
// are float32).
//
// # Sets and files
//
// TopPercent and BottomPercent cut an ordering to the first or last
// round(N·percent/100) neurons of the N in the model (PercentCount); PickNeurons
// picks the top, bottom or a random N% for the ablations (in the probe and
// inside the model). A File stores a ranking as JSON for the CLI and other
// tools.
//
// Functions panic on arguments that are programming errors (a stride < 1, a
// k outside [0, N], a percent outside [0, 100]) and return errors for bad
// data (non-finite weights, labels out of range, invalid files).
package ranking

package kernels

// AdamVectorWidth and ColMomentsVectorWidth are the widths, in elements
// and columns, of the AVX2 loops of Adam and ColMoments (adam.h,
// moments.h). Those loops are compiled with FMA contraction and their
// scalar tails are not, so the two round differently: split work at
// multiples of these widths and each element takes the same path, and gets
// the same bits, on any number of cores.
const (
	AdamVectorWidth       = 8
	ColMomentsVectorWidth = 4
)

//go:build grain_cuda

package cuda

import (
	"fmt"
	"math"
	"unsafe"
)

// The kernels of kernels/*.cu that the backend launches.
const (
	kFill = iota
	kScale
	kAxpy
	kMul
	kAddRowVector
	kScaleColumns
	kGatherColumns
	kStandardize
	kStandardizeRound
	kStandardizeRoundT
	kStandardizeRoundTMoments
	kAffineOuter
	kSoftThreshold
	kSoftmaxXent
	kReduceRows
	kReduceColsPart
	kReduceColsMerge
	kSumColsPart
	kSumColsMerge
	kSumSquaresPart
	kSumF64
	kColMomentsPart
	kColMomentsMerge
	kRoundF32
	kToBF16
	kAdam
	kEmbeddingFwd
	kEmbeddingBwd
	kLSTMFwd
	kLSTMBwd
	kTanhMask
	kTanhMaskBwd
	kDropoutMask
	kCopyColumns
	kAttentionFwd
	kAttentionBwd
	kLogSoftmax
	kSoftmaxXentMasked
	kRowTopK
	numKernels
)

var kernelNames = [numKernels]string{
	kFill:                     "grain_fill_f32",
	kScale:                    "grain_scale_f32",
	kAxpy:                     "grain_axpy_f32",
	kMul:                      "grain_mul_f32",
	kAddRowVector:             "grain_add_row_vector",
	kScaleColumns:             "grain_scale_columns",
	kGatherColumns:            "grain_gather_columns",
	kStandardize:              "grain_standardize",
	kStandardizeRound:         "grain_standardize_round",
	kStandardizeRoundT:        "grain_standardize_round_t",
	kStandardizeRoundTMoments: "grain_standardize_round_t_moments",
	kAffineOuter:              "grain_affine_outer",
	kSoftThreshold:            "grain_soft_threshold",
	kSoftmaxXent:              "grain_softmax_xent",
	kReduceRows:               "grain_reduce_rows",
	kReduceColsPart:           "grain_reduce_cols_part",
	kReduceColsMerge:          "grain_reduce_cols_merge",
	kSumColsPart:              "grain_sum_cols_part",
	kSumColsMerge:             "grain_sum_cols_merge",
	kSumSquaresPart:           "grain_sum_squares_part",
	kSumF64:                   "grain_sum_f64",
	kColMomentsPart:           "grain_col_moments_part",
	kColMomentsMerge:          "grain_col_moments_merge",
	kRoundF32:                 "grain_round_f32",
	kToBF16:                   "grain_to_bf16",
	kAdam:                     "grain_adam",
	kEmbeddingFwd:             "grain_embedding_fwd",
	kEmbeddingBwd:             "grain_embedding_bwd",
	kLSTMFwd:                  "grain_lstm_fwd",
	kLSTMBwd:                  "grain_lstm_bwd",
	kTanhMask:                 "grain_tanh_mask",
	kTanhMaskBwd:              "grain_tanh_mask_bwd",
	kDropoutMask:              "grain_dropout_mask",
	kCopyColumns:              "grain_copy_columns",
	kAttentionFwd:             "grain_attention_fwd",
	kAttentionBwd:             "grain_attention_bwd",
	kLogSoftmax:               "grain_log_softmax",
	kSoftmaxXentMasked:        "grain_softmax_xent_masked",
	kRowTopK:                  "grain_row_topk",
}

// Thread-block shapes (kernels/grain.cuh, reduce.cu, elementwise.cu).
const (
	blockThreads = 256 // every kernel's block holds at most this many threads
	rowThreads   = 128 // the block of the one-block-per-row kernels (softmax, attention; ≤ GRAIN_REDUCE_THREADS)
	maxArgs      = 16
	maxGridY     = 65535
)

// dim3 is a grid or block shape.
type dim3 struct{ x, y, z int }

// Kernel arguments: each is stored in an 8-byte slot and the driver reads
// as many bytes as the kernel's parameter has, so Go values must match the
// C types: devPtr for pointers, int64 for long long, int32 for int, uint32
// for unsigned int, float32 for float, float64 for double.
type devPtr = uint64

// launch queues kernel k. The caller holds the lock (inside run).
func (b *Backend) launch(k int, grid, block dim3, args ...any) error {
	if len(args) > maxArgs {
		panic("cuda: too many kernel arguments")
	}
	for i, a := range args {
		var v uint64
		switch x := a.(type) {
		case uint64:
			v = x
		case int64:
			v = uint64(x)
		case int32:
			v = uint64(uint32(x))
		case uint32:
			v = uint64(x)
		case float32:
			v = uint64(math.Float32bits(x))
		case float64:
			v = math.Float64bits(x)
		default:
			panic(fmt.Sprintf("cuda: kernel argument of type %T", a))
		}
		b.args[i] = v
		b.argp[i] = unsafe.Pointer(&b.args[i])
	}
	err := b.fns[k].Launch(grid.x, grid.y, grid.z, block.x, block.y, block.z, 0, b.stream, b.argp[:len(args)])
	if err != nil {
		return fmt.Errorf("launching %s: %v", kernelNames[k], cuErr(err))
	}
	return nil
}

// maxBlocks is the number of blocks that keeps every SM busy with a few
// blocks to spare; grid-stride kernels need no more.
func (b *Backend) maxBlocks() int { return 32 * max(b.sms, 1) }

// grid1 is the 1-D launch shape for n elements.
func (b *Backend) grid1(n int64) (dim3, dim3) {
	g := min((n+blockThreads-1)/blockThreads, int64(b.maxBlocks()))
	return dim3{int(max(g, 1)), 1, 1}, dim3{blockThreads, 1, 1}
}

// colThreads is the block width over cols columns: a multiple of the warp
// size up to blockThreads.
func colThreads(cols int64) int {
	return int(min(max((cols+31)/32*32, 32), blockThreads))
}

// grid2 is the launch shape of the column × row kernels (GRAIN_FOR_COL,
// GRAIN_FOR_ROW): blocks of colThreads(cols) × (blockThreads / that)
// threads, enough of them to fill the device.
func (b *Backend) grid2(rows, cols int64) (dim3, dim3) {
	bx := colThreads(cols)
	by := blockThreads / bx
	gx := (cols + int64(bx) - 1) / int64(bx)
	gy := min((rows+int64(by)-1)/int64(by), max(int64(b.maxBlocks())/gx, 1), maxGridY)
	return dim3{int(gx), int(max(gy, 1)), 1}, dim3{bx, by, 1}
}

// chunking chooses the row chunks of a two-stage column reduction over a
// rows×cols matrix: enough chunks that columns × chunks threads fill the
// device, each of at least 32 rows. It returns the launch shape of stage 1
// (GRAIN_FOR_COL × GRAIN_FOR_CHUNK), the chunk height and the number of
// chunks.
func (b *Backend) chunking(rows, cols int64) (grid, block dim3, chunkRows, chunks int64) {
	bx := colThreads(cols)
	gx := (cols + int64(bx) - 1) / int64(bx)
	want := max(int64(b.maxBlocks())*blockThreads/max(cols, 1), 1)
	chunks = max(min(want, (rows+31)/32), 1)
	chunkRows = (rows + chunks - 1) / chunks
	chunks = (rows + chunkRows - 1) / chunkRows
	return dim3{int(gx), int(min(chunks, maxGridY)), 1}, dim3{bx, 1, 1}, chunkRows, chunks
}

// rowBlocks is the launch shape of the kernels that give each of rows rows
// one block: pow2Threads(width, rowThreads) threads for rows of width
// elements.
func rowBlocks(rows, width int64) (dim3, dim3) {
	return dim3{int(min(rows, 1<<20)), 1, 1}, dim3{pow2Threads(width, rowThreads), 1, 1}
}

// pow2Threads is the smallest power of two ≥ n, between 32 and limit: the
// block of a kernel with a shared-memory tree reduction.
func pow2Threads(n int64, limit int) int {
	t := 32
	for int64(t) < n && t < limit {
		t *= 2
	}
	return t
}

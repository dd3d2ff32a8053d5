package activations

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"
)

// nativeLittle reports whether float32 slices can alias little-endian bytes.
var nativeLittle = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// Reader reads an activation file. On linux the file is memory-mapped (so a
// Float32 read is a memory copy); elsewhere, or when mapping fails, it is
// read with ReadAt. The first read that touches a chunk of rows verifies the
// chunk's CRC32C (and fails, naming the file and rows, if it does not
// match); later reads of a verified chunk skip the check, since a finished
// file is never modified in place. Verify re-checks everything.
//
// Read methods are safe for concurrent use by multiple goroutines; Close
// must not run concurrently with them, and the Reader must not be used after
// Close. Methods taking a sentence or row index panic when it is out of
// range, like a slice index; methods taking row ranges return an error. The
// file must not be truncated while it is open (a memory-mapped read of a
// vanished page would crash the process).
type Reader struct {
	path      string
	f         *os.File    // nil for an in-memory Reader (fuzzing)
	ra        io.ReaderAt // where bytes come from when not mapped
	mm        []byte      // the whole file when memory-mapped, else nil
	mapped    bool        // mm came from mmapFile and must be unmapped
	size      int64
	meta      Meta
	dtype     DType
	neurons   int
	rowBytes  int64
	rows      int
	sentences int
	chunkRows int
	dataCRC   uint32
	footerOff int64
	footerCRC uint32

	// Footer sections (slices of mm, or read into memory).
	sentOff []byte // (S+1) uint64
	tokOff  []byte // (T+1) uint64
	crcs    []byte // nChunks uint32
	blob    []byte // token bytes

	verified []atomic.Uint64 // bit c: chunk c passed its CRC check
	scratch  sync.Pool       // *[]byte chunk buffers for the ReadAt path
	closed   bool
}

// Open opens an activation file, checking its header, trailer, footer
// checksum and metadata (not the activations: reads check the chunks they
// touch, Verify checks all). A file cut short fails with an error wrapping
// ErrTruncated whose text contains "truncated".
func Open(path string) (*Reader, error) { return open(path, true) }

func open(path string, useMmap bool) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("activations: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("activations: %w", err)
	}
	r := &Reader{path: path, f: f, ra: f, size: st.Size()}
	if useMmap {
		r.mm = mmapFile(f, r.size)
		r.mapped = r.mm != nil
	}
	if err := r.init(); err != nil {
		r.Close()
		return nil, fmt.Errorf("activations: open %s: %w", path, err)
	}
	return r, nil
}

// bytesAfterTrailer looks in the file's last 64 KiB for a valid end trailer
// that records the file ending where it does, and returns the number of
// bytes after it (0 when there is none): a file with something appended
// rather than one cut short.
func (r *Reader) bytesAfterTrailer() int64 {
	n := min(r.size, 1<<16)
	tail, err := r.bytesAt(r.size-n, n, nil)
	if err != nil {
		return 0
	}
	for end := bytes.LastIndex(tail, []byte(endMagic)); end >= 0; end = bytes.LastIndex(tail[:end], []byte(endMagic)) {
		stop := end + len(endMagic)
		if stop < trailerSize {
			break
		}
		at := r.size - n + int64(stop)
		if t, err := decodeTrailer(tail[stop-trailerSize:stop], uint64(at)); err == nil && t.fileSize == uint64(at) {
			return r.size - at
		}
	}
	return 0
}

func (r *Reader) init() error {
	if r.size < headerSize+trailerSize {
		head, err := r.bytesAt(0, min(r.size, int64(len(magic))), nil)
		if err != nil {
			return err
		}
		if string(head) != magic[:len(head)] {
			return fmt.Errorf("%w: not a grain activation file (starts with %q)", ErrFormat, head)
		}
		return fmt.Errorf("%w: the file is %d bytes, a complete activation file has at least %d", ErrTruncated, r.size, headerSize+trailerSize)
	}
	hb, err := r.bytesAt(0, headerSize, nil)
	if err != nil {
		return err
	}
	h, err := decodeHeader(hb)
	if err != nil {
		return err
	}
	tb, err := r.bytesAt(r.size-trailerSize, trailerSize, nil)
	if err != nil {
		return err
	}
	t, err := decodeTrailer(tb, uint64(r.size))
	if err != nil {
		if extra := r.bytesAfterTrailer(); extra > 0 {
			return fmt.Errorf("%w: %d bytes follow the end trailer: something was appended to the file", ErrFormat, extra)
		}
		return err
	}
	if t.fileSize != uint64(r.size) {
		if t.fileSize > uint64(r.size) {
			return fmt.Errorf("%w: the trailer records %d bytes, the file has %d", ErrTruncated, t.fileSize, r.size)
		}
		return fmt.Errorf("%w: the trailer records %d bytes, the file has %d", ErrFormat, t.fileSize, r.size)
	}

	// Sizes of everything, with overflow checks against the file size.
	r.dtype = h.dtype
	r.neurons = h.layers * h.dim
	r.rowBytes = int64(r.neurons * h.dtype.Size())
	r.chunkRows = h.chunkRows
	limit := uint64(r.size)
	if t.numTokens > limit/uint64(r.rowBytes) || t.numSentences > limit/8 || t.numTokens > limit/8 ||
		t.tokenBytes > limit || t.metaBytes > limit || t.footerOffset > limit {
		return fmt.Errorf("%w: trailer sizes (%d tokens, %d sentences) exceed the file size %d", ErrFormat, t.numTokens, t.numSentences, r.size)
	}
	if limit > math.MaxInt {
		return fmt.Errorf("a file of %d bytes is too large for this platform", r.size)
	}
	r.rows, r.sentences = int(t.numTokens), int(t.numSentences)
	dataEnd := headerSize + int64(r.rows)*r.rowBytes
	r.footerOff = align8(dataEnd)
	if int64(t.footerOffset) != r.footerOff {
		return fmt.Errorf("%w: footer at byte %d, but %d rows of %d bytes end at %d", ErrFormat, t.footerOffset, r.rows, r.rowBytes, r.footerOff)
	}
	nChunks := (int64(r.rows) + int64(r.chunkRows) - 1) / int64(r.chunkRows)
	sentLen := 8 * (int64(r.sentences) + 1)
	tokLen := 8 * (int64(r.rows) + 1)
	crcLen := 4 * nChunks
	footerLen := sentLen + tokLen + crcLen + int64(t.tokenBytes) + int64(t.metaBytes)
	if r.footerOff+footerLen+trailerSize != r.size {
		return fmt.Errorf("%w: footer of %d bytes at %d plus trailer does not end at the file size %d", ErrFormat, footerLen, r.footerOff, r.size)
	}
	footer, err := r.bytesAt(r.footerOff, footerLen, nil)
	if err != nil {
		return err
	}
	if c := crc32.Checksum(footer, castagnoli); c != t.footerCRC {
		return fmt.Errorf("%w: footer (bytes %d..%d): stored crc32c %08x, computed %08x", ErrChecksum, r.footerOff, r.footerOff+footerLen, t.footerCRC, c)
	}
	r.footerCRC = t.footerCRC
	r.sentOff, footer = footer[:sentLen], footer[sentLen:]
	r.tokOff, footer = footer[:tokLen], footer[tokLen:]
	r.crcs, footer = footer[:crcLen], footer[crcLen:]
	r.verified = make([]atomic.Uint64, (nChunks+63)/64)
	r.blob, footer = footer[:t.tokenBytes], footer[t.tokenBytes:]
	if err := checkOffsets(r.sentOff, uint64(r.rows), "sentence offsets"); err != nil {
		return err
	}
	if err := checkOffsets(r.tokOff, t.tokenBytes, "token offsets"); err != nil {
		return err
	}
	for i := range r.rows { // the Writer stores UTF-8 tokens only
		if tok := r.blob[r.tokOffAt(i):r.tokOffAt(i+1)]; !utf8.Valid(tok) {
			return fmt.Errorf("%w: the token of row %d (%q) is not valid UTF-8", ErrFormat, i, tok)
		}
	}
	if err := json.Unmarshal(footer, &r.meta); err != nil {
		return fmt.Errorf("%w: metadata: %v", ErrFormat, err)
	}
	m := &r.meta
	if err := m.validate(); err != nil {
		return fmt.Errorf("%w: metadata: %v", ErrFormat, err)
	}
	if m.NumLayers != h.layers || m.Dim != h.dim || m.DType != h.dtype || m.ChunkRows != h.chunkRows ||
		m.NumTokens != r.rows || m.NumSentences != r.sentences {
		return fmt.Errorf("%w: metadata (%d layers × %d, %s, chunk %d, %d tokens, %d sentences) disagrees with header and trailer (%d layers × %d, %s, chunk %d, %d tokens, %d sentences)",
			ErrFormat, m.NumLayers, m.Dim, m.DType, m.ChunkRows, m.NumTokens, m.NumSentences,
			h.layers, h.dim, h.dtype, h.chunkRows, r.rows, r.sentences)
	}
	hex, ok := strings.CutPrefix(m.Checksum, "crc32c:")
	c, err := strconv.ParseUint(hex, 16, 32)
	if !ok || len(hex) != 8 || err != nil {
		return fmt.Errorf("%w: metadata: checksum %q is not crc32c:xxxxxxxx", ErrFormat, m.Checksum)
	}
	r.dataCRC = uint32(c)
	return nil
}

// checkOffsets checks that b holds little-endian uint64s starting at 0,
// non-decreasing, ending at last.
func checkOffsets(b []byte, last uint64, what string) error {
	var prev uint64
	for i := 0; i < len(b); i += 8 {
		v := binary.LittleEndian.Uint64(b[i:])
		if (i == 0 && v != 0) || v < prev {
			return fmt.Errorf("%w: %s: entry %d is %d after %d", ErrFormat, what, i/8, v, prev)
		}
		prev = v
	}
	if prev != last {
		return fmt.Errorf("%w: %s end at %d, want %d", ErrFormat, what, prev, last)
	}
	return nil
}

// bytesAt returns n bytes at off: a slice of the mapping, or read into buf
// (reallocated when too small).
func (r *Reader) bytesAt(off, n int64, buf []byte) ([]byte, error) {
	if r.mm != nil {
		return r.mm[off : off+n : off+n], nil
	}
	if int64(cap(buf)) < n {
		buf = alignedBytes(int(n))
	}
	buf = buf[:n]
	if _, err := r.ra.ReadAt(buf, off); err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%w: unexpected end of file reading bytes %d..%d", ErrTruncated, off, off+n)
		}
		return nil, err
	}
	return buf, nil
}

// alignedBytes allocates n bytes aligned for float32 access.
func alignedBytes(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	u := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&u[0])), n)
}

// Close releases the file and its mapping. Slices returned earlier by the
// Reader stay valid (they are copies).
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	var err error
	if r.mapped {
		err = munmap(r.mm)
	}
	r.mm, r.sentOff, r.tokOff, r.crcs, r.blob = nil, nil, nil, nil, nil
	if r.f != nil {
		if cerr := r.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Path returns the path the Reader was opened with.
func (r *Reader) Path() string { return r.path }

// Meta returns the file's metadata.
func (r *Reader) Meta() Meta {
	m := r.meta
	m.Layers = append([]Layer(nil), m.Layers...)
	return m
}

// NumTokens returns the number of rows (tokens) T.
func (r *Reader) NumTokens() int { return r.rows }

// NumNeurons returns the row width L·D.
func (r *Reader) NumNeurons() int { return r.neurons }

// NumSentences returns the number of sentences S.
func (r *Reader) NumSentences() int { return r.sentences }

// ChunkRows returns the number of rows covered by each chunk checksum;
// block reads aligned to it touch no chunk twice.
func (r *Reader) ChunkRows() int { return r.chunkRows }

func (r *Reader) sentOffAt(i int) int { return int(binary.LittleEndian.Uint64(r.sentOff[8*i:])) }
func (r *Reader) tokOffAt(i int) int  { return int(binary.LittleEndian.Uint64(r.tokOff[8*i:])) }

// checkOpen panics if r is closed (its mapping is gone).
func (r *Reader) checkOpen() {
	if r.closed {
		panic("activations: " + r.path + ": use of a closed Reader")
	}
}

// SentenceRange returns the rows [start, end) of sentence i.
func (r *Reader) SentenceRange(i int) (start, end int) {
	r.checkOpen()
	if i < 0 || i >= r.sentences {
		panic(fmt.Sprintf("activations: sentence %d out of range [0, %d)", i, r.sentences))
	}
	return r.sentOffAt(i), r.sentOffAt(i + 1)
}

// SentenceOf returns the sentence that contains row.
func (r *Reader) SentenceOf(row int) int {
	r.checkOpen()
	if row < 0 || row >= r.rows {
		panic(fmt.Sprintf("activations: row %d out of range [0, %d)", row, r.rows))
	}
	return sort.Search(r.sentences, func(i int) bool { return r.sentOffAt(i+1) > row })
}

// Token returns the token of row.
func (r *Reader) Token(row int) string {
	r.checkOpen()
	if row < 0 || row >= r.rows {
		panic(fmt.Sprintf("activations: row %d out of range [0, %d)", row, r.rows))
	}
	return string(r.blob[r.tokOffAt(row):r.tokOffAt(row+1)])
}

// Tokens returns the tokens of sentence i.
func (r *Reader) Tokens(i int) []string {
	start, end := r.SentenceRange(i)
	toks := make([]string, end-start)
	for j := range toks {
		toks[j] = string(r.blob[r.tokOffAt(start+j):r.tokOffAt(start+j+1)])
	}
	return toks
}

// checkRange validates a row range and the capacity of dst.
func (r *Reader) checkRange(start, n, width, dstLen int) error {
	if r.closed {
		return fmt.Errorf("activations: %s: read after Close", r.path)
	}
	if start < 0 || n < 0 || start > r.rows || n > r.rows-start {
		return fmt.Errorf("activations: %s: rows [%d, %d) out of range [0, %d)", r.path, start, start+n, r.rows)
	}
	if dstLen < n*width {
		return fmt.Errorf("activations: %s: dst has %d values, %d rows × %d need %d", r.path, dstLen, n, width, n*width)
	}
	return nil
}

// pieceBytes is the size of the pieces in which a chunk is checksummed and
// decoded together, so that each byte comes from memory once and is then
// decoded from cache.
const pieceBytes = 32 << 10

// forChunks calls fn on the rows [start, start+n) in pieces, verifying the
// CRC of every chunk they overlap that is not yet verified. When a chunk
// fails its check, fn has already seen the bad rows of that chunk:
// forChunks returns the error and the caller's output is invalid.
func (r *Reader) forChunks(start, n int, fn func(lo, hi int, b []byte)) error {
	if n == 0 {
		return nil
	}
	var buf []byte
	if r.mm == nil {
		p, _ := r.scratch.Get().(*[]byte)
		if p != nil {
			buf = *p
		}
		defer func() { r.scratch.Put(&buf) }()
	}
	cr := r.chunkRows
	for c := start / cr; c*cr < start+n; c++ {
		if err := r.chunk(c, &buf, max(start, c*cr), min(start+n, (c+1)*cr), false, fn); err != nil {
			return err
		}
	}
	return nil
}

// chunk passes the rows [lo, hi) of chunk c to visit. The first time a
// chunk is read (and always when force is set) the whole chunk is read,
// into *buf when the file is not mapped, and its CRC is computed over the
// same pieces that visit sees, so that each byte comes from memory once;
// the chunk is then marked verified or an error is returned.
func (r *Reader) chunk(c int, buf *[]byte, lo, hi int, force bool, visit func(lo, hi int, b []byte)) error {
	rb := r.rowBytes
	if !force && r.verified[c/64].Load()&(1<<(c%64)) != 0 {
		b, err := r.bytesAt(headerSize+int64(lo)*rb, int64(hi-lo)*rb, *buf)
		if err != nil {
			return fmt.Errorf("activations: %s: rows [%d, %d): %w", r.path, lo, hi, err)
		}
		if r.mm == nil {
			*buf = b
		}
		visit(lo, hi, b)
		return nil
	}
	first, last := c*r.chunkRows, min(r.rows, (c+1)*r.chunkRows)
	b, err := r.bytesAt(headerSize+int64(first)*rb, int64(last-first)*rb, *buf)
	if err != nil {
		return fmt.Errorf("activations: %s: rows [%d, %d): %w", r.path, first, last, err)
	}
	if r.mm == nil {
		*buf = b
	}
	crc := crc32.Update(0, castagnoli, b[:int64(lo-first)*rb])
	step := max(1, pieceBytes/int(rb))
	for p := lo; p < hi; p += step {
		q := min(hi, p+step)
		piece := b[int64(p-first)*rb : int64(q-first)*rb]
		crc = crc32.Update(crc, castagnoli, piece)
		visit(p, q, piece)
	}
	crc = crc32.Update(crc, castagnoli, b[int64(hi-first)*rb:])
	if want := binary.LittleEndian.Uint32(r.crcs[4*c:]); crc != want {
		return fmt.Errorf("activations: %s: rows [%d, %d) (chunk %d, bytes %d..%d): %w: stored crc32c %08x, computed %08x",
			r.path, first, last, c, headerSize+int64(first)*rb, headerSize+int64(last)*rb, ErrChecksum, want, crc)
	}
	r.verified[c/64].Or(1 << (c % 64))
	return nil
}

// ReadRows reads rows [start, start+n) into dst[:n·L·D] as float32,
// row-major, converting Float16 files. It fails, naming the file and rows,
// if a checksum of a chunk it touches does not match (dst then holds
// unspecified values).
func (r *Reader) ReadRows(start, n int, dst []float32) error {
	if err := r.checkRange(start, n, r.neurons, len(dst)); err != nil {
		return err
	}
	return r.forChunks(start, n, func(lo, hi int, b []byte) {
		r.decode(dst[(lo-start)*r.neurons:(hi-start)*r.neurons], b)
	})
}

// Viewable reports whether ViewRows returns rows in place, without copying:
// true for a memory-mapped Float32 file on a little-endian machine.
func (r *Reader) Viewable() bool {
	return r.mm != nil && r.dtype == Float32 && nativeLittle && uintptr(unsafe.Pointer(unsafe.SliceData(r.mm)))%4 == 0
}

// ViewRows returns rows [start, start+n) as n·L·D row-major float32 values
// that the caller must not modify, verifying chunks as ReadRows does. When
// Viewable, the slice aliases the file's read-only mapping: no copy is made,
// a write to it crashes the process, and it must not be used after Close.
// Otherwise it is a newly allocated copy.
func (r *Reader) ViewRows(start, n int) ([]float32, error) {
	if err := r.checkRange(start, n, r.neurons, n*r.neurons); err != nil {
		return nil, err
	}
	if !r.Viewable() {
		dst := make([]float32, n*r.neurons)
		return dst, r.ReadRows(start, n, dst)
	}
	if err := r.forChunks(start, n, func(int, int, []byte) {}); err != nil {
		return nil, err
	}
	if n == 0 {
		return []float32{}, nil
	}
	b := r.mm[headerSize+int64(start)*r.rowBytes:]
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n*r.neurons), nil
}

// ReadRowsColumns reads the neurons cols (global indices) of rows
// [start, start+n) into dst[:n·len(cols)], row-major: dst[i·len(cols)+j] is
// neuron cols[j] of row start+i.
func (r *Reader) ReadRowsColumns(start, n int, cols []int, dst []float32) error {
	if err := r.checkRange(start, n, len(cols), len(dst)); err != nil {
		return err
	}
	for j, c := range cols {
		if c < 0 || c >= r.neurons {
			return fmt.Errorf("activations: %s: column %d (cols[%d]) out of range [0, %d)", r.path, c, j, r.neurons)
		}
	}
	k := len(cols)
	rb := int(r.rowBytes)
	runs := colRuns(cols)
	if len(runs)*4 > len(cols) {
		runs = nil // mostly scattered columns: gather one by one
	}
	e := r.dtype.Size()
	return r.forChunks(start, n, func(lo, hi int, b []byte) {
		for row := lo; row < hi; row++ {
			src := b[(row-lo)*rb : (row-lo+1)*rb]
			d := dst[(row-start)*k : (row-start+1)*k]
			switch {
			case runs != nil:
				for _, u := range runs {
					r.decode(d[u.dst:u.dst+u.n], src[e*u.src:])
				}
			case r.dtype == Float16:
				gatherHalves(d, src, cols)
			default:
				gatherFloat32s(d, src, cols)
			}
		}
	})
}

// decode converts len(dst) stored elements from src.
func (r *Reader) decode(dst []float32, src []byte) {
	if r.dtype == Float16 {
		decodeHalves(dst, src)
	} else {
		decodeFloat32s(dst, src)
	}
}

// colRun is a run of consecutive columns: dst[dst:dst+n] = row[src:src+n].
type colRun struct{ src, dst, n int }

// colRuns splits cols into runs of consecutive indices.
func colRuns(cols []int) []colRun {
	var runs []colRun
	for j := 0; j < len(cols); {
		k := j + 1
		for k < len(cols) && cols[k] == cols[k-1]+1 {
			k++
		}
		runs = append(runs, colRun{src: cols[j], dst: j, n: k - j})
		j = k
	}
	return runs
}

// Blocks streams all rows in blocks of blockRows (the last may be shorter):
// fn gets the first row, the number of rows n and their values
// rows[:n·L·D]. rows is reused between calls (fn may modify it, and must not
// keep it). An error from fn stops the pass and is returned. Blocks whose
// size is a multiple of ChunkRows verify each chunk once.
func (r *Reader) Blocks(blockRows int, fn func(start, n int, rows []float32) error) error {
	return r.blocks(blockRows, r.neurons, fn, r.ReadRows)
}

// BlocksColumns is Blocks restricted to the neurons cols, as in
// ReadRowsColumns: rows[:n·len(cols)].
func (r *Reader) BlocksColumns(blockRows int, cols []int, fn func(start, n int, rows []float32) error) error {
	return r.blocks(blockRows, len(cols), fn, func(start, n int, dst []float32) error {
		return r.ReadRowsColumns(start, n, cols, dst)
	})
}

func (r *Reader) blocks(blockRows, width int, fn func(int, int, []float32) error, read func(int, int, []float32) error) error {
	if blockRows < 1 {
		return fmt.Errorf("activations: %s: block of %d rows", r.path, blockRows)
	}
	buf := make([]float32, min(blockRows, r.rows)*width)
	for start := 0; start < r.rows; start += blockRows {
		n := min(blockRows, r.rows-start)
		if err := read(start, n, buf); err != nil {
			return err
		}
		if err := fn(start, n, buf[:n*width]); err != nil {
			return err
		}
	}
	return nil
}

// Verify re-reads the whole file and checks every checksum: each chunk, the
// data checksum in the metadata, the footer, and that the padding is zero.
// It reports up to 10 corrupt chunks by row range. It also checks that
// every activation is finite (the Writer never stores NaN or ±Inf, but a
// file made elsewhere with valid checksums may hold them; reads do not
// check) and reports the first non-finite one, an error wrapping ErrFormat
// that names its row, sentence, token and neuron. That check rides on the
// bytes the checksums already read.
func (r *Reader) Verify() error {
	if r.closed {
		return fmt.Errorf("activations: %s: Verify after Close", r.path)
	}
	var errs []error
	bad := 0
	var data uint32
	var buf []byte
	nonFinite := -1 // the first non-finite element: row·L·D + neuron
	var badValue [1]float32
	nChunks := (r.rows + r.chunkRows - 1) / r.chunkRows
	for c := 0; c < nChunks; c++ {
		lo, hi := c*r.chunkRows, min(r.rows, (c+1)*r.chunkRows)
		err := r.chunk(c, &buf, lo, hi, true, func(first, _ int, b []byte) {
			data = crc32.Update(data, castagnoli, b)
			if nonFinite < 0 {
				if i := r.dtype.firstNonFinite(b); i >= 0 {
					nonFinite = first*r.neurons + i
					r.decode(badValue[:], b[i*r.dtype.Size():])
				}
			}
		})
		if err != nil {
			if bad++; bad <= 10 {
				errs = append(errs, err)
			}
			if !errors.Is(err, ErrChecksum) {
				break // an I/O error: the remaining chunks would fail alike
			}
		}
	}
	if bad > 10 {
		errs = append(errs, fmt.Errorf("activations: %s: and %d more corrupt chunks", r.path, bad-10))
	}
	if bad == 0 && data != r.dataCRC {
		errs = append(errs, fmt.Errorf("activations: %s: data region: %w: metadata checksum %s, computed %s",
			r.path, ErrChecksum, checksumString(r.dataCRC), checksumString(data)))
	}
	if nonFinite >= 0 {
		row, g := nonFinite/r.neurons, nonFinite%r.neurons
		s := r.SentenceOf(row)
		start, _ := r.SentenceRange(s)
		errs = append(errs, fmt.Errorf("activations: %s: %w: row %d, sentence %d token %d (%q): %s; non-finite activations are never stored",
			r.path, ErrFormat, row, s, row-start, r.Token(row), r.meta.neuronValue(g, badValue[0])))
	}
	dataEnd := headerSize + int64(r.rows)*r.rowBytes
	tail, err := r.bytesAt(dataEnd, r.size-dataEnd, nil)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("activations: %s: %w", r.path, err))...)
	}
	pad, footer := tail[:r.footerOff-dataEnd], tail[r.footerOff-dataEnd:int64(len(tail))-trailerSize]
	for _, p := range pad {
		if p != 0 {
			errs = append(errs, fmt.Errorf("activations: %s: %w: padding after the data is not zero", r.path, ErrFormat))
			break
		}
	}
	if c := crc32.Checksum(footer, castagnoli); c != r.footerCRC {
		errs = append(errs, fmt.Errorf("activations: %s: footer: %w: stored crc32c %08x, computed %08x", r.path, ErrChecksum, r.footerCRC, c))
	}
	return errors.Join(errs...)
}

// decodeFloat32s converts len(dst) little-endian float32s from src.
func decodeFloat32s(dst []float32, src []byte) {
	if len(dst) == 0 {
		return
	}
	src = src[:4*len(dst)]
	if nativeLittle && uintptr(unsafe.Pointer(&src[0]))%4 == 0 {
		copy(dst, unsafe.Slice((*float32)(unsafe.Pointer(&src[0])), len(dst)))
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

// gatherFloat32s sets dst[j] to element cols[j] of the float32 row src.
func gatherFloat32s(dst []float32, src []byte, cols []int) {
	if nativeLittle && uintptr(unsafe.Pointer(&src[0]))%4 == 0 {
		row := unsafe.Slice((*float32)(unsafe.Pointer(&src[0])), len(src)/4)
		for j, c := range cols {
			dst[j] = row[c]
		}
		return
	}
	for j, c := range cols {
		dst[j] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*c:]))
	}
}

package activations

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"unicode/utf8"

	"github.com/grainlab/grain/engine/atomicfile"
	"github.com/grainlab/grain/kernels"
)

// Writer streams activations into a new file. Rows are appended one sentence
// at a time and go straight to disk; the Writer keeps only the token strings
// and offsets in memory (about 8 bytes plus the token's length per token) for
// the footer. The file appears under its final name only when Close
// succeeds: a Writer that is never closed (a crash) or is aborted leaves the
// destination untouched.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	f        *atomicfile.File
	meta     Meta
	neurons  int
	rowBytes int64

	// The footer sections, already encoded (little-endian uint64s).
	sentOff []byte // sentence offsets: 0, then each sentence's end row
	tokOff  []byte // token offsets: 0, then each token's end in blob
	blob    []byte // concatenated token bytes

	rows         int64    // rows written so far
	chunkCRCs    []uint32 // CRCs of completed chunks
	chunkCRC     uint32   // CRC of the current, incomplete chunk
	rowsInChunk  int      // rows in the current chunk
	dataCRC      uint32   // CRC of the whole data region so far
	buf          []byte   // encoding buffer, reused
	err          error    // sticky I/O error
	closed       bool
	path         string
	sentenceNext int
}

// Create starts a new activation file at path (written to a temporary file
// beside it until Close). meta must set Layers and Dim; DType zero means
// Float32, ChunkRows zero means DefaultChunkRows, NumLayers zero means
// len(Layers). NumTokens, NumSentences and Checksum are computed.
func Create(path string, meta Meta) (*Writer, error) {
	m := meta
	m.Layers = append([]Layer(nil), meta.Layers...)
	if m.NumLayers == 0 {
		m.NumLayers = len(m.Layers)
	}
	if m.DType == 0 {
		m.DType = Float32
	}
	if m.ChunkRows == 0 && m.DType.Size() != 0 && m.Dim > 0 && m.Dim <= maxNeurons && m.NumLayers <= maxNeurons/m.Dim {
		m.ChunkRows = DefaultChunkRows(m.NumLayers*m.Dim, m.DType)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("activations: create %s: %w", path, err)
	}
	m.NumTokens, m.NumSentences, m.Checksum = 0, 0, ""
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, fmt.Errorf("activations: %w", err)
	}
	w := &Writer{
		f:        f,
		meta:     m,
		neurons:  m.NumNeurons(),
		rowBytes: int64(m.NumNeurons() * m.DType.Size()),
		sentOff:  make([]byte, 8),
		tokOff:   make([]byte, 8),
		path:     path,
	}
	h := header{dtype: m.DType, layers: m.NumLayers, dim: m.Dim, chunkRows: m.ChunkRows}
	if _, err := f.Write(h.encode()); err != nil {
		f.Abort()
		return nil, fmt.Errorf("activations: write %s: %w", path, err)
	}
	return w, nil
}

// AppendSentence appends one sentence: its tokens and their activations,
// rows = len(tokens)·L·D values, row-major (token t, global neuron g at
// rows[t·L·D+g]). Tokens must be valid UTF-8. A NaN or ±Inf value (or, for
// Float16, a value that overflows half precision) is an error naming the
// sentence, token and neuron, and nothing of the sentence is written; the
// Writer stays usable after such an error. An empty sentence is allowed.
func (w *Writer) AppendSentence(tokens []string, rows []float32) error {
	if err := w.appendSentence(tokens, rows); err != nil {
		if err == w.err {
			return err // I/O errors already name the file
		}
		return fmt.Errorf("activations: %s: %w", w.path, err)
	}
	return nil
}

// appendSentence is AppendSentence with validation errors not prefixed by
// the file name.
func (w *Writer) appendSentence(tokens []string, rows []float32) error {
	if w.closed {
		return errors.New("AppendSentence after Close or Abort")
	}
	if w.err != nil {
		return w.err
	}
	si := w.sentenceNext
	if len(rows) != len(tokens)*w.neurons {
		return fmt.Errorf("sentence %d: %d values for %d tokens, want %d (tokens × %d layers × %d neurons)",
			si, len(rows), len(tokens), len(tokens)*w.neurons, w.meta.NumLayers, w.meta.Dim)
	}
	for t, tok := range tokens {
		if !utf8.ValidString(tok) {
			return fmt.Errorf("sentence %d token %d (%q): not valid UTF-8", si, t, tok)
		}
	}
	if bad := w.encode(rows); bad >= 0 {
		t, g := bad/w.neurons, bad%w.neurons
		why := "; non-finite activations are never stored"
		if v := float64(rows[bad]); !math.IsNaN(v) && !math.IsInf(v, 0) {
			why = ", beyond the float16 range ±65504"
		}
		return fmt.Errorf("sentence %d token %d (%q): %s%s", si, t, tokens[t], w.meta.neuronValue(g, rows[bad]), why)
	}
	if _, err := w.f.Write(w.buf); err != nil {
		w.err = fmt.Errorf("activations: write %s: %w", w.path, err)
		return w.err
	}
	w.dataCRC = crc32.Update(w.dataCRC, castagnoli, w.buf)
	w.updateChunkCRCs(w.buf)
	for _, tok := range tokens {
		w.blob = append(w.blob, tok...)
		w.tokOff = binary.LittleEndian.AppendUint64(w.tokOff, uint64(len(w.blob)))
	}
	w.rows += int64(len(tokens))
	w.sentOff = binary.LittleEndian.AppendUint64(w.sentOff, uint64(w.rows))
	w.sentenceNext++
	return nil
}

// encode converts rows to little-endian bytes in w.buf. It refuses
// non-finite values (and values that overflow half precision, which encode
// as ±Inf), returning the index of the first one; bad is -1 when all values
// are finite.
func (w *Writer) encode(rows []float32) (bad int) {
	n := len(rows) * w.meta.DType.Size()
	if cap(w.buf) < n {
		w.buf = make([]byte, n)
	}
	w.buf = w.buf[:n]
	switch w.meta.DType {
	case Float32:
		for i, v := range rows {
			binary.LittleEndian.PutUint32(w.buf[4*i:], math.Float32bits(v))
		}
	case Float16:
		for i, v := range rows {
			binary.LittleEndian.PutUint16(w.buf[2*i:], kernels.Float32ToHalf(v))
		}
	}
	return w.meta.DType.firstNonFinite(w.buf)
}

// updateChunkCRCs feeds the encoded rows in b into the per-chunk CRCs.
func (w *Writer) updateChunkCRCs(b []byte) {
	for len(b) > 0 {
		rows := int64(len(b)) / w.rowBytes
		if room := int64(w.meta.ChunkRows - w.rowsInChunk); rows > room {
			rows = room
		}
		n := rows * w.rowBytes
		w.chunkCRC = crc32.Update(w.chunkCRC, castagnoli, b[:n])
		w.rowsInChunk += int(rows)
		b = b[n:]
		if w.rowsInChunk == w.meta.ChunkRows {
			w.chunkCRCs = append(w.chunkCRCs, w.chunkCRC)
			w.chunkCRC, w.rowsInChunk = 0, 0
		}
	}
}

// NumTokens returns the number of rows appended so far.
func (w *Writer) NumTokens() int { return int(w.rows) }

// NumSentences returns the number of sentences appended so far.
func (w *Writer) NumSentences() int { return w.sentenceNext }

// Close writes the footer and trailer, syncs the file and renames it to its
// destination. After a failed Close nothing is left at the destination.
func (w *Writer) Close() error {
	if w.closed {
		return fmt.Errorf("activations: %s: already closed", w.path)
	}
	w.closed = true
	if w.err != nil {
		w.f.Abort()
		return w.err
	}
	if w.rowsInChunk > 0 {
		w.chunkCRCs = append(w.chunkCRCs, w.chunkCRC)
	}
	m := w.meta
	m.NumTokens = int(w.rows)
	m.NumSentences = w.sentenceNext
	m.Checksum = checksumString(w.dataCRC)
	metaJSON, err := json.Marshal(m)
	if err != nil {
		w.f.Abort()
		return fmt.Errorf("activations: %s: metadata: %w", w.path, err)
	}

	dataEnd := headerSize + w.rows*w.rowBytes
	footerOffset := align8(dataEnd)
	var footerCRC uint32
	var werr error
	write := func(b []byte, inFooter bool) {
		if werr != nil {
			return
		}
		if inFooter {
			footerCRC = crc32.Update(footerCRC, castagnoli, b)
		}
		_, werr = w.f.Write(b)
	}
	write(make([]byte, footerOffset-dataEnd), false)
	crcs := make([]byte, 0, 4*len(w.chunkCRCs))
	for _, c := range w.chunkCRCs {
		crcs = binary.LittleEndian.AppendUint32(crcs, c)
	}
	footerLen := int64(0)
	for _, sec := range [][]byte{w.sentOff, w.tokOff, crcs, w.blob, metaJSON} {
		write(sec, true)
		footerLen += int64(len(sec))
	}
	t := trailer{
		footerOffset: uint64(footerOffset),
		numTokens:    uint64(w.rows),
		numSentences: uint64(w.sentenceNext),
		tokenBytes:   uint64(len(w.blob)),
		metaBytes:    uint64(len(metaJSON)),
		fileSize:     uint64(footerOffset + footerLen + trailerSize),
		footerCRC:    footerCRC,
	}
	write(t.encode(), false)
	if werr != nil {
		w.f.Abort()
		return fmt.Errorf("activations: write %s: %w", w.path, werr)
	}
	if err := w.f.Commit(); err != nil {
		return fmt.Errorf("activations: %w", err)
	}
	return nil
}

// Abort discards the file being written. It is safe to call after Close
// (it does nothing then), so `defer w.Abort()` is the idiom.
func (w *Writer) Abort() {
	w.closed = true
	w.f.Abort()
}

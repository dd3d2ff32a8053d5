package activations

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"unicode/utf8"
)

// FormatVersion is the version of the file format this package writes and
// the only one it reads.
const FormatVersion = 1

// Sizes and constants of the on-disk format (see the package documentation).
const (
	headerSize  = 64
	trailerSize = 64
	magic       = "GRAINACT"
	endMagic    = "GRAINEND"

	// maxChunkBytes bounds the default chunk size: DefaultChunkRows is the
	// largest power of two ≤ 1024 whose chunk fits in maxChunkBytes.
	maxChunkBytes = 1 << 20
	// maxNeurons bounds L·D so that row sizes stay far from overflow.
	maxNeurons = 1 << 28
	// maxChunkRows bounds ChunkRows.
	maxChunkRows = 1 << 24
)

// Errors that classify failures; test with errors.Is.
var (
	// ErrTruncated: the file is shorter than its structure requires (cut
	// short by a failed copy, or never finished by its writer).
	ErrTruncated = errors.New("truncated")
	// ErrChecksum: stored and computed CRC32C disagree.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrFormat: the file is not a valid grain activation file.
	ErrFormat = errors.New("invalid activation file")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// DType is the element type of the stored activations.
type DType uint8

// Element types. The zero DType means Float32 when passed to Create.
const (
	Float32 DType = 1 // IEEE 754 binary32, 4 bytes
	Float16 DType = 2 // IEEE 754 binary16, 2 bytes, converted to float32 on read
)

// Size is the number of bytes of one element.
func (t DType) Size() int {
	switch t {
	case Float32:
		return 4
	case Float16:
		return 2
	}
	return 0
}

// firstNonFinite returns the index of the first element of b, stored as t,
// that is NaN or ±Inf (all exponent bits set), or -1 if there is none. It
// tests eight bytes at a time: adding one to an all-ones exponent field,
// and only to that, carries into the element's sign bit.
func (t DType) firstNonFinite(b []byte) int {
	var exp, one uint64 // each element's exponent field and its lowest bit
	switch t {
	case Float32:
		exp, one = 0x7f800000_7f800000, 0x00800000_00800000
	case Float16:
		exp, one = 0x7c00_7c00_7c00_7c00, 0x0400_0400_0400_0400
	default:
		return -1
	}
	sign := exp + one
	le := binary.LittleEndian
	i := 0
	for ; i+64 <= len(b); i += 64 {
		w := b[i : i+64 : i+64]
		x := (le.Uint64(w)&exp + one) | (le.Uint64(w[8:])&exp + one) | (le.Uint64(w[16:])&exp + one) | (le.Uint64(w[24:])&exp + one) |
			(le.Uint64(w[32:])&exp + one) | (le.Uint64(w[40:])&exp + one) | (le.Uint64(w[48:])&exp + one) | (le.Uint64(w[56:])&exp + one)
		if x&sign != 0 {
			break
		}
	}
	for e := t.Size(); i+e <= len(b); i += e {
		v := uint64(le.Uint16(b[i:]))
		if e == 4 {
			v = uint64(le.Uint32(b[i:]))
		}
		if (v&exp+one)&sign != 0 {
			return i / e
		}
	}
	return -1
}

// String returns "float32" or "float16".
func (t DType) String() string {
	switch t {
	case Float32:
		return "float32"
	case Float16:
		return "float16"
	}
	return fmt.Sprintf("DType(%d)", uint8(t))
}

// MarshalText encodes t as its String.
func (t DType) MarshalText() ([]byte, error) {
	if t.Size() == 0 {
		return nil, fmt.Errorf("activations: invalid dtype %d", uint8(t))
	}
	return []byte(t.String()), nil
}

// UnmarshalText decodes "float32" or "float16".
func (t *DType) UnmarshalText(b []byte) error {
	switch string(b) {
	case "float32":
		*t = Float32
	case "float16":
		*t = Float16
	default:
		return fmt.Errorf("activations: unknown dtype %q (want float32 or float16)", b)
	}
	return nil
}

// Direction is the reading direction of a recurrent layer. A bidirectional
// layer is stored as two layers with the same Name: Forward, then Backward.
// A unidirectional recurrent layer is Forward; layers without a direction
// (embeddings, for example) use NoDirection.
type Direction string

// Directions.
const (
	NoDirection Direction = ""
	Forward     Direction = "forward"
	Backward    Direction = "backward"
)

// Layer describes one layer of D neurons.
type Layer struct {
	Name      string    `json:"name"`
	Direction Direction `json:"direction,omitempty"`
}

// String returns "name" or "name/direction".
func (l Layer) String() string {
	if l.Direction == NoDirection {
		return l.Name
	}
	return l.Name + "/" + string(l.Direction)
}

// Meta is the metadata stored (as JSON) in an activation file.
//
// The caller of Create sets Model, Layers, Dim, DType, Corpus and Tool (and
// optionally ChunkRows); the Writer fills in the rest when it closes the file.
type Meta struct {
	// Model names the model the activations were extracted from.
	Model string `json:"model"`
	// Layers lists the L layers in storage order. Global neuron index
	// g = l·Dim + d addresses neuron d of Layers[l].
	Layers []Layer `json:"layers"`
	// NumLayers is L = len(Layers); zero in Create means "len(Layers)".
	NumLayers int `json:"num_layers"`
	// Dim is D, the number of neurons of every layer.
	Dim int `json:"dim"`
	// DType is the stored element type.
	DType DType `json:"dtype"`
	// Corpus describes the source corpus (free text: path, split, hash).
	Corpus string `json:"corpus,omitempty"`
	// Tool names the program and version that created the file.
	Tool string `json:"tool,omitempty"`
	// Masked lists, ascending, the model's neurons that were clamped to 0
	// while the activations were extracted (global indices of the model's
	// neuron masks, which number the stored layers' neurons first, as the
	// file does); empty for the unmasked model.
	Masked []int `json:"masked,omitempty"`
	// ChunkRows is the number of rows covered by each CRC32C; zero in
	// Create means DefaultChunkRows(L·D, DType).
	ChunkRows int `json:"chunk_rows"`
	// NumTokens is the number of rows (tokens); set by the Writer.
	NumTokens int `json:"num_tokens"`
	// NumSentences is the number of sentences; set by the Writer.
	NumSentences int `json:"num_sentences"`
	// Checksum is "crc32c:xxxxxxxx", the CRC32C of the whole data region
	// (a fingerprint of the activations); set by the Writer.
	Checksum string `json:"checksum"`
}

// NumNeurons returns L·D, the width of a row (L = len(Layers)).
func (m Meta) NumNeurons() int { return len(m.Layers) * m.Dim }

// DefaultChunkRows returns the chunk size used when Meta.ChunkRows is zero:
// the largest power of two ≤ 1024 rows whose chunk fits in 1 MiB (at least 1).
func DefaultChunkRows(neurons int, t DType) int {
	rowBytes := int64(neurons) * int64(t.Size())
	r := 1024
	for r > 1 && int64(r)*rowBytes > maxChunkBytes {
		r /= 2
	}
	return r
}

// validate checks the fields set by the creator of a file.
func (m Meta) validate() error {
	if len(m.Layers) == 0 {
		return errors.New("no layers")
	}
	if m.NumLayers != len(m.Layers) {
		return fmt.Errorf("num_layers %d but %d layers listed", m.NumLayers, len(m.Layers))
	}
	if m.Dim < 1 {
		return fmt.Errorf("dim %d: every layer needs at least one neuron", m.Dim)
	}
	if m.Dim > maxNeurons || m.NumLayers > maxNeurons/m.Dim {
		return fmt.Errorf("%d layers × %d neurons is too many (max %d)", m.NumLayers, m.Dim, maxNeurons)
	}
	if m.DType.Size() == 0 {
		return fmt.Errorf("invalid dtype %d", uint8(m.DType))
	}
	if m.ChunkRows < 1 || m.ChunkRows > maxChunkRows {
		return fmt.Errorf("chunk_rows %d out of range [1, %d]", m.ChunkRows, maxChunkRows)
	}
	seen := make(map[Layer]bool, len(m.Layers))
	for i, l := range m.Layers {
		if l.Name == "" || !utf8.ValidString(l.Name) {
			return fmt.Errorf("layer %d: name must be non-empty UTF-8", i)
		}
		switch l.Direction {
		case NoDirection, Forward, Backward:
		default:
			return fmt.Errorf("layer %d (%s): unknown direction %q", i, l.Name, l.Direction)
		}
		if seen[l] {
			return fmt.Errorf("layer %d: duplicate layer %s", i, l)
		}
		seen[l] = true
	}
	for i, g := range m.Masked {
		if g < 0 || i > 0 && g <= m.Masked[i-1] {
			return fmt.Errorf("masked neuron %d (entry %d): want distinct indices ≥ 0 in ascending order", g, i)
		}
	}
	return nil
}

// header is the fixed 64-byte block at the start of a file.
type header struct {
	dtype     DType
	layers    int
	dim       int
	chunkRows int
}

func (h header) encode() []byte {
	b := make([]byte, headerSize)
	copy(b, magic)
	le := binary.LittleEndian
	le.PutUint32(b[8:], FormatVersion)
	le.PutUint32(b[12:], uint32(h.dtype))
	le.PutUint32(b[16:], uint32(h.layers))
	le.PutUint32(b[20:], uint32(h.dim))
	le.PutUint32(b[24:], uint32(h.chunkRows))
	le.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
	return b
}

func decodeHeader(b []byte) (header, error) {
	le := binary.LittleEndian
	if string(b[:8]) != magic {
		return header{}, fmt.Errorf("%w: not a grain activation file (magic %q, want %q)", ErrFormat, b[:8], magic)
	}
	// The checksum comes before the version: a corrupt version field must
	// not pass for a newer format (every version keeps the magic and the
	// header checksum where version 1 has them).
	if got, want := le.Uint32(b[60:]), crc32.Checksum(b[:60], castagnoli); got != want {
		return header{}, fmt.Errorf("%w: corrupt header: stored crc32c %08x, computed %08x over bytes 0..59", ErrChecksum, got, want)
	}
	if v := le.Uint32(b[8:]); v != FormatVersion {
		return header{}, fmt.Errorf("%w: format version %d, this build reads version %d", ErrFormat, v, FormatVersion)
	}
	for _, c := range b[28:60] {
		if c != 0 {
			return header{}, fmt.Errorf("%w: header: reserved bytes 28..59 are not zero", ErrFormat)
		}
	}
	h := header{
		dtype:     DType(le.Uint32(b[12:])),
		layers:    int(le.Uint32(b[16:])),
		dim:       int(le.Uint32(b[20:])),
		chunkRows: int(le.Uint32(b[24:])),
	}
	if le.Uint32(b[12:]) > 255 || h.dtype.Size() == 0 {
		return header{}, fmt.Errorf("%w: header: unknown dtype code %d", ErrFormat, le.Uint32(b[12:]))
	}
	if h.layers < 1 || h.dim < 1 || h.dim > maxNeurons || h.layers > maxNeurons/h.dim {
		return header{}, fmt.Errorf("%w: header: %d layers × %d neurons out of range", ErrFormat, h.layers, h.dim)
	}
	if h.chunkRows < 1 || h.chunkRows > maxChunkRows {
		return header{}, fmt.Errorf("%w: header: chunk rows %d out of range [1, %d]", ErrFormat, h.chunkRows, maxChunkRows)
	}
	return h, nil
}

// trailer is the fixed 64-byte block at the end of a file.
type trailer struct {
	footerOffset uint64
	numTokens    uint64
	numSentences uint64
	tokenBytes   uint64
	metaBytes    uint64
	fileSize     uint64
	footerCRC    uint32
}

func (t trailer) encode() []byte {
	b := make([]byte, trailerSize)
	le := binary.LittleEndian
	le.PutUint64(b[0:], t.footerOffset)
	le.PutUint64(b[8:], t.numTokens)
	le.PutUint64(b[16:], t.numSentences)
	le.PutUint64(b[24:], t.tokenBytes)
	le.PutUint64(b[32:], t.metaBytes)
	le.PutUint64(b[40:], t.fileSize)
	le.PutUint32(b[48:], t.footerCRC)
	le.PutUint32(b[52:], crc32.Checksum(b[:52], castagnoli))
	copy(b[56:], endMagic)
	return b
}

// decodeTrailer decodes the last trailerSize bytes b of a file of size
// bytes. Without the end magic the file is taken to be cut short
// (ErrTruncated), unless the rest of the trailer is intact and records
// size: then the file is complete and only its end magic is corrupt
// (ErrFormat).
func decodeTrailer(b []byte, size uint64) (trailer, error) {
	le := binary.LittleEndian
	crcOK := le.Uint32(b[52:]) == crc32.Checksum(b[:52], castagnoli)
	if string(b[56:]) != endMagic {
		if crcOK && le.Uint64(b[40:]) == size {
			return trailer{}, fmt.Errorf("%w: corrupt trailer: bad end magic %q, want %q (the trailer's checksum holds and records the file's %d bytes: the file is complete but damaged)",
				ErrFormat, b[56:], endMagic, size)
		}
		return trailer{}, fmt.Errorf("%w: no end trailer (the last 8 bytes are not %q): the file was cut short or its writer never finished", ErrTruncated, endMagic)
	}
	if !crcOK {
		return trailer{}, fmt.Errorf("%w: trailer: stored crc32c %08x, computed %08x", ErrChecksum, le.Uint32(b[52:]), crc32.Checksum(b[:52], castagnoli))
	}
	return trailer{
		footerOffset: le.Uint64(b[0:]),
		numTokens:    le.Uint64(b[8:]),
		numSentences: le.Uint64(b[16:]),
		tokenBytes:   le.Uint64(b[24:]),
		metaBytes:    le.Uint64(b[32:]),
		fileSize:     le.Uint64(b[40:]),
		footerCRC:    le.Uint32(b[48:]),
	}, nil
}

// align8 rounds n up to a multiple of 8.
func align8(n int64) int64 { return (n + 7) &^ 7 }

// checksumString formats a data checksum for Meta.Checksum.
func checksumString(crc uint32) string { return fmt.Sprintf("crc32c:%08x", crc) }

// Package activations is grain's activation store: the per-token activations
// of a model over a corpus, in a binary file that is written once as a stream
// and then read in blocks, never needing all activations in memory.
//
// # Neurons, layers and the global neuron index
//
// A model has L layers of D neurons each (every layer the same D). A
// bidirectional recurrent layer is stored as two layers with the same name,
// the Forward direction first, then the Backward one. A row holds one token's
// L·D activations, layer after layer, and
//
//	global neuron index g = layer·D + d    (0 ≤ layer < L, 0 ≤ d < D)
//
// is the index that every ranking, mask and probe in grain uses to name a
// neuron. It matches NeuroX, which concatenates a token's layers in order.
// Meta.LayerRange, Meta.NeuronLayer and Meta.Columns convert between layers
// and global indices (Columns selects layers by name and/or direction for
// layer-wise analyses).
//
// Rows are tokens in corpus order; sentence i is rows
// [off[i], off[i+1]) of the sentence offsets. The token strings are stored
// too, so that alignment with a labeled corpus can be checked by text.
//
// # Writing and reading
//
// Create returns a Writer; AppendSentence streams each sentence's rows to a
// temporary file (rejecting NaN and ±Inf); Close writes the footer and
// renames the file into place (package engine/atomicfile), so a crash never
// leaves a file that looks valid. Open returns a Reader that memory-maps the
// file on linux and uses ReadAt elsewhere. ReadRows, ReadRowsColumns, Blocks
// and BlocksColumns return float32 values whatever the stored type, and
// verify the CRC32C of each chunk of rows the first time a read touches it;
// Verify checks the whole file, including that every activation is finite.
// ImportNeuroXJSON and ExportNeuroXJSON convert from and to NeuroX's JSON
// activation files.
//
// # File layout (format version 1)
//
// All integers are little endian; offsets are in bytes from the start of the
// file. CRC32C is the standard CRC-32C (Castagnoli, iSCSI; reflected
// polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF; the CRC of
// "123456789" is 0xE3069283), as Go's crc32.Checksum computes it with
// crc32.MakeTable(crc32.Castagnoli). Let N = L·D,
// E = 4 for float32 and 2 for float16, R = N·E the bytes of one row, T the
// number of tokens (rows), S the number of sentences, C the chunk size in
// rows and K = ceil(T/C) the number of chunks.
//
//	Header, 64 bytes at offset 0:
//	  0  [8]byte  magic "GRAINACT"
//	  8  uint32   format version, 1
//	 12  uint32   dtype: 1 = float32, 2 = float16 (IEEE 754 binary16)
//	 16  uint32   L, number of layers (≥ 1)
//	 20  uint32   D, neurons per layer (≥ 1)
//	 24  uint32   C, rows per checksum chunk (≥ 1)
//	 28  [32]byte reserved, zero
//	 60  uint32   CRC32C of bytes 0..59
//
//	Data, T·R bytes at offset 64 (64-byte aligned, so a memory map of the
//	file gives aligned float32 rows): row t, global neuron g is the element
//	at 64 + t·R + g·E; every element is finite (no NaN or ±Inf). Then 0..7
//	zero bytes of padding up to F, the next multiple of 8.
//
//	Footer at offset F, its sections back to back:
//	  (S+1) uint64   sentence offsets: 0 = off[0] ≤ off[1] ≤ ... ≤ off[S] = T
//	  (T+1) uint64   token offsets into the token bytes: 0 = tok[0] ≤ ... ≤
//	                 tok[T] = B; token t is bytes [tok[t], tok[t+1])
//	  K     uint32   CRC32C of each chunk: chunk k covers rows
//	                 [k·C, min(T, (k+1)·C)), i.e. its bytes of the data region
//	  B     bytes    token bytes, UTF-8, concatenated without separators
//	  M     bytes    metadata, a JSON object (Meta): model, layers (name and
//	                 direction), num_layers, dim, dtype ("float32"/"float16"),
//	                 corpus, tool, masked (when the model ran with neurons
//	                 clamped to 0: their global indices, ascending),
//	                 chunk_rows, num_tokens, num_sentences and checksum
//	                 ("crc32c:xxxxxxxx", the CRC32C of the whole data region
//	                 without padding); readers ignore unknown fields
//
//	Trailer, the last 64 bytes:
//	  0  uint64   F, footer offset
//	  8  uint64   T, number of tokens
//	 16  uint64   S, number of sentences
//	 24  uint64   B, length of the token bytes
//	 32  uint64   M, length of the metadata JSON
//	 40  uint64   file size = F + 8(S+1) + 8(T+1) + 4K + B + M + 64
//	 48  uint32   CRC32C of the footer (bytes F .. file size − 64)
//	 52  uint32   CRC32C of trailer bytes 0..51
//	 56  [8]byte  end magic "GRAINEND"
//
// The writer appends rows without knowing T in advance and writes the
// footer and trailer at the end, so a file cut short has no trailer and fails
// to open with an error wrapping ErrTruncated (one with bytes appended after
// its trailer fails with ErrFormat, giving their count; one whose end magic
// alone is damaged, its trailer checksum holding and recording the file's
// size, fails with ErrFormat as a corrupt trailer). Open checks the header,
// trailer and footer checksums and that all sizes and offsets agree; it
// checks the header checksum before the format version, so that a damaged
// header fails with ErrChecksum rather than passing for a newer format
// (every format version keeps the magic at byte 0 and the header CRC32C of
// bytes 0..59 at byte 60, whatever else it changes). A read verifies the
// chunks it touches (once per Reader) and fails, naming the file and row
// range, with an error wrapping ErrChecksum if one is corrupt.
package activations

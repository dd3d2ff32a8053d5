package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxHeaderSize is the largest header Unmarshal accepts (the reference
// implementation's limit, 100 MB).
const MaxHeaderSize = 100_000_000

// ReadFile reads and validates the safetensors file at path. Errors name the
// file and, where one is at fault, the tensor.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	return f, nil
}

// Unmarshal parses and validates a safetensors file held in data. The
// returned tensors are sorted by name and their Data share data.
func Unmarshal(data []byte) (*File, error) {
	f, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return f, nil
}

// entry is a tensor's header entry before validation against the buffer.
type entry struct {
	name       string
	dtype      DType
	shape      []int
	begin, end uint64
}

func parse(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("file is %d bytes, too short for the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("header length %d is beyond the end of the file (%d bytes after the length)", n, len(data)-8)
	}
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("header length %d exceeds the limit of %d bytes", n, MaxHeaderSize)
	}
	header := data[8 : 8+n]
	buf := data[8+n:]
	if !utf8.Valid(header) {
		return nil, errors.New("header is not valid UTF-8")
	}
	if len(header) == 0 || header[0] != '{' {
		return nil, errors.New("header does not start with '{'")
	}
	entries, meta, err := parseHeader(header)
	if err != nil {
		return nil, fmt.Errorf("invalid header: %w", err)
	}
	if err := validate(entries, uint64(len(buf))); err != nil {
		return nil, err
	}
	f := &File{Metadata: meta, Tensors: make([]Tensor, len(entries))}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	for i, e := range entries {
		f.Tensors[i] = Tensor{Name: e.name, DType: e.dtype, Shape: e.shape, Data: buf[e.begin:e.end:e.end]}
	}
	return f, nil
}

// parseHeader walks the JSON header token by token so that duplicate keys,
// unknown fields and trailing data are detected rather than silently merged.
func parseHeader(header []byte) ([]entry, map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return nil, nil, err
	}
	var entries []entry
	var meta map[string]string
	seen := map[string]bool{}
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return nil, nil, err
		}
		if seen[key] {
			return nil, nil, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		if key == metaKey {
			if meta, err = parseMetadata(dec); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", metaKey, err)
			}
			continue
		}
		e, err := parseEntry(dec)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", key, err)
		}
		e.name = key
		entries = append(entries, e)
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, nil, err
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("unexpected %s after the header object", tokString(tok))
	}
	return entries, meta, nil
}

// parseMetadata reads the "__metadata__" value: an object of strings, or
// null as the reference implementation accepts.
func parseMetadata(dec *json.Decoder) (map[string]string, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("got %s, want '{'", tokString(tok))
	}
	meta := map[string]string{}
	for dec.More() {
		k, err := stringToken(dec)
		if err != nil {
			return nil, err
		}
		if _, dup := meta[k]; dup {
			return nil, fmt.Errorf("duplicate key %q", k)
		}
		v, err := stringToken(dec)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		meta[k] = v
	}
	return meta, expectDelim(dec, '}')
}

func parseEntry(dec *json.Decoder) (entry, error) {
	var e entry
	if err := expectDelim(dec, '{'); err != nil {
		return e, err
	}
	var haveDType, haveShape, haveOffsets bool
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return e, err
		}
		var dup bool
		switch key {
		case "dtype":
			dup, haveDType = haveDType, true
			var s string
			if s, err = stringToken(dec); err == nil {
				e.dtype = DType(s)
				if e.dtype.Size() == 0 {
					err = fmt.Errorf("unknown dtype %q", s)
				}
			}
		case "shape":
			dup, haveShape = haveShape, true
			var dims []uint64
			if dims, err = uintArray(dec); err == nil {
				e.shape = make([]int, len(dims))
				for i, d := range dims {
					if d > 1<<62 {
						err = fmt.Errorf("dimension %d too large", d)
						break
					}
					e.shape[i] = int(d)
				}
			}
		case "data_offsets":
			dup, haveOffsets = haveOffsets, true
			var offs []uint64
			if offs, err = uintArray(dec); err == nil {
				if len(offs) != 2 {
					err = fmt.Errorf("%d values, want 2", len(offs))
				} else {
					e.begin, e.end = offs[0], offs[1]
				}
			}
		default:
			return e, fmt.Errorf("unknown field %q", key)
		}
		if err != nil {
			return e, fmt.Errorf("%s: %w", key, err)
		}
		if dup {
			return e, fmt.Errorf("duplicate field %q", key)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return e, err
	}
	switch {
	case !haveDType:
		return e, errors.New("missing dtype")
	case !haveShape:
		return e, errors.New("missing shape")
	case !haveOffsets:
		return e, errors.New("missing data_offsets")
	}
	return e, nil
}

// uintArray reads a JSON array of non-negative integers.
func uintArray(dec *json.Decoder) ([]uint64, error) {
	if err := expectDelim(dec, '['); err != nil {
		return nil, err
	}
	out := []uint64{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("got %s, want a non-negative integer", tokString(tok))
		}
		v, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("got %s, want a non-negative integer", num)
		}
		out = append(out, v)
	}
	return out, expectDelim(dec, ']')
}

func stringToken(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("got %s, want a string", tokString(tok))
	}
	return s, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("got %s, want '%v'", tokString(tok), want)
	}
	return nil
}

// tokString formats a JSON token for an error message.
func tokString(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return "'" + v.String() + "'"
	case string:
		return strconv.Quote(v)
	case nil:
		return "null"
	}
	return fmt.Sprint(tok)
}

// validate checks each entry's size against its offsets and that the entries
// tile the buffer exactly: no overlap, no hole, nothing after the last one.
func validate(entries []entry, bufLen uint64) error {
	for _, e := range entries {
		if e.begin > e.end {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] are out of order", e.name, e.begin, e.end)
		}
		if e.end > bufLen {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] are outside the %d-byte data buffer", e.name, e.begin, e.end, bufLen)
		}
		numel, ok := numElements(e.shape)
		size := uint64(e.dtype.Size())
		if !ok || uint64(numel) > (e.end-e.begin)/size || uint64(numel)*size != e.end-e.begin {
			return fmt.Errorf("tensor %q: shape %v of %s needs %s bytes, but data_offsets [%d, %d] span %d",
				e.name, e.shape, e.dtype, byteCount(numel, ok, size), e.begin, e.end, e.end-e.begin)
		}
	}
	order := make([]int, len(entries))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ea, eb := entries[a], entries[b]
		if ea.begin != eb.begin {
			return cmp.Compare(ea.begin, eb.begin)
		}
		return cmp.Compare(ea.end, eb.end)
	})
	var pos uint64
	prev := -1
	for _, i := range order {
		e := entries[i]
		switch {
		case e.begin < pos:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap tensor %q ending at %d", e.name, e.begin, e.end, entries[prev].name, pos)
		case e.begin > pos:
			return fmt.Errorf("tensor %q: hole of %d bytes before its data_offsets [%d, %d]", e.name, e.begin-pos, e.begin, e.end)
		}
		pos, prev = e.end, i
	}
	if pos != bufLen {
		return fmt.Errorf("%d bytes of trailing data after the last tensor (data buffer is %d bytes, tensors cover %d)", bufLen-pos, bufLen, pos)
	}
	return nil
}

func byteCount(numel int, ok bool, size uint64) string {
	if !ok || uint64(numel) > ^uint64(0)/size {
		return "more than 2^64"
	}
	return strconv.FormatUint(uint64(numel)*size, 10)
}

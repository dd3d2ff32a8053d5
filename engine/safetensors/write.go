package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/grainlab/grain/engine/atomicfile"
)

// Marshal encodes f as a safetensors file (see the package documentation for
// the exact layout). It returns an error if a tensor is invalid: an unknown
// dtype, a negative dimension, Data of the wrong length, a duplicate name, the
// reserved name "__metadata__", or a name or metadata string that is not valid
// UTF-8.
func Marshal(f *File) ([]byte, error) {
	var b bytes.Buffer
	if err := Write(&b, f); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Write encodes f as a safetensors file to w; see Marshal.
func Write(w io.Writer, f *File) error {
	hdr, order, err := encodeHeader(f)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(hdr)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for _, t := range order {
		if _, err := w.Write(t.Data); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile writes f to path atomically: the file appears complete under its
// name or not at all.
func WriteFile(path string, f *File) error {
	af, err := atomicfile.Create(path)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	defer af.Abort()
	if err := Write(af, f); err != nil {
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	return af.Commit()
}

// encodeHeader validates f and returns its padded JSON header and the
// tensors in buffer order (sorted by name).
func encodeHeader(f *File) ([]byte, []*Tensor, error) {
	order := make([]*Tensor, len(f.Tensors))
	for i := range f.Tensors {
		order[i] = &f.Tensors[i]
	}
	slices.SortFunc(order, func(a, b *Tensor) int { return strings.Compare(a.Name, b.Name) })
	var b []byte
	b = append(b, '{')
	if len(f.Metadata) > 0 {
		keys := make([]string, 0, len(f.Metadata))
		for k := range f.Metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = appendString(b, metaKey)
		b = append(b, ":{"...)
		for i, k := range keys {
			v := f.Metadata[k]
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, nil, fmt.Errorf("metadata %q: not valid UTF-8", k)
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, v)
		}
		b = append(b, '}')
	}
	var off uint64
	for i, t := range order {
		if err := checkTensor(t); err != nil {
			return nil, nil, err
		}
		if i > 0 && order[i-1].Name == t.Name {
			return nil, nil, fmt.Errorf("duplicate tensor name %q", t.Name)
		}
		if i > 0 || len(f.Metadata) > 0 {
			b = append(b, ',')
		}
		b = appendString(b, t.Name)
		b = append(b, `:{"dtype":`...)
		b = appendString(b, string(t.DType))
		b = append(b, `,"shape":[`...)
		for j, d := range t.Shape {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(d), 10)
		}
		b = append(b, `],"data_offsets":[`...)
		b = strconv.AppendUint(b, off, 10)
		off += uint64(len(t.Data))
		b = append(b, ',')
		b = strconv.AppendUint(b, off, 10)
		b = append(b, "]}"...)
	}
	b = append(b, '}')
	for len(b)%8 != 0 {
		b = append(b, ' ')
	}
	return b, order, nil
}

func checkTensor(t *Tensor) error {
	if t.Name == metaKey {
		return errors.New(`tensor name "__metadata__" is reserved`)
	}
	if !utf8.ValidString(t.Name) {
		return fmt.Errorf("tensor %q: name is not valid UTF-8", t.Name)
	}
	return t.checkSize()
}

// checkSize checks that t has a known dtype, a valid shape and Data of
// exactly product(shape)·dtype size bytes.
func (t *Tensor) checkSize() error {
	size := t.DType.Size()
	if size == 0 {
		return fmt.Errorf("tensor %q: unknown dtype %q", t.Name, t.DType)
	}
	n, ok := numElements(t.Shape)
	if !ok {
		return fmt.Errorf("tensor %q: invalid shape %v", t.Name, t.Shape)
	}
	if len(t.Data)%size != 0 || len(t.Data)/size != n {
		return fmt.Errorf("tensor %q: %d bytes of data for shape %v and dtype %s", t.Name, len(t.Data), t.Shape, t.DType)
	}
	return nil
}

// appendString appends s as a JSON string escaped as serde_json does: only
// '"', '\\' and control characters are escaped.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\b':
			b = append(b, `\b`...)
		case c == '\f':
			b = append(b, `\f`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '\r':
			b = append(b, `\r`...)
		case c == '\t':
			b = append(b, `\t`...)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

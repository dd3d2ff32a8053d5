package corpus

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// maxLine is the longest line the readers accept, in bytes.
const maxLine = 16 << 20

var gzipMagic = []byte{0x1f, 0x8b}

// A lineReader yields the lines of a possibly gzipped text stream, without
// their line ends, and counts them.
type lineReader struct {
	path    string
	gzipped bool
	br      *bufio.Reader
	cur     []byte // the current line
	long    []byte // holds a line longer than br's buffer
	line    int    // number of the current line
	eof     bool   // the current line ended the input without a newline
	err     error
}

// newLineReader reads r, named path in errors. It decompresses r when
// path ends in ".gz" (then r must be gzip) or r starts with the gzip magic,
// and skips a UTF-8 byte order mark at the start of the text.
func newLineReader(r io.Reader, path string) (*lineReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(len(gzipMagic))
	if err != nil && err != io.EOF {
		return nil, &ParseError{Path: path, Err: err}
	}
	lr := &lineReader{path: path, gzipped: bytes.Equal(magic, gzipMagic), br: br}
	if strings.HasSuffix(path, ".gz") && !lr.gzipped {
		return nil, &ParseError{Path: path, Err: errors.New("not gzip data (name ends in .gz)")}
	}
	if lr.gzipped {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &ParseError{Path: path, Err: fmt.Errorf("gzip: %w", err)}
		}
		lr.br = bufio.NewReaderSize(zr, 64<<10)
	}
	// A UTF-8 byte order mark (editors on Windows write one) is not text.
	if bom, _ := lr.br.Peek(len(utf8BOM)); bytes.Equal(bom, utf8BOM) {
		lr.br.Discard(len(utf8BOM))
	}
	return lr, nil
}

var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// scan advances to the next line and reports whether there is one. It
// returns false at the end of the input or on an error, which lr.err then
// holds. A line that is not valid UTF-8 or longer than maxLine is an error,
// and so is a read error (a truncated gzip stream, say) even in the middle
// of a line: the partial line is not returned.
func (lr *lineReader) scan() bool {
	if lr.err != nil || lr.eof {
		return false
	}
	line, err := lr.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		lr.long = append(lr.long[:0], line...)
		for err == bufio.ErrBufferFull && len(lr.long) <= maxLine {
			line, err = lr.br.ReadSlice('\n')
			lr.long = append(lr.long, line...)
		}
		line = lr.long
		if len(line) > maxLine {
			lr.err = &ParseError{Path: lr.path, Line: lr.line + 1, Err: fmt.Errorf("line longer than %d bytes", maxLine)}
			return false
		}
	}
	switch {
	case err == io.EOF && len(line) == 0:
		return false
	case err == io.EOF:
		lr.eof = true
	case err != nil:
		what := "reading"
		if lr.gzipped {
			what = "reading gzip stream"
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			what += " (truncated?)"
		}
		lr.err = &ParseError{Path: lr.path, Line: lr.line + 1, Err: fmt.Errorf("%s: %w", what, err)}
		return false
	}
	lr.line++
	line = bytes.TrimSuffix(line, []byte("\n"))
	lr.cur = bytes.TrimSuffix(line, []byte("\r"))
	if !utf8.Valid(lr.cur) {
		lr.err = lr.errorf("invalid UTF-8")
		return false
	}
	return true
}

// bytes returns the current line. It is valid until the next call to scan.
func (lr *lineReader) bytes() []byte { return lr.cur }

// errorf returns a *ParseError at the current line.
func (lr *lineReader) errorf(format string, args ...any) error {
	return &ParseError{Path: lr.path, Line: lr.line, Err: fmt.Errorf(format, args...)}
}

// readFile opens path and parses it with parse.
func readFile(path string, parse func(r io.Reader, path string) (*Corpus, error)) (*Corpus, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parse(f, path)
}

// splitTabs splits line at tabs into dst and returns the number of fields,
// which may exceed len(dst): fields past len(dst) are counted, not stored.
func splitTabs(line []byte, dst [][]byte) int {
	n := 0
	for {
		i := bytes.IndexByte(line, '\t')
		if n < len(dst) {
			if i < 0 {
				dst[n] = line
			} else {
				dst[n] = line[:i]
			}
		}
		n++
		if i < 0 {
			return n
		}
		line = line[i+1:]
	}
}

// An interner returns one shared string for equal byte strings, so that a
// corpus holds each distinct token and label once.
type interner map[string]string

// get returns the shared string equal to b.
func (in interner) get(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}

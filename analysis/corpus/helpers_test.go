package corpus

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTemp writes data to a new file called name in a test directory and
// returns its path.
func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// gzipBytes returns data gzip-compressed.
func gzipBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// wantParseError fails t unless err is a *ParseError for path at line
// whose message contains substr.
func wantParseError(t *testing.T, err error, path string, line int, substr string) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Errorf("error %v (%T), want a *ParseError at %s:%d containing %q", err, err, path, line, substr)
		return
	}
	if pe.Path != path || pe.Line != line || !strings.Contains(err.Error(), substr) {
		t.Errorf("error %q, want one at %s:%d containing %q", err, path, line, substr)
	}
}

// checkInvariants fails t unless every sentence of c has tokens, a label
// for each token in every property (listed or derived), a file and a line.
func checkInvariants(t *testing.T, c *Corpus) {
	t.Helper()
	if len(c.Sentences) == 0 {
		t.Fatal("corpus has no sentences")
	}
	for _, p := range append(append([]string(nil), c.Properties...), DerivedProperties()...) {
		all, err := c.Labels(p)
		if err != nil {
			t.Fatalf("Labels(%q): %v", p, err)
		}
		if len(all) != len(c.Sentences) {
			t.Fatalf("Labels(%q) has %d sentences, want %d", p, len(all), len(c.Sentences))
		}
		for i, labels := range all {
			if len(labels) != len(c.Sentences[i].Tokens) {
				t.Fatalf("Labels(%q) sentence %d: %d labels for %d tokens", p, i, len(labels), len(c.Sentences[i].Tokens))
			}
		}
	}
	prev := 0
	for _, s := range c.Sentences {
		if len(s.Tokens) == 0 || s.File != c.Path || s.Line <= prev {
			t.Fatalf("bad sentence %+v (previous line %d)", s, prev)
		}
		prev = s.Line
	}
}

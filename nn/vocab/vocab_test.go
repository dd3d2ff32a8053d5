package vocab

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestBuildOrderAndCutoff(t *testing.T) {
	s := [][]string{{"b", "a", "c"}, {"a", "b", "d"}, {"a", "<unk>"}}
	v := Build(s, 2, 0)
	if want := []string{"<unk>", "<s>", "</s>", "<pad>", "a", "b"}; !slices.Equal(v.words, want) {
		t.Fatalf("words %v, want %v (count order, ties by bytes, cut-off 2, specials not words)", v.words, want)
	}
	if v.ID("c") != Unk || v.ID("b") != 5 || v.Word(BOS) != "<s>" {
		t.Fatal("ID/Word")
	}
	if got := Build(s, 1, 3).Len(); got != 7 {
		t.Fatalf("maxWords 3: %d ids, want 7", got)
	}
	if got := v.Decode([]int32{4, 5, EOS, 4}); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Decode stops at </s>: %v", got)
	}
	p, err := Parse(v.String(), "test")
	if err != nil || !slices.Equal(p.words, v.words) {
		t.Fatalf("Parse(String) = %v, %v", p, err)
	}
	for _, bad := range [][]string{{"x"}, append(slices.Clone(Specials), "a", "a"), append(slices.Clone(Specials), "a b")} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
}

func TestReadTokenized(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("a man .\r\ntwo  dogs\n"), 0o644)
	s, err := ReadTokenized(good)
	if err != nil || len(s) != 2 || strings.Join(s[1], "|") != "two|dogs" {
		t.Fatalf("ReadTokenized = %q, %v", s, err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("a\n\nb\n"), 0o644)
	if _, err := ReadTokenized(bad); err == nil || !strings.Contains(err.Error(), "bad:2: empty sentence") {
		t.Fatalf("empty line: %v", err)
	}
	// A stream (standard input) is read as a file is: long lines, invalid
	// UTF-8 and empty input.
	long := strings.Repeat("word ", 20000) // 100 kB
	if s, err := ParseTokenized(strings.NewReader(long+"\nb\n"), "standard input"); err != nil || len(s) != 2 || len(s[0]) != 20000 {
		t.Fatalf("a 100 kB line: %d sentences, %v", len(s), err)
	}
	if s, err := ParseTokenized(strings.NewReader("\ufeffa b\n"), "standard input"); err != nil || s[0][0] != "a" {
		t.Fatalf("a byte order mark: %q, %v", s, err)
	}
	for in, want := range map[string]string{"a\n\xff b\n": "standard input:2: invalid UTF-8", "": "standard input: no sentences"} {
		if _, err := ParseTokenized(strings.NewReader(in), "standard input"); err == nil || err.Error() != want {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}

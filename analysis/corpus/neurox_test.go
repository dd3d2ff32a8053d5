package corpus

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writePair writes a NeuroX tokens file and labels file and returns their
// paths.
func writePair(t *testing.T, tokens, labels string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	tp, lp := filepath.Join(dir, "text.txt"), filepath.Join(dir, "labels.txt")
	if err := os.WriteFile(tp, []byte(tokens), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lp, []byte(labels), 0o644); err != nil {
		t.Fatal(err)
	}
	return tp, lp
}

func TestReadNeuroX(t *testing.T) {
	tp, lp := writePair(t,
		"The cat  sat .\n\tIn\u00a0May\u2003it\x1frained \r\nEnd",
		"DT NN VBD .\nIN NNP PRP VBD\r\nNN\n")
	c, err := ReadNeuroX(tp, lp, "pos")
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, c)
	if c.Path != tp || !reflect.DeepEqual(c.Properties, []string{"pos"}) {
		t.Errorf("Path %q Properties %q", c.Path, c.Properties)
	}
	if got, want := c.Tokens(), [][]string{{"The", "cat", "sat", "."}, {"In", "May", "it", "rained"}, {"End"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Tokens = %q, want %q", got, want)
	}
	if got, err := c.Labels("pos"); err != nil || !reflect.DeepEqual(got, [][]string{{"DT", "NN", "VBD", "."}, {"IN", "NNP", "PRP", "VBD"}, {"NN"}}) {
		t.Errorf("Labels(pos) = %q, %v", got, err)
	}
	if got, err := c.Labels(Month); err != nil || !reflect.DeepEqual(got[1], []string{"O", "May", "O", "O"}) {
		t.Errorf("Labels(month)[1] = %q, %v", got, err)
	}
	for i, s := range c.Sentences {
		if s.Line != i+1 || s.File != tp {
			t.Errorf("sentence %d at %s:%d, want %s:%d", i, s.File, s.Line, tp, i+1)
		}
	}
}

func TestReadNeuroXErrors(t *testing.T) {
	for _, tc := range []struct {
		name, tokens, labels string
		inTokens             bool // error located in the tokens file (else labels)
		line                 int
		msg                  string
	}{
		{"count mismatch", "a b\nc d e\n", "X Y\nX Y\n", true, 2, "3 tokens, but %L:2 has 2 labels"},
		{"count mismatch last line no newline", "a b\nc d", "X Y\nX Y Z", true, 2, "2 tokens, but %L:2 has 3 labels"},
		{"empty tokens line", "a b\n\nc\n", "X Y\nX\nX\n", true, 2, "0 tokens, but %L:2 has 1 labels"},
		{"empty labels line", "a b\nc\n", "X Y\n \n", true, 2, "1 tokens, but %L:2 has 0 labels"},
		{"empty line in both", "a\n\nb\n", "X\n\nY\n", true, 2, "empty sentence (and %L:2 is empty)"},
		{"trailing blank line", "a\n\n", "X\n\n", true, 2, "empty sentence"},
		{"more tokens lines", "a\nb\nc\n", "X\nY\n", true, 3, "line has no counterpart: %L ends after line 2"},
		{"more labels lines", "a\n", "X\nY\n", false, 2, "line has no counterpart: %T ends after line 1"},
		{"invalid UTF-8 labels", "a\nb\n", "X\n\xff\n", false, 2, "invalid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp, lp := writePair(t, tc.tokens, tc.labels)
			c, err := ReadNeuroX(tp, lp, "pos")
			if err == nil {
				t.Fatalf("no error; read %d sentences", len(c.Sentences))
			}
			path := lp
			if tc.inTokens {
				path = tp
			}
			msg := strings.NewReplacer("%L", lp, "%T", tp).Replace(tc.msg)
			wantParseError(t, err, path, tc.line, msg)
		})
	}
	tp, lp := writePair(t, "", "")
	if _, err := ReadNeuroX(tp, lp, "pos"); err == nil || err.Error() != tp+": no sentences" {
		t.Errorf("empty files: error %v", err)
	}
	tp, lp = writePair(t, "a\n", "X\n")
	for _, p := range []string{"", "two words", Position, PositionBucket, Month} {
		if _, err := ReadNeuroX(tp, lp, p); err == nil {
			t.Errorf("ReadNeuroX with property %q succeeded", p)
		}
	}
	if _, err := ReadNeuroX(tp+".missing", lp, "pos"); err == nil || !strings.Contains(err.Error(), ".missing") {
		t.Errorf("missing tokens file: error %v", err)
	}
	if _, err := ReadNeuroX(tp, lp+".missing", "pos"); err == nil || !strings.Contains(err.Error(), ".missing") {
		t.Errorf("missing labels file: error %v", err)
	}
}

func TestReadNeuroXLongLines(t *testing.T) {
	n := 40000 // about 200 kB a line, beyond the reader's 64 kB buffer
	toks := strings.Repeat("word ", n)
	labs := strings.Repeat("NN ", n)
	tp, lp := writePair(t, "a b\n"+toks+"\nc\n", "X Y\n"+labs+"\nZ\n")
	c, err := ReadNeuroX(tp, lp, "pos")
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, c)
	if got := []int{len(c.Sentences[0].Tokens), len(c.Sentences[1].Tokens), len(c.Sentences[2].Tokens)}; !reflect.DeepEqual(got, []int{2, n, 1}) {
		t.Errorf("sentence lengths %v", got)
	}
	tp, lp = writePair(t, "a\n"+strings.Repeat("x", maxLine+1)+"\n", "X\nY\n")
	if _, err := ReadNeuroX(tp, lp, "pos"); err != nil {
		wantParseError(t, err, tp, 2, "line longer than")
	} else {
		t.Error("a line longer than maxLine was accepted")
	}
}

func TestNeuroXRoundTrip(t *testing.T) {
	dir, err := SharedDataDir()
	if err != nil {
		t.Fatal(err)
	}
	orig, err := ReadCoNLLU(filepath.Join(dir, "ud_en_ewt", "en_ewt-ud-dev.conllu.gz"))
	if err != nil {
		t.Fatal(err)
	}
	for _, property := range []string{XPOS, "feats:Number", PositionBucket} {
		var tb, lb bytes.Buffer
		if err := WriteNeuroX(&tb, &lb, orig, property); err != nil {
			t.Fatal(err)
		}
		for _, gz := range []bool{false, true} {
			tdata, ldata := tb.Bytes(), lb.Bytes()
			if gz {
				tdata, ldata = gzipBytes(t, tdata), gzipBytes(t, ldata)
			}
			tp, lp := writePair(t, string(tdata), string(ldata))
			back, err := ReadNeuroX(tp, lp, "tag")
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, back)
			if !reflect.DeepEqual(back.Tokens(), orig.Tokens()) {
				t.Fatalf("%s (gzip %v): tokens differ after round trip", property, gz)
			}
			want, _ := orig.Labels(property)
			got, _ := back.Labels("tag")
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s (gzip %v): labels differ after round trip", property, gz)
			}
		}
	}
}

func TestWriteNeuroXErrors(t *testing.T) {
	mk := func(tokens, labels []string) *Corpus {
		return &Corpus{Path: "h", Properties: []string{"tag"}, Sentences: []Sentence{
			{File: "h", Line: 1, Tokens: []string{"ok"}, Props: map[string][]string{"tag": {"T"}}},
			{File: "h", Line: 2, Tokens: tokens, Props: map[string][]string{"tag": labels}},
		}}
	}
	for name, c := range map[string]*Corpus{
		"no tokens":        mk(nil, nil),
		"space in token":   mk([]string{"New York"}, []string{"T"}),
		"empty token":      mk([]string{""}, []string{"T"}),
		"tab in label":     mk([]string{"a"}, []string{"T\tU"}),
		"nbsp in label":    mk([]string{"a"}, []string{"T\u00a0U"}),
		"invalid UTF-8":    mk([]string{"a\xff"}, []string{"T"}),
		"label count":      mk([]string{"a", "b"}, []string{"T"}),
		"unknown property": {Path: "h", Properties: []string{"other"}},
	} {
		var tb, lb bytes.Buffer
		err := WriteNeuroX(&tb, &lb, c, "tag")
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.HasPrefix(err.Error(), "h:") {
			t.Errorf("%s: error %q does not name the sentence", name, err)
		}
		if tb.Len() != 0 || lb.Len() != 0 {
			t.Errorf("%s: wrote %d+%d bytes before failing", name, tb.Len(), lb.Len())
		}
	}
}

func TestReadTokens(t *testing.T) {
	tp, _ := writePair(t, "\ufeffThe cat  sat .\n\tIn\u00a0May\u2003it\x1frained \r\nEnd", "")
	c, err := ReadTokens(tp)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Tokens(), [][]string{{"The", "cat", "sat", "."}, {"In", "May", "it", "rained"}, {"End"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Tokens = %q, want %q", got, want)
	}
	if len(c.Properties) != 0 || c.Sentences[2].Line != 3 {
		t.Errorf("properties %q, sentence 2 at line %d", c.Properties, c.Sentences[2].Line)
	}
	for _, tc := range []struct{ text, want string }{
		{"a b\n \nc\n", "text.txt:2: empty sentence"},
		{"", "text.txt: no sentences"},
		{"a \xff\n", "text.txt:1: invalid UTF-8"},
	} {
		tp, _ := writePair(t, tc.text, "")
		if _, err := ReadTokens(tp); err == nil || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one ending %q", tc.text, err, tc.want)
		}
	}
}

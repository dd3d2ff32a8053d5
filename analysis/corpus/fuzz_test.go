package corpus

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// fuzzInvariants fails t unless c, read without error from input named
// path, has sentences and every property, listed or derived, gives each
// sentence exactly one label per token, or (a CoNLL-U column whose values
// are not all labels) an error naming path.
func fuzzInvariants(t *testing.T, c *Corpus, path string) {
	if c == nil || len(c.Sentences) == 0 || c.Path != path {
		t.Fatalf("success without sentences: %+v", c)
	}
	for _, p := range append(append([]string(nil), c.Properties...), DerivedProperties()...) {
		all, err := c.Labels(p)
		if err != nil {
			if c.refused[p] == nil {
				t.Fatalf("Labels(%q): %v", p, err)
			}
			fuzzError(t, err, path)
			continue
		}
		for i, labels := range all {
			if len(labels) != len(c.Sentences[i].Tokens) || len(labels) == 0 {
				t.Fatalf("Labels(%q) sentence %d: %d labels for %d tokens", p, i, len(labels), len(c.Sentences[i].Tokens))
			}
		}
	}
}

// fuzzError fails t unless err is a *ParseError naming path.
func fuzzError(t *testing.T, err error, paths ...string) {
	for _, p := range paths {
		if strings.HasPrefix(err.Error(), p+":") {
			return
		}
	}
	t.Fatalf("error %q names none of %q", err, paths)
}

func FuzzCoNLLU(f *testing.F) {
	f.Add([]byte(goodCoNLLU))
	f.Add([]byte("1\tA\ta\tX\tX\tCase=Nom\t0\troot\t_\t_\n\n1-2\tAB\t_\t_\t_\t_\t_\t_\t_\t_\n1\tA\ta\tX\tX\t_\t0\troot\t_\t_\n2\tB\tb\tX\tX\t_\t1\tdep\t_\t_\n"))
	f.Add([]byte("# sent_id = 1\n0.1\tx\t_\t_\t_\t_\t_\t_\t_\t_\n1\tA\ta\tX\tX\tA=B|C=D\t0\troot\t_\t_"))
	f.Add(gzipBytes(f, []byte(goodCoNLLU)))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseCoNLLU(bytes.NewReader(data), "fuzz.conllu")
		if err != nil {
			fuzzError(t, err, "fuzz.conllu")
			return
		}
		fuzzInvariants(t, c, "fuzz.conllu")
	})
}

func FuzzPMB(f *testing.F) {
	f.Add([]byte(goodPMB))
	f.Add([]byte("# raw sent = a\na\ta\ta\tCON\tn\tO\t[]\n\n#\t#\t#\tNIL\t.\tO\t[]\n"))
	f.Add(gzipBytes(f, []byte(goodPMB)))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parsePMB(bytes.NewReader(data), "fuzz.conll")
		if err != nil {
			fuzzError(t, err, "fuzz.conll")
			return
		}
		fuzzInvariants(t, c, "fuzz.conll")
	})
}

func FuzzNeuroX(f *testing.F) {
	f.Add([]byte("The cat sat .\nIn May\n"), []byte("DT NN VBD .\nIN NNP\n"))
	f.Add([]byte("a  b\r\nc\u00a0d\n"), []byte("X Y\nZ\x1fW"))
	f.Add([]byte("a\n\nb\n"), []byte("X\n\nY\n"))
	f.Fuzz(func(t *testing.T, tokens, labels []byte) {
		c, err := parseNeuroX(bytes.NewReader(tokens), "fuzz.tok", bytes.NewReader(labels), "fuzz.lab", "tag")
		if err != nil {
			fuzzError(t, err, "fuzz.tok", "fuzz.lab")
			return
		}
		fuzzInvariants(t, c, "fuzz.tok")
		// What was read writes back and reads back the same.
		var tb, lb bytes.Buffer
		if err := WriteNeuroX(&tb, &lb, c, "tag"); err != nil {
			t.Fatalf("WriteNeuroX: %v", err)
		}
		back, err := parseNeuroX(&tb, "fuzz.tok", &lb, "fuzz.lab", "tag")
		if err != nil {
			t.Fatalf("reading back: %v", err)
		}
		a, _ := c.Labels("tag")
		b, _ := back.Labels("tag")
		if !slices.EqualFunc(back.Tokens(), c.Tokens(), slices.Equal) || !slices.EqualFunc(a, b, slices.Equal) {
			t.Fatal("round trip changed the corpus")
		}
	})
}

func FuzzTokens(f *testing.F) {
	f.Add([]byte("The cat sat .\nIn May\n"))
	f.Add([]byte("a  b\r\nc\u00a0d\x1fe"))
	f.Add([]byte("a\n\nb\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseTokens(bytes.NewReader(data), "fuzz.tok")
		if err != nil {
			fuzzError(t, err, "fuzz.tok")
			return
		}
		fuzzInvariants(t, c, "fuzz.tok")
		// What was read writes back, a sentence a line, and reads back the same.
		var b bytes.Buffer
		for _, s := range c.Tokens() {
			b.WriteString(strings.Join(s, " ") + "\n")
		}
		back, err := ParseTokens(&b, "fuzz.tok")
		if err != nil || !slices.EqualFunc(back.Tokens(), c.Tokens(), slices.Equal) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

package corpus

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

const goodCoNLLU = `# newdoc id = d1
# sent_id = s1
# text = I'm in Köln.
1-2	I'm	_	_	_	_	_	_	_	_
1	I	I	PRON	PRP	Case=Nom|Number=Sing|Person=1|PronType=Prs	3	nsubj	3:nsubj	_
2	'm	be	AUX	VBP	Mood=Ind|Number=Sing|Person=1|Tense=Pres|VerbForm=Fin	3	cop	3:cop	_
3	in	in	ADP	IN	_	0	root	0:root	_
3.1	be	be	VERB	VB	_	_	_	3:orphan	_
4	Köln	Köln	PROPN	NNP	Number=Sing	3	obl	3:obl	SpaceAfter=No
5	.	.	PUNCT	.	_	3	punct	3:punct	_

# sent_id = s2
0.1	x	x	X	X	_	_	_	_	_
1	Go	go	VERB	VB	Mood=Imp|VerbForm=Fin	0	root	0:root	_
2	!	!	PUNCT	.	_	1	punct	1:punct	_


1	No	no	INTJ	UH	PronType=Int,Rel	0	root	0:root	_`

func TestReadCoNLLU(t *testing.T) {
	check := func(t *testing.T, c *Corpus, path string) {
		checkInvariants(t, c)
		if c.Path != path {
			t.Errorf("Path = %q, want %q", c.Path, path)
		}
		wantProps := []string{UPOS, XPOS, Feats, Deprel, "feats:Case", "feats:Mood", "feats:Number", "feats:Person", "feats:PronType", "feats:Tense", "feats:VerbForm"}
		if !reflect.DeepEqual(c.Properties, wantProps) {
			t.Errorf("Properties = %q, want %q", c.Properties, wantProps)
		}
		if got, want := c.Tokens(), [][]string{{"I", "'m", "in", "Köln", "."}, {"Go", "!"}, {"No"}}; !reflect.DeepEqual(got, want) {
			t.Errorf("Tokens = %q, want %q", got, want)
		}
		var ids, texts []string
		var lines []int
		for _, s := range c.Sentences {
			ids, texts, lines = append(ids, s.ID), append(texts, s.Text), append(lines, s.Line)
		}
		if want := []string{"s1", "s2", ""}; !reflect.DeepEqual(ids, want) {
			t.Errorf("IDs = %q, want %q", ids, want)
		}
		if want := []string{"I'm in Köln.", "", ""}; !reflect.DeepEqual(texts, want) {
			t.Errorf("Texts = %q, want %q", texts, want)
		}
		if want := []int{1, 12, 18}; !reflect.DeepEqual(lines, want) {
			t.Errorf("Lines = %v, want %v", lines, want)
		}
		for _, tc := range []struct {
			property string
			want     [][]string
		}{
			{UPOS, [][]string{{"PRON", "AUX", "ADP", "PROPN", "PUNCT"}, {"VERB", "PUNCT"}, {"INTJ"}}},
			{XPOS, [][]string{{"PRP", "VBP", "IN", "NNP", "."}, {"VB", "."}, {"UH"}}},
			{Deprel, [][]string{{"nsubj", "cop", "root", "obl", "punct"}, {"root", "punct"}, {"root"}}},
			{"feats:Person", [][]string{{"1", "1", "_", "_", "_"}, {"_", "_"}, {"_"}}},
			{"feats:PronType", [][]string{{"Prs", "_", "_", "_", "_"}, {"_", "_"}, {"Int,Rel"}}},
			{Feats, [][]string{{"Case=Nom|Number=Sing|Person=1|PronType=Prs", "Mood=Ind|Number=Sing|Person=1|Tense=Pres|VerbForm=Fin", "_", "Number=Sing", "_"}, {"Mood=Imp|VerbForm=Fin", "_"}, {"PronType=Int,Rel"}}},
		} {
			got, err := c.Labels(tc.property)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Labels(%q) = %q, %v; want %q", tc.property, got, err, tc.want)
			}
		}
	}
	for name, data := range map[string]string{
		"plain.conllu":    goodCoNLLU,
		"trailing.conllu": goodCoNLLU + "\n\n",
		"crlf.conllu":     strings.ReplaceAll(goodCoNLLU, "\n", "\r\n"),
		"bom.conllu":      "\ufeff" + goodCoNLLU,
	} {
		t.Run(name, func(t *testing.T) {
			path := writeTemp(t, name, []byte(data))
			c, err := ReadCoNLLU(path)
			if err != nil {
				t.Fatal(err)
			}
			check(t, c, path)
		})
	}
	for name, data := range map[string]string{"gz.conllu.gz": goodCoNLLU, "sniffed.conllu": goodCoNLLU, "bom.conllu.gz": "\ufeff" + goodCoNLLU} {
		t.Run(name, func(t *testing.T) {
			path := writeTemp(t, name, gzipBytes(t, []byte(data)))
			c, err := ReadCoNLLU(path)
			if err != nil {
				t.Fatal(err)
			}
			check(t, c, path)
		})
	}
}

func TestReadCoNLLUErrors(t *testing.T) {
	const (
		w1 = "1\tA\ta\tX\tX\t_\t0\troot\t_\t_\n"
		w2 = "2\tB\tb\tX\tX\t_\t1\tdep\t_\t_\n"
		w3 = "3\tC\tc\tX\tX\t_\t1\tdep\t_\t_\n"
	)
	for _, tc := range []struct {
		name, data string
		line       int
		msg        string
	}{
		{"nine columns", w1 + "2\tB\tb\tX\tX\t_\t1\tdep\t_\n", 2, "9 tab-separated columns, want 10"},
		{"eleven columns", "# c\n" + w1 + w2 + "3\tC\tc\tX\tX\t_\t1\tdep\t_\t_\t_\n", 4, "11 tab-separated columns"},
		{"spaces not tabs", "1 A a X X _ 0 root _ _\n", 1, "1 tab-separated columns"},
		{"empty column", "1\tA\ta\tX\t\t_\t0\troot\t_\t_\n", 1, "column 5 (XPOS) is empty"},
		{"non-integer ID", w1 + "x\tB\tb\tX\tX\t_\t1\tdep\t_\t_\n", 2, `invalid ID "x"`},
		{"zero ID", "0\tA\ta\tX\tX\t_\t0\troot\t_\t_\n", 1, `invalid ID "0"`},
		{"signed ID", "+1\tA\ta\tX\tX\t_\t0\troot\t_\t_\n", 1, `invalid ID "+1"`},
		{"leading zero ID", "01\tA\ta\tX\tX\t_\t0\troot\t_\t_\n", 1, `invalid ID "01"`},
		{"huge ID", "1234567890\tA\ta\tX\tX\t_\t0\troot\t_\t_\n", 1, `invalid ID`},
		{"skipped ID", w1 + w3, 2, "word ID 3 out of sequence, want 2"},
		{"repeated ID", w1 + w1, 2, "word ID 1 out of sequence, want 2"},
		{"not starting at 1", w2, 1, "word ID 2 out of sequence, want 1"},
		{"ID sequence restarts only after blank", w1 + w2 + "\n" + w1 + w3, 5, "word ID 3 out of sequence, want 2"},
		{"bad range", "1-x\tAB\t_\t_\t_\t_\t_\t_\t_\t_\n", 1, `invalid ID "1-x"`},
		{"range not at next word", w1 + "1-2\tAB\t_\t_\t_\t_\t_\t_\t_\t_\n", 2, "does not start at the next word ID 2"},
		{"range of one", "1-1\tA\t_\t_\t_\t_\t_\t_\t_\t_\n" + w1, 1, "fewer than two words"},
		{"overlapping ranges", "1-3\tABC\t_\t_\t_\t_\t_\t_\t_\t_\n" + w1 + "2-4\tBCD\t_\t_\t_\t_\t_\t_\t_\t_\n", 3, "overlaps"},
		{"range past end", w1 + "2-3\tBC\t_\t_\t_\t_\t_\t_\t_\t_\n" + w2 + "\n" + w1, 2, "ends at word 3, past the sentence's last word 2"},
		{"range past end at EOF", w1 + "2-3\tBC\t_\t_\t_\t_\t_\t_\t_\t_\n" + w2, 2, "past the sentence's last word 2"},
		{"bad empty node", w1 + "1.0\tx\t_\t_\t_\t_\t_\t_\t_\t_\n", 2, `invalid ID "1.0"`},
		{"misplaced empty node", w1 + "2.1\tx\t_\t_\t_\t_\t_\t_\t_\t_\n", 2, "empty node 2.1 does not follow word 1"},
		{"malformed feature", "1\tA\ta\tX\tX\tCase\t0\troot\t_\t_\n", 1, `malformed feature "Case"`},
		{"empty feature value", "1\tA\ta\tX\tX\tCase=\t0\troot\t_\t_\n", 1, `malformed feature "Case="`},
		{"empty feature", "1\tA\ta\tX\tX\tCase=Nom||Number=Sing\t0\troot\t_\t_\n", 1, `malformed feature ""`},
		{"repeated feature", "1\tA\ta\tX\tX\tCase=Nom|Case=Acc\t0\troot\t_\t_\n", 1, "feature Case given twice"},
		{"comment inside sentence", w1 + "# late\n" + w2, 2, "comment line after token lines"},
		{"two sent_ids", "# sent_id = a\n# sent_id = b\n" + w1, 2, "second sent_id"},
		{"two texts", "# text = a\n# text = b\n" + w1, 2, "second text"},
		{"sentence without words", w1 + "\n# sent_id = 2\n# text = x\n\n" + w1, 3, "sentence has no words"},
		{"only empty nodes", "0.1\tx\t_\t_\t_\t_\t_\t_\t_\t_\n", 1, "sentence has no words"},
		{"blank-ish line", w1 + " \n", 2, "1 tab-separated columns"},
		{"invalid UTF-8", w1 + "2\tB\xff\tb\tX\tX\t_\t1\tdep\t_\t_\n", 2, "invalid UTF-8"},
		{"garbage", "\x00\x01\x02 binary garbage\x7f\n", 1, "1 tab-separated columns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "bad.conllu", []byte(tc.data))
			c, err := ReadCoNLLU(path)
			if err == nil {
				t.Fatalf("no error; read %d sentences", len(c.Sentences))
			}
			wantParseError(t, err, path, tc.line, tc.msg)
		})
	}
}

func TestReadCoNLLUFileErrors(t *testing.T) {
	data := []byte(goodCoNLLU)
	gz := gzipBytes(t, data)
	for _, tc := range []struct {
		name string
		data []byte
		line int // -1: some line
		msg  string
		is   error
	}{
		{"empty.conllu", nil, 0, "no sentences", nil},
		{"comments.conllu", []byte("# only\n# comments\n\n\n"), 0, "no sentences", nil},
		{"blank.conllu", []byte("\n\n\n"), 0, "no sentences", nil},
		{"plain.conllu.gz", data, 0, "not gzip data", nil},
		{"empty.conllu.gz", nil, 0, "not gzip data", nil},
		{"header.conllu.gz", gz[:5], 0, "gzip: unexpected EOF", io.ErrUnexpectedEOF},
		{"truncated.conllu.gz", gz[:len(gz)/2], -1, "reading gzip stream (truncated?): unexpected EOF", io.ErrUnexpectedEOF},
		{"no-trailer.conllu.gz", gz[:len(gz)-4], 18, "truncated?", io.ErrUnexpectedEOF},
		{"bad-crc.conllu.gz", append(append([]byte(nil), gz[:len(gz)-8]...), 0, 0, 0, 0, 0, 0, 0, 0), 18, "checksum", nil},
		{"trailing-garbage.conllu.gz", append(append([]byte(nil), gz...), "this is not a gzip member"...), 18, "invalid header", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, tc.name, tc.data)
			c, err := ReadCoNLLU(path)
			if err == nil {
				t.Fatalf("no error; read %d sentences", len(c.Sentences))
			}
			var pe *ParseError
			switch {
			case !errors.As(err, &pe):
				t.Errorf("error %v (%T) is not a *ParseError", err, err)
			case tc.line < 0 && pe.Line < 1: // mid-file, where depends on the compressor
				t.Errorf("error %q names no line", err)
			case tc.line >= 0 && pe.Line != tc.line:
				t.Errorf("error %q at line %d, want %d", err, pe.Line, tc.line)
			}
			if !strings.HasPrefix(err.Error(), path+":") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q, want it to start with %q and contain %q", err, path+":", tc.msg)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}
	if _, err := ReadCoNLLU(writeTemp(t, "x", nil) + ".missing"); err == nil || !strings.Contains(err.Error(), ".missing") {
		t.Errorf("missing file: error %v, want one naming the file", err)
	}
}

func TestCommentValue(t *testing.T) {
	for _, tc := range []struct {
		line, key, want string
		ok              bool
	}{
		{"# sent_id = a-1", "sent_id", "a-1", true},
		{"#sent_id=a-1 ", "sent_id", "a-1", true},
		{"# sent_id =", "sent_id", "", true},
		{"# sent_idx = a", "sent_id", "", false},
		{"# text_en = Hello", "text", "", false},
		{"# text Hello", "text", "", false},
		{"# newdoc id = p02/d1539", "newdoc id", "p02/d1539", true},
		{"# raw sent = A = B", "raw sent", "A = B", true},
	} {
		v, ok := commentValue([]byte(tc.line), tc.key)
		if string(v) != tc.want || ok != tc.ok {
			t.Errorf("commentValue(%q, %q) = %q, %v; want %q, %v", tc.line, tc.key, v, ok, tc.want, tc.ok)
		}
	}
}

// TestUnspecifiedColumns: a column no word annotates ("_" throughout) is
// not a property of the file; one some words leave "_" (or give a value
// with white space at an end) is listed, but Labels refuses it naming the
// first such line instead of taking "_" as a label.
func TestUnspecifiedColumns(t *testing.T) {
	text := "1\tA\ta\tDET\t_\t_\t2\tdet\t_\t_\n2\tcat\tcat\tNOUN\t_\t_\t0\troot\t_\t_\n\n" +
		"1\tRun\trun\tVERB\t_\t_\t0\troot\t_\t_\n2\t!\t!\t_\t_\t_\t1\tpunct\t_\t_\n"
	path := writeTemp(t, "u.conllu", []byte(text))
	c, err := ReadCoNLLU(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Properties, " "); got != "upos feats deprel" {
		t.Fatalf("properties %q, want xpos left out", got)
	}
	if _, err := c.Labels(XPOS); err == nil || !strings.Contains(err.Error(), `no property "xpos"`) {
		t.Fatalf("xpos labels: %v", err)
	}
	if _, err := c.Labels(UPOS); err == nil || !strings.Contains(err.Error(), path+":5:") || !strings.Contains(err.Error(), `upos is unspecified ("_")`) {
		t.Fatalf("upos labels: %v, want line 5 named", err)
	}
	if labels, err := c.Labels(Deprel); err != nil || labels[1][1] != "punct" {
		t.Fatalf("deprel labels %v: %v", labels, err)
	}
	// A label with white space at an end would be a label apart from the
	// one without: Labels refuses that property, the others stay usable.
	path = writeTemp(t, "s.conllu", []byte(strings.Replace(text, "punct", "punct ", 1)))
	if c, err = ReadCoNLLU(path); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Labels(Deprel); err == nil || !strings.Contains(err.Error(), path+":5: deprel \"punct \" has white space at an end (a label that would differ from \"punct\")") {
		t.Fatalf("deprel labels: %v", err)
	}
	if labels, err := c.Labels(Feats); err != nil || len(labels) != 2 {
		t.Fatalf("feats labels %v: %v", labels, err)
	}
}

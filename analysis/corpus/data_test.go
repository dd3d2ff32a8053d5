package corpus

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// dataPath returns the path of a file in the shared data folder.
func dataPath(tb testing.TB, rel string) string {
	tb.Helper()
	dir, err := SharedDataDir()
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(dir, filepath.FromSlash(rel))
}

// Sentence and token counts from the shared data README.
var dataCounts = []struct {
	file             string
	pmb              bool
	sentences, words int
}{
	{"ud_en_ewt/en_ewt-ud-train.conllu.gz", false, 12544, 204577},
	{"ud_en_ewt/en_ewt-ud-dev.conllu.gz", false, 2001, 25147},
	{"ud_en_ewt/en_ewt-ud-test.conllu.gz", false, 2077, 25094},
	{"ud_de_gsd/de_gsd-ud-dev.conllu.gz", false, 799, 12480},
	{"ud_de_gsd/de_gsd-ud-test.conllu.gz", false, 977, 16499},
	{"pmb_semtag/en/train.conll", true, 7745, 50408},
	{"pmb_semtag/en/dev.conll", true, 1174, 7368},
	{"pmb_semtag/en/test.conll", true, 1053, 6821},
	{"pmb_semtag/de/train.conll", true, 1741, 10126},
	{"pmb_semtag/de/dev.conll", true, 559, 3211},
	{"pmb_semtag/de/test.conll", true, 547, 3234},
}

func readData(t *testing.T, rel string, pmb bool) *Corpus {
	t.Helper()
	read := ReadCoNLLU
	if pmb {
		read = ReadPMB
	}
	c, err := read(dataPath(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDataCounts(t *testing.T) {
	for _, d := range dataCounts {
		t.Run(filepath.Base(d.file), func(t *testing.T) {
			c := readData(t, d.file, d.pmb)
			if len(c.Sentences) != d.sentences || c.NumTokens() != d.words {
				t.Errorf("%d sentences, %d tokens; README says %d, %d", len(c.Sentences), c.NumTokens(), d.sentences, d.words)
			}
			checkInvariants(t, c)
			ids := make(map[string]bool, len(c.Sentences))
			for _, s := range c.Sentences {
				if s.ID == "" || ids[s.ID] || s.Text == "" {
					t.Fatalf("sentence at line %d: ID %q (duplicate: %v), text %q", s.Line, s.ID, ids[s.ID], s.Text)
				}
				ids[s.ID] = true
			}
		})
	}
}

func TestDataEWT(t *testing.T) {
	upos := []string{"ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X"}
	// The 45 Penn Treebank tags except "#", plus ADD AFX GW HYPH NFP (data README).
	xpos := strings.Fields(`$ '' , -LRB- -RRB- . : ADD AFX CC CD DT EX FW GW HYPH IN JJ JJR JJS LS MD NFP NN NNP NNPS NNS
		PDT POS PRP PRP$ RB RBR RBS RP SYM TO UH VB VBD VBG VBN VBP VBZ WDT WP WP$ WRB ` + "``")
	train := readData(t, "ud_en_ewt/en_ewt-ud-train.conllu.gz", false)
	if got, err := train.LabelSet(UPOS); err != nil || !reflect.DeepEqual(got, upos) {
		t.Errorf("train UPOS = %q (%d), %v; want the 17 UD tags", got, len(got), err)
	}
	if got, err := train.LabelSet(XPOS); err != nil || len(got) != 49 || !reflect.DeepEqual(got, xpos) {
		t.Errorf("train XPOS = %q (%d), %v; want %q (49)", got, len(got), err, xpos)
	}
	s := train.Sentences[0]
	if s.ID != "weblog-juancole.com_juancole_20051126063000_ENG_20051126_063000-0001" || s.Line != 1 ||
		!reflect.DeepEqual(s.Tokens[:3], []string{"Al", "-", "Zaman"}) || !reflect.DeepEqual(s.Props[XPOS][:3], []string{"NNP", "HYPH", "NNP"}) {
		t.Errorf("first train sentence: %q at line %d, tokens %q", s.ID, s.Line, s.Tokens)
	}
	for _, rel := range []string{"ud_en_ewt/en_ewt-ud-dev.conllu.gz", "ud_en_ewt/en_ewt-ud-test.conllu.gz"} {
		c := readData(t, rel, false)
		if got, err := c.LabelSet(UPOS); err != nil || !reflect.DeepEqual(got, upos) {
			t.Errorf("%s UPOS = %q, %v", rel, got, err)
		}
		if got, err := c.LabelSet(XPOS); err != nil || len(got) > 49 {
			t.Errorf("%s XPOS = %q, %v", rel, got, err)
		} else if extra, _ := setDiff(got, xpos); len(extra) > 0 {
			t.Errorf("%s XPOS has tags not in train: %q", rel, extra)
		}
	}
	// Month labels: the month names and abbreviations in EWT train are
	// tagged NNP, except "Oct" split off as GW (6) and modal "May" (3).
	month, _ := train.Labels(Month)
	xp, _ := train.Labels(XPOS)
	counts := map[string]int{}
	for i := range month {
		for j, m := range month[i] {
			if m != NotMonth {
				counts[m]++
				if xp[i][j] != "NNP" {
					counts[m+"/"+xp[i][j]]++
				}
			}
		}
	}
	want := map[string]int{"January": 35, "February": 24, "March": 36, "April": 48, "May": 55, "June": 33, "July": 44,
		"August": 24, "September": 69, "October": 41, "November": 27, "December": 22, "October/GW": 6, "May/MD": 3}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("EWT train month counts %v, want %v", counts, want)
	}
}

// setDiff returns the elements of a not in b and of b not in a.
func setDiff(a, b []string) (onlyA, onlyB []string) {
	for _, x := range a {
		if !slices.Contains(b, x) {
			onlyA = append(onlyA, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			onlyB = append(onlyB, x)
		}
	}
	return onlyA, onlyB
}

func TestDataGSD(t *testing.T) {
	for _, rel := range []string{"ud_de_gsd/de_gsd-ud-dev.conllu.gz", "ud_de_gsd/de_gsd-ud-test.conllu.gz"} {
		c := readData(t, rel, false)
		for _, p := range []string{"feats:Case", "feats:Gender", "feats:Number", "feats:Person", "feats:Tense", "feats:Mood",
			"feats:VerbForm", "feats:Degree", "feats:Definite", "feats:PronType", "feats:Poss"} {
			if !c.Has(p) {
				t.Errorf("%s lacks %s", rel, p)
			}
		}
		cases, err := c.LabelSet("feats:Case")
		if want := []string{"Acc", "Dat", "Gen", "Nom", Absent}; err != nil || !reflect.DeepEqual(cases, want) {
			t.Errorf("%s feats:Case labels %q, %v; want %q", rel, cases, err, want)
		}
		// The first dev token is "Manasse	... Case=Nom|Gender=Fem|Number=Sing".
		if rel == "ud_de_gsd/de_gsd-ud-dev.conllu.gz" {
			s := &c.Sentences[0]
			got := []string{}
			for _, p := range []string{"feats:Case", "feats:Gender", "feats:Number", "feats:Tense", XPOS} {
				l, err := s.Labels(p)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, l[0])
			}
			if want := []string{"Nom", "Fem", "Sing", Absent, "NN"}; s.ID != "dev-s1" || s.Tokens[0] != "Manasse" || !reflect.DeepEqual(got, want) {
				t.Errorf("first dev token %s/%q: %q, want %q", s.ID, s.Tokens[0], got, want)
			}
		}
	}
}

func TestDataPMB(t *testing.T) {
	train := readData(t, "pmb_semtag/en/train.conll", true)
	sem, err := train.LabelSet(Sem)
	if err != nil || len(sem) != 69 {
		t.Errorf("en train has %d sem tags (%v), README says 69", len(sem), err)
	}
	for _, tag := range strings.Fields("PRO DEF NOW PST EXS CON PER GPE MOY DOW YOC NIL") {
		if !slices.Contains(sem, tag) {
			t.Errorf("en train lacks sem tag %s", tag)
		}
	}
	ccg, err := train.LabelSet(CCG)
	if err != nil || !slices.Contains(ccg, `(s:dcl\np)/np`) {
		t.Errorf("en train CCG tags lack (s:dcl\\np)/np: %d tags, %v", len(ccg), err)
	}
	s := train.Sentences[0]
	if s.ID != "p02/d0010#1" || s.Text != "A girl is styling her hair" || s.Line != 6 ||
		!reflect.DeepEqual(s.Tokens, strings.Fields("A girl is styling her hair")) ||
		!reflect.DeepEqual(s.Props[Sem], strings.Fields("DIS CON NOW EXG HAS CON")) {
		t.Errorf("first en train sentence: %+v", s)
	}
	tilde := 0
	for _, toks := range train.Tokens() {
		for _, tok := range toks {
			if strings.Contains(tok, "~") {
				tilde++
			}
		}
	}
	if tilde != 1591 {
		t.Errorf("en train has %d ~-joined tokens, README says 1,591", tilde)
	}
	// Every DE sem tag occurs in EN train (README).
	for _, rel := range []string{"pmb_semtag/de/train.conll", "pmb_semtag/de/dev.conll", "pmb_semtag/de/test.conll"} {
		de, err := readData(t, rel, true).LabelSet(Sem)
		if err != nil {
			t.Fatal(err)
		}
		if extra, _ := setDiff(de, sem); len(extra) > 0 {
			t.Errorf("%s sem tags not in en train: %q", rel, extra)
		}
	}
	// The month property agrees with the MOY sem tag on English PMB,
	// except for two sentence-initial modal "May" tagged POS in train.
	for rel, wantDiff := range map[string][]string{
		"pmb_semtag/en/train.conll": {"May/POS/May", "May/POS/May"},
		"pmb_semtag/en/dev.conll":   nil,
		"pmb_semtag/en/test.conll":  nil,
	} {
		c := readData(t, rel, true)
		sem, _ := c.Labels(Sem)
		month, _ := c.Labels(Month)
		var diff []string
		moy := 0
		for i, s := range c.Sentences {
			for j, tok := range s.Tokens {
				if sem[i][j] == "MOY" {
					moy++
				}
				if (sem[i][j] == "MOY") != (month[i][j] != NotMonth) {
					diff = append(diff, tok+"/"+sem[i][j]+"/"+month[i][j])
				}
			}
		}
		if !reflect.DeepEqual(diff, wantDiff) || moy == 0 {
			t.Errorf("%s: %d MOY tokens; month vs MOY disagreements %q, want %q", rel, moy, diff, wantDiff)
		}
	}
}

func BenchmarkReadCoNLLU(b *testing.B) {
	path := dataPath(b, "ud_en_ewt/en_ewt-ud-train.conllu.gz")
	for b.Loop() {
		if _, err := ReadCoNLLU(path); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadPMB(b *testing.B) {
	path := dataPath(b, "pmb_semtag/en/train.conll")
	for b.Loop() {
		if _, err := ReadPMB(path); err != nil {
			b.Fatal(err)
		}
	}
}

// Package corpus reads the labeled corpora that grain probes neurons with:
// sentences of tokens, each token carrying one label per named property
// (a POS tag, a semantic tag, a morphological feature, its position ...).
//
// # Formats
//
// All readers stream their input line by line, decompress gzip
// transparently (a file whose name ends in ".gz" must be gzip; any other
// file is decompressed when it starts with the gzip magic bytes), accept
// "\r\n" line ends, and require UTF-8. They never drop input silently:
// every malformed line is an error of type *ParseError whose text is
// "path:line: message". A file that yields no sentence at all is an error.
//
// CoNLL-U (ReadCoNLLU), https://universaldependencies.org/format.html:
// blank-line-separated sentences; "#" comment lines before the token lines
// ("# sent_id = X" gives Sentence.ID, "# text = X" gives Sentence.Text);
// then one line per token of exactly 10 tab-separated, non-empty columns
// ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC. Only syntactic words
// (integer IDs, which must run 1, 2, 3, ...) become tokens. Multiword-token
// range lines ("6-7", which must start at the next word ID) and empty nodes
// ("8.1", whose integer part must be the preceding word ID) are checked and
// skipped. FEATS must be "_" or "Name=Value|..." with no name repeated.
// Properties:
//
//	upos          column 4
//	xpos          column 5
//	feats         column 6, the whole string ("_" when the token has none)
//	deprel        column 8
//	feats:Name    one per feature name seen in the file, e.g. feats:Case;
//	              the label is the feature's value ("Nom", or "Int,Rel" for
//	              a multi-valued feature) or Absent ("_") when the token
//	              does not have that feature
//
// PMB layer CoNLL (ReadPMB), as written by the Parallel Meaning Bank's
// extract_conll.py: comment lines are "#" alone or "#" followed by a space
// or another "#" ("# newdoc id = p02/d0010" starts a document, "# raw sent =
// X" gives Sentence.Text); a line starting with "#" and anything else is a
// token row (the token "#" is written "#\t#\t..."). Sentences are separated
// by blank lines and have one row per token of exactly 7 tab-separated,
// non-empty columns: token, token again (not checked), sym, sem, cat, sns,
// rol. Sentence.ID is the document id and the 1-based sentence number within
// the document, e.g. "p02/d1539#2". Properties:
//
//	sym   column 3, the symbol (lemma)
//	sem   column 4, the semantic tag (Abzianidze & Bos 2017)
//	ccg   column 5, the CCG supertag
//	sns   column 6, the WordNet sense or "O"
//	rol   column 7, the VerbNet roles, e.g. "[Agent,Theme]"
//
// NeuroX text (ReadNeuroX, WriteNeuroX), the format of NeuroX's
// data.loader.load_data: two files, one sentence per line, tokens in one and
// labels in the other, split at Unicode white space exactly as Python's
// str.split() does. Line i of both files must hold the same number of
// fields and both files the same number of lines; NeuroX deletes (up to 100)
// mismatched lines, grain reports the first as an error naming both files
// and the line. An empty or blank line is an error too: it would be a
// sentence of no tokens, which has no activations to probe. The corpus has
// the single property named by the caller.
//
// # Derived properties
//
// Every corpus also offers three properties computed from its tokens
// (DerivedProperties), used by the paper for position neurons and for
// month-of-year neurons:
//
//	position          the token's 0-based index in its sentence: "0", "1", ...
//	position-bucket   that index bucketed: "0" "1" "2" "3" "4" "5-9"
//	                  "10-14" "15-19" "20+"
//	month             the month a token names, as its English name
//	                  ("January" ... "December"), else NotMonth ("O")
//
// A token names a month when, ignoring case and one trailing period, it is
// a month's full name, or when it is an abbreviation followed by a period
// ("Jan." "Feb." "Mar." "Apr." "Jun." "Jul." "Aug." "Sep." "Sept." "Oct."
// "Nov." "Dec."). Three cases are narrowed because their other readings are
// far more frequent: "May" and "March" count only when capitalised exactly
// so (in UD English EWT train, lower-case "may" is the modal 182 times and
// the month once; "MAY" is the modal), and an abbreviation without its
// period ("Jan", "Dec", "NOV") counts only when its first letter is upper
// case. Only ASCII spellings match. Nothing here looks at context: a
// sentence-initial modal ("May I ...", 3 times in EWT train) is labelled
// May, and the name "Jan" is labelled January.
//
// # Shared data
//
// SharedDataDir finds grain's shared data folder (see its README for the
// corpora it holds), so that tests and tools can read the real corpora.
package corpus

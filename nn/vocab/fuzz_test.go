package vocab

import (
	"reflect"
	"testing"
)

// FuzzParse feeds arbitrary text to Parse: never a panic, and an accepted
// vocabulary reads back identically from its own file form.
func FuzzParse(f *testing.F) {
	f.Add("<unk>\n<s>\n</s>\n<pad>\na\nman\n")
	f.Add("<unk>\n<s>\n</s>\n<pad>\n")
	f.Add("a\na\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s, "fuzz")
		if err != nil {
			return
		}
		w, err := Parse(v.String(), "again")
		if err != nil || !reflect.DeepEqual(v.words, w.words) {
			t.Fatalf("round trip of %q: %v", s, err)
		}
		for id := int32(0); id < int32(v.Len()); id++ {
			if v.ID(v.Word(id)) != id {
				t.Fatalf("word %q has id %d, not %d", v.Word(id), v.ID(v.Word(id)), id)
			}
		}
	})
}

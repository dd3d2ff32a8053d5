package ranking

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzReadFile feeds arbitrary bytes to ReadFile: it must never panic, and
// a file it accepts must be valid and survive a write/read round trip.
func FuzzReadFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"method":"ordering","num_neurons":3,"ordering":[2,0,1],"cutoffs":[1,2,3]}`))
	f.Add([]byte(`{"version":1,"method":"top","num_neurons":4,"labels":["A","B"],"ordering":[0,3],"per_label":[[0],[3,0]],"scores":[1,2,3,4]}`))
	f.Add([]byte(`{"version":1,"method":"x","num_neurons":2,"ordering":[5]}`))
	f.Add([]byte(`{}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "r.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := ReadFile(path)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("ReadFile accepted an invalid file: %v", err)
		}
		out := filepath.Join(dir, "w.json")
		if err := WriteFile(out, r); err != nil {
			t.Fatalf("cannot write back an accepted file: %v", err)
		}
		back, err := ReadFile(out)
		if err != nil || !reflect.DeepEqual(back, r) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, r, back)
		}
	})
}

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
	f.Add([]byte(`{"version":1,"method":"ordering","num_neurons":4,"ordering":[2,0,1]}`))
	f.Add([]byte(`{"version":1,"method":"crosscorr-svcca","num_neurons":3,"ordering":[2,0,1],"scores":[0.5,0.25,1]}`))
	f.Add([]byte(`{"version":1,"method":"zzz","num_neurons":600,"ordering":[7,3]}`))
	f.Add([]byte(`{"version":1,"method":"Granular","num_neurons":3,"ordering":[2,0,1]}`))
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
		if r.RanksAll() && len(r.Ordering) != r.NumNeurons {
			t.Fatalf("ReadFile accepted a %s ranking of %d of %d neurons", r.Method, len(r.Ordering), r.NumNeurons)
		}
		if misspelledMethod(r.Method) != "" {
			t.Fatalf("ReadFile accepted method %q, another spelling of %q", r.Method, misspelledMethod(r.Method))
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

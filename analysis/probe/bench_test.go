package probe

import (
	"testing"

	"github.com/grainlab/grain/analysis/synthetic"
	"github.com/grainlab/grain/engine/cpu"
)

// BenchmarkNeuroXEpoch measures one epoch of the NeuroX protocol on
// 10,000 × 2,048 × 45 teacher data.
func BenchmarkNeuroXEpoch(b *testing.B) {
	tc := synthetic.DefaultTeacher()
	tc.Rows = 10000
	d := synthetic.Teacher(tc)
	cfg := DefaultConfig(ModeNeuroX)
	cfg.Epochs = 1
	be := cpu.New()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := Train(be, d, cfg, nil); err != nil {
			b.Fatal(err)
		}
	}
}

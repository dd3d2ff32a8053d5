package progress

import (
	"bytes"
	"strings"
	"testing"
)

func TestTerminalNonTTYWritesOneLinePerTenth(t *testing.T) {
	var buf bytes.Buffer
	b := Terminal(&buf).Start("train", 100)
	for i := 0; i < 100; i++ {
		b.Add(1)
	}
	b.SetStatus("loss 0.5")
	b.Finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// one at start, one per decile reached (10), one at finish
	if len(lines) < 11 || len(lines) > 13 {
		t.Fatalf("got %d lines:\n%s", len(lines), buf.String())
	}
	last := lines[len(lines)-1]
	if !strings.Contains(last, "100%") || !strings.Contains(last, "loss 0.5") || !strings.HasPrefix(last, "train") {
		t.Fatalf("last line %q", last)
	}
}

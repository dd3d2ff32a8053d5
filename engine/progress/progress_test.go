package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
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

// TestTerminalNonTTYFinishDoesNotRepeat: a bar whose last line already
// shows its final count and status writes nothing more at Finish.
func TestTerminalNonTTYFinishDoesNotRepeat(t *testing.T) {
	var buf bytes.Buffer
	b := Terminal(&buf).Start("read", 4)
	b.Add(4)
	n := buf.Len()
	b.Finish()
	if buf.Len() != n || strings.Count(buf.String(), "100%") != 1 {
		t.Fatalf("Finish repeated the final line:\n%s", buf.String())
	}
}

// TestTerminalTTYRedrawsThrottledProgress: on a terminal a count whose
// draw was throttled (two Adds within 100 ms) is shown by the periodic
// redraw, and nothing is drawn after Finish.
func TestTerminalTTYRedrawsThrottledProgress(t *testing.T) {
	var buf bytes.Buffer
	r := &terminal{w: &buf, tty: true}
	b := r.Start("work", 10)
	b.Add(3)
	b.Add(3) // within 100 ms of the first: not drawn then
	time.Sleep(700 * time.Millisecond)
	b.Finish()
	n := buf.Len()
	time.Sleep(600 * time.Millisecond)
	out := buf.String()
	if buf.Len() != n {
		t.Fatalf("drawn after Finish: %q", out[n:])
	}
	frames := strings.Split(out, "\r")
	shown := false
	for _, f := range frames[:len(frames)-1] {
		shown = shown || strings.Contains(f, " 6/10 ")
	}
	if !shown || !strings.Contains(frames[len(frames)-1], "10/10") {
		t.Fatalf("frames %q: want 6/10 redrawn before the final 10/10", frames)
	}
}

// Package progress reports the progress of long-running work.
//
// Library code (probe training, correlation passes, model training) takes a
// Reporter and calls Start for each phase; the CLI passes a terminal Reporter
// and tests pass Nop. A Bar is safe for concurrent use.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Reporter starts progress bars.
type Reporter interface {
	// Start begins a phase called label with total units of work (total <= 0
	// means unknown).
	Start(label string, total int64) Bar
}

// Bar is one phase of work in progress.
type Bar interface {
	// Add records n more units done.
	Add(n int64)
	// SetStatus replaces the short status text shown after the bar
	// (e.g. "loss 0.412  93k tok/s").
	SetStatus(s string)
	// Finish ends the phase.
	Finish()
}

// Nop is a Reporter that shows nothing.
var Nop Reporter = nopReporter{}

type nopReporter struct{}
type nopBar struct{}

func (nopReporter) Start(string, int64) Bar { return nopBar{} }
func (nopBar) Add(int64)                    {}
func (nopBar) SetStatus(string)             {}
func (nopBar) Finish()                      {}

// Terminal returns a Reporter that draws bars on w. When w is a terminal the
// bar is redrawn in place at most 10 times a second on progress, and twice a
// second in any case until Finish (so its count and elapsed time stay
// current during long steps); otherwise one line is written per 10% of
// progress (or every 10 s when the total is unknown), so logs stay readable.
func Terminal(w io.Writer) Reporter {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &terminal{w: w, tty: tty}
}

type terminal struct {
	w   io.Writer
	tty bool
}

func (t *terminal) Start(label string, total int64) Bar {
	b := &bar{t: t, label: label, total: total, start: time.Now(), stop: make(chan struct{})}
	b.draw(true)
	if t.tty {
		go b.redraw(500 * time.Millisecond)
	}
	return b
}

// redraw redraws the bar every period until Finish.
func (b *bar) redraw(period time.Duration) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-tick.C:
			b.mu.Lock()
			if !b.finished {
				b.draw(true)
			}
			b.mu.Unlock()
		}
	}
}

type bar struct {
	mu       sync.Mutex
	t        *terminal
	label    string
	total    int64
	done     int64
	status   string
	start    time.Time
	lastDraw time.Time
	lastDec  int64
	// shown is the count and status of the last line written when not on
	// a terminal, so that Finish does not repeat a final line.
	shown struct {
		done   int64
		status string
		ok     bool
	}
	finished bool
	stop     chan struct{} // closed by Finish
}

func (b *bar) Add(n int64) {
	b.mu.Lock()
	b.done += n
	b.draw(false)
	b.mu.Unlock()
}

func (b *bar) SetStatus(s string) {
	b.mu.Lock()
	b.status = s
	b.mu.Unlock()
}

func (b *bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	close(b.stop)
	if b.total > 0 {
		b.done = b.total
	}
	if b.t.tty {
		b.draw(true)
		fmt.Fprintln(b.t.w)
	} else if !b.shown.ok || b.shown.done != b.done || b.shown.status != b.status {
		b.draw(true)
	}
}

// draw renders the bar; caller holds b.mu.
func (b *bar) draw(force bool) {
	now := time.Now()
	if b.t.tty {
		if !force && now.Sub(b.lastDraw) < 100*time.Millisecond {
			return
		}
		b.lastDraw = now
		fmt.Fprintf(b.t.w, "\r%s\x1b[K", b.line(now))
		return
	}
	switch {
	case b.total > 0:
		dec := b.done * 10 / b.total
		if !force && dec == b.lastDec {
			return
		}
		b.lastDec = dec
	default:
		if !force && now.Sub(b.lastDraw) < 10*time.Second {
			return
		}
	}
	b.lastDraw = now
	b.shown.done, b.shown.status, b.shown.ok = b.done, b.status, true
	fmt.Fprintln(b.t.w, b.line(now))
}

func (b *bar) line(now time.Time) string {
	el := now.Sub(b.start).Round(100 * time.Millisecond)
	var sb strings.Builder
	sb.WriteString(b.label)
	if b.total > 0 {
		frac := float64(b.done) / float64(b.total)
		if frac > 1 {
			frac = 1
		}
		const width = 24
		n := int(frac * width)
		fmt.Fprintf(&sb, " [%s%s] %3.0f%% %d/%d", strings.Repeat("=", n), strings.Repeat(" ", width-n), 100*frac, b.done, b.total)
		if b.done > 0 && frac < 1 {
			eta := time.Duration(float64(now.Sub(b.start)) * (1/frac - 1)).Round(time.Second)
			fmt.Fprintf(&sb, " %v elapsed, ETA %v", el, eta)
		} else {
			fmt.Fprintf(&sb, " %v", el)
		}
	} else {
		fmt.Fprintf(&sb, " %d done, %v", b.done, el)
	}
	if b.status != "" {
		sb.WriteString("  ")
		sb.WriteString(b.status)
	}
	return sb.String()
}

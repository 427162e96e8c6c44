package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mlxconv/mlxconv/pipeline"
)

// progressBar renders pipeline.Progress events on stderr. On a terminal it
// is one line redrawn in place (bar, percent, tensors, bytes, bytes/s,
// ETA), cut to the terminal's width and cleared to the end of the line, so
// a narrow terminal never wraps it into stale lines; it is erased when the
// run succeeds, leaving the command's summary line. When stderr is not a
// terminal it prints nothing: the summary is the whole output.
type progressBar struct {
	w     io.Writer
	tty   bool
	now   func() time.Time
	width func() int // terminal columns; <= 0 means unknown

	mu    sync.Mutex
	start time.Time
	last  time.Time
	drawn bool
	prog  pipeline.Progress
}

func newProgressBar(w io.Writer, tty bool) *progressBar {
	return &progressBar{w: w, tty: tty, now: time.Now, width: func() int { return terminalWidth(w) }}
}

func (p *progressBar) update(ev pipeline.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.prog = ev
	if ev.Stage == pipeline.StagePlan || p.start.IsZero() {
		p.start = now
	}
	if !p.tty || ev.Stage == pipeline.StageDone {
		return
	}
	final := ev.Stage == pipeline.StageWrite && ev.TensorsDone >= ev.TensorsTotal
	if p.drawn && !final && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	p.draw(now)
}

// draw rewrites the terminal line: carriage return, the line cut to the
// width, clear to the end of the line.
func (p *progressBar) draw(now time.Time) {
	cols := p.width()
	if cols <= 0 {
		cols = defaultColumns
	}
	fmt.Fprintf(p.w, "\r%s\033[K", p.line(now, cols-1)) // the last column would wrap on some terminals
	p.drawn = true
}

// defaultColumns is the width assumed when the terminal does not say.
const defaultColumns = 80

// line renders the state in at most max columns: a bar when there is room
// for one of at least 10 cells, then percent, tensors, bytes, bytes/s and
// ETA.
func (p *progressBar) line(now time.Time, max int) string {
	ev := p.prog
	frac := 1.0
	if ev.BytesTotal > 0 {
		frac = float64(ev.BytesDone) / float64(ev.BytesTotal)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%3d%%  %d/%d tensors  %s/%s", int(frac*100), ev.TensorsDone, ev.TensorsTotal,
		humanBytes(ev.BytesDone), humanBytes(ev.BytesTotal))
	if elapsed := now.Sub(p.start); elapsed >= 100*time.Millisecond && ev.BytesDone > 0 {
		rate := float64(ev.BytesDone) / elapsed.Seconds()
		fmt.Fprintf(&b, "  %s/s", humanBytes(int64(rate)))
		if ev.BytesDone < ev.BytesTotal {
			eta := time.Duration(float64(ev.BytesTotal-ev.BytesDone) / rate * float64(time.Second))
			fmt.Fprintf(&b, "  ETA %s", clock(eta))
		}
	}
	text := b.String()
	const maxBar, minBar = 30, 10
	if n := min(maxBar, max-utf8.RuneCountInString(text)-3); n >= minBar {
		full := int(frac * float64(n))
		text = "[" + strings.Repeat("=", full) + strings.Repeat(" ", n-full) + "] " + text
	}
	return fitColumns(text, max)
}

// fitColumns cuts s (printable text, one column per rune) to at most max
// columns, marking a cut with "…".
func fitColumns(s string, max int) string {
	if max <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// notice wraps a note printer so that a note erases the drawn line first
// (the next update redraws it) instead of being glued to it.
func (p *progressBar) notice(print func(string)) func(string) {
	return func(msg string) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.clearLocked()
		print(msg)
	}
}

func (p *progressBar) clearLocked() {
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// finish ends the bar: erased after a success (the summary line follows),
// kept on its own line after a failure (the error follows).
func (p *progressBar) finish(ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty || !p.drawn {
		return
	}
	if ok {
		p.clearLocked()
		return
	}
	fmt.Fprintln(p.w)
	p.drawn = false
}

func clock(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// humanBytes formats n with a decimal unit (kB, MB, GB).
func humanBytes(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}

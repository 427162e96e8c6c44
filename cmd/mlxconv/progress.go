package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mlxconv/mlxconv/pipeline"
)

// progressBar renders pipeline.Progress events on stderr: a redrawn bar on
// a terminal (tensors done/total, bytes, ETA), otherwise a plain line at
// the start, at every 10% and at the end.
type progressBar struct {
	w       io.Writer
	tty     bool
	start   time.Time
	last    time.Time
	lastPct int
	drawn   bool
	now     func() time.Time
	prog    pipeline.Progress
}

func newProgressBar(w io.Writer, tty bool) *progressBar {
	return &progressBar{w: w, tty: tty, now: time.Now, lastPct: -1}
}

func (p *progressBar) update(ev pipeline.Progress) {
	now := p.now()
	p.prog = ev
	switch ev.Stage {
	case pipeline.StagePlan:
		p.start = now
		fmt.Fprintf(p.w, "mlxconv: converting %d tensors (%s)\n", ev.TensorsTotal, humanBytes(ev.BytesTotal))
		return
	case pipeline.StageDone:
		return
	}
	if p.start.IsZero() {
		p.start = now
	}
	if p.tty {
		if ev.TensorsDone < ev.TensorsTotal && now.Sub(p.last) < 100*time.Millisecond {
			return
		}
		p.last = now
		fmt.Fprintf(p.w, "\r\033[K%s", p.line(now, true))
		p.drawn = true
		return
	}
	pct := 100
	if ev.BytesTotal > 0 {
		pct = int(ev.BytesDone * 100 / ev.BytesTotal)
	}
	if step := pct / 10 * 10; step > p.lastPct && (step > 0 || ev.TensorsDone == 0) {
		p.lastPct = step
		fmt.Fprintf(p.w, "mlxconv: %s\n", p.line(now, false))
	}
}

// line renders the state: a bar (TTY only), tensors, bytes and ETA.
func (p *progressBar) line(now time.Time, bar bool) string {
	ev := p.prog
	frac := 1.0
	if ev.BytesTotal > 0 {
		frac = float64(ev.BytesDone) / float64(ev.BytesTotal)
	}
	var b strings.Builder
	if bar {
		const width = 30
		n := int(frac * width)
		b.WriteString("[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "] ")
	}
	fmt.Fprintf(&b, "%3d%%  %d/%d tensors  %s/%s", int(frac*100), ev.TensorsDone, ev.TensorsTotal,
		humanBytes(ev.BytesDone), humanBytes(ev.BytesTotal))
	elapsed := now.Sub(p.start)
	if frac > 0 && frac < 1 && elapsed > 0 {
		eta := time.Duration(float64(elapsed) * (1 - frac) / frac)
		fmt.Fprintf(&b, "  ETA %s", clock(eta))
	}
	return b.String()
}

// finish ends the bar's line.
func (p *progressBar) finish(ok bool) {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
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

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProgressNarrowTerminal runs convert on a 60-column pseudo-terminal
// (script(1); the standard library has no pty) and replays what it wrote
// on a 60-column screen: every redraw of the progress line fits the width
// (none wraps into a stale line), and once the run succeeds the screen
// holds the summary line and nothing else.
func TestProgressNarrowTerminal(t *testing.T) {
	const cols = 60
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) is not installed")
	}
	work := t.TempDir()
	in := filepath.Join(work, "in")
	tinyLlama(t, in)
	out := filepath.Join(work, "out")
	child := selfCommand("convert", "--hf-path", in, "--mlx-path", out, "-q", "--backend", "native", "--workers", "1")
	shell := "stty cols 60 rows 24 && exec " + shellJoin(child.Args)
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "linux":
		cmd = exec.Command(script, "-q", "-e", "-c", shell, "/dev/null")
	case "darwin", "freebsd":
		cmd = exec.Command(script, "-q", "/dev/null", "sh", "-c", shell)
	default:
		t.Skipf("no script(1) invocation known for %s", runtime.GOOS)
	}
	cmd.Env = append(os.Environ(), "MLXCONV_TEST_AS_MAIN=1", "COLUMNS=")
	raw, err := cmd.Output()
	require.NoError(t, err, "%q", raw)
	typescript := string(raw)

	// Every progress draw (the text between carriage returns and
	// newlines that shows a percentage and tensors) fits in the width.
	draws := 0
	for _, seg := range regexp.MustCompile("[\r\n]").Split(typescript, -1) {
		seg = strings.ReplaceAll(seg, "\x1b[K", "")
		if strings.Contains(seg, "%  ") && strings.Contains(seg, " tensors") {
			draws++
			assert.Less(t, utf8.RuneCountInString(seg), cols, "progress draw %q wraps a %d-column terminal", seg, cols)
		}
	}
	assert.GreaterOrEqual(t, draws, 2, "the first and the final draw at least: %q", typescript)
	assert.Contains(t, typescript, "\x1b[K", "lines are cleared to their end")

	screen := replay(typescript, cols)
	var rows []string
	for _, r := range screen {
		if r != "" {
			rows = append(rows, r)
		}
	}
	require.NotEmpty(t, rows, "%q", typescript)
	summary := strings.Join(rows, "") // a wrap may drop a space at a row's end
	nospace := func(s string) string { return strings.ReplaceAll(s, " ", "") }
	assert.True(t, strings.HasPrefix(nospace(summary), nospace("mlxconv: wrote "+out+":")), "only the summary is left on the screen, got rows %q", rows)
	assert.NotContains(t, summary, "%", "no progress line is left on the screen: %q", rows)
	assert.Contains(t, summary, "backend native")
}

// shellJoin joins args for sh -c, each single-quoted.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// screen is a VT100-like grid for replay.
type screen struct {
	cols     int
	rows     [][]rune
	row, col int
}

func (s *screen) put(r rune) {
	if s.col == s.cols { // deferred wrap at the right margin
		s.row, s.col = s.row+1, 0
	}
	for len(s.rows) <= s.row {
		s.rows = append(s.rows, nil)
	}
	for len(s.rows[s.row]) <= s.col {
		s.rows[s.row] = append(s.rows[s.row], ' ')
	}
	s.rows[s.row][s.col] = r
	s.col++
}

// csi handles the control sequence at the start of seq (after ESC [) and
// returns its length: K clears to the end of the row, others are ignored.
func (s *screen) csi(seq string) int {
	j := 0
	for j < len(seq) && (seq[j] < 0x40 || seq[j] > 0x7e) {
		j++
	}
	if j < len(seq) && seq[j] == 'K' && s.row < len(s.rows) && s.col < len(s.rows[s.row]) {
		s.rows[s.row] = s.rows[s.row][:s.col]
	}
	return j + 1
}

// replay plays terminal output on a screen cols wide, as a VT100 does:
// printable runes advance the cursor and wrap at the right margin (the
// wrap deferred until the next rune), CR returns to column 0, LF moves
// down a row, ESC [ K clears to the end of the row; other CSI sequences
// are ignored. It returns the rows, trailing blanks trimmed.
func replay(out string, cols int) []string {
	s := &screen{cols: cols}
	for i := 0; i < len(out); {
		r, n := utf8.DecodeRuneInString(out[i:])
		i += n
		switch {
		case r == '\r':
			s.col = 0
		case r == '\n':
			s.row++
		case r == 0x1b && strings.HasPrefix(out[i:], "["):
			i += 1 + s.csi(out[i+1:])
		case r >= 0x20:
			s.put(r)
		}
	}
	rows := make([]string, len(s.rows))
	for i, r := range s.rows {
		rows[i] = strings.TrimRight(string(r), " ")
	}
	return rows
}

// The replay itself: a wrapped over-long line leaves its head behind, a
// cleared one does not.
func TestReplay(t *testing.T) {
	assert.Equal(t, []string{"abcde", "f"}, replay("abcdef", 5))
	assert.Equal(t, []string{"xy"}, replay("abcd\rxy\x1b[K", 5))
	assert.Equal(t, []string{"abcde", "xy"}, replay("abcdef\rxy\x1b[K", 5)) // the stale line of issue 16
	assert.Equal(t, []string{"one", "two"}, replay("one\r\ntwo", 5))
}

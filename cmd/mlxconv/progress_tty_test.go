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
	shell := "stty cols 60 rows 24 && exec " + shellQuote(child.Args)
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

// shellQuote joins args for sh -c, each single-quoted.
func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// replay plays terminal output on a screen cols wide, as a VT100 does:
// printable runes advance the cursor and wrap at the right margin (the
// wrap deferred until the next rune), CR returns to column 0, LF moves
// down a row, ESC [ K clears to the end of the row; other CSI sequences
// are ignored. It returns the rows, trailing blanks trimmed.
func replay(s string, cols int) []string {
	var rows [][]rune
	row, col := 0, 0
	put := func(r rune) {
		for len(rows) <= row {
			rows = append(rows, nil)
		}
		for len(rows[row]) <= col {
			rows[row] = append(rows[row], ' ')
		}
		rows[row][col] = r
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == '\r':
			col = 0
		case r == '\n':
			row++
		case r == 0x1b && i < len(s) && s[i] == '[':
			j := i + 1
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			if j < len(s) && s[j] == 'K' && row < len(rows) && col < len(rows[row]) {
				rows[row] = rows[row][:col]
			}
			i = j + 1
		case r < 0x20:
		default:
			if col == cols { // deferred wrap
				row, col = row+1, 0
			}
			put(r)
			col++
		}
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = strings.TrimRight(string(r), " ")
	}
	return out
}

// The replay itself: a wrapped over-long line leaves its head behind, a
// cleared one does not.
func TestReplay(t *testing.T) {
	assert.Equal(t, []string{"abcde", "f"}, replay("abcdef", 5))
	assert.Equal(t, []string{"xy"}, replay("abcd\rxy\x1b[K", 5))
	assert.Equal(t, []string{"abcde", "xy"}, replay("abcdef\rxy\x1b[K", 5)) // the stale line of issue 16
	assert.Equal(t, []string{"one", "two"}, replay("one\r\ntwo", 5))
}

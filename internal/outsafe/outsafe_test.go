package outsafe

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deadPid returns the pid of a process that has exited.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	require.True(t, pidGone(cmd.Process.Pid))
	return cmd.Process.Pid
}

// entries lists dir (names, sorted).
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func write(t *testing.T, p, data string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
}

func TestCheckInputs(t *testing.T) {
	root := t.TempDir()
	model := filepath.Join(root, "model")
	weights := filepath.Join(model, "model.safetensors")
	write(t, weights, "weights")
	write(t, filepath.Join(model, "sub", "x.jinja"), "t")
	require.NoError(t, os.Symlink(weights, filepath.Join(root, "link.gguf")))
	require.NoError(t, os.Link(weights, filepath.Join(root, "hard.gguf")))
	require.NoError(t, os.Symlink(model, filepath.Join(root, "modellink")))
	inputs := []string{model, weights, filepath.Join(model, "sub"), filepath.Join(root, "missing")}
	hostInputs := []string{weights, filepath.Join(model, "sub")}

	cases := []struct {
		name, out string
		hosts     bool // model is a host, not an input
		want      string
	}{
		{"fresh sibling", filepath.Join(root, "out"), false, ""},
		{"the weight file", weights, false, "is the input"},
		{"symlink to the weight file", filepath.Join(root, "link.gguf"), false, "is the input"},
		{"hard link to the weight file", filepath.Join(root, "hard.gguf"), false, "is the input"},
		{"the model dir", model, false, "is the input"},
		{"the model dir through a symlink", filepath.Join(root, "modellink"), false, "is the input"},
		{"inside the model dir", filepath.Join(model, "out"), false, "is inside the input directory"},
		{"deep inside, through a symlink", filepath.Join(root, "modellink", "a", "b"), false, "is inside the input directory"},
		{"contains the model dir", root, false, "contains the input"},
		{"host: inside is fine", filepath.Join(model, "x.gguf"), true, ""},
		{"host: the weight file", weights, true, "is the input"},
		{"host: hard link", filepath.Join(root, "hard.gguf"), true, "is the input"},
		{"host: inside an input subdir", filepath.Join(model, "sub", "x.gguf"), true, "is inside the input directory"},
		{"host: is the host", model, true, "is the input"},
		{"host: contains the host", root, true, "contains the input"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.hosts {
				err = CheckInputs(c.out, hostInputs, []string{model})
			} else {
				err = CheckInputs(c.out, inputs, nil)
			}
			if c.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrOverlap)
			assert.Contains(t, err.Error(), c.want)
			assert.Contains(t, err.Error(), strconv.Quote(c.out))
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

// mlxLike accepts a directory holding a file "config.json" and nothing
// else but *.safetensors.
func mlxLike(p string) error {
	es, err := os.ReadDir(p)
	if err != nil {
		return err
	}
	for _, e := range es {
		if e.Name() != "config.json" && !strings.HasSuffix(e.Name(), ".safetensors") {
			return fmt.Errorf("%q is not an output file", e.Name())
		}
	}
	return nil
}

func TestReserveCommitDir(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(t *testing.T, out string)
		force   bool
		during  func(t *testing.T, out string) // between Reserve and Commit
		reserve error                          // want from Reserve
		commit  error                          // want from Commit
		want    []string                       // entries of out afterwards (nil: as setup left it)
	}{
		{name: "fresh", want: []string{"new.safetensors"}},
		{name: "exists", setup: mkOutput, reserve: ErrExists},
		{name: "exists, force, earlier output", setup: mkOutput, force: true, want: []string{"new.safetensors"}},
		{name: "exists, force, foreign", setup: mkForeign, force: true, reserve: ErrNotOutput},
		{name: "appears during the run", during: mkForeign, commit: ErrExists},
		{name: "earlier output appears during the run", during: mkOutput, commit: ErrExists},
		{name: "appears during the run, force, foreign", force: true, during: mkForeign, commit: ErrNotOutput},
		{name: "replaced during the run by a foreign dir, force", setup: mkOutput, force: true, during: func(t *testing.T, out string) {
			require.NoError(t, os.RemoveAll(out))
			mkForeign(t, out)
		}, commit: ErrNotOutput},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "out")
			if c.setup != nil {
				c.setup(t, out)
			}
			var before []string
			if _, err := os.Stat(out); err == nil {
				before = entries(t, out)
			}
			tg, err := Reserve(out, Options{Dir: true, Force: c.force, Replaceable: mlxLike})
			if c.reserve != nil {
				require.ErrorIs(t, err, c.reserve)
				assert.Contains(t, err.Error(), strconv.Quote(out))
				assert.Equal(t, []string{"out"}, entries(t, parent), "nothing left behind")
				assert.Equal(t, before, entries(t, out), "existing output untouched")
				return
			}
			require.NoError(t, err)
			defer tg.Abort()
			assert.True(t, strings.HasPrefix(filepath.Base(tg.Temp()), ".out.mlxconv-tmp-"+strconv.Itoa(os.Getpid())+"-"), tg.Temp())
			write(t, filepath.Join(tg.Temp(), "new.safetensors"), "new")
			if c.during != nil {
				c.during(t, out)
				before = entries(t, out)
			}
			err = tg.Commit()
			if c.commit != nil {
				require.ErrorIs(t, err, c.commit)
				assert.Contains(t, err.Error(), strconv.Quote(out))
				assert.Equal(t, before, entries(t, out), "the path that appeared is untouched")
			} else {
				require.NoError(t, err)
				assert.Equal(t, c.want, entries(t, out))
			}
			assert.Equal(t, []string{"out"}, entries(t, parent), "nothing left behind")
			tg.Abort() // no-op after Commit
			_, err = os.Stat(out)
			require.NoError(t, err)
		})
	}
}

func mkOutput(t *testing.T, out string) {
	write(t, filepath.Join(out, "config.json"), "{}")
	write(t, filepath.Join(out, "old.safetensors"), "old")
}

func mkForeign(t *testing.T, out string) {
	write(t, filepath.Join(out, "config.json"), "{}")
	write(t, filepath.Join(out, "thesis.tex"), "precious")
}

func TestReserveFile(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "m.gguf")
	gguf := func(p string) error {
		b, err := os.ReadFile(p)
		if err != nil || !strings.HasPrefix(string(b), "GGUF") {
			return errors.New("not a GGUF file")
		}
		return nil
	}
	commit := func(data string, force bool) error {
		tg, err := Reserve(out, Options{Force: force, Replaceable: gguf})
		if err != nil {
			return err
		}
		defer tg.Abort()
		_, err = tg.File().WriteAt([]byte(data), 0)
		require.NoError(t, err)
		require.NoError(t, tg.File().Close())
		return tg.Commit()
	}
	require.NoError(t, commit("GGUF one", false))
	// A hard link to the earlier output keeps its bytes when it is replaced.
	keep := filepath.Join(t.TempDir(), "keep.gguf")
	require.NoError(t, os.Link(out, keep))
	require.ErrorIs(t, commit("GGUF two", false), ErrExists)
	require.NoError(t, commit("GGUF two", true))
	b, _ := os.ReadFile(out)
	assert.Equal(t, "GGUF two", string(b))
	b, _ = os.ReadFile(keep)
	assert.Equal(t, "GGUF one", string(b))
	// Not a GGUF file: never replaced.
	require.NoError(t, os.WriteFile(out, []byte("notes"), 0o644))
	err := commit("GGUF three", true)
	require.ErrorIs(t, err, ErrNotOutput)
	assert.Contains(t, err.Error(), "will not replace")
	b, _ = os.ReadFile(out)
	assert.Equal(t, "notes", string(b))
	assert.Equal(t, []string{"m.gguf"}, entries(t, parent))
	info, err := os.Stat(out)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), info.Mode().Perm())
}

func TestReserveLock(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	a, err := Reserve(out, Options{Dir: true})
	require.NoError(t, err)
	_, err = Reserve(out, Options{Dir: true})
	require.ErrorIs(t, err, ErrBusy)
	assert.Contains(t, err.Error(), fmt.Sprintf("in use by another mlxconv (pid %d)", os.Getpid()))
	assert.Contains(t, err.Error(), strconv.Quote(out))
	// The refused run removed nothing of the first one.
	write(t, filepath.Join(a.Temp(), "config.json"), "{}")
	require.NoError(t, a.Commit())
	assert.Equal(t, []string{"out"}, entries(t, parent))
	// Released: the next run gets the lock (and is refused for existence).
	_, err = Reserve(out, Options{Dir: true})
	require.ErrorIs(t, err, ErrExists)
	assert.Equal(t, []string{"out"}, entries(t, parent))
}

func TestReserveParents(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "file"), "x")
	cases := []struct {
		name, out string
		want      string // error fragment
	}{
		{"parent is a file", "file/out", `output "%[1]s/file/out": "%[1]s/file" is a file, not a directory`},
		{"ancestor is a file", "file/b/c/out", `output "%[1]s/file/b/c/out": "%[1]s/file" is a file, not a directory`},
		{"no name", ".", "does not name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Reserve(filepath.Join(root, c.out), Options{Dir: true})
			if c.out == "." {
				_, err = Reserve(".", Options{Dir: true})
			}
			require.ErrorIs(t, err, ErrPath)
			assert.Contains(t, err.Error(), strings.ReplaceAll(c.want, "%[1]s", root))
			assert.Equal(t, []string{"file"}, entries(t, root))
		})
	}

	// Created parents go away on abort (only the ones created), stay on commit.
	write(t, filepath.Join(root, "a", "keep"), "")
	tg, err := Reserve(filepath.Join(root, "a", "b", "c", "out"), Options{Dir: true})
	require.NoError(t, err)
	tg.Abort()
	assert.Equal(t, []string{"keep"}, entries(t, filepath.Join(root, "a")))
	tg, err = Reserve(filepath.Join(root, "a", "b", "c", "out"), Options{Dir: true})
	require.NoError(t, err)
	require.NoError(t, tg.Commit())
	assert.Equal(t, []string{"out"}, entries(t, filepath.Join(root, "a", "b", "c")))
}

func TestStaleLeftovers(t *testing.T) {
	parent := t.TempDir()
	dead := deadPid(t)
	d := strconv.Itoa(dead)
	write(t, filepath.Join(parent, ".out.mlxconv-tmp-"+d+"-0badf00d", "model.safetensors"), "big")
	write(t, filepath.Join(parent, ".m.gguf.mlxconv-tmp-"+d+"-12345678"), "GGUF")
	write(t, filepath.Join(parent, ".gone.mlxconv-old-"+d+"-abcdef01", "config.json"), "{}") // final missing: restored
	write(t, filepath.Join(parent, ".kept.mlxconv-old-"+d+"-abcdef02", "config.json"), "{}") // final present: removed
	write(t, filepath.Join(parent, "kept", "config.json"), "{}")
	write(t, filepath.Join(parent, ".x.mlxconv.lock"), d)
	// Not stale: a live owner (pid 1), a busy lock, foreign names.
	write(t, filepath.Join(parent, ".live.mlxconv-tmp-1-00000000"), "")
	write(t, filepath.Join(parent, ".busy.mlxconv-tmp-"+d+"-00000000"), "")
	lf, err := os.Create(filepath.Join(parent, ".busy.mlxconv.lock"))
	require.NoError(t, err)
	defer lf.Close()
	busy, err := tryLock(lf)
	require.NoError(t, err)
	require.False(t, busy)
	write(t, filepath.Join(parent, ".out.mlxconv-123456"), "old naming")
	write(t, filepath.Join(parent, ".y.mlxconv-tmp-"+d+"-XYZ"), "not ours")

	var notes []string
	tg, err := Reserve(filepath.Join(parent, "out"), Options{Dir: true, Notice: func(s string) { notes = append(notes, s) }})
	require.NoError(t, err)
	tg.Abort()
	require.Len(t, notes, 1)
	assert.Contains(t, notes[0], "pid "+d+", gone")
	assert.Contains(t, notes[0], `".out.mlxconv-tmp-`+d+`-0badf00d"`)
	assert.Contains(t, notes[0], `restored the previous output "gone"`)
	assert.Equal(t, []string{
		".busy.mlxconv-tmp-" + d + "-00000000", ".busy.mlxconv.lock",
		".live.mlxconv-tmp-1-00000000", ".out.mlxconv-123456", ".y.mlxconv-tmp-" + d + "-XYZ",
		"gone", "kept",
	}, entries(t, parent))

	// Nothing stale: no notice.
	notes = nil
	tg, err = Reserve(filepath.Join(parent, "out"), Options{Dir: true, Notice: func(s string) { notes = append(notes, s) }})
	require.NoError(t, err)
	tg.Abort()
	assert.Empty(t, notes)
}

func TestParseLeftover(t *testing.T) {
	cases := []struct {
		name, base, kind string
		pid              int
		ok               bool
	}{
		{".out.mlxconv-tmp-12-ab01", "out", kindTmp, 12, true},
		{".a.b.gguf.mlxconv-old-7-ff", "a.b.gguf", kindOld, 7, true},
		{".x.mlxconv-tmp-0-ab", "", "", 0, false},
		{".x.mlxconv-tmp-12-", "", "", 0, false},
		{".x.mlxconv-tmp-12-zz", "", "", 0, false},
		{"x.mlxconv-tmp-12-ab", "", "", 0, false},
		{".mlxconv-tmp-12-ab", "", "", 0, false},
		{".out.mlxconv-abc123", "", "", 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base, kind, pid, ok := parseLeftover(c.name)
			assert.Equal(t, c.ok, ok)
			assert.Equal(t, c.base, base)
			assert.Equal(t, c.kind, kind)
			assert.Equal(t, c.pid, pid)
		})
	}
}

// TestFallbacks runs the commit tests with the renames of platforms
// without renameat2 (macOS).
func TestFallbacks(t *testing.T) {
	defer func(a, b func(string, string) error) { renameNoReplaceFn, renameExchangeFn = a, b }(renameNoReplaceFn, renameExchangeFn)
	unsupported := func(string, string) error { return errUnsupported }
	renameNoReplaceFn, renameExchangeFn = unsupported, unsupported
	t.Run("dir", TestReserveCommitDir)
	t.Run("file", TestReserveFile)
}

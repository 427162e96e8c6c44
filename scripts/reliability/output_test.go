package reliability

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Issue #11 points 1 and 2: output safety (an output that overlaps an
// input, a second run into the same path, something appearing at the
// output, --force over foreign data, a parent that is a file) and crash
// leftovers (kill -9 then rerun, parents of a failed run), for both sinks.

// bigModel returns a copy of tiny-llama with its four layers repeated to
// n layers (about 75 KB of bf16 weights per layer), so that a conversion
// takes long enough to be interrupted.
func bigModel(t *testing.T, n int) string {
	t.Helper()
	dir := tinyModel(t)
	st := filepath.Join(dir, "model.safetensors")
	raw, err := os.ReadFile(st)
	require.NoError(t, err)
	hlen := binary.LittleEndian.Uint64(raw[:8])
	var hdr map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw[8:8+hlen], &hdr))
	data := raw[8+hlen:]
	type info struct {
		DType   string `json:"dtype"`
		Shape   []int  `json:"shape"`
		Offsets [2]int `json:"data_offsets"`
	}
	tensors := map[string]info{}
	for k, v := range hdr {
		if k == "__metadata__" {
			continue
		}
		var ti info
		require.NoError(t, json.Unmarshal(v, &ti))
		tensors[k] = ti
	}
	layer := regexp.MustCompile(`^model\.layers\.(\d+)\.(.*)$`)
	out := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var body []byte
	add := func(name string, ti info) {
		b := data[ti.Offsets[0]:ti.Offsets[1]]
		out[name] = info{DType: ti.DType, Shape: ti.Shape, Offsets: [2]int{len(body), len(body) + len(b)}}
		body = append(body, b...)
	}
	names := make([]string, 0, len(tensors))
	for k := range tensors {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		m := layer.FindStringSubmatch(k)
		if m == nil {
			add(k, tensors[k])
			continue
		}
		src, _ := strconv.Atoi(m[1])
		for l := src; l < n; l += 4 {
			add(fmt.Sprintf("model.layers.%d.%s", l, m[2]), tensors[k])
		}
	}
	h, err := json.Marshal(out)
	require.NoError(t, err)
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	file := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	file = append(append(file, h...), body...)
	require.NoError(t, os.WriteFile(st, file, 0o644))
	cfgPath := filepath.Join(dir, "config.json")
	cfg, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	cfg = []byte(strings.Replace(string(cfg), `"num_hidden_layers": 4`, fmt.Sprintf(`"num_hidden_layers": %d`, n), 1))
	require.NoError(t, os.WriteFile(cfgPath, cfg, 0o644))
	return dir
}

// leftovers lists the entries of dir that an mlxconv run may leave behind.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range es {
		if strings.Contains(e.Name(), ".mlxconv") {
			out = append(out, e.Name())
		}
	}
	return out
}

// proc is a started run.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it exited
	err  error         // Wait's result, once done is closed
}

// start starts a prepared run; a run still going at the end of the test is
// killed.
func start(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	require.NoError(t, cmd.Start())
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the run to exit and returns Wait's result.
func (p *proc) wait() error {
	<-p.done
	return p.err
}

// exited reports whether the run has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitFor polls until cond holds; the run exiting first, or 60 s passing
// (a hang), fails the test.
func waitFor(t *testing.T, p *proc, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		if p.exited() {
			t.Fatalf("mlxconv exited (%v) before the condition held", p.err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("condition not reached in 60 s (hang)")
}

// hasTemp reports whether a temporary sibling of base exists in dir (any
// ".<base>.mlxconv-…" name but the lock, so that the tests also run
// against the naming of older versions).
func hasTemp(dir, base string) func() bool {
	return func() bool {
		es, _ := os.ReadDir(dir)
		for _, e := range es {
			if strings.HasPrefix(e.Name(), "."+base+".mlxconv-") {
				return true
			}
		}
		return false
	}
}

// TestGGUFOutfileIsInput: --outfile naming the model's weight file
// (directly, through a symlink, through a hard link) or one of its other
// files is refused before anything is written; no input byte changes.
func TestGGUFOutfileIsInput(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, model, root string) string // returns --outfile
		force bool
	}{
		{"weight file", func(t *testing.T, model, root string) string { return filepath.Join(model, "model.safetensors") }, false},
		{"weight file, --force", func(t *testing.T, model, root string) string { return filepath.Join(model, "model.safetensors") }, true},
		{"tokenizer, --force", func(t *testing.T, model, root string) string { return filepath.Join(model, "tokenizer.json") }, true},
		{"symlink to the weight file", func(t *testing.T, model, root string) string {
			p := filepath.Join(root, "link.gguf")
			require.NoError(t, os.Symlink(filepath.Join(model, "model.safetensors"), p))
			return p
		}, true},
		{"hard link to the weight file", func(t *testing.T, model, root string) string {
			p := filepath.Join(root, "hard.gguf")
			require.NoError(t, os.Link(filepath.Join(model, "model.safetensors"), p))
			return p
		}, true},
		{"the model directory", func(t *testing.T, model, root string) string { return model }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			model := tinyModel(t)
			root := filepath.Dir(model)
			out := c.setup(t, model, root)
			before := snapshot(t, root)
			args := []string{"gguf", "--model", model, "--outfile", out, "--quiet"}
			if c.force {
				args = append(args, "--force")
			}
			r := run(t, runOpts{}, args...)
			requireOneLineError(t, r, 1, strconv.Quote(out), "is the input")
			requireUnchanged(t, before, root)
		})
	}
}

// TestMLXPathOverlapsModel: --mlx-path that is, is inside or contains the
// model directory is refused (with --force too); nothing changes.
func TestMLXPathOverlapsModel(t *testing.T) {
	cases := []struct {
		name string
		out  func(model string) string
		want string
	}{
		{"the model directory", func(m string) string { return m }, "is the input"},
		{"inside the model directory", func(m string) string { return filepath.Join(m, "mlx") }, "is inside the input directory"},
		{"deep inside the model directory", func(m string) string { return filepath.Join(m, "a", "b") }, "is inside the input directory"},
		{"containing the model directory", filepath.Dir, "contains the input"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			model := tinyModel(t)
			root := filepath.Dir(model)
			before := snapshot(t, root)
			out := c.out(model)
			r := run(t, runOpts{}, "convert", "--hf-path", model, "--mlx-path", out, "--force", "--quiet")
			requireOneLineError(t, r, 1, strconv.Quote(out), c.want)
			requireUnchanged(t, before, root)
		})
	}
}

// TestMLXPathUnderFile: a parent of --mlx-path that is a regular file is
// one clear error naming it.
func TestMLXPathUnderFile(t *testing.T) {
	model := tinyModel(t)
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "b"), []byte("not a dir"), 0o644))
	before := snapshot(t, root)
	for _, out := range []string{"b/out", "b/c/d/out"} {
		r := run(t, runOpts{Dir: root}, "convert", "--hf-path", model, "--mlx-path", out, "--quiet")
		requireOneLineError(t, r, 1, fmt.Sprintf(`output %q: "b" is a file, not a directory`, out))
		r = run(t, runOpts{Dir: root}, "gguf", "--model", model, "--outfile", out+".gguf", "--quiet")
		requireOneLineError(t, r, 1, fmt.Sprintf(`output %q: "b" is a file, not a directory`, out+".gguf"))
	}
	requireUnchanged(t, before, root)
}

// TestForceOverForeignData: --force never replaces something that is not
// an earlier output of the same command.
func TestForceOverForeignData(t *testing.T) {
	model := tinyModel(t)
	root := t.TempDir()
	// A directory with a model card and a config, but also the user's notes.
	foreign := filepath.Join(root, "work")
	require.NoError(t, os.MkdirAll(foreign, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(foreign, "config.json"), []byte("{}"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("precious"), 0o644))
	// An HF model directory (no MLX model card).
	hf := filepath.Join(root, "hf")
	copyTree(t, model, hf)
	// A file that is not GGUF.
	notes := filepath.Join(root, "notes.gguf")
	require.NoError(t, os.WriteFile(notes, []byte("precious"), 0o644))
	before := snapshot(t, root)

	r := run(t, runOpts{}, "convert", "--hf-path", model, "--mlx-path", foreign, "--force", "--quiet")
	requireOneLineError(t, r, 1, "will not replace "+strconv.Quote(foreign), "--force replaces only", `"notes.txt"`)
	r = run(t, runOpts{}, "convert", "--hf-path", model, "--mlx-path", hf, "--force", "--quiet")
	requireOneLineError(t, r, 1, "will not replace "+strconv.Quote(hf), "--force replaces only", "model card")
	r = run(t, runOpts{}, "gguf", "--model", model, "--outfile", notes, "--force", "--quiet")
	requireOneLineError(t, r, 1, "will not replace "+strconv.Quote(notes), "--force replaces only", "not a GGUF file")
	requireUnchanged(t, before, root)

	// An earlier output is replaced, and nothing is left beside it.
	out := filepath.Join(root, "out")
	for i := 0; i < 2; i++ {
		r = run(t, runOpts{}, "convert", "--hf-path", model, "--mlx-path", out, "--force", "--quiet")
		require.Equal(t, 0, r.Code, r.Stderr)
		r = run(t, runOpts{}, "gguf", "--model", model, "--outfile", out+".gguf", "--force", "--quiet")
		require.Equal(t, 0, r.Code, r.Stderr)
	}
	require.Empty(t, leftovers(t, root))
}

// TestGGUFExistingOutfile: an existing --outfile is refused without
// --force, with a message suggesting it.
func TestGGUFExistingOutfile(t *testing.T) {
	model := tinyModel(t)
	root := t.TempDir()
	out := filepath.Join(root, "m.gguf")
	r := run(t, runOpts{}, "gguf", "--model", model, "--outfile", out, "--quiet")
	require.Equal(t, 0, r.Code, r.Stderr)
	before := snapshot(t, root)
	r = run(t, runOpts{}, "gguf", "--model", model, "--outfile", out, "--quiet")
	requireOneLineError(t, r, 1, strconv.Quote(out), "already exists", "--force")
	requireUnchanged(t, before, root)
}

// TestSecondRunIntoLockedPath: a run into a path another mlxconv holds
// fails at once, naming the holder's pid (here the test holds the lock),
// and leaves the holder's files alone.
func TestSecondRunIntoLockedPath(t *testing.T) {
	model := tinyModel(t)
	root := t.TempDir()
	lock, err := os.OpenFile(filepath.Join(root, ".out.mlxconv.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	require.NoError(t, err)
	defer lock.Close()
	require.NoError(t, syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB))
	_, err = lock.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	require.NoError(t, err)
	before := snapshot(t, root)
	for _, args := range [][]string{
		{"convert", "--hf-path", model, "--mlx-path", filepath.Join(root, "out"), "--quiet"},
		{"gguf", "--model", model, "--outfile", filepath.Join(root, "out"), "--quiet"},
	} {
		t0 := time.Now()
		r := run(t, runOpts{Timeout: 20 * time.Second}, args...)
		requireOneLineError(t, r, 1, strconv.Quote(filepath.Join(root, "out")),
			fmt.Sprintf("in use by another mlxconv (pid %d)", os.Getpid()))
		require.Less(t, time.Since(t0), 10*time.Second)
	}
	requireUnchanged(t, before, root)
}

// TestConcurrentConversions: two conversions into one path, the second
// started while the first writes: exactly one succeeds, the other fails at
// once with one line: the lock message naming the first run's pid (or,
// when the first run finished meanwhile on a loaded machine, "already
// exists"). Nothing of either is left behind.
func TestConcurrentConversions(t *testing.T) {
	model := bigModel(t, 400)
	root := t.TempDir()
	out := filepath.Join(root, "out")
	a, _, aerr := command(t, runOpts{}, "convert", "--hf-path", model, "--mlx-path", out, "-q", "--quiet", "--workers", "1")
	pa := start(t, a)
	waitFor(t, pa, hasTemp(root, "out"))
	r := run(t, runOpts{}, "convert", "--hf-path", model, "--mlx-path", out, "-q", "--quiet")
	require.NoError(t, pa.wait(), aerr.String())
	requireOneLineError(t, r, 1, strconv.Quote(out))
	// Refused by the lock while the first run writes, or (on a loaded
	// machine) by the existing output once it has committed and released
	// the lock but not yet exited. TestSecondRunIntoLockedPath holds the
	// lock deterministically.
	require.Regexp(t, fmt.Sprintf(`in use by another mlxconv \(pid %d\)|already exists`, a.Process.Pid), r.Stderr)
	require.FileExists(t, filepath.Join(out, "model.safetensors"))
	require.Empty(t, leftovers(t, root))
}

// TestKilledRunLeftovers: after kill -9 mid-run the temporary stays; the
// next run into the same folder removes it, says so in one line, and
// leaves nothing behind.
func TestKilledRunLeftovers(t *testing.T) {
	for _, sink := range []string{"convert", "gguf"} {
		t.Run(sink, func(t *testing.T) {
			model := bigModel(t, 400)
			before := snapshot(t, model)
			root := t.TempDir()
			out := filepath.Join(root, "out")
			args := []string{"convert", "--hf-path", model, "--mlx-path", out, "-q", "--workers", "1"}
			if sink == "gguf" {
				args = []string{"gguf", "--model", model, "--outfile", out, "--outtype", "q8_0", "--workers", "1"}
			}
			cmd, _, _ := command(t, runOpts{}, args...)
			p := start(t, cmd)
			waitFor(t, p, hasTemp(root, "out"))
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			_ = p.wait()
			left := leftovers(t, root)
			require.NotEmpty(t, left, "kill -9 leaves the temporary")
			pid := strconv.Itoa(cmd.Process.Pid)
			for _, l := range left {
				require.Regexp(t, `^\.out\.mlxconv(-tmp-`+pid+`-[0-9a-f]+|\.lock)$`, l)
			}

			r := run(t, runOpts{}, args...)
			require.Equal(t, 0, r.Code, r.Stderr)
			var notes []string
			for _, line := range strings.Split(r.Stderr, "\n") {
				if strings.Contains(line, "note:") {
					notes = append(notes, line)
				}
			}
			require.Len(t, notes, 1, r.Stderr)
			require.Contains(t, notes[0], "pid "+pid+", gone")
			require.Contains(t, notes[0], `".out.mlxconv-tmp-`+pid+"-")
			require.Empty(t, leftovers(t, root), "nothing left behind")
			requireUnchanged(t, before, model)
		})
	}
}

// TestFailedRunRemovesParents: the parent folders a run created for
// --mlx-path a/b/c/out (or --outfile) are removed when it fails; the
// folders that existed stay.
func TestFailedRunRemovesParents(t *testing.T) {
	for _, sink := range []string{"convert", "gguf"} {
		t.Run(sink, func(t *testing.T) {
			model := bigModel(t, 400)
			root := t.TempDir()
			require.NoError(t, os.Mkdir(filepath.Join(root, "a"), 0o755))
			before := snapshot(t, root)
			deep := filepath.Join(root, "a", "b", "c")
			args := []string{"convert", "--hf-path", model, "--mlx-path", filepath.Join(deep, "out"), "-q", "--workers", "1"}
			if sink == "gguf" {
				args = []string{"gguf", "--model", model, "--outfile", filepath.Join(deep, "out"), "--outtype", "q8_0", "--workers", "1"}
			}
			cmd, _, stderr := command(t, runOpts{}, args...)
			p := start(t, cmd)
			waitFor(t, p, hasTemp(deep, "out"))
			require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
			_ = p.wait()
			require.Equal(t, 130, cmd.ProcessState.ExitCode(), stderr.String())
			requireUnchanged(t, before, root)
		})
	}
}

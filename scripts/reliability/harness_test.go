package reliability

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// bin is the mlxconv binary under test, built by TestMain.
var bin string

// repoRoot is the repository's top directory.
var repoRoot string

func TestMain(m *testing.M) {
	os.Exit(mainRun(m))
}

func mainRun(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	dir, err := os.MkdirTemp("", "mlxconv-reliability-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "mlxconv")
	build := exec.Command("go", "build", "-o", bin, "./cmd/mlxconv")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build mlxconv: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// result is one finished run of the binary.
type result struct {
	Code           int
	Stdout, Stderr string
}

// runOpts tunes one run.
type runOpts struct {
	Dir     string        // working directory (default: a fresh temp dir)
	Env     []string      // extra KEY=VALUE entries (the environment is isolated otherwise)
	Timeout time.Duration // default 60 s; a run over it fails the test (a hang)
}

// baseEnv is the isolated environment every run starts from: no libmlxc
// search surprises, no network Hub, a private HF cache.
func baseEnv(t testing.TB) []string {
	home := t.TempDir()
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"HF_HOME=" + filepath.Join(home, "hf"),
		"HF_HUB_OFFLINE=1",
		"MLXC_LIBRARY=" + filepath.Join(home, "no-libmlxc"),
		"TMPDIR=" + os.TempDir(),
	}
}

// run runs mlxconv with args and waits for it; a run longer than the
// timeout is killed and fails the test as a hang.
func run(t testing.TB, o runOpts, args ...string) result {
	t.Helper()
	cmd, stdout, stderr := command(t, o, args...)
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("mlxconv %s: still running after %v (hang)\nstderr: %s", strings.Join(args, " "), timeout, stderr.String())
	}
	return result{Code: cmd.ProcessState.ExitCode(), Stdout: stdout.String(), Stderr: stderr.String()}
}

// command prepares (but does not start) a run, for tests that signal or
// kill the process themselves.
func command(t testing.TB, o runOpts, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), bin, args...)
	cmd.Dir = o.Dir
	if cmd.Dir == "" {
		cmd.Dir = t.TempDir()
	}
	cmd.Env = append(baseEnv(t), o.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

// tinyModel copies the bundled example model (testdata/tiny-llama, an HF
// llama with bf16 weights and a real tokenizer) into a fresh directory and
// returns its path.
func tinyModel(t testing.TB) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "tiny-llama")
	copyTree(t, filepath.Join(repoRoot, "testdata", "tiny-llama"), dst)
	return dst
}

// copyTree copies the regular files of src into dst (created).
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, data, 0o644)
	}))
}

// snapshot records every entry under root: its type, and for regular
// files the sha256 of the contents (symlinks: their target).
func snapshot(t testing.TB, root string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			snap[rel] = "symlink:" + target
		case d.IsDir():
			snap[rel] = "dir"
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			snap[rel] = "file:" + hex.EncodeToString(sum[:])
		default:
			snap[rel] = "other:" + d.Type().String()
		}
		return nil
	}))
	return snap
}

// requireUnchanged fails when root differs from an earlier snapshot
// (an input byte changed, or something was added or left behind).
func requireUnchanged(t testing.TB, before map[string]string, root string) {
	t.Helper()
	after := snapshot(t, root)
	var diffs []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			diffs = append(diffs, "removed: "+k)
		} else if w != v {
			diffs = append(diffs, "changed: "+k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			diffs = append(diffs, "added: "+k)
		}
	}
	sort.Strings(diffs)
	require.Empty(t, diffs, "tree %s changed", root)
}

// requireOneLineError checks a failed run: the exit code, a single line
// on stderr, and every fragment in it.
func requireOneLineError(t testing.TB, r result, code int, fragments ...string) {
	t.Helper()
	require.Equal(t, code, r.Code, "exit code; stderr:\n%s", r.Stderr)
	msg := strings.TrimRight(r.Stderr, "\n")
	require.NotContains(t, msg, "\n", "want a one-line error, got:\n%s", r.Stderr)
	for _, f := range fragments {
		require.Contains(t, msg, f)
	}
}

// requireNoEscapes fails when s holds a control character other than
// newline and tab (a raw escape sequence from a hostile file).
func requireNoEscapes(t testing.TB, s string) {
	t.Helper()
	for i, r := range s {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			t.Fatalf("raw control character %U at byte %d in output:\n%q", r, i, s)
		}
	}
}

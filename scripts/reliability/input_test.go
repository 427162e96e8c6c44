//go:build unix

package reliability

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
)

// inputTimeout bounds each run of the special-file tests: the old code
// blocked in open(2) forever, so a hang shows up quickly.
const inputTimeout = 20 * time.Second

// replaceWith swaps the file dir/name for a special file made by mk.
func replaceWith(t *testing.T, dir, name string, mk func(t *testing.T, p string)) {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.RemoveAll(p))
	mk(t, p)
}

func mkfifo(t *testing.T, p string) { require.NoError(t, syscall.Mkfifo(p, 0o644)) }

// mksock binds a unix socket at p (through a short relative path, as
// sun_path is limited to ~104 bytes) and closes the listener at the end.
func mksock(t *testing.T, p string) {
	t.Chdir(filepath.Dir(p))
	l, err := net.Listen("unix", filepath.Base(p))
	require.NoError(t, err)
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	t.Cleanup(func() { l.Close() })
}

func symlinkTo(target string) func(t *testing.T, p string) {
	return func(t *testing.T, p string) { require.NoError(t, os.Symlink(target, p)) }
}

// TestSpecialInputFiles gives a named pipe, a socket or a device where an
// input file is expected. Each run must fail at once (no hang) with exit
// code 1 and a one-line error naming the file and its type, change no
// input byte, and leave nothing in the output's parent.
func TestSpecialInputFiles(t *testing.T) {
	tests := []struct {
		name    string
		cmd     string // convert, gguf
		file    string // replaced in the model directory
		mk      func(t *testing.T, p string)
		kind    string
		keepOld bool // add file beside the model's own files instead of replacing one
	}{
		{"fifo model.safetensors", "convert", "model.safetensors", mkfifo, "named pipe", false},
		{"fifo config.json", "convert", "config.json", mkfifo, "named pipe", false},
		{"fifo tokenizer.json", "convert", "tokenizer.json", mkfifo, "named pipe", false},
		{"fifo generation_config.json", "convert", "generation_config.json", mkfifo, "named pipe", false},
		{"fifo index", "convert", "model.safetensors.index.json", mkfifo, "named pipe", true},
		{"socket model.safetensors", "convert", "model.safetensors", mksock, "socket", false},
		{"symlink to /dev/zero as weights", "convert", "model.safetensors", symlinkTo("/dev/zero"), "character device", false},
		{"gguf fifo config.json", "gguf", "config.json", mkfifo, "named pipe", false},
		{"gguf fifo tokenizer.json", "gguf", "tokenizer.json", mkfifo, "named pipe", false},
		{"gguf fifo second shard", "gguf", "model-00002-of-00002.safetensors", mkfifo, "named pipe", true},
		{"gguf fifo README.md", "gguf", "README.md", mkfifo, "named pipe", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tinyModel(t)
			replaceWith(t, src, tc.file, tc.mk)
			before := snapshot(t, src)
			outParent := t.TempDir()
			var args []string
			switch tc.cmd {
			case "convert":
				args = []string{"convert", "--hf-path", src, "--mlx-path", filepath.Join(outParent, "out"), "-q", "--quiet"}
			case "gguf":
				args = []string{"gguf", "--model", src, "--outfile", filepath.Join(outParent, "out.gguf"), "--quiet"}
			}
			r := run(t, runOpts{Timeout: inputTimeout}, args...)
			requireOneLineError(t, r, 1, fmt.Sprintf("%q", filepath.Join(src, tc.file)), "not a regular file ("+tc.kind+")")
			requireUnchanged(t, before, src)
			require.Empty(t, entries(t, outParent), "nothing left in the output's parent")
		})
	}
}

// TestSpecialGGUFInspect gives inspect a named pipe, a socket and a
// device, directly and inside a directory listing.
func TestSpecialGGUFInspect(t *testing.T) {
	tests := []struct {
		name string
		mk   func(t *testing.T, p string)
		kind string
		dir  bool // inspect the directory, not the file
	}{
		{"fifo", mkfifo, "named pipe", false},
		{"fifo in a directory", mkfifo, "named pipe", true},
		{"socket", mksock, "socket", false},
		{"symlink to /dev/zero", symlinkTo("/dev/zero"), "character device", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "model.gguf")
			tc.mk(t, p)
			before := snapshot(t, dir)
			arg := p
			if tc.dir {
				arg = dir
			}
			r := run(t, runOpts{Timeout: inputTimeout}, "inspect", arg)
			requireOneLineError(t, r, 1, fmt.Sprintf("%q", p), "not a regular file ("+tc.kind+")")
			requireUnchanged(t, before, dir)
		})
	}
}

// TestSpecialRulesFile gives --quant-rules a named pipe: a usage error
// naming it, at once.
func TestSpecialRulesFile(t *testing.T) {
	src := tinyModel(t)
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.txt")
	mkfifo(t, rules)
	outParent := t.TempDir()
	r := run(t, runOpts{Timeout: inputTimeout}, "convert", "--hf-path", src, "--mlx-path", filepath.Join(outParent, "out"),
		"-q", "--quant-rules", rules, "--quiet")
	requireOneLineError(t, r, 2, fmt.Sprintf("%q", rules), "not a regular file (named pipe)")
	require.Empty(t, entries(t, outParent))
}

// entries lists dir's names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// slowModel writes a llama whose single embedding is 1 GiB of f32 zeros (a
// sparse file), so that quantizing it takes seconds, with the bundled
// example's tokenizer (for gguf).
func slowModel(t *testing.T) string {
	t.Helper()
	in := filepath.Join(t.TempDir(), "slow")
	require.NoError(t, os.MkdirAll(in, 0o755))
	const vocab, hidden = 65536, 4096
	cfg := fmt.Sprintf(`{"model_type": "llama", "hidden_size": %d, "intermediate_size": 64, "num_hidden_layers": 0,
"num_attention_heads": 64, "rms_norm_eps": 1e-05, "vocab_size": %d, "tie_word_embeddings": true}`, hidden, vocab)
	require.NoError(t, os.WriteFile(filepath.Join(in, "config.json"), []byte(cfg), 0o644))
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "tiny-llama", name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(in, name), b, 0o644))
	}
	infos := []safetensors.TensorInfo{{Name: "model.embed_tokens.weight", DType: mlx.F32, Shape: []int{vocab, hidden}},
		{Name: "model.norm.weight", DType: mlx.F32, Shape: []int{hidden}}}
	laid, size, err := safetensors.Layout(infos)
	require.NoError(t, err)
	hdr, err := safetensors.Header(laid, nil, safetensors.HF)
	require.NoError(t, err)
	f, err := os.Create(filepath.Join(in, "model.safetensors"))
	require.NoError(t, err)
	require.NoError(t, binary.Write(f, binary.LittleEndian, uint64(len(hdr))))
	_, err = f.Write(hdr)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(8+int64(len(hdr))+size))
	require.NoError(t, f.Close())
	return in
}

// TestSignalDuringConvert sends SIGTERM (and, as a control, SIGINT) to a
// conversion and a GGUF export once they write: a clean exit with 143
// (130 for SIGINT), one line saying so, the input unchanged and nothing
// left in the output's parent.
func TestSignalDuringConvert(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		sig  syscall.Signal
		code int
		name string
	}{
		{"convert", syscall.SIGTERM, 143, "SIGTERM"},
		{"convert", syscall.SIGINT, 130, "SIGINT"},
		{"gguf", syscall.SIGTERM, 143, "SIGTERM"},
	} {
		t.Run(tc.cmd+" "+tc.name, func(t *testing.T) {
			src := slowModel(t)
			before := snapshot(t, src)
			outParent := t.TempDir()
			args := []string{"convert", "--hf-path", src, "--mlx-path", filepath.Join(outParent, "out"),
				"-q", "--backend", "native", "--workers", "1"}
			if tc.cmd == "gguf" {
				args = []string{"gguf", "--model", src, "--outfile", filepath.Join(outParent, "out.gguf"),
					"--outtype", "q8_0", "--workers", "1"}
			}
			cmd, _, _ := command(t, runOpts{}, args...)
			cmd.Stderr = nil
			pipe, err := cmd.StderrPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			lines := make(chan string, 64)
			go func() {
				sc := bufio.NewScanner(pipe)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			var log strings.Builder
			// stderr is not a terminal, so nothing is printed before the
			// summary: the temporary output appearing in outParent says
			// the run has started writing.
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Millisecond) {
				if es, err := os.ReadDir(outParent); err == nil && len(es) > 0 {
					break
				}
				if time.Now().After(deadline) {
					_ = cmd.Process.Kill()
					t.Fatal("no temporary output after 60 s")
				}
			}
			// The conversion of the sparse model can finish within a few
			// hundred milliseconds: stop the process, queue the signal and
			// let it go on, so the signal always lands mid-run.
			require.NoError(t, cmd.Process.Signal(syscall.SIGSTOP))
			require.NoError(t, cmd.Process.Signal(tc.sig))
			require.NoError(t, cmd.Process.Signal(syscall.SIGCONT))
			done := make(chan error, 1)
			go func() {
				for l := range lines {
					log.WriteString(l + "\n")
				}
				done <- cmd.Wait()
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("still running 30 s after %s (hang):\n%s", tc.name, log.String())
			}
			require.Equal(t, tc.code, cmd.ProcessState.ExitCode(), log.String())
			require.Contains(t, log.String(), "mlxconv: "+tc.cmd+" interrupted by "+tc.name+"\n")
			requireUnchanged(t, before, src)
			require.Empty(t, entries(t, outParent), "no output and no temporary directory")
		})
	}
}

package reliability

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
	"github.com/stretchr/testify/require"
)

// hostile are names a hostile file may carry: clear screen, an OSC window
// title, a right-to-left override, a newline (a forged second line), DEL
// and a C1 CSI.
var hostile = []string{"\x1b[2J", "\x1b]0;pwned\x07", "\u202e", "\n", "\x7f", "\u009b"}

// hostileName is a tensor name that holds every hostile sequence.
const hostileName = "model.\x1b[2J\x1b]0;pwned\x07\u202eevil\nmlxconv: forged line\x7f\u009b31m.weight"

// requireTerminalSafe is requireNoEscapes plus the bidi overrides and
// isolates, for a whole run.
func requireTerminalSafe(t testing.TB, r result) {
	t.Helper()
	for _, s := range []string{r.Stdout, r.Stderr} {
		requireNoEscapes(t, s)
		for i, c := range s {
			if c >= 0x202a && c <= 0x202e || c >= 0x2066 && c <= 0x2069 {
				t.Fatalf("raw bidi control %U at byte %d in output:\n%q", c, i, s)
			}
		}
	}
}

// hostileModel is the tiny model with one more tensor, named hostileName,
// and a hostile key and value in the safetensors metadata.
func hostileModel(t testing.TB) string {
	t.Helper()
	dir := tinyModel(t)
	path := filepath.Join(dir, "model.safetensors")
	f, err := safetensors.Open(path)
	require.NoError(t, err)
	var tensors []safetensors.Tensor
	for _, ti := range f.Tensors() {
		data, err := f.Bytes(ti.Name)
		require.NoError(t, err)
		tensors = append(tensors, safetensors.Tensor{TensorInfo: safetensors.TensorInfo{Name: ti.Name, DType: ti.DType, Shape: ti.Shape}, Data: append([]byte(nil), data...)}) // the file is mapped and rewritten below
	}
	meta := f.Metadata()
	require.NoError(t, f.Close())
	tensors = append(tensors, safetensors.Tensor{
		TensorInfo: safetensors.TensorInfo{Name: hostileName, DType: mlx.F32, Shape: []int{2}},
		Data:       make([]byte, 8),
	})
	if meta == nil {
		meta = map[string]string{}
	}
	meta["format"] = "pt"
	meta["k\x1b[2J\u202e"] = "v\x1b]0;pwned\x07\n"
	require.NoError(t, safetensors.WriteFile(path, tensors, meta, safetensors.MLX))
	return dir
}

// hostileGGUF writes a small GGUF whose keys, string values, string array
// elements and tensor names carry the hostile sequences.
func hostileGGUF(t testing.TB) string {
	t.Helper()
	kvs := []gguf.KV{
		{Key: "general.architecture", Value: gguf.NewValue("llama\x1b[2J")},
		{Key: "general.name\x1b]0;pwned\x07", Value: gguf.NewValue("title\x1b]0;pwned\x07\u202etxt.exe\nforged")},
		{Key: "tokenizer.ggml.tokens", Value: gguf.NewValue([]string{"<unk>", "\x1b[2J", "\u202e\x7f\u009b"})},
		{Key: "bidi\u2066key\n", Value: gguf.NewValue[uint32](1)},
	}
	names := []string{hostileName, "blk.0.\u202e\x1b[31m"}
	var infos []gguf.TensorInfo
	for _, n := range names {
		infos = append(infos, gguf.TensorInfo{Name: n, Type: gguf.F32, Shape: []uint64{4}})
	}
	plan, err := gguf.NewPlan(kvs, infos)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "hostile.gguf")
	out, err := os.Create(path)
	require.NoError(t, err)
	w, err := gguf.NewWriter(out, plan)
	require.NoError(t, err)
	for _, n := range names {
		require.NoError(t, w.WriteTensor(n, make([]byte, 16)))
	}
	require.NoError(t, w.Close())
	require.NoError(t, out.Close())
	return path
}

// TestHostileNamesInspect: inspect prints a hostile GGUF's keys, values
// and tensor names escaped, in text and in JSON, and the JSON still
// decodes to the exact names.
func TestHostileNamesInspect(t *testing.T) {
	path := hostileGGUF(t)
	for _, args := range [][]string{{}, {"--full"}, {"--json"}, {"--json", "--full"}} {
		t.Run(strings.Join(append([]string{"inspect"}, args...), " "), func(t *testing.T) {
			r := run(t, runOpts{}, append([]string{"inspect", path}, args...)...)
			require.Equal(t, 0, r.Code, r.Stderr)
			requireTerminalSafe(t, r)
			if len(args) > 0 && args[0] == "--json" {
				var rep struct {
					KVs     []struct{ Key string } `json:"metadata"`
					Tensors []struct{ Name string }
				}
				require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rep))
				require.Equal(t, hostileName, rep.Tensors[0].Name)
				require.Equal(t, "general.name\x1b]0;pwned\x07", rep.KVs[1].Key)
				return
			}
			require.Contains(t, r.Stdout, `\x1b[2J`)
			require.Contains(t, r.Stdout, `\u202e`)
		})
	}
}

// TestHostileNamesConvert: the dry-run table, the JSON plan and the
// summary of a model with a hostile tensor name.
func TestHostileNamesConvert(t *testing.T) {
	src := hostileModel(t)
	before := snapshot(t, src)
	for _, args := range [][]string{{"--dry-run"}, {"--dry-run", "--json"}, {"-q"}, {"--json"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			r := run(t, runOpts{}, append([]string{"convert", "--hf-path", src, "--mlx-path", out}, args...)...)
			requireTerminalSafe(t, r)
			if r.Code != 0 {
				requireOneLineError(t, r, 1)
				require.NoDirExists(t, out)
			}
		})
	}
	requireUnchanged(t, before, src)
}

// TestHostileFileNameDryRun: a file name from the model directory (a
// top-level .py file is copied) is escaped in the dry-run listing and the
// summary.
func TestHostileFileNameDryRun(t *testing.T) {
	src := tinyModel(t)
	pyName := "evil\x1b]0;pwned\x07\u202e\x1b[2J.py"
	require.NoError(t, os.WriteFile(filepath.Join(src, pyName), []byte("# hostile name\n"), 0o644))
	before := snapshot(t, src)
	out := filepath.Join(t.TempDir(), "out")
	r := run(t, runOpts{}, "convert", "--hf-path", src, "--mlx-path", out, "--dry-run")
	require.Equal(t, 0, r.Code, r.Stderr)
	requireTerminalSafe(t, r)
	require.Contains(t, r.Stdout, `evil\x1b]0;pwned\a\u202e\x1b[2J.py`)

	r = run(t, runOpts{}, "convert", "--hf-path", src, "--mlx-path", out, "--dry-run", "--json")
	require.Equal(t, 0, r.Code, r.Stderr)
	requireTerminalSafe(t, r)

	r = run(t, runOpts{}, "convert", "--hf-path", src, "--mlx-path", out)
	require.Equal(t, 0, r.Code, r.Stderr)
	requireTerminalSafe(t, r)
	require.FileExists(t, filepath.Join(out, pyName))
	requireUnchanged(t, before, src)
}

// TestHostileNamesErrors: errors that name a hostile tensor, model type,
// file or path print it escaped, on one line.
func TestHostileNamesErrors(t *testing.T) {
	t.Run("gguf export", func(t *testing.T) {
		src := hostileModel(t)
		before := snapshot(t, src)
		outfile := filepath.Join(t.TempDir(), "out.gguf")
		for _, extra := range [][]string{{"--dry-run"}, {"--outfile", outfile}} {
			r := run(t, runOpts{}, append([]string{"gguf", "--model", src}, extra...)...)
			requireTerminalSafe(t, r)
			if r.Code != 0 {
				requireOneLineError(t, r, 1)
			}
		}
		requireUnchanged(t, before, src)
	})
	t.Run("model_type", func(t *testing.T) {
		src := tinyModel(t)
		cfgPath := filepath.Join(src, "config.json")
		var cfg map[string]any
		data, err := os.ReadFile(cfgPath)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(data, &cfg))
		cfg["model_type"] = "llama" + strings.Join(hostile, "")
		data, err = json.Marshal(cfg)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(cfgPath, data, 0o644))
		before := snapshot(t, src)
		for _, args := range [][]string{
			{"convert", "--hf-path", src, "--mlx-path", filepath.Join(t.TempDir(), "out")},
			{"convert", "--dry-run", "--hf-path", src, "--mlx-path", filepath.Join(t.TempDir(), "out")},
			{"gguf", "--model", src, "--outfile", filepath.Join(t.TempDir(), "out.gguf")},
		} {
			r := run(t, runOpts{}, args...)
			requireOneLineError(t, r, 1, "model type")
			requireTerminalSafe(t, r)
		}
		requireUnchanged(t, before, src)
	})
	t.Run("path", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "no\x1b[2J\u202esuch\n")
		for _, args := range [][]string{
			{"convert", "--hf-path", dir, "--mlx-path", filepath.Join(t.TempDir(), "out")},
			{"gguf", "--model", dir},
			{"inspect", dir},
		} {
			r := run(t, runOpts{}, args...)
			require.NotEqual(t, 0, r.Code)
			requireOneLineError(t, r, r.Code)
			requireTerminalSafe(t, r)
		}
	})
}

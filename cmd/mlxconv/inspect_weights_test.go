package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/modelinfo"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
)

// inspect of an HF folder, of the MLX folder convert -q makes from it (one
// shard, then sharded with an index) and of one shard file.
func TestInspectWeightsCLI(t *testing.T) {
	work := t.TempDir()
	in := filepath.Join(work, "in")
	tinyLlama(t, in)
	code, stdout, stderr := runCLI(t, "inspect", in)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `model: "`+in+`", 20 tensors`)
	assert.Contains(t, stdout, `model_type: "llama"`)
	assert.Contains(t, stdout, "quantization: none\n")
	assert.Contains(t, stdout, "parameters: 78144 (78.1 k)\nbits per weight: 32.000\n")
	assert.Regexp(t, `\n  model\.layers\.0\.mlp\.down_proj\.weight +F32 +\[64, 128\] +32768\n`, stdout)

	out := filepath.Join(work, "q")
	code, _, stderr = runCLI(t, "convert", "--hf-path", in, "--mlx-path", out, "-q", "--backend", "native", "--quant-rule", "mlp.down_proj=8", "--quiet")
	require.Equal(t, 0, code, stderr)
	code, stdout, stderr = runCLI(t, "inspect", out)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "quantization: affine 4-bit, group 64 (config.json), 2 per-module entries\n")
	assert.Contains(t, stdout, `  "model.layers.0.mlp.down_proj": affine 8-bit, group 64`)
	assert.Contains(t, stdout, "quantized modules: 13 affine 4-bit, group 64; 2 affine 8-bit, group 64\n")
	assert.Contains(t, stdout, "parameters: 78144 (78.1 k)\n")
	assert.Contains(t, stdout, `metadata "format": "mlx"`)

	code, stdout, stderr = runCLI(t, "inspect", "--json", out)
	require.Equal(t, 0, code, stderr)
	var r modelinfo.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &r))
	assert.Equal(t, modelinfo.KindModel, r.Kind)
	assert.Equal(t, "llama", r.ModelType)
	assert.True(t, r.ParametersExact)
	// The bits per weight convert reports for the same model.
	code, _, stderr = runCLI(t, "convert", "--hf-path", in, "--mlx-path", filepath.Join(work, "again"), "-q", "--backend", "native",
		"--quant-rule", "mlp.down_proj=8", "--json")
	require.Equal(t, 0, code, stderr)
	assert.InDelta(t, bitsPerWeightOf(t, filepath.Join(work, "again")), r.BitsPerWeight, 1e-9)

	sharded := filepath.Join(work, "sharded")
	code, _, stderr = runCLI(t, "convert", "--hf-path", in, "--mlx-path", sharded, "-q", "--backend", "native", "--max-shard-size", "20KB", "--quiet")
	require.Equal(t, 0, code, stderr)
	code, stdout, stderr = runCLI(t, "inspect", "--json", sharded)
	require.Equal(t, 0, code, stderr)
	var rs modelinfo.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rs))
	require.Greater(t, len(rs.Files), 1)
	assert.Equal(t, len(r.Tensors), len(rs.Tensors))
	assert.Equal(t, r.Parameters, rs.Parameters)
	code, stdout, stderr = runCLI(t, "inspect", sharded)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "  NAME ")
	assert.Contains(t, stdout, "FILE\n")

	code, stdout, stderr = runCLI(t, "inspect", filepath.Join(sharded, rs.Files[0].Name))
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `safetensors: "`)
	assert.Contains(t, stdout, "quantization: not in config.json\n")
	assert.Contains(t, stdout, "bits per weight: unknown\n")
}

// bitsPerWeightOf re-reads what convert reported, from the README's recipe
// line or by recomputing from config.json's total_parameters: here from
// model.safetensors.index.json's metadata.
func bitsPerWeightOf(t *testing.T, dir string) float64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "model.safetensors.index.json"))
	require.NoError(t, err)
	var idx struct {
		Metadata struct {
			TotalSize       float64 `json:"total_size"`
			TotalParameters float64 `json:"total_parameters"`
		} `json:"metadata"`
	}
	require.NoError(t, json.Unmarshal(b, &idx))
	return idx.Metadata.TotalSize * 8 / idx.Metadata.TotalParameters
}

// A directory of GGUF files is still GGUF; one that also has a model is a
// model folder whose report names the GGUF files.
func TestInspectDirKinds(t *testing.T) {
	work := t.TempDir()
	in := filepath.Join(work, "in")
	tinyLlamaBPE(t, in)
	gg := filepath.Join(work, "gg")
	require.NoError(t, os.MkdirAll(gg, 0o755))
	code, _, stderr := runCLI(t, "gguf", "--model", in, "--outfile", filepath.Join(gg, "m.gguf"), "--outtype", "f16", "--pre", "llama-bpe", "--quiet")
	require.Equal(t, 0, code, stderr)
	code, stdout, stderr := runCLI(t, "inspect", gg)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "GGUF v3")

	require.NoError(t, os.Rename(filepath.Join(gg, "m.gguf"), filepath.Join(in, "m.gguf")))
	code, stdout, stderr = runCLI(t, "inspect", in)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `model: "`)
	assert.Contains(t, stdout, `also in the folder: "m.gguf"`)
	// A GGUF file without the extension is recognised by its magic.
	require.NoError(t, os.Rename(filepath.Join(in, "m.gguf"), filepath.Join(work, "model.bin")))
	code, stdout, stderr = runCLI(t, "inspect", filepath.Join(work, "model.bin"))
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "GGUF v3")
}

// Hostile or broken inputs give one line naming the file, quoted, and exit 1.
func TestInspectWeightsHostile(t *testing.T) {
	work := t.TempDir()
	write := func(rel, content string) string {
		p := filepath.Join(work, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	good := filepath.Join(work, "good.safetensors")
	require.NoError(t, safetensors.WriteFile(good, []safetensors.Tensor{
		{TensorInfo: safetensors.TensorInfo{Name: "a", DType: mlx.F32, Shape: []int{2}}, Data: make([]byte, 8)}}, nil, safetensors.HF))
	goodBytes, err := os.ReadFile(good)
	require.NoError(t, err)

	fifo := filepath.Join(work, "fifo.safetensors")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	tests := []struct {
		name, arg, want string
	}{
		{"short", write("short.safetensors", "abc"), "too short"},
		{"header past the end", write("long.safetensors", "\x10\x00\x00\x00\x00\x00\x00\x00{}"), "exceeds"},
		{"truncated body", write("trunc.safetensors", string(goodBytes[:len(goodBytes)-1])), "safetensors"},
		{"named pipe", fifo, "not a regular file (named pipe)"},
		{"missing", filepath.Join(work, "nope.safetensors"), "no such file"},
		{"bad config", func() string {
			p := write("badcfg/config.json", `{"model_type": `)
			write("badcfg/model.safetensors", string(goodBytes))
			return filepath.Dir(p)
		}(), "config.json"},
		{"index escapes the folder", filepath.Dir(write("esc/model.safetensors.index.json", `{"weight_map": {"a": "../good.safetensors"}}`)),
			"want a file name in the model directory"},
		{"index names a missing shard", filepath.Dir(write("miss/model.safetensors.index.json", `{"weight_map": {"a": "model-1.safetensors"}}`)),
			`names "model-1.safetensors"`},
		{"bad shard in a folder", func() string {
			p := write("badshard/model.safetensors", "\x10\x00\x00\x00\x00\x00\x00\x00{}")
			return filepath.Dir(p)
		}(), "exceeds"},
		{"tensor in two shards", func() string {
			write("dup/model-1.safetensors", string(goodBytes))
			p := write("dup/model-2.safetensors", string(goodBytes))
			return filepath.Dir(p)
		}(), `tensor "a" is in both`},
		{"no weights", filepath.Dir(write("empty/config.json", `{}`)), "no safetensors found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "inspect", tc.arg)
			assert.Equal(t, 1, code)
			assert.Empty(t, stdout)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
			assert.Contains(t, stderr, tc.want)
			// The file (or folder) is named, quoted.
			named := strings.Contains(stderr, `"`+tc.arg) || strings.Contains(stderr, `"model-1.safetensors"`)
			assert.True(t, named, stderr)
		})
	}
}

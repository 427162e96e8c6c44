package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/convert"
	"github.com/mlxconv/mlxconv/ggufexport"
)

func TestErrorText(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: cannot save to the path x", convert.ErrExists), "output path exists: cannot save to the path x"},
		{fmt.Errorf("convert: %w", fmt.Errorf("%w: choose one", convert.ErrOptions)), "invalid options: choose one"},
		{fmt.Errorf("%w: --outtype %q: %v", errUsage, "q4_k", ggufexport.ErrExport), `--outtype "q4_k": cannot export`},
		{errors.New(`"a: gguf: b": gguf: invalid format`), `"a: gguf: b": invalid format`},
		{errors.New("convert"), "convert"},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, errorText(tc.err))
	}
}

// One prefix: "mlxconv: …" for errors, usage errors (with the help hint)
// and refusals; no "mlxconv convert: convert: …".
func TestOneErrorPrefix(t *testing.T) {
	work := t.TempDir()
	in := filepath.Join(work, "in")
	tinyLlama(t, in)
	exists := filepath.Join(work, "exists")
	require.NoError(t, os.Mkdir(exists, 0o755))
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"convert", "--hf-path", in, "--mlx-path", exists}, 1,
			"mlxconv: output path exists: cannot save to the path " + exists + " as it already exists; delete it or choose another path (or use --force)\n"},
		{[]string{"convert", "--hf-path", in, "--mlx-path", filepath.Join(work, "o"), "-q", "-d"}, 1,
			"mlxconv: invalid options: choose either quantize or dequantize, not both\n"},
		{[]string{"convert", "--mlx-path", "x"}, 2, "mlxconv: --hf-path (or --model) is required (see 'mlxconv convert --help')\n"},
		{[]string{"gguf", "--model", in, "--outtype", "q7_k"}, 2, "mlxconv: --outtype \"q7_k\": cannot export: output type \"q7_k\""},
	}
	for _, tc := range cases {
		code, _, stderr := runCLI(t, tc.args...)
		assert.Equal(t, tc.code, code, stderr)
		assert.True(t, strings.HasPrefix(stderr, tc.want), "%q", stderr)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
		assert.NotRegexp(t, `mlxconv [a-z]+: |convert: convert|gguf: gguf`, stderr)
	}
}

// gguf refuses an existing --outfile without --force before it starts
// (one line, no progress), and replaces it with --force.
func TestGGUFRefusesExistingOutfile(t *testing.T) {
	work := t.TempDir()
	in := filepath.Join(work, "in")
	tinyLlamaBPE(t, in)
	out := filepath.Join(work, "out.gguf")
	args := []string{"gguf", "--model", in, "--outfile", out, "--pre", "llama-bpe"}
	code, _, stderr := runCLI(t, args...)
	require.Equal(t, 0, code, stderr)
	before, err := os.ReadFile(out)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(out, append(before[:0:0], before[:4]...), 0o644)) // still a GGUF file for --force

	code, _, stderr = runCLI(t, args...)
	assert.Equal(t, 1, code)
	assert.Equal(t, fmt.Sprintf("mlxconv: cannot export: output %q already exists; delete it or choose another path (or use --force)\n", out), stderr)
	got, _ := os.ReadFile(out)
	assert.Len(t, got, 4, "the existing file is left alone")

	code, _, stderr = runCLI(t, append(args, "--force")...)
	require.Equal(t, 0, code, stderr)
	got, _ = os.ReadFile(out)
	assert.Equal(t, before, got)
}

// A lossy export prints one summary line; --verbose lists the tensors.
func TestGGUFLossySummary(t *testing.T) {
	work := t.TempDir()
	in := filepath.Join(work, "in")
	tinyLlamaBPE(t, in)
	out := filepath.Join(work, "out.gguf")
	code, _, stderr := runCLI(t, "gguf", "--model", in, "--outfile", out, "--pre", "llama-bpe", "--outtype", "q8_0")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, 1, strings.Count(stderr, "mlxconv: lossy:"), stderr)
	assert.Regexp(t, `(?m)^mlxconv: lossy: 15 of 20 tensors \(15 f32 rounded to Q8_0\); --verbose lists them$`, stderr)

	code, _, stderr = runCLI(t, "gguf", "--model", in, "--outfile", out, "--pre", "llama-bpe", "--outtype", "q8_0", "--force", "--verbose")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, 16, strings.Count(stderr, "mlxconv: lossy:"), stderr)
	lines := strings.Split(stderr, "\n")
	first := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "mlxconv: lossy: \"") {
			first = i
			break
		}
	}
	require.GreaterOrEqual(t, first, 0)
	assert.Contains(t, lines[first], `ffn_down.weight" (Q8_0, 8.7 kB)`, "largest first")
	assert.Contains(t, lines[first+14], `attn_v.weight" (Q8_0, 2.2 kB)`, "smallest last")
}

// Quantization flags without -q are warned about; -q --q-bits 1 works.
func TestQuantFlagsWithoutQ(t *testing.T) {
	work := t.TempDir()
	in := filepath.Join(work, "in")
	tinyLlama(t, in)
	code, _, stderr := runCLI(t, "convert", "--hf-path", in, "--mlx-path", filepath.Join(work, "a"), "--q-bits", "3", "--q-mode", "affine", "--backend", "native")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "mlxconv: warning: --q-bits, --q-mode given without -q: the model is not quantized (add -q to quantize)\n")

	code, _, stderr = runCLI(t, "convert", "--hf-path", in, "--mlx-path", filepath.Join(work, "b"), "-q", "--q-bits", "1", "--backend", "native")
	require.Equal(t, 0, code, stderr)
	assert.NotContains(t, stderr, "warning")
	cfg, err := os.ReadFile(filepath.Join(work, "b", "config.json"))
	require.NoError(t, err)
	assert.Contains(t, string(cfg), `"bits": 1`)
}

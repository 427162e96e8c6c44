package gguf_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/oracle"
)

func checkScript(t testing.TB) string {
	return filepath.Join(moduleRoot(t), "scripts", "oracle", "gguf_check.py")
}

// interopFiles returns named (KVs, tensors) sets covering every value type,
// many tensor types, alignments 8/32/64 and a file without tensors.
func interopFiles(t testing.TB) map[string]func() ([]gguf.KV, []gguf.TensorInfo) {
	withAlign := func(a uint32) func() ([]gguf.KV, []gguf.TensorInfo) {
		return func() ([]gguf.KV, []gguf.TensorInfo) {
			return append(sampleKVs(), gguf.KV{Key: "general.alignment", Value: gguf.NewValue[uint32](a)}), sampleTensors()
		}
	}
	return map[string]func() ([]gguf.KV, []gguf.TensorInfo){
		"sample":  func() ([]gguf.KV, []gguf.TensorInfo) { return sampleKVs(), sampleTensors() },
		"align8":  withAlign(8),
		"align64": withAlign(64),
		"no-tensors": func() ([]gguf.KV, []gguf.TensorInfo) {
			return sampleKVs(), nil
		},
		"bad-utf8": func() ([]gguf.KV, []gguf.TensorInfo) {
			return []gguf.KV{
				{Key: "general.architecture", Value: gguf.NewValue("x")},
				{Key: "s", Value: gguf.NewValue("\xff\xfe ok")},
				{Key: "a", Value: gguf.NewValue([]string{"ok", "\xc3"})},
			}, []gguf.TensorInfo{{Name: "w", Type: gguf.Q8_0, Shape: []uint64{32, 2}}}
		},
	}
}

// TestInteropGGUFPy writes files with our writer and checks that gguf-py's
// GGUFReader sees exactly what our reader sees: KVs with types and values,
// tensor names, types, shapes, absolute offsets, sizes and data hashes.
func TestInteropGGUFPy(t *testing.T) {
	script := checkScript(t)
	dir := t.TempDir()
	for name, mk := range interopFiles(t) {
		t.Run(name, func(t *testing.T) {
			kvs, tensors := mk()
			data, _ := writeFile(t, kvs, tensors)
			path := filepath.Join(dir, name+".gguf")
			require.NoError(t, os.WriteFile(path, data, 0o644))
			want := decodeJSON(t, oracle.Run(t, script, "dump", path))
			got := decodeJSON(t, dumpJSON(t, mustOpen(t, path)))
			assert.Equal(t, want, got)
		})
	}
	t.Run("vocab fixtures", func(t *testing.T) {
		// gguf-py parses big arrays slowly: three fixtures cover SPM
		// (scores), BPE (merges) and WPM.
		for _, path := range vocabFixtures(t) {
			switch filepath.Base(path) {
			case "ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-bert-bge.gguf":
			default:
				continue
			}
			want := decodeJSON(t, oracle.Run(t, script, "dump", path))
			got := decodeJSON(t, dumpJSON(t, mustOpen(t, path)))
			assert.Equal(t, want, got, path)
		}
	})
}

// TestSplitGGUFPy has gguf-py's GGUFWriter (as convert_hf_to_gguf.py drives
// it) rewrite an unsplit file with split limits and compares its shards byte
// for byte with PlanSplit's.
func TestSplitGGUFPy(t *testing.T) {
	script := checkScript(t)
	// gguf-py's writer refuses empty arrays ("Invalid GGUF metadata array").
	var kvs []gguf.KV
	for _, kv := range sampleKVs() {
		if !kv.Value.IsArray() || kv.Value.Len() > 0 {
			kvs = append(kvs, kv)
		}
	}
	tensors := sampleTensors()
	for _, tc := range []struct {
		name                 string
		maxTensors, maxBytes int
		small                bool
	}{
		{"unsplit", 0, 0, false},
		{"max-tensors-4", 4, 0, false},
		{"max-tensors-1", 1, 0, false},
		{"max-bytes-1000", 0, 1000, false},
		{"max-bytes-100", 0, 100, false},
		{"both", 3, 800, false},
		{"small-first-shard", 5, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "src.gguf")
			data, _ := writeFile(t, kvs, tensors)
			require.NoError(t, os.WriteFile(src, data, 0o644))
			f := mustOpen(t, src)

			pyDir := filepath.Join(dir, "py")
			require.NoError(t, os.Mkdir(pyDir, 0o755))
			args := []string{script, "rewrite", src, filepath.Join(pyDir, "out.gguf"), strconv.Itoa(tc.maxTensors), strconv.Itoa(tc.maxBytes)}
			if tc.small {
				args = append(args, "small-first-shard")
			}
			oracle.Run(t, args...)

			goDir := filepath.Join(dir, "go")
			require.NoError(t, os.Mkdir(goDir, 0o755))
			shards, err := gguf.PlanSplit(filepath.Join(goDir, "out.gguf"), f.KVs(), f.Tensors,
				gguf.SplitOptions{MaxTensors: tc.maxTensors, MaxBytes: uint64(tc.maxBytes), NoTensorsInFirst: tc.small})
			require.NoError(t, err)
			paths := writeShards(t, shards, func(_ int, ti gguf.TensorInfo) []byte { return readAll(t, f, ti.Name) })

			pyFiles, err := filepath.Glob(filepath.Join(pyDir, "*.gguf"))
			require.NoError(t, err)
			require.Len(t, pyFiles, len(paths), "number of shards")
			for _, p := range paths {
				want, err := os.ReadFile(filepath.Join(pyDir, filepath.Base(p)))
				require.NoError(t, err, "gguf-py has no %s", filepath.Base(p))
				got, err := os.ReadFile(p)
				require.NoError(t, err)
				assert.True(t, bytes.Equal(want, got), "%s differs from gguf-py's (%d vs %d bytes)", filepath.Base(p), len(got), len(want))
			}
		})
	}
}

// TestGGUFPyFixtureFresh checks that testdata/gguf-py.gguf is what gguf-py
// writes today (gguf_check.py fixture).
func TestGGUFPyFixtureFresh(t *testing.T) {
	out := filepath.Join(t.TempDir(), "fixture.gguf")
	oracle.Run(t, checkScript(t), "fixture", out)
	want, err := os.ReadFile(out)
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join("testdata", "gguf-py.gguf"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, got), "testdata/gguf-py.gguf is stale: regenerate it with gguf_check.py fixture")
}

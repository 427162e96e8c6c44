package convert

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/modelcard"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
)

// The golden cases compare Run's output with what mlx_lm.convert 0.32.2
// (MLX 0.32.4, CPU) wrote for the same generated inputs: every tensor's
// shard, dtype, shape and sha256, and the bytes of config.json,
// model.safetensors.index.json and README.md. testdata/golden/mkgolden.py
// regenerates golden.json from the inputs this test writes when
// MLXCONV_GOLDEN_INPUTS names a directory.

type goldenCase struct {
	Name  string   `json:"name"`
	Model string   `json:"model"`
	From  string   `json:"from"`
	Args  []string `json:"args"`
	// MaxShard is a shard limit in bytes (mkgolden.py patches mlx-lm's
	// make_shards to use it).
	MaxShard int64 `json:"max_shard"`
}

// optionsFromArgs maps the mlx_lm.convert flags the cases use.
func optionsFromArgs(t testing.TB, args []string) Options {
	t.Helper()
	var o Options
	for i := 0; i < len(args); i++ {
		val := func() string {
			i++
			require.Less(t, i, len(args), "flag %s needs a value", args[i-1])
			return args[i]
		}
		atoi := func() int {
			n, err := strconv.Atoi(val())
			require.NoError(t, err)
			return n
		}
		switch args[i] {
		case "-q":
			o.Quantize = true
		case "-d":
			o.Dequantize = true
		case "--dtype":
			o.DType = must(ParseCastDType(val()))
		case "--q-bits":
			o.QBits = atoi()
		case "--q-group-size":
			o.QGroupSize = atoi()
		case "--q-mode":
			o.QMode = must(mlx.ParseQuantMode(val()))
		case "--quant-predicate":
			o.QuantPredicate = must(ParseRecipe(val()))
		default:
			t.Fatalf("unknown flag %s", args[i])
		}
	}
	return o
}

// manifest describes an output directory: per tensor "shard dtype shape
// sha256", per file its sha256.
type manifest struct {
	Files   map[string]string `json:"files"`
	Tensors map[string]string `json:"tensors"`
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func readManifest(t testing.TB, dir string) manifest {
	t.Helper()
	m := manifest{Files: map[string]string{}, Tensors: map[string]string{}}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		name := e.Name()
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		switch {
		case name == "config.json" || name == "model.safetensors.index.json":
			m.Files[name] = sha(b)
		case name == "README.md":
			// mlx-lm's card is front matter only; mlxconv's body (the
			// recipe) is checked by the card tests.
			meta, _ := modelcard.SplitFrontMatter(string(b))
			m.Files[name] = sha([]byte("---\n" + meta + "\n---\n"))
		case strings.HasSuffix(name, ".safetensors"):
			rd, err := safetensors.NewReader(bytesReaderAt(b), int64(len(b)), safetensors.WithName(name))
			require.NoError(t, err)
			assert.Equal(t, map[string]string{"format": "mlx"}, rd.Metadata(), name)
			for _, ti := range rd.Tensors() {
				data, err := rd.ReadTensor(ti.Name, nil)
				require.NoError(t, err)
				m.Tensors[ti.Name] = fmt.Sprintf("%s %s %v %s", name, ti.DType.SafetensorsName(), ti.Shape, sha(data))
			}
		}
	}
	return m
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, fmt.Errorf("EOF")
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, fmt.Errorf("EOF")
	}
	return n, nil
}

func loadGoldenCases(t testing.TB) []goldenCase {
	b, err := os.ReadFile(filepath.Join("testdata", "golden", "cases.json"))
	require.NoError(t, err)
	var cases []goldenCase
	require.NoError(t, json.Unmarshal(b, &cases))
	return cases
}

func TestGolden(t *testing.T) {
	cases := loadGoldenCases(t)
	work := t.TempDir()
	inputs := filepath.Join(work, "inputs")
	if dir := os.Getenv("MLXCONV_GOLDEN_INPUTS"); dir != "" {
		inputs = dir
	}
	for name, mk := range testModels {
		writeModel(t, filepath.Join(inputs, name), mk())
	}
	goldenPath := filepath.Join("testdata", "golden", "golden.json")
	raw, err := os.ReadFile(goldenPath)
	require.NoError(t, err, "run testdata/golden/mkgolden.py to create it")
	var golden map[string]manifest
	require.NoError(t, json.Unmarshal(raw, &golden))
	outs := map[string]string{}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			in := filepath.Join(inputs, c.Model)
			if c.From != "" {
				in = outs[c.From]
				require.NotEmpty(t, in, "case %s runs after %s", c.Name, c.From)
			}
			o := optionsFromArgs(t, c.Args)
			o.HFPath, o.MLXPath = in, filepath.Join(work, "out", c.Name)
			o.Workers = 2
			o.MaxShardSize = c.MaxShard
			o.unitBytes = 4096 // many work units per tensor
			_, err := Run(context.Background(), o)
			require.NoError(t, err)
			outs[c.Name] = o.MLXPath
			want, ok := golden[c.Name]
			require.True(t, ok, "no golden entry for %s", c.Name)
			got := readManifest(t, o.MLXPath)
			assert.Equal(t, want.Files, got.Files, "config.json, index and README bytes")
			assert.Equal(t, len(want.Tensors), len(got.Tensors), "tensor count")
			names := make([]string, 0, len(want.Tensors))
			for n := range want.Tensors {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				assert.Equal(t, want.Tensors[n], got.Tensors[n], "tensor %s", n)
			}
			// Our extra files are the inputs' bytes.
			for _, f := range []string{"tokenizer.json", "tokenizer_config.json", "generation_config.json", "chat_template.jinja"} {
				src, err := os.ReadFile(filepath.Join(in, f))
				if err != nil {
					continue
				}
				dst, err := os.ReadFile(filepath.Join(o.MLXPath, f))
				require.NoError(t, err, f)
				assert.Equal(t, src, dst, f)
			}
		})
	}
}

// TestGoldenManifestReader checks the manifest reader against a file it
// did not write: a shard built by hand.
func TestGoldenManifestReader(t *testing.T) {
	dir := t.TempDir()
	hdr := []byte(`{"__metadata__":{"format":"mlx"},"a":{"data_offsets":[0,4],"dtype":"F32","shape":[1]}}`)
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	b = append(append(b, hdr...), 0, 0, 128, 63)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model.safetensors"), b, 0o644))
	m := readManifest(t, dir)
	assert.Equal(t, "model.safetensors F32 [1] "+sha([]byte{0, 0, 128, 63}), m.Tensors["a"])
	_ = mlx.F32
}

// must returns v, panicking on err (test flag parsing of known-good values).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

package safetensors_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/mlx/safetensors"
)

// manifest mirrors testdata/manifest.json, written by gen_fixtures.py from
// the bytes handed to MLX and to the Rust safetensors library.
type manifest map[string]struct {
	Metadata map[string]string `json:"metadata"`
	Tensors  map[string]struct {
		DType  string `json:"dtype"`
		Shape  []int  `json:"shape"`
		SHA256 string `json:"sha256"`
	} `json:"tensors"`
}

func loadManifest(t *testing.T) manifest {
	t.Helper()
	b, err := os.ReadFile("testdata/manifest.json")
	require.NoError(t, err)
	var m manifest
	require.NoError(t, json.Unmarshal(b, &m))
	require.Len(t, m, 6)
	return m
}

// TestFixtures reads every committed fixture with Open and checks names,
// dtypes, shapes, body hashes and metadata against the manifest.
func TestFixtures(t *testing.T) {
	for name, want := range loadManifest(t) {
		t.Run(name, func(t *testing.T) {
			f, err := safetensors.Open(filepath.Join("testdata", name))
			require.NoError(t, err)
			defer f.Close()
			assert.True(t, f.Mapped())
			assert.Equal(t, want.Metadata, f.Metadata())
			if want.Metadata == nil {
				assert.Nil(t, f.Metadata())
			}
			infos := f.Tensors()
			require.Len(t, infos, len(want.Tensors))
			for _, ti := range infos {
				w, ok := want.Tensors[ti.Name]
				require.True(t, ok, "unexpected tensor %q", ti.Name)
				assert.Equal(t, w.DType, ti.DType.SafetensorsName(), ti.Name)
				assert.Equal(t, w.Shape, ti.Shape, ti.Name)
				body, err := f.Bytes(ti.Name)
				require.NoError(t, err)
				sum := sha256.Sum256(body)
				assert.Equal(t, w.SHA256, hex.EncodeToString(sum[:]), ti.Name)
				viaRead, err := f.ReadTensor(ti.Name, nil)
				require.NoError(t, err)
				assert.Equal(t, body, viaRead)
			}
		})
	}
}

// rewrite reads a file and writes it again in the given style, keeping its
// data order, metadata and bodies.
func rewrite(t *testing.T, file []byte, style safetensors.Style) []byte {
	t.Helper()
	r, err := safetensors.NewReader(bytes.NewReader(file), int64(len(file)))
	require.NoError(t, err)
	var out bytes.Buffer
	w, err := safetensors.NewWriter(&out, r.Tensors(), r.Metadata(), style)
	require.NoError(t, err)
	for _, ti := range r.Tensors() {
		sec, err := r.Section(ti.Name)
		require.NoError(t, err)
		bw, err := w.Create(ti.Name)
		require.NoError(t, err)
		_, err = io.Copy(bw, sec)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	assert.Equal(t, w.Size(), int64(out.Len()))
	return out.Bytes()
}

// TestFixtureBytesIdentical is the byte-parity proof: rewriting a file
// written by MLX in MLX style, or by Hugging Face's safetensors in HF
// style, with the same data order reproduces the original file exactly,
// header included.
func TestFixtureBytesIdentical(t *testing.T) {
	for _, tc := range []struct {
		file  string
		style safetensors.Style
	}{
		{"mlx_mixed.safetensors", safetensors.MLX},
		{"mlx_nometa.safetensors", safetensors.MLX},
		{"mlx_multimeta.safetensors", safetensors.MLX},
		{"hf_mixed.safetensors", safetensors.HF},
		{"hf_nometa.safetensors", safetensors.HF},
		{"hf_emptymeta.safetensors", safetensors.HF},
	} {
		t.Run(tc.file, func(t *testing.T) {
			orig, err := os.ReadFile(filepath.Join("testdata", tc.file))
			require.NoError(t, err)
			got := rewrite(t, orig, tc.style)
			require.Equal(t, len(orig), len(got))
			n := 8 + int(orig[0]) + int(orig[1])<<8
			assert.Equal(t, string(orig[:n]), string(got[:n]), "header")
			assert.True(t, bytes.Equal(orig, got), "file bytes differ")
		})
	}
}

// TestFixtureHFOrder checks that CompareHF reproduces the data order the
// Rust safetensors writer chose.
func TestFixtureHFOrder(t *testing.T) {
	for _, name := range []string{"hf_mixed.safetensors", "hf_nometa.safetensors"} {
		t.Run(name, func(t *testing.T) {
			f, err := safetensors.Open(filepath.Join("testdata", name))
			require.NoError(t, err)
			defer f.Close()
			got := f.Tensors()
			sorted := slices.Clone(got)
			slices.SortFunc(sorted, safetensors.CompareHF)
			assert.Equal(t, got, sorted)
		})
	}
}

// TestFixtureMLXHeaderFromScratch builds the MLX-style header for the
// fixture's tensors from a hand-made plan (names, dtypes, shapes in the
// fixture's data order) and compares it with the bytes MLX wrote.
func TestFixtureMLXHeaderFromScratch(t *testing.T) {
	orig, err := os.ReadFile("testdata/mlx_mixed.safetensors")
	require.NoError(t, err)
	man := loadManifest(t)["mlx_mixed.safetensors"]
	r, err := safetensors.NewReader(bytes.NewReader(orig), int64(len(orig)))
	require.NoError(t, err)
	var plan []safetensors.TensorInfo
	for _, ti := range r.Tensors() { // data order only
		m := man.Tensors[ti.Name]
		dt := ti.DType
		require.Equal(t, m.DType, dt.SafetensorsName())
		plan = append(plan, safetensors.TensorInfo{Name: ti.Name, DType: dt, Shape: m.Shape})
	}
	laid, _, err := safetensors.Layout(plan)
	require.NoError(t, err)
	hdr, err := safetensors.Header(laid, map[string]string{"format": "mlx"}, safetensors.MLX)
	require.NoError(t, err)
	assert.Equal(t, string(orig[8:r.DataOffset()]), string(hdr))
	assert.Equal(t, int64(len(hdr)), r.HeaderLen())
}

// Interop with the real tools (MLX and Hugging Face safetensors), through the
// pinned oracle venv that ./build.sh test exports as MLXCONV_ORACLE_PYTHON.

package safetensors_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/oracle"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
)

const interopPy = `
import json, sys, os
import numpy as np, mlx.core as mx
from safetensors import TensorSpec, serialize_file, safe_open
NP = {"BOOL": np.bool_, "U8": np.uint8, "U16": np.uint16, "U32": np.uint32, "U64": np.uint64,
      "I8": np.int8, "I16": np.int16, "I32": np.int32, "I64": np.int64, "F16": np.float16,
      "F32": np.float32, "C64": np.complex64, "BF16": np.uint16}
SPEC = {"BOOL": "bool", "U8": "uint8", "U16": "uint16", "U32": "uint32", "U64": "uint64",
        "I8": "int8", "I16": "int16", "I32": "int32", "I64": "int64", "F16": "float16",
        "F32": "float32", "C64": "complex64", "BF16": "bfloat16", "F64": "float64",
        "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}
def raw(a):
    if a.dtype == mx.bfloat16: a = a.view(mx.uint16)
    return np.array(a).tobytes()
d = sys.argv[1]
spec = json.load(open(os.path.join(d, "spec.json")))
for s in spec:
    base = os.path.join(d, s["id"])
    bodies = {t["name"]: open(base + "." + str(i) + ".bin", "rb").read() for i, t in enumerate(s["tensors"])}
    if s["mlx"]:
        arrs = {}
        for t in s["tensors"]:
            a = np.frombuffer(bodies[t["name"]], NP[t["dtype"]]).reshape(t["shape"])
            m = mx.array(a)
            if t["dtype"] == "BF16": m = m.view(mx.bfloat16)
            arrs[t["name"]] = m
        mx.save_safetensors(base + ".ref_mlx.safetensors", arrs, metadata=s["meta"] or {})
        got, meta = mx.load(base + ".ours_mlx.safetensors", return_metadata=True)
        assert meta == (s["meta"] or {}), (meta, s["meta"])
        assert set(got) == set(bodies), s["id"]
        for k, v in got.items():
            assert raw(v) == bodies[k], (s["id"], k)
            assert list(v.shape) == [t["shape"] for t in s["tensors"] if t["name"] == k][0]
    bufs = {k: np.frombuffer(v, np.uint8).copy() if v else np.zeros(1, np.uint8) for k, v in bodies.items()}
    specs = {t["name"]: TensorSpec(dtype=SPEC[t["dtype"]], shape=tuple(t["shape"]),
                                   data_ptr=bufs[t["name"]].ctypes.data, data_len=len(bodies[t["name"]]))
             for t in s["tensors"]}
    serialize_file(specs, base + ".ref_hf.safetensors", metadata=s["meta"])
    with safe_open(base + ".ours_hf.safetensors", framework="numpy") as f:
        assert set(f.keys()) == set(bodies)
        assert (f.metadata() or None) == (s["meta"] or None)
print("python checks passed:", len(spec))
`

type interopTensor struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
}

type interopSet struct {
	ID      string            `json:"id"`
	MLX     bool              `json:"mlx"`
	Meta    map[string]string `json:"meta"`
	Tensors []interopTensor   `json:"tensors"`
}

func TestInterop(t *testing.T) {
	py := oracle.Python(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 11))
	mlxOK := []mlx.DType{mlx.Bool, mlx.U8, mlx.U16, mlx.U32, mlx.U64, mlx.I8, mlx.I16, mlx.I32, mlx.I64,
		mlx.F16, mlx.BF16, mlx.F32, mlx.C64}
	runes := []rune("abcXYZ_.09-é€\"\\\n😀")
	var sets []interopSet
	all := map[string][]safetensors.Tensor{}
	for i := 0; i < 30; i++ {
		s := interopSet{ID: fmt.Sprintf("s%02d", i), MLX: i%3 != 2}
		dts := mlxOK
		if !s.MLX {
			dts = allDTypes // F64 and F8 only through HF
		}
		switch i % 4 {
		case 1:
			s.Meta = map[string]string{"format": "mlx"}
		case 2:
			s.Meta = map[string]string{}
		}
		var ts []safetensors.Tensor
		names := map[string]bool{}
		for n := rng.IntN(10) + 1; len(ts) < n; {
			nr := make([]rune, rng.IntN(6)+1)
			for j := range nr {
				nr[j] = runes[rng.IntN(len(runes))]
			}
			name := string(nr)
			if names[name] || name == "__metadata__" {
				continue
			}
			names[name] = true
			dt := dts[rng.IntN(len(dts))]
			shape := make([]int, rng.IntN(4))
			numel := 1
			for j := range shape {
				shape[j] = rng.IntN(6) // 0 included: empty tensors
				numel *= shape[j]
			}
			data := make([]byte, numel*dt.Size())
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			if dt == mlx.Bool {
				for j := range data {
					data[j] &= 1
				}
			}
			ts = append(ts, safetensors.Tensor{TensorInfo: safetensors.TensorInfo{Name: name, DType: dt, Shape: shape}, Data: data})
			s.Tensors = append(s.Tensors, interopTensor{name, dt.SafetensorsName(), shape})
			require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s.%d.bin", s.ID, len(ts)-1)), data, 0o644))
		}
		base := filepath.Join(dir, s.ID)
		if s.MLX {
			require.NoError(t, safetensors.WriteFile(base+".ours_mlx.safetensors", ts, s.Meta, safetensors.MLX))
		}
		hfOrder := slices.Clone(ts)
		slices.SortFunc(hfOrder, func(a, b safetensors.Tensor) int { return safetensors.CompareHF(a.TensorInfo, b.TensorInfo) })
		require.NoError(t, safetensors.WriteFile(base+".ours_hf.safetensors", hfOrder, s.Meta, safetensors.HF))
		sets = append(sets, s)
		all[s.ID] = ts
	}
	spec, err := json.Marshal(sets)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "spec.json"), spec, 0o644))
	out, err := exec.Command(py, "-c", interopPy, dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Logf("%s", out)

	for _, s := range sets {
		t.Run(s.ID, func(t *testing.T) {
			base := filepath.Join(dir, s.ID)
			ours, err := os.ReadFile(base + ".ours_hf.safetensors")
			require.NoError(t, err)
			ref, err := os.ReadFile(base + ".ref_hf.safetensors")
			require.NoError(t, err)
			assert.True(t, bytes.Equal(ours, ref), "HF style differs from safetensors:\nours %q\nref  %q", ours, ref)
			if !s.MLX {
				return
			}
			ref, err = os.ReadFile(base + ".ref_mlx.safetensors")
			require.NoError(t, err)
			f, err := safetensors.Open(base + ".ref_mlx.safetensors")
			require.NoError(t, err)
			defer f.Close()
			checkByName(t, f.Reader, all[s.ID])
			again := rewrite(t, ref, safetensors.MLX)
			assert.True(t, bytes.Equal(ref, again), "MLX style differs from mx.save_safetensors:\nours %q\nref  %q", again, ref)
		})
	}
}

func checkByName(t *testing.T, r *safetensors.Reader, ts []safetensors.Tensor) {
	t.Helper()
	require.Equal(t, len(ts), r.Len())
	for _, want := range ts {
		ti, ok := r.Tensor(want.Name)
		require.True(t, ok, want.Name)
		assert.Equal(t, want.DType, ti.DType)
		assert.Equal(t, len(want.Shape), len(ti.Shape))
		b, err := r.Bytes(want.Name)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(want.Data, b), want.Name)
	}
}

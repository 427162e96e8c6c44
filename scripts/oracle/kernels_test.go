package oracle_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/oracle"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
)

// tally counts comparisons and reports the first mismatches in detail.
type tally struct {
	t              *testing.T
	passed, failed int
}

func (c *tally) check(file, name string, ok bool, format string, args ...any) {
	c.t.Helper()
	if ok {
		c.passed++
		return
	}
	c.failed++
	if c.failed <= 25 {
		c.t.Errorf("%s: %s: %s", file, name, fmt.Sprintf(format, args...))
	}
}

// array is one tensor's dtype, shape and bytes.
type array struct {
	dt    mlx.DType
	shape []int
	data  []byte
}

func load(t *testing.T, f *safetensors.File, name string) (array, bool) {
	t.Helper()
	info, ok := f.Tensor(name)
	if !ok {
		return array{}, false
	}
	b, err := f.Bytes(name)
	require.NoError(t, err)
	return array{info.DType, info.Shape, b}, true
}

func (c *tally) compare(file, name string, want array, got array) {
	c.t.Helper()
	switch {
	case want.dt != got.dt:
		c.check(file, name, false, "dtype %v, MLX has %v", got.dt, want.dt)
	case !slices.Equal(want.shape, got.shape):
		c.check(file, name, false, "shape %v, MLX has %v", got.shape, want.shape)
	default:
		i := firstDiff(want.data, got.data)
		c.check(file, name, i < 0, "bytes differ from MLX's at byte %d of %d (ours % x, MLX % x)",
			i, len(want.data), window(got.data, i), window(want.data, i))
	}
}

func firstDiff(a, b []byte) int {
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

func window(b []byte, i int) []byte {
	if i < 0 || i >= len(b) {
		return nil
	}
	return b[i:min(len(b), i+8)]
}

// TestKernelOracle recomputes every output of the cases written by
// scripts/oracle/kernels.py gen with the pure-Go kernels (MLX CPU rounding)
// and compares bytes. It then writes its outputs with our safetensors writer
// into DIR/ours for kernels.py verify (mx.load).
func TestKernelOracle(t *testing.T) {
	dir := oracle.Env(t, "MLXCONV_ORACLE_DIR")
	files, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no oracle cases in %s", dir)
	sort.Strings(files)
	ours := filepath.Join(dir, "ours")
	require.NoError(t, os.MkdirAll(ours, 0o755))

	c := &tally{t: t}
	for _, path := range files {
		f, err := safetensors.Open(path)
		require.NoError(t, err, "our reader on MLX's file")
		meta := f.Metadata()
		reps, err := strconv.Atoi(meta["reps"])
		require.NoError(t, err, "%s: reps", path)
		base := filepath.Base(path)
		var out []safetensors.Tensor
		emit := func(name string, a array) {
			out = append(out, safetensors.Tensor{
				TensorInfo: safetensors.TensorInfo{Name: name, DType: a.dt, Shape: a.shape, End: int64(len(a.data))},
				Data:       slices.Clone(a.data),
			})
		}
		for k := 0; k < reps; k++ {
			pre := fmt.Sprintf("c%d.", k)
			w, ok := load(t, f, pre+"w")
			require.True(t, ok, "%s: missing %sw", base, pre)
			switch meta["kind"] {
			case "quantize":
				p := params(t, meta)
				if g, ok := load(t, f, pre+"global_scale"); ok {
					require.Equal(t, mlx.F32, g.dt)
					v := math.Float32frombits(binary.LittleEndian.Uint32(g.data))
					p.GlobalScale = &v
				}
				q, err := mlx.Quantize(w.data, w.dt, w.shape, p)
				if !c.okErr(base, pre+"quantize", err) {
					continue
				}
				wantQ, _ := load(t, f, pre+"wq")
				wantS, _ := load(t, f, pre+"scales")
				c.compare(base, pre+"wq", wantQ, array{mlx.U32, q.WeightShape, q.Weight})
				c.compare(base, pre+"scales", wantS, array{q.ScaleDType, q.ScaleShape, q.Scales})
				emit(pre+"wq", array{mlx.U32, q.WeightShape, q.Weight})
				emit(pre+"scales", array{q.ScaleDType, q.ScaleShape, q.Scales})
				wantB, hasB := load(t, f, pre+"biases")
				if hasB || q.Biases != nil {
					c.compare(base, pre+"biases", wantB, array{q.ScaleDType, q.ScaleShape, q.Biases})
					emit(pre+"biases", array{q.ScaleDType, q.ScaleShape, q.Biases})
				}
				// Dequantize MLX's own quantized arrays, so a quantize
				// mismatch cannot hide or cause a dequantize one.
				mq := mlx.Quantized{Weight: wantQ.data, WeightShape: wantQ.shape, Scales: wantS.data,
					ScaleShape: wantS.shape, ScaleDType: wantS.dt}
				if hasB {
					mq.Biases = wantB.data
				}
				deq, err := mlx.Dequantize(mq, p, mlx.Invalid)
				if !c.okErr(base, pre+"dequantize", err) {
					continue
				}
				got := array{mlx.DequantizedDType(p, wantS.dt, mlx.Invalid), w.shape, deq}
				wantD, _ := load(t, f, pre+"deq")
				c.compare(base, pre+"deq", wantD, got)
				emit(pre+"deq", got)
			case "cast":
				from, err1 := mlx.ParseDType(meta["from"])
				to, err2 := mlx.ParseDType(meta["to"])
				require.NoError(t, err1)
				require.NoError(t, err2)
				require.Equal(t, from, w.dt)
				res, err := mlx.Cast(w.data, from, to)
				if !c.okErr(base, pre+"cast", err) {
					continue
				}
				want, _ := load(t, f, pre+"out")
				got := array{to, w.shape, res}
				c.compare(base, pre+"out", want, got)
				emit(pre+"out", got)
			case "fp8block":
				for _, got := range fp8Block(t, f, pre, w, meta) {
					want, _ := load(t, f, got.name)
					c.compare(base, got.name, want, got.array)
					emit(got.name, got.array)
				}
			default:
				t.Fatalf("%s: unknown case kind %q", base, meta["kind"])
			}
		}
		require.NoError(t, f.Close())
		require.NoError(t, safetensors.WriteFile(filepath.Join(ours, base), out, map[string]string{"format": "mlx"}, safetensors.MLX))
	}
	fmt.Printf("kernels: %d passed, %d failed\n", c.passed, c.failed)
	require.GreaterOrEqual(t, c.passed+c.failed, 2000, "the oracle must make at least 2000 comparisons")
}

func (c *tally) okErr(file, name string, err error) bool {
	c.t.Helper()
	if err != nil {
		// A failed call counts once, as one failed comparison.
		c.check(file, name, false, "error: %v", err)
	}
	return err == nil
}

func params(t *testing.T, meta map[string]string) mlx.QuantParams {
	mode, err := mlx.ParseQuantMode(meta["mode"])
	require.NoError(t, err)
	bits, err := strconv.Atoi(meta["bits"])
	require.NoError(t, err)
	gs, err := strconv.Atoi(meta["group_size"])
	require.NoError(t, err)
	return mlx.QuantParams{Mode: mode, Bits: bits, GroupSize: gs, Rounding: mlx.RoundingCPU}
}

// namedArray is one output of a case.
type namedArray struct {
	name string
	array
}

// fp8Block recomputes an fp8block case: every code of w decoded to
// bfloat16 (pre+"from") and the block dequant by pre+"scale" (pre+"out").
func fp8Block(t *testing.T, f *safetensors.File, pre string, w array, meta map[string]string) []namedArray {
	t.Helper()
	block, err := strconv.Atoi(meta["block"])
	require.NoError(t, err)
	require.Equal(t, mlx.U8, w.dt)
	require.Len(t, w.shape, 2)
	scale, ok := load(t, f, pre+"scale")
	require.True(t, ok, "missing %sscale", pre)
	from := make([]byte, 2*len(w.data))
	for i, b := range w.data {
		binary.LittleEndian.PutUint16(from[2*i:], mlx.F32ToBF16(mlx.FP8E4M3ToF32(b)))
	}
	out := make([]byte, 2*len(w.data))
	require.NoError(t, mlx.DequantFP8Block(out, w.data, scale.data, w.shape[1], block, 0))
	return []namedArray{{pre + "from", array{mlx.BF16, w.shape, from}}, {pre + "out", array{mlx.BF16, w.shape, out}}}
}

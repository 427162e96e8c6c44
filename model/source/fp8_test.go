package source

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model"
	"github.com/mlxconv/mlxconv/pipeline"
)

// TestFP8BlockBytes executes FP8 block-scaled inputs (one weight, two
// stacked experts, a kv_b_proj viewed per head) from a real safetensors
// file, in tiny row units, element units and whole, and checks their bytes
// against mlx.DequantFP8Block of each whole tensor rearranged by hand.
func TestFP8BlockBytes(t *testing.T) {
	for _, to := range []mlx.DType{mlx.BF16, mlx.F32} {
		t.Run(to.String(), func(t *testing.T) { testFP8BlockBytes(t, to) })
	}
}

func testFP8BlockBytes(t *testing.T, to mlx.DType) {
	dir := t.TempDir()
	f8 := func(name string, shape ...int) genTensor { return genTensor{name, mlx.F8E4M3, shape} }
	src := []genTensor{f8("w.weight", 200, 130), f32("w.weight_scale_inv", 2, 2),
		f8("e.0.weight", 129, 3), f32("e.0.weight_scale_inv", 2, 1), f8("e.1.weight", 129, 3), f32("e.1.weight_scale_inv", 2, 1),
		f8("kvb.weight", 24, 130), f32("kvb.weight_scale_inv", 1, 2)}
	inv := testInventory(t, dir, src)
	ts := newTensorSet(inv.Tensors)
	v := tensorView{ts}
	for _, w := range []string{"w", "e.0", "e.1", "kvb"} {
		require.NoError(t, v.DequantFP8(w+".weight", w+".weight_scale_inv", 128, to == mlx.F32))
	}
	require.NoError(t, v.Stack("e.weight", []string{"e.0.weight", "e.1.weight"}))
	require.NoError(t, v.View("q.weight", "kvb.weight", model.View{Shape: []int{4, 6, 130}, Axis: 1, Start: 0, Stop: 2, Swap12: true}))
	require.NoError(t, v.View("o.weight", "kvb.weight", model.View{Shape: []int{4, 6, 130}, Axis: 1, Start: 2, Stop: 6}))
	v.Pop("kvb.weight")
	assert.Equal(t, []string{"w.weight", "e.weight", "q.weight", "o.weight"}, ts.names())

	deq := map[string][]byte{}
	for i := 0; i < len(src); i += 2 {
		w, s := tensorData(src[i]), tensorData(src[i+1])
		out := make([]byte, to.Size()*len(w))
		require.NoError(t, mlx.DequantFP8BlockTo(out, to, w, s, src[i].shape[1], 128, 0))
		deq[src[i].name] = out
	}
	kvb := deq["kvb.weight"] // [4 heads × 6 rows, 130] of dtype to
	es := to.Size()
	var q, o []byte
	for h := 0; h < 4; h++ {
		for c := 0; c < 130; c++ { // rows 0-1 of head h, transposed
			for r := 0; r < 2; r++ {
				q = append(q, kvb[((h*6+r)*130+c)*es:][:es]...)
			}
		}
		o = append(o, kvb[(h*6+2)*130*es:(h*6+6)*130*es]...)
	}
	want := map[string][]byte{"w.weight": deq["w.weight"], "e.weight": cat(deq["e.0.weight"], deq["e.1.weight"]), "q.weight": q, "o.weight": o}
	backend, _, err := mlx.OpenNative(1, "")
	require.NoError(t, err)
	for name, w := range want {
		in, ok := ts.get(name)
		require.True(t, ok, name)
		assert.Equal(t, to, in.DType, name)
		for _, unit := range []struct {
			elementwise bool
			bytes       int64
		}{{true, 4}, {false, 4}, {false, 1 << 20}} {
			sink := &memSink{b: make([]byte, len(w))}
			job, err := StreamJob(name, []*Input{in}, unit.elementwise, []pipeline.Output{{Name: name, Size: int64(len(w))}}, backend,
				func(_ pipeline.Unit, ins [][]byte, _ int64) ([][]byte, error) { return ins, nil })
			require.NoError(t, err, name)
			require.NoError(t, pipeline.Run(context.Background(), inv, sink, []pipeline.Job{job}, pipeline.Options{Workers: 2, UnitBytes: unit.bytes}), name)
			assert.Equal(t, w, sink.b, "%s elementwise=%v units of %d bytes", name, unit.elementwise, unit.bytes)
		}
	}
}

// TestFP8BlockErrors: the checks of DequantFP8 and SliceHeads.
func TestFP8BlockErrors(t *testing.T) {
	f8 := func(name string, shape ...int) genTensor { return genTensor{name, mlx.F8E4M3, shape} }
	tests := []struct {
		name    string
		tensors []genTensor
		run     func(v tensorView) error
		want    string
	}{
		{"no weight", []genTensor{f32("a.weight_scale_inv", 1, 1)},
			func(v tensorView) error { return v.DequantFP8("a.weight", "a.weight_scale_inv", 128, false) }, `has no weight "a.weight"`},
		{"not fp8", []genTensor{bf16("a.weight", 4, 4), f32("a.weight_scale_inv", 1, 1)},
			func(v tensorView) error { return v.DequantFP8("a.weight", "a.weight_scale_inv", 128, false) }, "must be a 2-D float8_e4m3fn"},
		{"scale shape", []genTensor{f8("a.weight", 200, 4), f32("a.weight_scale_inv", 1, 1)},
			func(v tensorView) error { return v.DequantFP8("a.weight", "a.weight_scale_inv", 128, false) }, "must be float32[2 1]"},
		{"scale dtype", []genTensor{f8("a.weight", 4, 4), bf16("a.weight_scale_inv", 1, 1)},
			func(v tensorView) error { return v.DequantFP8("a.weight", "a.weight_scale_inv", 128, false) }, "must be float32[1 1]"},
		{"view of scaled", []genTensor{bf16("a.scale", 4, 4)},
			func(v tensorView) error {
				if err := v.Scaled("a.biases", "a.scale", -8); err != nil {
					return err
				}
				return v.View("b", "a.biases", model.View{Axis: 0, Start: 0, Stop: 1})
			}, "itself derived"},
		{"mixed stack", []genTensor{f8("a.weight", 4, 4), f32("a.weight_scale_inv", 1, 1), bf16("b.weight", 4, 4)},
			func(v tensorView) error {
				if err := v.DequantFP8("a.weight", "a.weight_scale_inv", 128, false); err != nil {
					return err
				}
				return v.Stack("s.weight", []string{"a.weight", "b.weight"})
			}, "not derived alike"},
	}
	for _, tc := range tests {
		dir := t.TempDir()
		err := tc.run(tensorView{newTensorSet(testInventory(t, dir, tc.tensors).Tensors)})
		require.ErrorIs(t, err, model.ErrWeights, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
	}
}

// TestScaledBytes: a Scaled tensor (compressed-tensors biases, -8 *
// scales) alone and stacked, in element units, and a weight viewed as
// uint32.
func TestScaledBytes(t *testing.T) {
	dir := t.TempDir()
	src := []genTensor{bf16("a.weight_scale", 5, 3), bf16("e.0.weight_scale", 4, 2), bf16("e.1.weight_scale", 4, 2),
		{"a.weight_packed", mlx.I32, []int{5, 12}}}
	inv := testInventory(t, dir, src)
	ts := newTensorSet(inv.Tensors)
	v := tensorView{ts}
	for _, p := range []string{"a", "e.0", "e.1"} {
		require.NoError(t, v.Scaled(p+".biases", p+".weight_scale", -8))
	}
	require.NoError(t, v.Stack("e.biases", []string{"e.0.biases", "e.1.biases"}))
	require.NoError(t, v.ViewUint32("a.weight_packed"))
	in, _ := ts.get("a.weight_packed")
	assert.Equal(t, mlx.U32, in.DType)
	require.ErrorIs(t, v.ViewUint32("a.weight_scale"), model.ErrWeights)
	require.ErrorIs(t, v.Scaled("x", "a.weight_packed", 2), model.ErrWeights)

	times8 := func(g genTensor) []byte { return mulConst(tensorData(g), mlx.BF16, -8) }
	want := map[string][]byte{"a.biases": times8(src[0]), "e.biases": cat(times8(src[1]), times8(src[2]))}
	// -8 * s is exact in bfloat16: check one value by hand.
	s0 := mlx.BF16ToF32(uint16(tensorData(src[0])[0]) | uint16(tensorData(src[0])[1])<<8)
	got0 := mlx.BF16ToF32(uint16(want["a.biases"][0]) | uint16(want["a.biases"][1])<<8)
	assert.Equal(t, -8*s0, got0)
	backend, _, err := mlx.OpenNative(1, "")
	require.NoError(t, err)
	for name, w := range want {
		in, ok := ts.get(name)
		require.True(t, ok, name)
		sink := &memSink{b: make([]byte, len(w))}
		job, err := StreamJob(name, []*Input{in}, true, []pipeline.Output{{Name: name, Size: int64(len(w))}}, backend,
			func(_ pipeline.Unit, ins [][]byte, _ int64) ([][]byte, error) { return ins, nil })
		require.NoError(t, err, name)
		require.NoError(t, pipeline.Run(context.Background(), inv, sink, []pipeline.Job{job}, pipeline.Options{Workers: 2, UnitBytes: 4}), name)
		assert.Equal(t, w, sink.b, name)
	}
}

// testInventory writes ts as a checkpoint into dir and loads it.
func testInventory(t *testing.T, dir string, ts []genTensor) *Inventory {
	t.Helper()
	writeTestModel(t, dir, ts)
	inv, err := LoadInventory(dir)
	require.NoError(t, err)
	t.Cleanup(func() { inv.Close() })
	return inv
}

package gguf_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
)

// bytesTensors returns F32 tensors named t0.. with the given data sizes
// (multiples of 4).
func bytesTensors(sizes ...uint64) []gguf.TensorInfo {
	ts := make([]gguf.TensorInfo, len(sizes))
	for i, s := range sizes {
		ts[i] = gguf.TensorInfo{Name: "t" + string(rune('a'+i)), Type: gguf.F32, Shape: []uint64{s / 4}}
	}
	return ts
}

func shardNames(sh []gguf.Shard) [][]string {
	var out [][]string
	for _, s := range sh {
		var names []string
		for _, t := range s.Plan.Tensors {
			names = append(names, t.Name)
		}
		out = append(out, names)
	}
	return out
}

func TestShardPath(t *testing.T) {
	assert.Equal(t, "m-00001-of-00003.gguf", gguf.ShardPath("m", 0, 3))
	assert.Equal(t, "dir/model-00012-of-00012.gguf", gguf.ShardPath("dir/model", 11, 12))
}

func TestPlanSplit(t *testing.T) {
	kvs := []gguf.KV{{Key: "general.architecture", Value: gguf.NewValue("llama")}, {Key: "x", Value: gguf.NewValue[uint32](1)}}
	for _, tc := range []struct {
		name  string
		sizes []uint64
		opts  gguf.SplitOptions
		want  [][]string
	}{
		{"no limits", []uint64{4, 8, 12}, gguf.SplitOptions{}, [][]string{{"ta", "tb", "tc"}}},
		{"limits not reached", []uint64{4, 8, 12}, gguf.SplitOptions{MaxTensors: 3, MaxBytes: 24}, [][]string{{"ta", "tb", "tc"}}},
		{"max tensors", []uint64{4, 4, 4, 4, 4, 4, 4}, gguf.SplitOptions{MaxTensors: 3},
			[][]string{{"ta", "tb", "tc"}, {"td", "te", "tf"}, {"tg"}}},
		{"max bytes", []uint64{100, 100, 300, 48, 52, 4}, gguf.SplitOptions{MaxBytes: 200},
			[][]string{{"ta", "tb"}, {"tc"}, {"td", "te", "tf"}}},
		{"max bytes exact fit", []uint64{100, 100, 100}, gguf.SplitOptions{MaxBytes: 200},
			[][]string{{"ta", "tb"}, {"tc"}}},
		{"both limits", []uint64{8, 8, 8, 100, 8}, gguf.SplitOptions{MaxTensors: 2, MaxBytes: 50},
			[][]string{{"ta", "tb"}, {"tc"}, {"td"}, {"te"}}},
		{"metadata-only first shard", []uint64{4, 4}, gguf.SplitOptions{NoTensorsInFirst: true},
			[][]string{nil, {"ta", "tb"}}},
		{"metadata-only first shard, no tensors", nil, gguf.SplitOptions{NoTensorsInFirst: true},
			[][]string{nil, nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tensors := bytesTensors(tc.sizes...)
			shards, err := gguf.PlanSplit(filepath.Join("out", "model.gguf"), kvs, tensors, tc.opts)
			require.NoError(t, err)
			assert.Equal(t, tc.want, shardNames(shards))
			n := len(shards)
			if n == 1 {
				assert.Equal(t, filepath.Join("out", "model.gguf"), shards[0].Path)
				assert.Equal(t, kvs, shards[0].Plan.KVs, "a single file gets no split keys")
				return
			}
			for i, s := range shards {
				assert.Equal(t, gguf.ShardPath(filepath.Join("out", "model"), i, n), s.Path)
				want := []gguf.KV{
					{Key: "split.no", Value: gguf.NewValue(uint16(i))},
					{Key: "split.count", Value: gguf.NewValue(uint16(n))},
					{Key: "split.tensors.count", Value: gguf.NewValue(int32(len(tensors)))},
				}
				if i == 0 {
					want = append(append([]gguf.KV{}, kvs...), want...)
				}
				assert.Equal(t, want, s.Plan.KVs, "shard %d", i)
			}
		})
	}
}

func TestPlanSplitRejects(t *testing.T) {
	ts := bytesTensors(4, 4)
	_, err := gguf.PlanSplit("m.gguf", []gguf.KV{{Key: "split.count", Value: gguf.NewValue[uint16](1)}}, ts, gguf.SplitOptions{MaxTensors: 1})
	assert.ErrorIs(t, err, gguf.ErrInvalid)
	dup := append(bytesTensors(4, 4), bytesTensors(4)...)
	_, err = gguf.PlanSplit("m.gguf", nil, dup, gguf.SplitOptions{MaxTensors: 1})
	require.ErrorIs(t, err, gguf.ErrInvalid)
	assert.Contains(t, err.Error(), `tensor 2 "ta": duplicate name`)
	_, err = gguf.PlanSplit("m.gguf", nil, ts, gguf.SplitOptions{MaxTensors: -1})
	assert.ErrorIs(t, err, gguf.ErrInvalid)
	_, err = gguf.PlanSplit("m.gguf", nil, []gguf.TensorInfo{{Name: "q", Type: gguf.Q4_0, Shape: []uint64{16}}}, gguf.SplitOptions{})
	assert.ErrorIs(t, err, gguf.ErrInvalid)
	_, err = gguf.PlanSplit("m.gguf", nil, bytesTensors(make([]uint64, 70000)...), gguf.SplitOptions{MaxTensors: 1})
	assert.ErrorIs(t, err, gguf.ErrInvalid)
}

// writeShards writes every shard of a split plan into dir and returns the
// paths.
func writeShards(t testing.TB, shards []gguf.Shard, data func(i int, ti gguf.TensorInfo) []byte) []string {
	t.Helper()
	var paths []string
	for _, s := range shards {
		var buf bytes.Buffer
		w, err := gguf.NewWriter(&buf, s.Plan)
		require.NoError(t, err)
		for _, ti := range s.Plan.Tensors {
			require.NoError(t, w.WriteTensor(ti.Name, data(0, ti)))
		}
		require.NoError(t, w.Close())
		require.EqualValues(t, s.Plan.FileSize, buf.Len())
		require.NoError(t, os.WriteFile(s.Path, buf.Bytes(), 0o644))
		paths = append(paths, s.Path)
	}
	return paths
}

func TestSplitRoundTrip(t *testing.T) {
	dir := t.TempDir()
	kvs := append(sampleKVs(), gguf.KV{Key: "general.alignment", Value: gguf.NewValue[uint32](64)})
	tensors := sampleTensors()
	shards, err := gguf.PlanSplit(filepath.Join(dir, "m.gguf"), kvs, tensors, gguf.SplitOptions{MaxTensors: 4, NoTensorsInFirst: true})
	require.NoError(t, err)
	require.Len(t, shards, 5)
	data := func(_ int, ti gguf.TensorInfo) []byte {
		b := make([]byte, ti.Size)
		for j := range b {
			b[j] = ti.Name[j%len(ti.Name)] + byte(j)
		}
		return b
	}
	paths := writeShards(t, shards, data)
	var seen []string
	for i, p := range paths {
		assert.Equal(t, filepath.Join(dir, gguf.ShardPath("m", i, 5)), p)
		f := mustOpen(t, p)
		no, err := gguf.Get[uint16](f, "split.no")
		require.NoError(t, err)
		assert.EqualValues(t, i, no)
		count, err := gguf.Get[uint16](f, "split.count")
		require.NoError(t, err)
		assert.EqualValues(t, 5, count)
		total, err := gguf.Get[int32](f, "split.tensors.count")
		require.NoError(t, err)
		assert.EqualValues(t, len(tensors), total)
		assert.EqualValues(t, 64, f.Alignment, "every shard carries the alignment")
		if i == 0 {
			assert.Len(t, f.KVs(), len(kvs)+3)
			assert.Empty(t, f.Tensors)
			assert.Zero(t, f.Size()%64, "a tensorless shard is padded")
		} else {
			assert.Len(t, f.KVs(), 4)
		}
		for _, ti := range f.Tensors {
			seen = append(seen, ti.Name)
			assert.Equal(t, data(0, ti), readAll(t, f, ti.Name))
		}
	}
	var want []string
	for _, ti := range tensors {
		want = append(want, ti.Name)
	}
	assert.Equal(t, want, seen)
}

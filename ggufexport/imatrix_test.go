package ggufexport_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/ggufexport"
)

// legacyImatrix writes the legacy .dat form: entries, then the optional
// trailer (calls, dataset) when dataset != "".
func legacyImatrix(entries map[string][]float32, ncall int32, order []string, calls int32, dataset string) []byte {
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	w(int32(len(order)))
	for _, n := range order {
		w(int32(len(n)))
		b.WriteString(n)
		w(ncall)
		w(int32(len(entries[n])))
		w(entries[n])
	}
	if dataset != "" {
		w(calls)
		w(int32(len(dataset)))
		b.WriteString(dataset)
	}
	return b.Bytes()
}

// ggufImatrix writes the GGUF form with the given sums and counts per
// name (counts: one per expert).
func ggufImatrix(t testing.TB, sums map[string][]float32, counts map[string][]float32, meta bool) []byte {
	var kvs []gguf.KV
	kvs = append(kvs, gguf.KV{Key: "general.type", Value: gguf.NewValue("imatrix")})
	if meta {
		kvs = append(kvs, gguf.KV{Key: "imatrix.datasets", Value: gguf.NewValue([]string{"wiki.txt"})},
			gguf.KV{Key: "imatrix.chunk_count", Value: gguf.NewValue(uint32(3))},
			gguf.KV{Key: "imatrix.chunk_size", Value: gguf.NewValue(uint32(512))})
	}
	var infos []gguf.TensorInfo
	var data [][]float32
	for _, n := range []string{"blk.0.attn_q.weight", "blk.0.ffn_down_exps.weight"} {
		s, ok := sums[n]
		if !ok {
			continue
		}
		c := counts[n]
		infos = append(infos, gguf.TensorInfo{Name: n + ".in_sum2", Type: gguf.F32, Shape: []uint64{uint64(len(s) / len(c)), uint64(len(c))}},
			gguf.TensorInfo{Name: n + ".counts", Type: gguf.F32, Shape: []uint64{1, uint64(len(c))}})
		data = append(data, s, c)
	}
	p, err := gguf.NewPlan(kvs, infos)
	require.NoError(t, err)
	var buf bytes.Buffer
	w, err := gguf.NewWriter(&buf, p)
	require.NoError(t, err)
	for i, ti := range infos {
		b := make([]byte, 4*len(data[i]))
		for j, v := range data[i] {
			binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(v))
		}
		require.NoError(t, w.WriteTensor(ti.Name, b))
	}
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func TestParseImatrix(t *testing.T) {
	sums := map[string][]float32{
		"blk.0.attn_q.weight":        {2, 4, 6, 8},
		"blk.0.ffn_down_exps.weight": {3, 6, 9, 12},
	}
	counts := map[string][]float32{
		"blk.0.attn_q.weight":        {2},
		"blk.0.ffn_down_exps.weight": {3, 0}, // expert 1 saw no token: weights 1
	}
	tests := []struct {
		name    string
		data    []byte
		want    map[string][]float32
		chunks  int
		dataset string
		err     string
	}{
		{name: "gguf", data: ggufImatrix(t, sums, counts, true), chunks: 3, dataset: "wiki.txt",
			want: map[string][]float32{"blk.0.attn_q.weight": {1, 2, 3, 4}, "blk.0.ffn_down_exps.weight": {1, 2, 1, 1}}},
		{name: "gguf without metadata", data: ggufImatrix(t, sums, counts, false), err: "missing imatrix metadata"},
		{name: "legacy", data: legacyImatrix(sums, 2, []string{"blk.0.attn_q.weight"}, 7, "text"), chunks: 7, dataset: "text",
			want: map[string][]float32{"blk.0.attn_q.weight": {1, 2, 3, 4}}},
		{name: "legacy without trailer, ncall 0", data: legacyImatrix(sums, 0, []string{"blk.0.attn_q.weight"}, 0, ""),
			want: map[string][]float32{"blk.0.attn_q.weight": {2, 4, 6, 8}}},
		{name: "legacy non-finite", data: legacyImatrix(map[string][]float32{"a": {float32(math.Inf(1))}}, 1, []string{"a"}, 0, ""), err: "non-finite"},
		{name: "empty", data: nil, err: "no data"},
		{name: "truncated", data: legacyImatrix(sums, 2, []string{"blk.0.attn_q.weight"}, 0, "")[:20], err: "entry 1"},
		{name: "huge name", data: []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f}, err: "bad name length"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			im, err := ggufexport.ParseImatrix(bytes.NewReader(tc.data), int64(len(tc.data)))
			if tc.err != "" {
				require.ErrorIs(t, err, ggufexport.ErrImatrix)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, im.Entries)
			assert.Equal(t, tc.chunks, im.Chunks)
			if tc.dataset != "" {
				assert.Equal(t, []string{tc.dataset}, im.Datasets)
			}
		})
	}
}

// FuzzParseImatrix: hostile bytes never panic or allocate beyond the
// file, and whatever parses holds finite values only.
func FuzzParseImatrix(f *testing.F) {
	sums := map[string][]float32{"blk.0.attn_q.weight": {2, 4, 6, 8}}
	counts := map[string][]float32{"blk.0.attn_q.weight": {2}}
	f.Add(ggufImatrix(f, sums, counts, true))
	f.Add(legacyImatrix(sums, 2, []string{"blk.0.attn_q.weight"}, 7, "text"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		im, err := ggufexport.ParseImatrix(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for _, e := range im.Entries {
			for _, v := range e {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("non-finite value accepted")
				}
			}
		}
	})
}

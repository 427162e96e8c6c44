package gguf_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
)

func TestRoundTrip(t *testing.T) {
	kvs, tensors := sampleKVs(), sampleTensors()
	data, p := writeFile(t, kvs, tensors)

	f, err := gguf.NewReader(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	assert.EqualValues(t, 3, f.Version)
	assert.EqualValues(t, 32, f.Alignment)
	assert.Equal(t, p.HeaderSize, f.HeaderSize)
	assert.Equal(t, p.DataOffset, f.DataOffset)
	assert.Zero(t, f.DataOffset%32)

	require.Len(t, f.KVs(), len(kvs))
	for i, kv := range f.KVs() {
		assert.Equal(t, kvs[i].Key, kv.Key)
		assert.True(t, kvs[i].Value.Equal(kv.Value), "kv %q: wrote %v, read %v", kv.Key, kvs[i].Value, kv.Value)
		assert.Equal(t, kvs[i].Value.Type(), kv.Value.Type())
		assert.Equal(t, kvs[i].Value.ElemType(), kv.Value.ElemType())
	}
	require.Len(t, f.Tensors, len(tensors))
	for i, ti := range f.Tensors {
		assert.Equal(t, p.Tensors[i], ti)
		assert.Equal(t, tensorBytes(i, ti), readAll(t, f, ti.Name), ti.Name)
	}

	// Typed access is exact.
	s, err := gguf.Get[string](f, "general.architecture")
	require.NoError(t, err)
	assert.Equal(t, "llama", s)
	u, err := gguf.Get[uint32](f, "t.u32")
	require.NoError(t, err)
	assert.EqualValues(t, 4294967295, u)
	_, err = gguf.Get[int32](f, "t.u32")
	assert.ErrorIs(t, err, gguf.ErrType)
	_, err = gguf.Get[uint64](f, "t.u32")
	assert.ErrorIs(t, err, gguf.ErrType)
	_, err = gguf.Get[uint32](f, "missing")
	assert.ErrorIs(t, err, gguf.ErrNotFound)
	strs, err := gguf.Get[[]string](f, "a.str")
	require.NoError(t, err)
	assert.Equal(t, []string{"a b", "", "<0x0A>", "日本"}, strs)
	_, err = gguf.Get[[]uint32](f, "a.i32")
	assert.ErrorIs(t, err, gguf.ErrType)
	_, err = f.Section("missing")
	assert.ErrorIs(t, err, gguf.ErrNotFound)
	ti, ok := f.Tensor("blk.0.attn_q.weight")
	require.True(t, ok)
	assert.Equal(t, gguf.Q8_0, ti.Type)
	assert.EqualValues(t, 3*34*2, ti.Size)

	// A rewrite of what was read is byte-identical.
	again, _ := writeFile(t, f.KVs(), f.Tensors)
	assert.Equal(t, data, again)
}

func TestWriteParallelMatchesSequential(t *testing.T) {
	kvs, tensors := sampleKVs(), sampleTensors()
	want, p := writeFile(t, kvs, tensors)
	for _, workers := range []int{0, 1, 3, 64} {
		path := filepath.Join(t.TempDir(), "par.gguf")
		fh, err := os.Create(path)
		require.NoError(t, err)
		err = gguf.WriteParallel(fh, p, workers, func(i int, ti gguf.TensorInfo, w io.Writer) error {
			b := tensorBytes(i, ti)
			// Write in two pieces to exercise the buffered sink.
			if _, err := w.Write(b[:len(b)/2]); err != nil {
				return err
			}
			_, err := w.Write(b[len(b)/2:])
			return err
		})
		require.NoError(t, err)
		require.NoError(t, fh.Close())
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, want, got, "workers=%d", workers)
	}
}

func TestWriteParallelErrors(t *testing.T) {
	_, p := writeFile(t, nil, sampleTensors())
	dir := t.TempDir()
	open := func() *os.File {
		fh, err := os.Create(filepath.Join(dir, "x.gguf"))
		require.NoError(t, err)
		t.Cleanup(func() { _ = fh.Close() })
		return fh
	}
	boom := errors.New("boom")
	err := gguf.WriteParallel(open(), p, 2, func(i int, ti gguf.TensorInfo, w io.Writer) error {
		if i == 3 {
			return boom
		}
		_, err := w.Write(tensorBytes(i, ti))
		return err
	})
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), p.Tensors[3].Name)

	err = gguf.WriteParallel(open(), p, 2, func(i int, ti gguf.TensorInfo, w io.Writer) error {
		_, err := w.Write(tensorBytes(i, ti)[1:])
		return err
	})
	require.ErrorIs(t, err, gguf.ErrInvalid)
	assert.Contains(t, err.Error(), "short")

	err = gguf.WriteParallel(open(), p, 2, func(i int, ti gguf.TensorInfo, w io.Writer) error {
		_, err := w.Write(append(tensorBytes(i, ti), 0))
		return err
	})
	require.ErrorIs(t, err, gguf.ErrInvalid)
	assert.Contains(t, err.Error(), "past its planned size")
}

func TestWriterMisuse(t *testing.T) {
	p, err := gguf.NewPlan(nil, []gguf.TensorInfo{
		{Name: "a", Type: gguf.F32, Shape: []uint64{4}},
		{Name: "b", Type: gguf.F32, Shape: []uint64{2}},
	})
	require.NoError(t, err)
	four, two := make([]byte, 16), make([]byte, 8)

	t.Run("wrong order", func(t *testing.T) {
		w, err := gguf.NewWriter(io.Discard, p)
		require.NoError(t, err)
		_, err = w.Create("b")
		require.ErrorIs(t, err, gguf.ErrInvalid)
		assert.Contains(t, err.Error(), `plan's tensor 0 is "a"`)
	})
	t.Run("short tensor", func(t *testing.T) {
		w, err := gguf.NewWriter(io.Discard, p)
		require.NoError(t, err)
		require.NoError(t, w.WriteTensor("a", four[:12]))
		err = w.WriteTensor("b", two)
		require.ErrorIs(t, err, gguf.ErrInvalid)
		assert.Contains(t, err.Error(), `tensor "a": 4 bytes short`)
		assert.Error(t, w.Close(), "errors are sticky")
	})
	t.Run("long tensor", func(t *testing.T) {
		w, err := gguf.NewWriter(io.Discard, p)
		require.NoError(t, err)
		err = w.WriteTensor("a", append(four, 1))
		require.ErrorIs(t, err, gguf.ErrInvalid)
		assert.Contains(t, err.Error(), "past its planned size")
	})
	t.Run("missing tensor", func(t *testing.T) {
		w, err := gguf.NewWriter(io.Discard, p)
		require.NoError(t, err)
		require.NoError(t, w.WriteTensor("a", four))
		err = w.Close()
		require.ErrorIs(t, err, gguf.ErrInvalid)
		assert.Contains(t, err.Error(), `1 of 2 planned tensors written (next: "b")`)
	})
	t.Run("extra tensor", func(t *testing.T) {
		w, err := gguf.NewWriter(io.Discard, p)
		require.NoError(t, err)
		require.NoError(t, w.WriteTensor("a", four))
		require.NoError(t, w.WriteTensor("b", two))
		_, err = w.Create("c")
		require.ErrorIs(t, err, gguf.ErrInvalid)
	})
	t.Run("double close", func(t *testing.T) {
		w, err := gguf.NewWriter(io.Discard, p)
		require.NoError(t, err)
		require.NoError(t, w.WriteTensor("a", four))
		require.NoError(t, w.WriteTensor("b", two))
		require.NoError(t, w.Close())
		assert.Error(t, w.Close())
	})
}

func TestNoTensorsNoPadding(t *testing.T) {
	data, p := writeFile(t, []gguf.KV{{Key: "general.architecture", Value: gguf.NewValue("x")}}, nil)
	assert.Equal(t, p.HeaderSize, p.FileSize)
	assert.Equal(t, p.HeaderSize, p.DataOffset)
	assert.EqualValues(t, 24+8+len("general.architecture")+4+8+1, len(data))
	f, err := gguf.NewReader(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	assert.Equal(t, f.HeaderSize, f.DataOffset)
	assert.Empty(t, f.Tensors)
}

func TestZeroSizeTensor(t *testing.T) {
	// llama.cpp accepts a zero dimension; the tensor has no bytes.
	tensors := []gguf.TensorInfo{
		{Name: "empty", Type: gguf.Q4_0, Shape: []uint64{32, 0}},
		{Name: "after", Type: gguf.F32, Shape: []uint64{3}},
	}
	data, p := writeFile(t, nil, tensors)
	assert.EqualValues(t, 0, p.Tensors[0].Size)
	assert.EqualValues(t, 0, p.Tensors[1].Offset)
	f, err := gguf.NewReader(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	assert.Empty(t, readAll(t, f, "empty"))
	assert.Len(t, readAll(t, f, "after"), 12)
}

func TestVocabFixtures(t *testing.T) {
	for _, path := range vocabFixtures(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			orig, err := os.ReadFile(path)
			require.NoError(t, err)
			f := mustOpen(t, path)
			assert.EqualValues(t, 3, f.Version)
			assert.Empty(t, f.Tensors)
			assert.EqualValues(t, len(orig), f.HeaderSize, "a vocab-only file ends after its metadata")
			arch, err := gguf.Get[string](f, "general.architecture")
			require.NoError(t, err)
			assert.NotEmpty(t, arch)
			model, err := gguf.Get[string](f, "tokenizer.ggml.model")
			require.NoError(t, err)
			tokens, err := gguf.Get[[]string](f, "tokenizer.ggml.tokens")
			require.NoError(t, err)
			types, err := gguf.Get[[]int32](f, "tokenizer.ggml.token_type")
			require.NoError(t, err)
			assert.Len(t, types, len(tokens))
			if model == "gpt2" {
				merges, err := gguf.Get[[]string](f, "tokenizer.ggml.merges")
				require.NoError(t, err)
				assert.NotEmpty(t, merges)
			}

			// Read, then write the same KVs in the same order: identical bytes.
			p, err := gguf.NewPlan(f.KVs(), f.Tensors)
			require.NoError(t, err)
			var buf bytes.Buffer
			w, err := gguf.NewWriter(&buf, p)
			require.NoError(t, err)
			require.NoError(t, w.Close())
			assert.True(t, bytes.Equal(orig, buf.Bytes()), "rewrite of %s differs (%d vs %d bytes)", path, buf.Len(), len(orig))
		})
	}
}

func TestVocabLlamaSPM(t *testing.T) {
	// Known content of llama.cpp's Llama 2 SentencePiece vocab file.
	var path string
	for _, p := range vocabFixtures(t) {
		if filepath.Base(p) == "ggml-vocab-llama-spm.gguf" {
			path = p
		}
	}
	require.NotEmpty(t, path, "ggml-vocab-llama-spm.gguf missing from the shared fixtures")
	f := mustOpen(t, path)
	for key, want := range map[string]any{
		"general.architecture":            "llama",
		"tokenizer.ggml.model":            "llama",
		"llama.vocab_size":                uint32(32000),
		"tokenizer.ggml.bos_token_id":     uint32(1),
		"tokenizer.ggml.eos_token_id":     uint32(2),
		"tokenizer.ggml.unknown_token_id": uint32(0),
		"tokenizer.ggml.add_bos_token":    true,
		"tokenizer.ggml.add_eos_token":    false,
	} {
		v, ok := f.Lookup(key)
		require.True(t, ok, key)
		assert.Equal(t, want, v.Any(), key)
	}
	tokens, err := gguf.Get[[]string](f, "tokenizer.ggml.tokens")
	require.NoError(t, err)
	require.Len(t, tokens, 32000)
	assert.Equal(t, "<unk>", tokens[0])
	assert.Equal(t, "<0x0A>", tokens[13])
	scores, err := gguf.Get[[]float32](f, "tokenizer.ggml.scores")
	require.NoError(t, err)
	assert.Len(t, scores, 32000)
	types, err := gguf.Get[[]int32](f, "tokenizer.ggml.token_type")
	require.NoError(t, err)
	assert.EqualValues(t, 2, types[0])  // unknown
	assert.EqualValues(t, 6, types[13]) // byte
}

type failAfter struct{ n int }

func (f *failAfter) Write(b []byte) (int, error) {
	if len(b) > f.n {
		n := f.n
		f.n = 0
		return n, errors.New("disk full")
	}
	f.n -= len(b)
	return len(b), nil
}

func TestWriterPropagatesWriteErrors(t *testing.T) {
	_, p := writeFile(t, sampleKVs(), sampleTensors())
	for _, limit := range []int{0, 10, int(p.HeaderSize), int(p.FileSize) - 1} {
		w, err := gguf.NewWriter(&failAfter{n: limit}, p)
		if err != nil {
			assert.ErrorContains(t, err, "disk full")
			continue
		}
		for i, ti := range p.Tensors {
			if err = w.WriteTensor(ti.Name, tensorBytes(i, ti)); err != nil {
				break
			}
		}
		if err == nil {
			err = w.Close()
		}
		assert.ErrorContains(t, err, "disk full", "limit %d", limit)
	}
}

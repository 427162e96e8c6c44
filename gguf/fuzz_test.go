package gguf_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/mlxconv/mlxconv/gguf"
)

// FuzzReader parses arbitrary bytes. Whatever parses must satisfy the
// reader's invariants and survive a rewrite through the Writer: the rewrite
// parses back to the same metadata, tensor infos and tensor bytes.
func FuzzReader(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.gguf"))
	fuzzing := flag.Lookup("test.fuzz").Value.String() != ""
	if !fuzzing {
		// As plain test cases the full vocab files run through the body.
		seeds = append(seeds, vocabFixtures(f)...)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Mutating megabyte inputs is slow, so the fuzzer gets each vocab
	// fixture with its arrays cut to 16 elements: the same keys, types and
	// layout in a few KB.
	for _, p := range vocabFixtures(f) {
		f.Add(shrunk(f, p, 16))
	}
	sample, _ := writeFile(f, sampleKVs(), sampleTensors())
	f.Add(sample)
	f.Add(oneTensor().b)
	f.Add(header(0, 0).b)
	f.Add(header(2, 1).kvU32("general.alignment", 8).ti("a", gguf.Q4_0, 0, 32).ti("b", gguf.I8, 24, 3).pad(8).zeros(32).b)

	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := gguf.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, gguf.ErrFormat) {
				t.Fatalf("error does not wrap ErrFormat: %v", err)
			}
			return
		}
		if file.DataOffset < file.HeaderSize || file.DataOffset > int64(len(data)) {
			t.Fatalf("data offset %d outside [%d, %d]", file.DataOffset, file.HeaderSize, len(data))
		}
		if len(file.Tensors) > 0 && uint64(file.DataOffset)%file.Alignment != 0 {
			t.Fatalf("data offset %d not aligned to %d", file.DataOffset, file.Alignment)
		}
		blobs := make(map[string][]byte, len(file.Tensors))
		for _, ti := range file.Tensors {
			end := file.DataOffset + int64(ti.Offset) + int64(ti.Size)
			if end > int64(len(data)) {
				t.Fatalf("tensor %q ends at %d, past %d", ti.Name, end, len(data))
			}
			blobs[ti.Name] = readAll(t, file, ti.Name)
		}

		p, err := gguf.NewPlan(file.KVs(), file.Tensors)
		if err != nil {
			// The writer is stricter than the reader (empty tensor names,
			// alignment below 8); anything else is a bug.
			if !errors.Is(err, gguf.ErrInvalid) {
				t.Fatalf("plan error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		w, err := gguf.NewWriter(&buf, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, ti := range p.Tensors {
			if err := w.WriteTensor(ti.Name, blobs[ti.Name]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		again, err := gguf.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatalf("rewrite does not parse: %v", err)
		}
		if len(again.KVs()) != len(file.KVs()) || len(again.Tensors) != len(file.Tensors) {
			t.Fatalf("rewrite has %d KVs and %d tensors, want %d and %d",
				len(again.KVs()), len(again.Tensors), len(file.KVs()), len(file.Tensors))
		}
		for i, kv := range again.KVs() {
			if kv.Key != file.KVs()[i].Key || !kv.Value.Equal(file.KVs()[i].Value) {
				t.Fatalf("kv %d: rewrite %q=%v, original %q=%v", i, kv.Key, kv.Value, file.KVs()[i].Key, file.KVs()[i].Value)
			}
		}
		for i, ti := range again.Tensors {
			o := file.Tensors[i]
			if ti.Name != o.Name || ti.Type != o.Type || ti.Size != o.Size || !equalShape(ti.Shape, o.Shape) {
				t.Fatalf("tensor %d: rewrite %+v, original %+v", i, ti, o)
			}
			if !bytes.Equal(readAll(t, again, ti.Name), blobs[ti.Name]) {
				t.Fatalf("tensor %q: data differs after rewrite", ti.Name)
			}
		}
	})
}

func equalShape(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// shrunk rewrites the GGUF file at path with every array cut to at most n
// elements.
func shrunk(t testing.TB, path string, n int) []byte {
	t.Helper()
	f := mustOpen(t, path)
	kvs := make([]gguf.KV, len(f.KVs()))
	for i, kv := range f.KVs() {
		kvs[i] = kv
		if kv.Value.IsArray() && kv.Value.Len() > n {
			kvs[i].Value = truncate(kv.Value, n)
		}
	}
	if len(f.Tensors) > 0 {
		t.Fatalf("%s: shrunk handles tensorless files only", path)
	}
	b, _ := writeFile(t, kvs, nil)
	return b
}

func truncate(v gguf.Value, n int) gguf.Value {
	switch x := v.Any().(type) {
	case []uint8:
		return gguf.NewValue(x[:n])
	case []int8:
		return gguf.NewValue(x[:n])
	case []uint16:
		return gguf.NewValue(x[:n])
	case []int16:
		return gguf.NewValue(x[:n])
	case []uint32:
		return gguf.NewValue(x[:n])
	case []int32:
		return gguf.NewValue(x[:n])
	case []float32:
		return gguf.NewValue(x[:n])
	case []bool:
		return gguf.NewValue(x[:n])
	case []string:
		return gguf.NewValue(x[:n])
	case []uint64:
		return gguf.NewValue(x[:n])
	case []int64:
		return gguf.NewValue(x[:n])
	case []float64:
		return gguf.NewValue(x[:n])
	}
	return v
}

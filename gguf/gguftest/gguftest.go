// Package gguftest holds test helpers for code that reads GGUF files:
// a dump in scripts/oracle/gguf_check.py's JSON format (compared against
// gguf-py's), and failing-on-error wrappers of Open and Section. It is
// imported only by tests (of gguf and ggufexport).
package gguftest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
)

// DumpJSON renders f in scripts/oracle/gguf_check.py's dump format, reading
// tensor data through Section.
func DumpJSON(t testing.TB, f *gguf.File) []byte {
	t.Helper()
	type kvOut struct {
		Key   string `json:"key"`
		Type  string `json:"type"`
		Elem  string `json:"elem,omitempty"`
		Value any    `json:"value"`
	}
	type tOut struct {
		Name   string   `json:"name"`
		Type   string   `json:"type"`
		Shape  []uint64 `json:"shape"`
		Offset int64    `json:"offset"`
		NBytes uint64   `json:"nbytes"`
		SHA256 string   `json:"sha256"`
	}
	out := struct {
		Version    uint32  `json:"version"`
		Alignment  uint64  `json:"alignment"`
		DataOffset int64   `json:"data_offset"`
		KVs        []kvOut `json:"kvs"`
		Tensors    []tOut  `json:"tensors"`
	}{Version: f.Version, Alignment: f.Alignment, DataOffset: f.DataOffset, KVs: []kvOut{}, Tensors: []tOut{}}
	// gguf-py reports the aligned data offset even without tensors.
	if len(f.Tensors) == 0 {
		out.DataOffset = f.HeaderSize + int64((f.Alignment-uint64(f.HeaderSize)%f.Alignment)%f.Alignment)
	}
	for _, kv := range f.KVs() {
		o := kvOut{Key: kv.Key, Type: kv.Value.Type()}
		if kv.Value.IsArray() {
			o.Elem = kv.Value.ElemType()
			vals := make([]any, kv.Value.Len())
			for i := range vals {
				vals[i] = encScalar(kv.Value.Index(i))
			}
			o.Value = vals
		} else {
			o.Value = encScalar(kv.Value)
		}
		out.KVs = append(out.KVs, o)
	}
	for _, ti := range f.Tensors {
		sec, err := f.Section(ti.Name)
		require.NoError(t, err)
		data := make([]byte, ti.Size)
		_, err = sec.ReadAt(data, 0)
		if ti.Size > 0 {
			require.NoError(t, err)
		}
		shape := ti.Shape
		if shape == nil {
			shape = []uint64{}
		}
		out.Tensors = append(out.Tensors, tOut{
			Name: ti.Name, Type: ti.Type.String(), Shape: shape,
			Offset: f.DataOffset + int64(ti.Offset), NBytes: ti.Size, SHA256: sha256hex(data),
		})
	}
	b, err := json.Marshal(out)
	require.NoError(t, err)
	return b
}

func encScalar(v gguf.Value) any {
	switch x := v.Any().(type) {
	case string:
		if utf8.ValidString(x) {
			return x
		}
		return map[string]string{"hex": hex.EncodeToString([]byte(x))}
	case float32:
		return math.Float32bits(x)
	case float64:
		return math.Float64bits(x)
	default:
		return x
	}
}

// DecodeJSON decodes a JSON document with exact numbers for comparison.
func DecodeJSON(t testing.TB, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	require.NoError(t, d.Decode(&v))
	return v
}

// ModuleRoot returns the module root (the parent of the package directory).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	require.NoError(t, err)
	return filepath.Dir(wd)
}

// Open opens a GGUF file for the test, closed at its end.
func Open(t testing.TB, path string) *gguf.File {
	t.Helper()
	f, err := gguf.Open(path)
	require.NoError(t, err, path)
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// ReadAll returns the bytes of tensor name.
func ReadAll(t testing.TB, f *gguf.File, name string) []byte {
	t.Helper()
	sec, err := f.Section(name)
	require.NoError(t, err)
	b := make([]byte, sec.Size())
	if len(b) > 0 {
		_, err = sec.ReadAt(b, 0)
		require.NoError(t, err)
	}
	return b
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

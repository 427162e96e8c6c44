package safetensors_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
)

// file assembles a safetensors file from a header string and dataLen bytes
// of data (0x5A).
func file(header string, dataLen int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, bytes.Repeat([]byte{0x5A}, dataLen)...)
}

const fname = "bad.safetensors"

func TestReaderRejects(t *testing.T) {
	ent := func(name, dtype, shape, offs string) string {
		return `"` + name + `":{"dtype":"` + dtype + `","shape":` + shape + `,"data_offsets":` + offs + `}`
	}
	okA := ent("a", "F32", "[2]", "[0,8]")
	lenOnly := func(n uint64, total int) []byte {
		b := binary.LittleEndian.AppendUint64(nil, n)
		return append(b, make([]byte, total-8)...)
	}
	cases := []struct {
		name   string
		file   []byte
		tensor string // the tensor the error must name ("" = header-level)
		msg    string // substring of the message
	}{
		{"empty file", nil, "", "too short"},
		{"seven bytes", make([]byte, 7), "", "too short"},
		{"header over cap", lenOnly(safetensors.MaxHeaderSize+1, 64), "", "exceeds the limit"},
		{"header length 2^64-1", lenOnly(^uint64(0), 64), "", "exceeds the limit"},
		{"header past file end", lenOnly(100, 60), "", "exceeds the 52 bytes"},
		{"not utf-8", file("{\"\xff\":1}", 0), "", "UTF-8"},
		{"empty header", file("", 0), "", "want '{'"},
		{"array header", file("[]", 0), "", "want '{'"},
		{"trailing garbage", file("{} x", 0), "", "after the header object"},
		{"two objects", file("{}{}", 0), "", "after the header object"},
		{"unterminated", file(`{"a":{"dtype":"F32"`, 0), "a", "want ',' or '}'"},
		{"trailing comma", file(`{`+okA+`,}`, 8), "", "want a string"},
		{"missing colon", file(`{"a" {}}`, 0), "a", "want ':'"},
		{"duplicate tensor", file(`{`+okA+`,`+okA+`}`, 8), "a", "duplicate tensor name"},
		{"duplicate metadata key", file(`{"__metadata__":{},"__metadata__":null}`, 0), "__metadata__", "duplicate key"},
		{"metadata dup inner key", file(`{"__metadata__":{"k":"1","k":"2"}}`, 0), "__metadata__", "duplicate metadata key"},
		{"metadata number value", file(`{"__metadata__":{"k":1}}`, 0), "__metadata__", "not a string"},
		{"metadata nested", file(`{"__metadata__":{"k":{}}}`, 0), "__metadata__", "not a string"},
		{"metadata array", file(`{"__metadata__":["x"]}`, 0), "__metadata__", "object of strings or null"},
		{"metadata bad literal", file(`{"__metadata__":nul}`, 0), "__metadata__", "invalid JSON literal"},
		{"tensor not object", file(`{"a":[1]}`, 0), "a", "want a tensor object"},
		{"unknown dtype", file(`{`+ent("w", "F4", "[2]", "[0,1]")+`}`, 1), "w", `unknown dtype "F4"`},
		{"lowercase dtype", file(`{`+ent("w", "f32", "[2]", "[0,8]")+`}`, 8), "w", "unknown dtype"},
		{"dtype number", file(`{"w":{"dtype":4,"shape":[],"data_offsets":[0,4]}}`, 4), "w", "dtype is not a string"},
		{"negative dim", file(`{`+ent("w", "F32", "[-2]", "[0,8]")+`}`, 8), "w", "negative value in shape"},
		{"fraction dim", file(`{`+ent("w", "F32", "[2.0]", "[0,8]")+`}`, 8), "w", "non-integer value in shape"},
		{"exponent dim", file(`{`+ent("w", "F32", "[2e0]", "[0,8]")+`}`, 8), "w", "non-integer value in shape"},
		{"leading zero", file(`{`+ent("w", "F32", "[02]", "[0,8]")+`}`, 8), "w", "leading zero"},
		{"string dim", file(`{`+ent("w", "F32", `["2"]`, "[0,8]")+`}`, 8), "w", "want an integer in shape"},
		{"shape not array", file(`{`+ent("w", "F32", `2`, "[0,8]")+`}`, 8), "w", "want an array for shape"},
		{"dim overflows uint64", file(`{`+ent("w", "F32", "[18446744073709551616]", "[0,8]")+`}`, 8), "w", "overflows 64 bits"},
		{"dim over MaxInt", file(`{`+ent("w", "F32", "[9223372036854775808]", "[0,8]")+`}`, 8), "w", "too large"},
		{"product overflow", file(`{`+ent("w", "F32", "[2147483647,2147483647,4]", "[0,8]")+`}`, 8), "w", "overflows int64"},
		{"product overflow with zero", file(`{`+ent("w", "U8", "[2147483647,0,2147483647,2147483647]", "[0,0]")+`}`, 0), "w", "overflows int64"},
		{"itemsize overflow", file(`{`+ent("w", "F64", "[1073741824,1073741824,2]", "[0,8]")+`}`, 8), "w", "overflows int64"},
		{"three offsets", file(`{`+ent("w", "F32", "[2]", "[0,8,8]")+`}`, 8), "w", "has 3 values"},
		{"one offset", file(`{`+ent("w", "F32", "[2]", "[8]")+`}`, 8), "w", "has 1 values"},
		{"negative offset", file(`{`+ent("w", "F32", "[2]", "[-1,8]")+`}`, 8), "w", "negative value in data_offsets"},
		{"end before begin", file(`{`+ent("w", "U8", "[0]", "[8,0]")+`}`, 8), "w", "end before they begin"},
		{"end past data", file(`{`+ent("w", "F32", "[2]", "[0,8]")+`}`, 7), "w", "past the data section"},
		{"huge end", file(`{`+ent("w", "F32", "[2]", "[0,18446744073709551615]")+`}`, 8), "w", "past the data section"},
		{"size mismatch", file(`{`+ent("w", "F32", "[3]", "[0,8]")+`}`, 8), "w", "needs 12"},
		{"scalar mismatch", file(`{`+ent("w", "F32", "[]", "[0,8]")+`}`, 8), "w", "needs 4"},
		{"gap at start", file(`{`+ent("w", "F32", "[2]", "[4,12]")+`}`, 12), "w", "gap at the start"},
		{"gap between", file(`{`+okA+`,`+ent("b", "F32", "[1]", "[12,16]")+`}`, 16), "b", `leave a gap after tensor "a"`},
		{"overlap", file(`{`+okA+`,`+ent("b", "F32", "[1]", "[4,8]")+`}`, 8), "b", `overlap tensor "a"`},
		{"same range twice", file(`{`+okA+`,`+ent("b", "F32", "[2]", "[0,8]")+`}`, 8), "b", `overlap tensor "a"`},
		{"empty inside", file(`{`+okA+`,`+ent("z", "F32", "[0]", "[4,4]")+`}`, 8), "z", `overlap tensor "a"`},
		{"trailing bytes", file(`{`+okA+`}`, 9), "a", "1 bytes after the last tensor"},
		{"data without tensors", file(`{}`, 3), "", "no tensors"},
		{"unknown field", file(`{"w":{"dtype":"F32","shape":[],"data_offsets":[0,4],"extra":1}}`, 4), "w", `unknown field "extra"`},
		{"missing dtype", file(`{"w":{"shape":[],"data_offsets":[0,4]}}`, 4), "w", `missing field "dtype"`},
		{"missing shape", file(`{"w":{"dtype":"F32","data_offsets":[0,4]}}`, 4), "w", `missing field "shape"`},
		{"missing offsets", file(`{"w":{"dtype":"F32","shape":[]}}`, 4), "w", `missing field "data_offsets"`},
		{"empty entry", file(`{"w":{}}`, 0), "w", `missing field "dtype"`},
		{"duplicate field", file(`{"w":{"dtype":"F32","dtype":"F32","shape":[],"data_offsets":[0,4]}}`, 4), "w", `duplicate field "dtype"`},
		{"lone surrogate in name", file(`{"\ud800x":{}}`, 0), "", "lone surrogate"},
		{"low surrogate first", file(`{"\udc00\ud800":{}}`, 0), "", "lone surrogate"},
		{"bad escape", file(`{"\x":{}}`, 0), "", `invalid escape \x`},
		{"bad hex", file(`{"\u12g4":{}}`, 0), "", "bad hex digit"},
		{"control char in name", file("{\"a\nb\":{}}", 0), "", "control character"},
		{"control char in dtype", file("{\"w\":{\"dtype\":\"F3\t2\"}}", 0), "w", "control character"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := safetensors.NewReader(bytes.NewReader(tc.file), int64(len(tc.file)), safetensors.WithName(fname))
			require.Error(t, err)
			assert.ErrorIs(t, err, safetensors.ErrFormat)
			var fe *safetensors.FormatError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, fname, fe.File)
			assert.Equal(t, tc.tensor, fe.Tensor)
			assert.Contains(t, err.Error(), fname)
			if tc.tensor != "" {
				assert.Contains(t, err.Error(), `tensor "`+tc.tensor+`"`)
			}
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestReaderAccepts(t *testing.T) {
	cases := []struct {
		name   string
		file   []byte
		order  []string
		meta   map[string]string
		nilMap bool
	}{
		{"empty object", file("{}", 0), nil, nil, true},
		{"whitespace around", file(" \t\n\r{ } \n  ", 0), nil, nil, true},
		{"null metadata", file(`{"__metadata__":null}`, 0), nil, nil, true},
		{"empty metadata", file(`{"__metadata__":{}}`, 0), nil, map[string]string{}, false},
		{"escaped names", file(`{"\u00e9\ud83d\ude00\/\"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 1),
			[]string{"é😀/\""}, nil, true},
		{"zero-size tensors tie", file(`{"b":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"I8","shape":[3,0],"data_offsets":[0,0]},"c":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, 2),
			[]string{"a", "b", "c"}, nil, true},
		{"zero-size at end", file(`{"c":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"z":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}`, 2),
			[]string{"c", "z"}, nil, true},
		{"reverse header order", file(`{"__metadata__":{"k":"v"},"y":{"shape":[1],"data_offsets":[2,4],"dtype":"BF16"},"x":{"data_offsets":[0,2],"dtype":"F16","shape":[]}}`, 4),
			[]string{"x", "y"}, map[string]string{"k": "v"}, false},
		{"huge zero dim", file(`{"e":{"dtype":"U8","shape":[0,2147483647,2147483647,2],"data_offsets":[0,0]}}`, 0),
			[]string{"e"}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := safetensors.NewReader(bytes.NewReader(tc.file), int64(len(tc.file)))
			require.NoError(t, err)
			var names []string
			for _, ti := range r.Tensors() {
				names = append(names, ti.Name)
			}
			assert.Equal(t, tc.order, names)
			assert.Equal(t, tc.meta, r.Metadata())
			assert.Equal(t, tc.nilMap, r.Metadata() == nil)
			assert.Equal(t, int64(len(tc.file)), r.Size())
		})
	}
}

func TestReaderAccess(t *testing.T) {
	data := file(`{"__metadata__":{"format":"mlx"},"w":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]},"s":{"dtype":"U8","shape":[],"data_offsets":[8,9]}}`, 0)
	hdrEnd := len(data)
	data = append(data, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	r, err := safetensors.NewReader(bytes.NewReader(data), int64(len(data)), safetensors.WithName("x.st"))
	require.NoError(t, err)
	assert.Equal(t, "x.st", r.Name())
	assert.Equal(t, int64(hdrEnd), r.DataOffset())
	assert.Equal(t, int64(hdrEnd-8), r.HeaderLen())
	assert.Equal(t, 2, r.Len())

	ti, ok := r.Tensor("w")
	require.True(t, ok)
	assert.Equal(t, safetensors.TensorInfo{Name: "w", DType: mlx.BF16, Shape: []int{2, 2}, Begin: 0, End: 8}, ti)
	assert.Equal(t, int64(4), ti.NumElements())
	ti.Shape[0] = 99 // a copy: must not change the reader
	ti2, _ := r.Tensor("w")
	assert.Equal(t, []int{2, 2}, ti2.Shape)
	_, ok = r.Tensor("nope")
	assert.False(t, ok)

	sec, err := r.Section("s")
	require.NoError(t, err)
	b, err := io.ReadAll(sec)
	require.NoError(t, err)
	assert.Equal(t, []byte{9}, b)

	buf := make([]byte, 0, 64)
	got, err := r.ReadTensor("w", buf)
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 3, 4, 5, 6, 7, 8}, got)
	assert.Equal(t, &buf[:1][0], &got[0], "dst storage reused")

	got, err = r.Bytes("w")
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 3, 4, 5, 6, 7, 8}, got)

	m := r.Metadata()
	m["format"] = "changed"
	assert.Equal(t, "mlx", r.Metadata()["format"])

	for _, f := range []func() error{
		func() error { _, err := r.Section("nope"); return err },
		func() error { _, err := r.ReadTensor("nope", nil); return err },
		func() error { _, err := r.Bytes("nope"); return err },
	} {
		err := f()
		assert.ErrorIs(t, err, safetensors.ErrNotFound)
		assert.Contains(t, err.Error(), `x.st: tensor "nope"`)
	}
}

// shortReaderAt claims a size larger than its data.
type shortReaderAt struct{ b []byte }

func (s shortReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(s.b)) {
		return 0, io.EOF
	}
	n := copy(p, s.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func TestReaderIOErrors(t *testing.T) {
	f := file(`{"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, 4)
	// Size lies: the header cannot be read in full.
	_, err := safetensors.NewReader(shortReaderAt{f[:20]}, int64(len(f)))
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.NotErrorIs(t, err, safetensors.ErrFormat)
	// Header fine, body missing.
	r, err := safetensors.NewReader(shortReaderAt{f[:len(f)-2]}, int64(len(f)))
	require.NoError(t, err)
	_, err = r.ReadTensor("w", nil)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Contains(t, err.Error(), `tensor "w"`)
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	f := file(`{"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, 0)
	f = append(f, 10, 20, 30, 40)
	require.NoError(t, os.WriteFile(path, f, 0o644))

	sf, err := safetensors.Open(path)
	require.NoError(t, err)
	b, err := sf.Bytes("w")
	require.NoError(t, err)
	assert.Equal(t, []byte{10, 20, 30, 40}, b)
	sec, err := sf.Section("w")
	require.NoError(t, err)
	require.NoError(t, sf.Close())
	require.NoError(t, sf.Close(), "second Close is a no-op")
	if sf.Mapped() {
		_, err = sec.Read(make([]byte, 4))
		assert.ErrorIs(t, err, safetensors.ErrClosed)
		_, err = sf.ReadTensor("w", nil)
		assert.ErrorIs(t, err, safetensors.ErrClosed)
		_, err = sf.Bytes("w")
		assert.ErrorIs(t, err, safetensors.ErrClosed)
	}

	t.Run("errors name the path", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.safetensors")
		require.NoError(t, os.WriteFile(bad, file(`{"w":{"dtype":"Q4","shape":[],"data_offsets":[0,0]}}`, 0), 0o644))
		_, err := safetensors.Open(bad)
		assert.ErrorIs(t, err, safetensors.ErrFormat)
		assert.Contains(t, err.Error(), bad+`: tensor "w": unknown dtype "Q4"`)
	})
	t.Run("empty file", func(t *testing.T) {
		empty := filepath.Join(dir, "empty.safetensors")
		require.NoError(t, os.WriteFile(empty, nil, 0o644))
		_, err := safetensors.Open(empty)
		assert.ErrorIs(t, err, safetensors.ErrFormat)
		assert.Contains(t, err.Error(), empty)
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := safetensors.Open(filepath.Join(dir, "nope"))
		assert.ErrorIs(t, err, os.ErrNotExist)
	})
	t.Run("directory", func(t *testing.T) {
		_, err := safetensors.Open(dir)
		require.Error(t, err)
		assert.True(t, strings.Contains(err.Error(), dir))
	})
}

func TestFormatErrorMessage(t *testing.T) {
	e := &safetensors.FormatError{File: "f", Tensor: strings.Repeat("x", 500), Msg: "m"}
	assert.Less(t, len(e.Error()), 300, "long names are truncated")
	assert.True(t, errors.Is(e, safetensors.ErrFormat))
	e = &safetensors.FormatError{File: "f", Msg: "m"}
	assert.Equal(t, "safetensors: f: m", e.Error())
}

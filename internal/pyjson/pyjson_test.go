package pyjson_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/oracle"
	"github.com/mlxconv/mlxconv/internal/pyjson"
)

func TestFormatFloat(t *testing.T) {
	// Expected strings are Python 3's repr(float).
	cases := []struct {
		in   float64
		want string
	}{
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{1, "1.0"},
		{1e-6, "1e-06"},
		{1e-5, "1e-05"},
		{1e-4, "0.0001"},
		{0.001, "0.001"},
		{10000, "10000.0"},
		{1000000.0, "1000000.0"},
		{1e15, "1000000000000000.0"},
		{1e16, "1e+16"},
		{1.5e16, "1.5e+16"},
		{123456789012345678, "1.2345678901234568e+17"},
		{0.1, "0.1"},
		{1.0 / 3, "0.3333333333333333"},
		{5e-324, "5e-324"},
		{1.7976931348623157e308, "1.7976931348623157e+308"},
		{-2.5e-7, "-2.5e-07"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"},
		{math.Inf(-1), "-Infinity"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			assert.Equal(t, c.want, pyjson.FormatFloat(c.in))
		})
	}
}

func TestRoundTripGolden(t *testing.T) {
	in := `{"b": 1, "a": [1.0, 2e-6, {"x": null}], "c": {}, "d": [], "e": "h\u00e9 \ud83d\ude00 \"q\" \\ / \t", "b": true, "f": 10000000000000000000000, "g": 1E5, "h": -0, "i": NaN}`
	want := "{\n" +
		"    \"b\": true,\n" +
		"    \"a\": [\n" +
		"        1.0,\n" +
		"        2e-06,\n" +
		"        {\n" +
		"            \"x\": null\n" +
		"        }\n" +
		"    ],\n" +
		"    \"c\": {},\n" +
		"    \"d\": [],\n" +
		"    \"e\": \"h\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ / \\t\",\n" +
		"    \"f\": 10000000000000000000000,\n" +
		"    \"g\": 100000.0,\n" +
		"    \"h\": 0,\n" +
		"    \"i\": NaN\n" +
		"}"
	v, err := pyjson.Parse([]byte(in))
	require.NoError(t, err)
	out, err := pyjson.Marshal(v)
	require.NoError(t, err)
	assert.Equal(t, want, string(out))
}

func TestObjectEdits(t *testing.T) {
	o := pyjson.NewObject()
	o.Set("z", pyjson.Int(1))
	o.Set("a", "x")
	o.Set("m", nil)
	o.Set("z", pyjson.Float(2))
	o.Delete("m")
	o.Delete("absent")
	assert.Equal(t, []string{"z", "a"}, o.Keys())
	o.SortKeys()
	out, err := pyjson.Marshal(o)
	require.NoError(t, err)
	assert.Equal(t, "{\n    \"a\": \"x\",\n    \"z\": 2.0\n}", string(out))
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{``, `{`, `{"a"}`, `{"a":1,}`, `[1,]`, `01`, `1.`, `1e`, `"abc`, `"\x"`, "\"a\x01\"", `tru`, `{} x`, `{1:2}`, `-`, `"\u12"`, strings.Repeat("[", pyjson.MaxDepth+2)} {
		t.Run(in, func(t *testing.T) {
			_, err := pyjson.Parse([]byte(in))
			require.Error(t, err)
			assert.ErrorIs(t, err, pyjson.ErrSyntax)
		})
	}
}

// randomDoc builds a random JSON document text exercising numbers, strings
// with escapes and non-ASCII, nesting and repeated keys.
func randomDoc(r *rand.Rand, depth int) string {
	k := r.IntN(9)
	if depth > 3 {
		k = r.IntN(5)
	}
	switch k {
	case 0:
		return "null"
	case 1:
		return []string{"true", "false"}[r.IntN(2)]
	case 2:
		return fmt.Sprint(r.Int64N(1<<62) - 1<<61)
	case 3:
		f := math.Float64frombits(r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			f = r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
		}
		forms := []string{"%v", "%e", "%E", "%.3f", "%g"}
		return fmt.Sprintf(forms[r.IntN(len(forms))], f)
	case 4:
		return randomString(r)
	case 5, 6:
		n := r.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = randomDoc(r, depth+1)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	default:
		n := r.IntN(5)
		parts := make([]string, n)
		for i := range parts {
			key := randomString(r)
			if r.IntN(4) == 0 {
				key = `"dup"`
			}
			parts[i] = key + ": " + randomDoc(r, depth+1)
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
}

func randomString(r *rand.Rand) string {
	pool := []string{"a", "Z", " ", "\\\"", "\\\\", "\\/", "\\n", "\\t", "\\u00e9", "é", "日本", "😀", "\\ud83d\\ude00", "\\u0001", "\x7f", "model.layers.0"}
	var sb strings.Builder
	sb.WriteByte('"')
	for i := r.IntN(6); i > 0; i-- {
		sb.WriteString(pool[r.IntN(len(pool))])
	}
	sb.WriteByte('"')
	return sb.String()
}

// TestAgainstPython compares Marshal(Parse(doc)) with Python's
// json.dumps(json.loads(doc), indent=4) on random documents.
func TestAgainstPython(t *testing.T) {
	py := oracle.Python(t)
	_ = py
	r := rand.New(rand.NewPCG(uint64(os.Getpid()), 7))
	dir := t.TempDir()
	const n = 400
	var docs []string
	for i := 0; i < n; i++ {
		d := randomDoc(r, 0)
		docs = append(docs, d)
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%03d.json", i)), []byte(d), 0o644))
	}
	script := `import json,sys,glob,os
for p in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    with open(p, encoding="utf-8") as f:
        v = json.load(f)
    with open(p + ".py", "w", encoding="utf-8") as f:
        json.dump(v, f, indent=4)
`
	oracle.Run(t, "-c", script, dir)
	for i, d := range docs {
		want, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%03d.json.py", i)))
		require.NoError(t, err)
		v, err := pyjson.Parse([]byte(d))
		require.NoError(t, err, d)
		got, err := pyjson.Marshal(v)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "doc %d: %s", i, d)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"a": [1, 2.5e-7, "x\u00e9"], "b": {"c": null}}`))
	f.Add([]byte(`[NaN, -Infinity, 1e400, -0.0]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := pyjson.Parse(data)
		if err != nil {
			return
		}
		out, err := pyjson.Marshal(v)
		if err != nil {
			t.Fatalf("marshal of parsed value: %v", err)
		}
		v2, err := pyjson.Parse(out)
		if err != nil {
			t.Fatalf("reparse of %q: %v", out, err)
		}
		out2, err := pyjson.Marshal(v2)
		if err != nil || string(out2) != string(out) {
			t.Fatalf("not idempotent: %q vs %q (%v)", out, out2, err)
		}
	})
}

func ExampleMarshal() {
	v, _ := pyjson.Parse([]byte(`{"rms_norm_eps": 0.00001, "rope_theta": 1e6, "name": "café"}`))
	out, _ := pyjson.Marshal(v)
	fmt.Println(string(out))
	// Output:
	// {
	//     "rms_norm_eps": 1e-05,
	//     "rope_theta": 1000000.0,
	//     "name": "caf\u00e9"
	// }
}

package safe_test

import (
	"encoding/json"
	"testing"

	"github.com/mlxconv/mlxconv/internal/safe"
	"github.com/stretchr/testify/require"
)

func TestName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.q_proj.weight"},
		{"héllo wörld ▁the 日本語 🙂", "héllo wörld ▁the 日本語 🙂"},
		{`back\slash "quoted"`, `back\slash "quoted"`},
		{"a\x1b[2Jb", `a\x1b[2Jb`},
		{"\x1b]0;pwned\x07", `\x1b]0;pwned\a`},
		{"line1\nline2\r\t", `line1\nline2\r\t`},
		{"\x00\x08\x0b\x0c\x7f", `\x00\b\v\f\x7f`},
		{"c1:\u009b31m", `c1:\u009b31m`},
		{"rtl\u202egnp.exe", `rtl\u202egnp.exe`},
		{"\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069", `\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069`},
		{"\u200f\u2029", "\u200f\u2029"}, // printable-enough marks are left alone
		{"bad\xffutf8\xc3", `bad\xffutf8\xc3`},
	} {
		require.Equal(t, tc.want, safe.Name(tc.in), "%q", tc.in)
	}
}

func TestNameNoCopy(t *testing.T) {
	s := "plain.name"
	require.Equal(t, 0.0, testing.AllocsPerRun(10, func() { _ = safe.Name(s) }))
}

func TestJSON(t *testing.T) {
	v := map[string]string{"k\x1b\u202e": "v\x7f\u0085\u2066x\n"}
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	out := safe.JSON(raw)
	for _, r := range string(out) {
		require.False(t, r < 0x20 || r >= 0x7f && r < 0xa0 || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069, "raw %U in %s", r, out)
	}
	var back map[string]string
	require.NoError(t, json.Unmarshal(out, &back))
	require.Equal(t, v, back)

	plain := []byte(`{"a":"b"}`)
	require.Equal(t, &plain[0], &safe.JSON(plain)[0], "unchanged input is not copied")
}

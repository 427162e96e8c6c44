package family

import (
	"slices"
	"testing"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

func qwenNextHParams(t *testing.T, config string) *model.HParams {
	t.Helper()
	v, err := pyjson.Parse([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	return model.NewHParams(v.(*pyjson.Object), HFConfig, "")
}

const qwenNextHeads = `{"linear_key_head_dim": 1, "linear_value_head_dim": 1, "linear_num_key_heads": 2,
		"linear_num_value_heads": 4, "num_hidden_layers": 3}`

// TestQwen3NextQKVZ: Qwen3-Next's in_proj_qkvz split into attn_qkv and
// attn_gate.
func TestQwen3NextQKVZ(t *testing.T) {
	h := qwenNextHParams(t, qwenNextHeads)
	// Per key head g: q, k, then 2 v and 2 z rows: [q0 k0 v0 v1 z0 z1 | q1 k1 v2 v3 z2 z3].
	parts, err := qwen3NextQKVZ(h, 12)
	if err != nil {
		t.Fatal(err)
	}
	want := []model.RowPart{{Name: "attn_qkv", Rows: []int{0, 6, 1, 7, 2, 3, 8, 9}}, {Name: "attn_gate", Rows: []int{4, 5, 10, 11}}}
	for i := range want {
		if parts[i].Name != want[i].Name || !slices.Equal(parts[i].Rows, want[i].Rows) {
			t.Errorf("qkvz part %d = %+v, want %+v", i, parts[i], want[i])
		}
	}
	if _, err := qwen3NextQKVZ(h, 10); err == nil {
		t.Error("qkvz of 10 rows: no error")
	}
}

// TestQwen35VReorder: Qwen3.5's V heads grouped -> tiled (rows after
// q/k, 1-wide heads, columns), none with as many key as value heads.
func TestQwen35VReorder(t *testing.T) {
	h := qwenNextHParams(t, qwenNextHeads)
	// V heads grouped [g0v0 g0v1 g1v0 g1v1] -> tiled [g0v0 g1v0 g0v1 g1v1], after 2·nk·dk = 4 q/k rows.
	rows, err := qwen35VRows(2, 0)(h, 8)
	if err != nil || len(rows) != 1 || !slices.Equal(rows[0].Rows, []int{0, 1, 2, 3, 4, 6, 5, 7}) {
		t.Errorf("qkv rows = %+v, %v", rows, err)
	}
	rows, err = qwen35VRows(0, 1)(h, 4)
	if err != nil || !slices.Equal(rows[0].Rows, []int{0, 2, 1, 3}) {
		t.Errorf("beta rows = %+v, %v", rows, err)
	}
	cols, err := qwen35VCols(h, 4)
	if err != nil || !slices.Equal(cols, []int{0, 2, 1, 3}) {
		t.Errorf("out_proj columns = %v, %v", cols, err)
	}
	same := qwenNextHParams(t, `{"linear_num_key_heads": 2, "linear_num_value_heads": 2, "linear_key_head_dim": 1, "linear_value_head_dim": 1}`)
	if rows, err := qwen35VRows(2, 0)(same, 6); rows != nil || err != nil {
		t.Errorf("as many key as value heads: %+v, %v (want no reorder)", rows, err)
	}
}

// TestQwenNextRecurrent: attention.recurrent_layers from layer_types,
// derived from full_attention_interval only with a config class.
func TestQwenNextRecurrent(t *testing.T) {
	h := qwenNextHParams(t, qwenNextHeads)
	rec, err := qwenNextRecurrent(h, 2, true)
	if err != nil || !slices.Equal(rec, []bool{true, false, true}) {
		t.Errorf("derived recurrent layers = %v, %v", rec, err)
	}
	if rec, err := qwenNextRecurrent(h, 2, false); rec != nil || err != nil {
		t.Errorf("no layer_types, no config class: %v, %v", rec, err)
	}
	lt := qwenNextHParams(t, `{"num_hidden_layers": 2, "layer_types": ["full_attention", "linear_attention"]}`)
	if rec, err := qwenNextRecurrent(lt, 4, true); err != nil || !slices.Equal(rec, []bool{false, true}) {
		t.Errorf("layer_types: %v, %v", rec, err)
	}
}

package ggufexport

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model/source"
)

// TestOrderCandidates: the converter's tensor order — reading order of the
// last source tensor; experts it merges from per-expert tensors at the
// block's last one, in its merge order; a stacked checkpoint tensor where
// it is read; a Hub checkpoint's MXFP4 experts (gpt-oss) first.
func TestOrderCandidates(t *testing.T) {
	src := func(names ...string) *source.Input {
		in := &source.Input{}
		for _, n := range names {
			in.Sources = append(in.Sources, source.SourceTensor{Name: n})
		}
		return in
	}
	mxfp4 := func(name string) *source.Module {
		return &source.Module{Quant: &mlx.QuantParams{Mode: mlx.MXFP4}, Weight: src(name + "_blocks"), Scales: src(name + "_scales")}
	}
	order := []string{"ffn_down_exps", "ffn_gate_exps", "ffn_up_exps"}
	cases := []struct {
		name   string
		mxfp4  bool
		tensor []string // checkpoint names, in one file
		in     []candidate
		want   []string
	}{
		{name: "reading order", tensor: []string{"a", "b", "c"},
			in:   []candidate{{name: "C", bid: -1, float: src("c")}, {name: "A", bid: -1, float: src("a")}, {name: "B", bid: -1, float: src("b")}},
			want: []string{"A", "B", "C"}},
		{name: "merged experts at the block's last, in merge order",
			tensor: []string{"e0.down", "e0.gate", "e0.up", "e1.down", "e1.gate", "e1.up", "gate"},
			in: []candidate{{name: "blk.0.ffn_gate_exps.weight", float: src("e0.gate", "e1.gate")},
				{name: "blk.0.ffn_up_exps.weight", float: src("e0.up", "e1.up")}, {name: "blk.0.ffn_gate_inp.weight", float: src("gate")},
				{name: "blk.0.ffn_down_exps.weight", float: src("e0.down", "e1.down")}},
			want: []string{"blk.0.ffn_down_exps.weight", "blk.0.ffn_gate_exps.weight", "blk.0.ffn_up_exps.weight", "blk.0.ffn_gate_inp.weight"}},
		{name: "stacked checkpoint experts where read (gpt-oss float)",
			tensor: []string{"down", "down_bias", "gate_up", "gate_up_bias"},
			in: []candidate{{name: "blk.0.ffn_gate_exps.weight", float: src("gate_up")}, {name: "blk.0.ffn_gate_exps.bias", float: src("gate_up_bias")},
				{name: "blk.0.ffn_up_exps.weight", float: src("gate_up")}, {name: "blk.0.ffn_up_exps.bias", float: src("gate_up_bias")},
				{name: "blk.0.ffn_down_exps.weight", float: src("down")}, {name: "blk.0.ffn_down_exps.bias", float: src("down_bias")}},
			want: []string{"blk.0.ffn_down_exps.weight", "blk.0.ffn_down_exps.bias", "blk.0.ffn_gate_exps.weight", "blk.0.ffn_up_exps.weight",
				"blk.0.ffn_gate_exps.bias", "blk.0.ffn_up_exps.bias"}},
		{name: "hub MXFP4 experts first", mxfp4: true,
			tensor: []string{"a", "l0.down_blocks", "l0.down_scales", "l0.gate_up_blocks", "l0.gate_up_scales", "l1.down_blocks", "l1.down_scales"},
			in: []candidate{{name: "token_embd.weight", bid: -1, float: src("a")}, {name: "blk.1.ffn_down_exps.weight", bid: 1, quant: mxfp4("l1.down")},
				{name: "blk.0.ffn_gate_exps.weight", quant: mxfp4("l0.gate_up")}, {name: "blk.0.ffn_up_exps.weight", quant: mxfp4("l0.gate_up")},
				{name: "blk.0.ffn_down_exps.weight", quant: mxfp4("l0.down")}},
			want: []string{"blk.0.ffn_down_exps.weight", "blk.0.ffn_gate_exps.weight", "blk.0.ffn_up_exps.weight", "blk.1.ffn_down_exps.weight",
				"token_embd.weight"}},
		{name: "MXFP4 first only with KeepMXFP4", tensor: []string{"a", "l0.down_blocks", "l0.down_scales"},
			in:   []candidate{{name: "blk.0.ffn_down_exps.weight", quant: mxfp4("l0.down")}, {name: "token_embd.weight", bid: -1, float: src("a")}},
			want: []string{"token_embd.weight", "blk.0.ffn_down_exps.weight"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inv := &source.Inventory{}
			for _, n := range tc.tensor {
				inv.Tensors = append(inv.Tensors, source.SourceTensor{Name: n})
			}
			pl := &exportPlanner{inv: inv, arch: &archInfo{ExpertOrder: order, KeepMXFP4: tc.mxfp4}}
			out := append([]candidate(nil), tc.in...)
			pl.orderCandidates(out)
			var got []string
			for _, c := range out {
				got = append(got, c.name)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

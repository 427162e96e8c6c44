package ggufexport

import (
	"slices"
	"testing"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model"
	"github.com/mlxconv/mlxconv/model/source"
)

// fuseTestParts is an [E, 2n, h] bfloat16 tensor cut in two along axis 1 as
// the sanitize's Split makes it: per expert e, part i at e*2n*h + i*n*h
// elements.
func fuseTestParts(e, n, h int) (*source.Input, *source.Input) {
	part := func(i int) *source.Input {
		in := &source.Input{DType: mlx.BF16, Shape: []int{e, n, h}, Op: source.OpStack}
		for x := 0; x < e; x++ {
			in.Sources = append(in.Sources, source.SourceTensor{Name: "experts.gate_up_proj", DType: mlx.BF16, Shape: []int{n, h},
				Offset: int64((x*2*n*h + i*n*h) * 2)})
		}
		return in
	}
	return part(0), part(1)
}

func TestFuseInputs(t *testing.T) {
	gate, up := fuseTestParts(3, 4, 8)
	otherFile := func(in *source.Input) *source.Input {
		cp := *in
		cp.Sources = slices.Clone(in.Sources)
		cp.Sources[1].File = 1
		return &cp
	}
	swapped := func(in *source.Input) *source.Input { // the parts in the other order
		cp := *in
		cp.Sources = slices.Clone(in.Sources)
		for i := range cp.Sources {
			cp.Sources[i].Offset -= 2 * 4 * 8 * 2
		}
		return &cp
	}
	direct := &source.Input{DType: mlx.BF16, Shape: []int{3, 4, 8}, Op: source.OpDirect,
		Sources: []source.SourceTensor{{Name: "gate", DType: mlx.BF16, Shape: []int{3, 4, 8}}}}
	for _, tc := range []struct {
		name string
		a, b *source.Input
		ok   bool
	}{
		{"split parts in order", gate, up, true},
		{"parts swapped", up, gate, false},
		{"second part from elsewhere", gate, swapped(up), false},
		{"another file", gate, otherFile(up), false},
		{"separate tensors (an MLX checkpoint)", direct, direct, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, ok := fuseInputs(tc.a, tc.b)
			if ok != tc.ok {
				t.Fatalf("fused %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if !slices.Equal(in.Shape, []int{3, 8, 8}) || len(in.Sources) != 3 {
				t.Fatalf("shape %v, %d sources", in.Shape, len(in.Sources))
			}
			for e, s := range in.Sources {
				if s.Offset != int64(e*2*4*8*2) || !slices.Equal(s.Shape, []int{8, 8}) {
					t.Errorf("expert %d: offset %d shape %v, want %d [8 8]", e, s.Offset, s.Shape, e*2*4*8*2)
				}
			}
		})
	}
}

func TestFuseCandidates(t *testing.T) {
	gate, up := fuseTestParts(2, 4, 8)
	rules := []model.FuseRule{{Into: "ffn_gate_up_exps", Parts: [2]string{"ffn_gate_exps", "ffn_up_exps"}}}
	out := fuseCandidates(rules, []candidate{
		{name: "blk.0.ffn_down_exps.weight", bid: 0, float: gate},
		{name: "blk.0.ffn_gate_exps.weight", bid: 0, float: gate},
		{name: "blk.0.ffn_up_exps.weight", bid: 0, float: up},
		{name: "blk.1.ffn_gate_exps.weight", bid: 1, float: gate},
		{name: "blk.1.ffn_up_exps.weight", bid: 1, float: gate}, // not contiguous: both stay
	})
	var names []string
	for _, c := range out {
		names = append(names, c.name)
	}
	want := []string{"blk.0.ffn_down_exps.weight", "blk.0.ffn_gate_up_exps.weight", "blk.1.ffn_gate_exps.weight", "blk.1.ffn_up_exps.weight"}
	if !slices.Equal(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
	if !slices.Equal(out[1].shape, []int{2, 8, 8}) {
		t.Errorf("fused shape %v", out[1].shape)
	}
}

func TestTensorNameTopPrefixBlockParam(t *testing.T) {
	a := &archInfo{Prefix: "model.language_model.", Global: map[string]string{"model.per_layer_model_projection": "per_layer_model_proj"},
		Layer: map[string]string{"layer_scalar": "layer_output_scale.weight", "router.scale": "ffn_gate_inp.scale", "mlp.up_proj": "ffn_up"}}
	for _, tc := range []struct{ in, want string }{
		{"model.language_model.per_layer_model_projection.weight", "per_layer_model_proj.weight"},
		{"language_model.model.per_layer_model_projection.weight", "per_layer_model_proj.weight"},
		{"model.language_model.embed_tokens.weight", "token_embd.weight"},
		{"model.language_model.layers.2.layer_scalar", "blk.2.layer_output_scale.weight"},
		{"model.language_model.layers.2.router.scale", "blk.2.ffn_gate_inp.scale"},
		{"model.language_model.layers.2.mlp.up_proj.weight", "blk.2.ffn_up.weight"},
		{"model.language_model.layers.2.other", ""},
		{"model.language_model.per_layer_projection_norm.weight", ""},
	} {
		got, _, ok := tensorName(a, tc.in)
		if !ok {
			got = ""
		}
		if got != tc.want {
			t.Errorf("tensorName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

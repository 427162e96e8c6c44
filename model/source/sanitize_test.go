package source

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
	"github.com/mlxconv/mlxconv/model"
	"github.com/mlxconv/mlxconv/pipeline"
)

// ruleCase is one sanitize rule table case: the checkpoint's names (each
// "name" or "name=d0xd1…", default shape [4], float32), the config, and
// the names (with shapes where given) after the rules, or the error.
type ruleCase struct {
	name   string
	rules  []model.SanitizeRule
	config string
	in     []string
	want   []string // "name" or "name=shape"; checked in order
	err    string   // substring; errors are one line
	errIs  error
}

func parseShape(t *testing.T, s string) []int {
	t.Helper()
	var out []int
	for _, d := range strings.Split(s, "x") {
		var n int
		_, err := fmt.Sscan(d, &n)
		require.NoError(t, err, s)
		out = append(out, n)
	}
	return out
}

func ruleTensors(t *testing.T, in []string) *tensorSet {
	t.Helper()
	var src []SourceTensor
	for _, s := range in {
		n, shape, ok := strings.Cut(s, "=")
		sh := []int{4}
		if ok {
			sh = parseShape(t, shape)
		}
		src = append(src, SourceTensor{Name: n, DType: mlx.F32, Shape: sh})
	}
	return newTensorSet(src)
}

var (
	mixtralStack = model.StackExperts{Stack: model.ExpertStack{Experts: "experts", Stacked: "switch_mlp",
		Names: [][2]string{{"w1", "gate_proj"}, {"w2", "down_proj"}}, Parts: model.QuantParts, Optional: true},
		Layers: "model.layers.", Block: "moe", Count: "num_local_experts", CountDefault: 2, LayersDefault: 2, Gate: true}
	namesStack = model.StackExperts{Stack: model.ExpertStack{Experts: "experts", Stacked: "switch_mlp",
		Names: [][2]string{{"up", "up"}}, Parts: []string{"weight"}}, Layers: "model.layers.", Block: "mlp", Count: "num_experts",
		From: model.LayersFromNames}
)

func ruleCases() []ruleCase {
	return []ruleCase{
		{name: "drop contains/prefix/suffix/top", rules: []model.SanitizeRule{model.Drop{model.Contains("inv_freq"), model.Prefix("mtp."),
			model.Suffix(".bias"), model.Top("vision_tower")}},
			in:   []string{"a.rotary.inv_freq", "mtp.x", "b.bias", "vision_tower.w", "towers.vision_tower.w", "b.bias.x", "amtp.x"},
			want: []string{"towers.vision_tower.w", "b.bias.x", "amtp.x"}},
		{name: "drop templated prefix is a string prefix, as glm4_moe's", rules: []model.SanitizeRule{model.Drop{model.Prefix("model.layers.{num_hidden_layers}")}},
			config: `{"num_hidden_layers": 2}`, in: []string{"model.layers.1.w", "model.layers.2.w", "model.layers.20.w", "model.layers.3.w"},
			want: []string{"model.layers.1.w", "model.layers.3.w"}},
		{name: "drop template key missing", rules: []model.SanitizeRule{model.Drop{model.Prefix("model.layers.{num_hidden_layers}")}},
			config: `{}`, in: []string{"a"}, errIs: model.ErrConfig, err: `"num_hidden_layers"`},
		{name: "drop template key not a number", rules: []model.SanitizeRule{model.Drop{model.Prefix("l.{n}")}},
			config: `{"n": "x"}`, in: []string{"a"}, errIs: model.ErrConfig, err: `"n"`},
		{name: "drop template unclosed", rules: []model.SanitizeRule{model.Drop{model.Prefix("l.{n")}},
			in: []string{"a"}, errIs: model.ErrConfig, err: `sanitize pattern "l.{n" has an unclosed {`},
		{name: "rename prefix keeps position", rules: []model.SanitizeRule{model.Rename{From: "language_model.model.", To: "model.", Prefix: true}},
			in:   []string{"a", "language_model.model.x", "b.language_model.model.y"},
			want: []string{"a", "model.x", "b.language_model.model.y"}},
		{name: "rename replaces every occurrence", rules: []model.SanitizeRule{model.Rename{From: "w1", To: "gate"}},
			in: []string{"l.w1.w1", "w2"}, want: []string{"l.gate.gate", "w2"}},
		{name: "rename collision", rules: []model.SanitizeRule{model.Rename{From: "a.", To: "b.", Prefix: true}},
			in: []string{"a.x", "b.x"}, errIs: model.ErrWeights, err: `renaming "a.x": tensor "b.x" exists already`},
		{name: "rename without From", rules: []model.SanitizeRule{model.Rename{To: "b"}}, in: []string{"a"}, errIs: model.ErrConfig, err: "empty From"},
		{name: "tied head", rules: []model.SanitizeRule{model.TiedHead{}}, config: `{"tie_word_embeddings": true}`,
			in: []string{"lm_head.weight", "e"}, want: []string{"e"}},
		{name: "untied head kept", rules: []model.SanitizeRule{model.TiedHead{Default: true}}, config: `{"tie_word_embeddings": false}`,
			in: []string{"lm_head.weight"}, want: []string{"lm_head.weight"}},
		{name: "tied by default", rules: []model.SanitizeRule{model.TiedHead{Default: true}}, in: []string{"lm_head.weight"}, want: []string{}},
		{name: "require present", rules: []model.SanitizeRule{model.Require{Match: model.Prefix("language_model."), Why: "w"}},
			in: []string{"language_model.a"}, want: []string{"language_model.a"}},
		{name: "require missing", rules: []model.SanitizeRule{model.Require{Match: model.Prefix("language_model."), Why: "mlx-lm reads x"}},
			in: []string{"model.a"}, errIs: model.ErrWeights, err: `no checkpoint tensor matches "language_model." (mlx-lm reads x)`},
		{name: "stack experts per layer, optional parts", rules: []model.SanitizeRule{mixtralStack}, config: `{"num_hidden_layers": 2}`,
			in: []string{"model.layers.0.moe.experts.0.w1.weight=2x3", "model.layers.0.moe.experts.1.w1.weight=2x3",
				"model.layers.0.moe.experts.0.w1.scales=2x1", "model.layers.0.moe.experts.1.w1.scales=2x1",
				"model.layers.0.moe.experts.0.w2.weight=3x2", "model.layers.0.moe.experts.1.w2.weight=3x2", "other"},
			want: []string{"other", "model.layers.0.moe.switch_mlp.gate_proj.weight=2x2x3", "model.layers.0.moe.switch_mlp.gate_proj.scales=2x2x1",
				"model.layers.0.moe.switch_mlp.down_proj.weight=2x3x2"}},
		{name: "stack experts gate absent: identity", rules: []model.SanitizeRule{mixtralStack},
			in: []string{"model.layers.1.moe.experts.0.w1.weight"}, want: []string{"model.layers.1.moe.experts.0.w1.weight"}},
		{name: "stack experts, expert missing", rules: []model.SanitizeRule{mixtralStack},
			in: []string{"model.layers.0.moe.experts.0.w1.weight", "model.layers.0.moe.experts.0.w2.weight", "x"}, errIs: model.ErrWeights,
			err: `stacking "model.layers.0.moe.switch_mlp.gate_proj.weight": tensor "model.layers.0.moe.experts.1.w1.weight" is missing`},
		{name: "stack experts, wrong shape", rules: []model.SanitizeRule{mixtralStack},
			in:    []string{"model.layers.0.moe.experts.0.w1.weight=2x3", "model.layers.0.moe.experts.1.w1.weight=3x2"},
			errIs: model.ErrWeights, err: `tensor "model.layers.0.moe.experts.1.w1.weight" is float32[3 2], but "model.layers.0.moe.experts.0.w1.weight" is float32[2 3]`},
		{name: "stack experts, more experts than tensors", rules: []model.SanitizeRule{mixtralStack}, config: `{"num_local_experts": 9}`,
			in: []string{"model.layers.0.moe.experts.0.w1.weight"}, errIs: model.ErrWeights, err: "9 experts in 2 layers do not fit a checkpoint of 1 tensors"},
		{name: "stack experts, negative expert count", rules: []model.SanitizeRule{namesStack}, config: `{"num_experts": -1}`,
			in: []string{"model.layers.0.mlp.experts.0.up.weight"}, errIs: model.ErrWeights, err: `stacking "model.layers.0.mlp.switch_mlp.up.weight": no experts`},
		{name: "stack experts, too many layers", rules: []model.SanitizeRule{mixtralStack}, config: `{"num_hidden_layers": 100000000}`,
			in: []string{"model.layers.0.moe.experts.0.w1.weight"}, errIs: model.ErrWeights, err: "in 100000000 layers do not fit"},
		{name: "stack experts from names, sorted", rules: []model.SanitizeRule{namesStack}, config: `{"num_experts": 2}`,
			in: []string{"model.layers.3.mlp.experts.0.up.weight", "model.layers.3.mlp.experts.1.up.weight",
				"model.layers.1.mlp.experts.1.up.weight", "model.layers.1.mlp.experts.0.up.weight"},
			want: []string{"model.layers.1.mlp.switch_mlp.up.weight=2x4", "model.layers.3.mlp.switch_mlp.up.weight=2x4"}},
		{name: "stack experts from names, layer index not a number", rules: []model.SanitizeRule{namesStack}, config: `{"num_experts": 1}`,
			in:    []string{"model.layers.x1.mlp.experts.0.up.weight"},
			errIs: model.ErrWeights, err: `tensor "model.layers.x1.mlp.experts.0.up.weight": layer index "x1" is not a number`},
		{name: "stack experts from names, no experts configured", rules: []model.SanitizeRule{namesStack}, config: `{"num_experts": 0}`,
			in: []string{"model.layers.0.mlp.experts.0.up.weight"}, errIs: model.ErrWeights, err: `stacking "model.layers.0.mlp.switch_mlp.up.weight": no experts`},
		{name: "stack experts from the first sparse layer", rules: []model.SanitizeRule{model.StackExperts{Stack: namesStack.Stack,
			Layers: "model.layers.", Block: "mlp", Count: "n", FirstSparse: "first_k_dense_replace"}},
			config: `{"n": 1, "num_hidden_layers": 2, "first_k_dense_replace": 1}`,
			in:     []string{"model.layers.0.mlp.experts.0.up.weight", "model.layers.1.mlp.experts.0.up.weight"},
			want:   []string{"model.layers.0.mlp.experts.0.up.weight", "model.layers.1.mlp.switch_mlp.up.weight=1x4"}},
		{name: "split axis 0", rules: []model.SanitizeRule{model.Split{From: "gate_and_up_proj", Into: []string{"up_proj", "gate_proj"}}},
			in: []string{"l.gate_and_up_proj.weight=6x2", "o"}, want: []string{"o", "l.up_proj.weight=3x2", "l.gate_proj.weight=3x2"}},
		{name: "split axis 1", rules: []model.SanitizeRule{model.Split{From: "input_linear", Into: []string{"switch_mlp.gate_proj", "switch_mlp.up_proj"}, Axis: 1}},
			in: []string{"m.input_linear.weight=3x4x2"}, want: []string{"m.switch_mlp.gate_proj.weight=3x2x2", "m.switch_mlp.up_proj.weight=3x2x2"}},
		{name: "split axis 2 unsupported", rules: []model.SanitizeRule{model.Split{From: "gu", Into: []string{"g", "u"}, Axis: 2}},
			in: []string{"gu.weight=2x2x4"}, errIs: model.ErrWeights, err: `tensor "gu.weight": cannot split [2 2 4] along axis 2 (axes 0 and 1 only)`},
		{name: "split not divisible", rules: []model.SanitizeRule{model.Split{From: "gu", Into: []string{"g", "u"}}},
			in: []string{"gu.weight=3x2"}, errIs: model.ErrWeights, err: `tensor "gu.weight": axis 0 of [3 2] does not split into 2 parts`},
		{name: "split onto an existing name", rules: []model.SanitizeRule{model.Split{From: "gu", Into: []string{"g", "u"}}},
			in: []string{"gu.weight=2x2", "u.weight"}, errIs: model.ErrWeights, err: `splitting "gu.weight": tensor "u.weight" exists already`},
		{name: "split interleaved, axis from the end", rules: []model.SanitizeRule{model.Split{From: "gate_up_proj", Into: []string{"gate_proj", "up_proj"},
			Axis: -2, Interleave: true}},
			in:   []string{"e.gate_up_proj.weight=2x6x3", "e.gate_up_proj_bias=2x6"},
			want: []string{"e.gate_proj.weight=2x3x3", "e.up_proj.weight=2x3x3", "e.gate_proj_bias=1x6", "e.up_proj_bias=1x6"}},
		{name: "split interleaved, any axis", rules: []model.SanitizeRule{model.Split{From: "gu", Into: []string{"g", "u", "v"}, Axis: 2, Interleave: true}},
			in: []string{"gu.weight=2x2x6"}, want: []string{"g.weight=2x2x2", "u.weight=2x2x2", "v.weight=2x2x2"}},
		{name: "split interleaved, no such axis", rules: []model.SanitizeRule{model.Split{From: "gu", Into: []string{"g", "u"}, Axis: -3, Interleave: true}},
			in: []string{"gu.weight=2x2"}, errIs: model.ErrWeights, err: `tensor "gu.weight": [2 2] has no axis -3`},
		{name: "split interleaved, not divisible", rules: []model.SanitizeRule{model.Split{From: "gu", Into: []string{"g", "u"}, Axis: -1, Interleave: true}},
			in: []string{"gu.weight=2x3"}, errIs: model.ErrWeights, err: `tensor "gu.weight": axis 1 of [2 3] does not split into 2 parts`},
		{name: "bitcast and flatten MXFP4 blocks", rules: []model.SanitizeRule{model.Bitcast{Match: []model.Match{model.Suffix("_blocks")}, DType: "U32", FlattenLast2: true}},
			in: []string{"e.down_proj_blocks=2x4x2x16", "e.down_proj_scales=2x4x2"}, want: []string{"e.down_proj_blocks=2x4x32", "e.down_proj_scales=2x4x2"}},
		{name: "bitcast to a wider type that does not divide", rules: []model.SanitizeRule{model.Bitcast{Match: []model.Match{model.Suffix("_blocks")}, DType: "F64"}},
			in: []string{"e_blocks=2x3"}, errIs: model.ErrWeights, err: `tensor "e_blocks": cannot read [2 3] of 4-byte elements as 8-byte elements`},
		{name: "bitcast to an unknown dtype", rules: []model.SanitizeRule{model.Bitcast{Match: []model.Match{model.Suffix("_blocks")}, DType: "U3"}},
			in: []string{"e_blocks=2x3"}, errIs: model.ErrConfig, err: `bitcasting "e_blocks"`},
		{name: "bitcast of a split tensor", rules: []model.SanitizeRule{model.Split{From: "gu", Into: []string{"g", "u"}, Axis: 1, Interleave: true},
			model.Bitcast{Match: []model.Match{model.Prefix("g.")}, DType: "U8"}},
			in: []string{"gu.w=2x4"}, errIs: model.ErrWeights, err: `bitcasting "g.w": tensor is itself derived (stack)`},
		{name: "when: rules run when a name matches every pattern", rules: []model.SanitizeRule{model.When{
			All: []model.Match{model.Prefix("model.layers."), model.Suffix(".experts.0.up.weight")}, Rules: []model.SanitizeRule{model.Drop{model.Contains("mtp.")}}}},
			in: []string{"model.layers.0.experts.0.up.weight", "mtp.x"}, want: []string{"model.layers.0.experts.0.up.weight"}},
		{name: "when: no name matches every pattern", rules: []model.SanitizeRule{model.When{
			All: []model.Match{model.Prefix("model.layers."), model.Suffix(".experts.0.up.weight")}, Rules: []model.SanitizeRule{model.Drop{model.Contains("mtp.")}}}},
			in: []string{"x.experts.0.up.weight", "model.layers.0.w", "mtp.x"}, want: []string{"x.experts.0.up.weight", "model.layers.0.w", "mtp.x"}},
		{name: "when: a template in a pattern", rules: []model.SanitizeRule{model.When{All: []model.Match{model.Prefix("l.{n}")}}},
			config: `{}`, in: []string{"a"}, errIs: model.ErrConfig, err: `"n"`},
		{name: "when: the matching name's shape must satisfy If", rules: []model.SanitizeRule{model.When{All: []model.Match{model.Contains("conv1d")},
			If: model.LastDimNot1, Rules: []model.SanitizeRule{model.Drop{model.Contains("norm")}}}},
			in: []string{"a.conv1d.weight=8x4x1", "a.norm.weight"}, want: []string{"a.conv1d.weight=8x4x1", "a.norm.weight"}},
		{name: "when: shape holds", rules: []model.SanitizeRule{model.When{All: []model.Match{model.Contains("conv1d")},
			If: model.LastDimNot1, Rules: []model.SanitizeRule{model.Drop{model.Contains("norm")}}}},
			in: []string{"a.conv1d.weight=8x1x4", "a.norm.weight"}, want: []string{"a.conv1d.weight=8x1x4"}},
		{name: "nest names not under the prefix, in place", rules: []model.SanitizeRule{
			model.Rename{From: "model.language_model", To: "language_model.model", Prefix: true}, model.Nest{Under: "language_model."}},
			in:   []string{"model.language_model.layers.0.w", "lm_head.weight", "language_model.x", "mtp.y"},
			want: []string{"language_model.model.layers.0.w", "language_model.lm_head.weight", "language_model.x", "language_model.mtp.y"}},
		{name: "nest onto an existing name", rules: []model.SanitizeRule{model.Nest{Under: "lm."}},
			in: []string{"a", "lm.a"}, errIs: model.ErrWeights, err: `tensor "lm.a" exists already`},
		{name: "nest rule without a prefix", rules: []model.SanitizeRule{model.Nest{}}, in: []string{"a"}, errIs: model.ErrConfig, err: "empty Under"},
		{name: "split rule with one part", rules: []model.SanitizeRule{model.Split{From: "gu", Into: []string{"g"}}},
			in: []string{"gu"}, errIs: model.ErrConfig, err: "at least two parts"},
		{name: "transform conv1d when last dim is not 1", rules: []model.SanitizeRule{model.Transform{Match: []model.Match{model.Contains("conv1d.weight")},
			If: model.LastDimNot1, Op: model.ValueSwapLast2}},
			in: []string{"a.conv1d.weight=8x1x4", "b.conv1d.weight=8x4x1"}, want: []string{"a.conv1d.weight=8x4x1", "b.conv1d.weight=8x4x1"}},
		{name: "transform norms of rank 1", rules: []model.SanitizeRule{model.Transform{Match: []model.Match{model.Suffix("norm.weight")},
			If: model.Rank1, Op: model.ValueAddOne}},
			in: []string{"a.norm.weight=4", "b.norm.weight=2x2"}, want: []string{"a.norm.weight=4", "b.norm.weight=2x2"}},
		{name: "transform swap of a 2-D tensor", rules: []model.SanitizeRule{model.Transform{Match: []model.Match{model.Contains("conv")},
			Op: model.ValueSwapLast2}},
			in: []string{"conv.weight=2x3"}, errIs: model.ErrWeights, err: `tensor "conv.weight": swap-last2 needs a 3-D tensor, not [2 3]`},
		{name: "transform lfm2 conv when last dim exceeds dim 1", rules: []model.SanitizeRule{model.Transform{
			Match: []model.Match{model.Contains("conv.weight")}, If: model.LastDimOverDim1, Op: model.ValueSwapLast2}},
			in: []string{"a.conv.weight=8x1x3", "b.conv.weight=8x3x1"}, want: []string{"a.conv.weight=8x3x1", "b.conv.weight=8x3x1"}},
		{name: "transform squeeze (apertus's XieLU scalars)", rules: []model.SanitizeRule{model.Transform{
			Match: []model.Match{model.Suffix("alpha_p"), model.Suffix("alpha_n")}, Op: model.ValueSqueeze}},
			in:   []string{"m.act_fn.alpha_p=1", "m.act_fn.alpha_n=1x3x1", "m.act_fn.beta=2"},
			want: []string{"m.act_fn.alpha_p=", "m.act_fn.alpha_n=3", "m.act_fn.beta=2"}},
		{name: "transform of a stacked tensor", rules: []model.SanitizeRule{mixtralStack,
			model.Transform{Match: []model.Match{model.Contains("switch_mlp")}, Op: model.ValueAddOne}},
			config: `{"num_hidden_layers": 1, "num_local_experts": 1}`, in: []string{"model.layers.0.moe.experts.0.w1.weight"},
			errIs: model.ErrWeights, err: `transforming "model.layers.0.moe.switch_mlp.gate_proj.weight": tensor is itself derived (stack)`},
		{name: "if config truthy / not", rules: []model.SanitizeRule{
			model.IfConfig{Key: "n", Rules: []model.SanitizeRule{model.Rename{From: "a", To: "moe"}}},
			model.IfConfig{Key: "n", Not: true, Rules: []model.SanitizeRule{model.Rename{From: "b", To: "dense"}}}},
			config: `{"n": 4}`, in: []string{"a", "b"}, want: []string{"moe", "b"}},
		{name: "if config zero, null or absent is false", rules: []model.SanitizeRule{
			model.IfConfig{Key: "n", Rules: []model.SanitizeRule{model.Rename{From: "a", To: "moe"}}},
			model.IfConfig{Key: "n", Not: true, Rules: []model.SanitizeRule{model.Rename{From: "b", To: "dense"}}}},
			config: `{"n": 0}`, in: []string{"a", "b"}, want: []string{"a", "dense"}},
		{name: "if config not a bool", rules: []model.SanitizeRule{model.IfConfig{Key: "n"}},
			config: `{"n": "x"}`, in: []string{"a"}, errIs: model.ErrConfig, err: `"n"`},
		{name: "if shape holds", rules: []model.SanitizeRule{model.IfShape{Name: "c.conv1d.weight", If: model.LastDimOverDim1,
			Rules: []model.SanitizeRule{model.Transform{Match: []model.Match{model.Contains("conv1d")}, Op: model.ValueSwapLast2}}}},
			in: []string{"c.conv1d.weight=8x1x4", "d.conv1d.weight=8x1x4"}, want: []string{"c.conv1d.weight=8x4x1", "d.conv1d.weight=8x4x1"}},
		{name: "if shape does not hold (MLX layout already)", rules: []model.SanitizeRule{model.IfShape{Name: "c.conv1d.weight", If: model.LastDimOverDim1,
			Rules: []model.SanitizeRule{model.Transform{Match: []model.Match{model.Contains("conv1d")}, Op: model.ValueSwapLast2}}}},
			in: []string{"c.conv1d.weight=8x4x1", "d.conv1d.weight=8x1x4"}, want: []string{"c.conv1d.weight=8x4x1", "d.conv1d.weight=8x1x4"}},
		{name: "if shape of a missing tensor", rules: []model.SanitizeRule{model.IfShape{Name: "c.conv1d.weight"}},
			in: []string{"a"}, errIs: model.ErrWeights, err: `needs tensor "c.conv1d.weight"`},
		{name: "scale keeps names and shapes", rules: []model.SanitizeRule{model.Scale{Match: []model.Match{model.Suffix("q.weight")},
			By: []model.ConfigFloat{{Key: "m", Default: 2}, {Key: "l", List: true, Elem: 1}}}},
			config: `{"l": [1, 0.5]}`, in: []string{"a.q.weight=2x2", "b"}, want: []string{"a.q.weight=2x2", "b"}},
		{name: "scale list too short", rules: []model.SanitizeRule{model.Scale{Match: []model.Match{model.Suffix("q.weight")},
			By: []model.ConfigFloat{{Key: "l", List: true, Elem: 2}}}},
			config: `{"l": [1, 0.5]}`, in: []string{"a.q.weight"}, errIs: model.ErrConfig, err: `"l" has 2 elements, want at least 3`},
		{name: "scale rows of the wrong count", rules: []model.SanitizeRule{model.Scale{Match: []model.Match{model.Suffix("in_proj.weight")},
			Rows: func(model.Config) ([]float64, error) { return []float64{1, 2}, nil }}},
			in: []string{"in_proj.weight=3x2"}, errIs: model.ErrWeights, err: `scaling "in_proj.weight": 2 row factors for shape [3 2]`},
		{name: "scale twice", rules: []model.SanitizeRule{model.Scale{Match: []model.Match{model.Suffix("w")}},
			model.Scale{Match: []model.Match{model.Suffix("w")}}},
			in: []string{"w"}, errIs: model.ErrWeights, err: `transforming "w": tensor is itself derived (value)`},
	}
}

// TestSanitizeRules runs every rule kind on convert's tensor set.
func TestSanitizeRules(t *testing.T) {
	for _, tc := range ruleCases() {
		t.Run(tc.name, func(t *testing.T) {
			cfgText := tc.config
			if cfgText == "" {
				cfgText = "{}"
			}
			obj, err := model.ParseObject([]byte(cfgText))
			require.NoError(t, err)
			ts := ruleTensors(t, tc.in)
			err = model.ApplyRules(tc.rules, &model.Tree{}, newConfig(obj, "config.json"), tensorView{ts})
			if tc.err != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, tc.errIs)
				assert.Contains(t, err.Error(), tc.err)
				assert.NotContains(t, err.Error(), "\n", "one-line error")
				return
			}
			require.NoError(t, err)
			got := []string{}
			for i, n := range ts.names() {
				if i < len(tc.want) && strings.Contains(tc.want[i], "=") {
					in, _ := ts.get(n)
					n += "=" + strings.Trim(strings.ReplaceAll(fmt.Sprint(in.Shape), " ", "x"), "[]")
				}
				got = append(got, n)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestOptionalHead: the tree loses lm_head when the checkpoint has none.
func TestOptionalHead(t *testing.T) {
	for _, has := range []bool{false, true} {
		tree := &model.Tree{Modules: []model.Module{{Path: "model.norm"}, {Path: "lm_head"}}}
		in := []string{"model.norm.weight"}
		if has {
			in = append(in, "lm_head.weight")
		}
		require.NoError(t, model.ApplyRules([]model.SanitizeRule{model.OptionalHead{Module: "lm_head"}}, tree, newConfig(nil, ""), tensorView{ruleTensors(t, in)}))
		assert.Len(t, tree.Modules, map[bool]int{false: 1, true: 2}[has])
	}
}

// memSink is an in-memory pipeline.Sink with one file.
type memSink struct{ b []byte }

func (s *memSink) Open() error { return nil }
func (s *memSink) WriteAt(_ int, p []byte, off int64) error {
	copy(s.b[off:], p)
	return nil
}
func (s *memSink) FileName(int) string { return "mem" }
func (s *memSink) Commit() error       { return nil }
func (s *memSink) Abort()              {}

// TestSanitizeRuleBytes executes split and transformed tensors from a
// real safetensors file, in small row units, and checks their bytes
// against the source values rearranged by hand.
func TestSanitizeRuleBytes(t *testing.T) {
	dir := t.TempDir()
	src := []genTensor{f32("a.gate_and_up.weight", 4, 3), bf16("m.input_linear.weight", 2, 4, 3),
		bf16("c.conv1d.weight", 2, 3, 4), bf16("n.norm.weight", 5), f32("f.norm.weight", 3),
		bf16("s.in_proj.weight", 3, 2), f32("e.embed.weight", 2, 2),
		{"x.gate_up_proj_blocks", mlx.U8, []int{2, 4, 1, 4}}, bf16("x.gate_up_proj_bias", 2, 4), bf16("s.alpha_p", 1)}
	writeTestModel(t, dir, src)
	inv, err := LoadInventory(dir)
	require.NoError(t, err)
	defer inv.Close()
	ts := newTensorSet(inv.Tensors)
	rules := []model.SanitizeRule{
		model.Split{From: "gate_and_up", Into: []string{"gate", "up"}},
		model.Split{From: "input_linear", Into: []string{"g", "u"}, Axis: 1},
		model.Transform{Match: []model.Match{model.Contains("conv1d")}, If: model.LastDimNot1, Op: model.ValueSwapLast2},
		model.Transform{Match: []model.Match{model.Suffix("norm.weight")}, If: model.Rank1, Op: model.ValueAddOne},
		model.Split{From: "gate_up_proj_bias", Into: []string{"gate_proj.bias", "up_proj.bias"}, Axis: -1, Interleave: true},
		model.Bitcast{Match: []model.Match{model.Suffix("_blocks")}, DType: "U32", FlattenLast2: true},
		model.Rename{From: "gate_up_proj_blocks", To: "gate_up_proj.weight"},
		model.Split{From: "gate_up_proj", Into: []string{"gate_proj", "up_proj"}, Axis: -2, Interleave: true},
		model.Scale{Match: []model.Match{model.Suffix("in_proj.weight")}, By: []model.ConfigFloat{{Key: "k", Default: 1.25}},
			Rows: func(model.Config) ([]float64, error) { return []float64{0.3535533905932738, 0.25, 3.3}, nil }},
		model.Scale{Match: []model.Match{model.Suffix("embed.weight")}, By: []model.ConfigFloat{{Key: "k", Default: 0.1}}},
		model.Transform{Match: []model.Match{model.Suffix("alpha_p")}, Op: model.ValueSqueeze},
	}
	require.NoError(t, model.ApplyRules(rules, &model.Tree{}, newConfig(nil, ""), tensorView{ts}))
	data := map[string][]byte{}
	for _, g := range src {
		data[g.name] = tensorData(g)
	}
	a, m, c := data["a.gate_and_up.weight"], data["m.input_linear.weight"], data["c.conv1d.weight"]
	x, xb := data["x.gate_up_proj_blocks"], data["x.gate_up_proj_bias"]
	row := func(b []byte, size int, rows ...int) []byte { // the concatenated rows of size bytes
		var out []byte
		for _, r := range rows {
			out = append(out, b[r*size:(r+1)*size]...)
		}
		return out
	}
	want := map[string][]byte{
		"a.gate.weight": a[:24], "a.up.weight": a[24:],
		// [2,4,3] bf16 split along axis 1: per expert rows 0-1 / 2-3
		"m.g.weight": cat(m[0:12], m[24:36]), "m.u.weight": cat(m[12:24], m[36:48]),
		"c.conv1d.weight":  swapLast2(c, 2, 3, 4, 2),
		"n.norm.weight":    plusOne(data["n.norm.weight"], mlx.BF16),
		"f.norm.weight":    plusOne(data["f.norm.weight"], mlx.F32),
		"s.in_proj.weight": scaledBF16(data["s.in_proj.weight"], 1.25, []float64{0.3535533905932738, 0.25, 3.3}),
		"e.embed.weight":   scaledF32(data["e.embed.weight"], 0.1),
		"s.alpha_p":        data["s.alpha_p"],
		// [2,4] bf16, every other element of each expert's row
		"x.gate_proj.bias": row(xb, 2, 0, 2, 4, 6), "x.up_proj.bias": row(xb, 2, 1, 3, 5, 7),
		// [2,4,1,4] uint8 read as [2,4,1] uint32: rows 0, 2 / 1, 3 of each expert
		"x.gate_proj.weight": row(x, 4, 0, 2, 4, 6), "x.up_proj.weight": row(x, 4, 1, 3, 5, 7),
	}
	backend, _, err := mlx.OpenNative(1, "")
	require.NoError(t, err)
	for name, w := range want {
		in, ok := ts.get(name)
		require.True(t, ok, name)
		sink := &memSink{b: make([]byte, len(w))}
		job, err := StreamJob(name, []*Input{in}, true, []pipeline.Output{{Name: name, Size: int64(len(w))}}, backend,
			func(_ pipeline.Unit, ins [][]byte, _ int64) ([][]byte, error) { return ins, nil })
		require.NoError(t, err, name)
		require.NoError(t, pipeline.Run(context.Background(), inv, sink, []pipeline.Job{job}, pipeline.Options{Workers: 1, UnitBytes: 4}), name)
		assert.Equal(t, w, sink.b, name)
	}
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// swapLast2 is moveaxis(2, 1) of a [n, r, c] tensor of esz-byte elements.
func swapLast2(b []byte, n, r, c, esz int) []byte {
	out := make([]byte, len(b))
	for i := 0; i < n; i++ {
		for y := 0; y < r; y++ {
			for x := 0; x < c; x++ {
				copy(out[((i*c+x)*r+y)*esz:][:esz], b[((i*r+y)*c+x)*esz:])
			}
		}
	}
	return out
}

// plusOne adds 1 to each element in float32, rounded to dt.
func plusOne(b []byte, dt mlx.DType) []byte {
	out := make([]byte, len(b))
	for i := 0; i < len(b)/dt.Size(); i++ {
		if dt == mlx.BF16 {
			binary.LittleEndian.PutUint16(out[2*i:], mlx.F32ToBF16(mlx.BF16ToF32(binary.LittleEndian.Uint16(b[2*i:]))+1))
		} else {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))+1))
		}
	}
	return out
}

// genTensor is a tensor of the test checkpoint.
type genTensor struct {
	name  string
	dtype mlx.DType
	shape []int
}

func f32(name string, shape ...int) genTensor  { return genTensor{name, mlx.F32, shape} }
func bf16(name string, shape ...int) genTensor { return genTensor{name, mlx.BF16, shape} }

// tensorData is t's bytes: multiples of 1/8 in [-1, 1), exact in bf16;
// for an integer dtype, distinct bytes.
func tensorData(t genTensor) []byte {
	n := int(NumElements(t.shape))
	out := make([]byte, n*t.dtype.Size())
	if !t.dtype.IsFloat() { // FP8 codes, packed integers: every byte value
		for i := range out {
			out[i] = byte(i*37 + i/7 + 11*len(t.name))
		}
		return out
	}
	for i := 0; i < n; i++ {
		v := float32((i*7+len(t.name))%16)/8 - 1
		if t.dtype == mlx.BF16 {
			binary.LittleEndian.PutUint16(out[2*i:], mlx.F32ToBF16(v))
		} else {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
	}
	return out
}

// writeTestModel writes a llama config.json and one safetensors shard
// holding ts.
func writeTestModel(t *testing.T, dir string, ts []genTensor) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type": "llama"}`), 0o644))
	var sts []safetensors.Tensor
	for _, g := range ts {
		sts = append(sts, safetensors.Tensor{TensorInfo: safetensors.TensorInfo{Name: g.name, DType: g.dtype, Shape: g.shape}, Data: tensorData(g)})
	}
	slices.SortFunc(sts, func(a, b safetensors.Tensor) int { return safetensors.CompareHF(a.TensorInfo, b.TensorInfo) })
	require.NoError(t, safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), sts, map[string]string{"format": "pt"}, safetensors.HF))
}

// bf16r rounds v to bfloat16.
func bf16r(v float32) float32 { return mlx.BF16ToF32(mlx.F32ToBF16(v)) }

// scaledBF16 is x * (by * rows[i].astype(bf16)) per row of a bf16 tensor,
// as MLX computes it: every operand and product rounded to bfloat16.
func scaledBF16(b []byte, by float64, rows []float64) []byte {
	out := make([]byte, len(b))
	per := len(b) / 2 / len(rows)
	for i := 0; i < len(b)/2; i++ {
		f := bf16r(bf16r(float32(by)) * bf16r(float32(rows[i/per])))
		x := mlx.BF16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		binary.LittleEndian.PutUint16(out[2*i:], mlx.F32ToBF16(x*f))
	}
	return out
}

// scaledF32 is x * by in float32.
func scaledF32(b []byte, by float64) []byte {
	out := make([]byte, len(b))
	for i := 0; i < len(b)/4; i++ {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))*float32(by)))
	}
	return out
}

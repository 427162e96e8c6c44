package family

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// Qwen35 is mlx-lm's qwen3_5: the text model of the Qwen3.5 VLM (vision
// dropped, the language model under "language_model."), gated delta-net
// layers with full attention every full_attention_interval-th layer, a
// SparseMoeBlock in every layer when num_experts > 0. A_log keeps its
// dtype (cast_predicate).
var Qwen35 = &model.Family{
	Name:  "qwen3_5",
	Types: []string{"qwen3_5"},
	MLX: model.MLX{Build: buildQwen35, Rules: qwen35Rules(nil), Pred: qwen3NextPred,
		KeepDType: func(name string) bool { return strings.HasSuffix(name, "A_log") }},
	GGUF: qwen35GGUF("qwen3_5", "qwen35", model.CommonLayer),
}

// qwen35GGUF is Qwen3_5TextModel / Qwen3_5MoeTextModel (the text model of
// Qwen3_5(Moe)ForConditionalGeneration; convert_hf_to_gguf.py with
// --no-mtp, as mlx-lm drops the MTP layer): Qwen3NextModel's tensors
// with in_proj_qkvz/ba stored apart, V heads reordered from grouped to
// tiled, interleaved M-RoPE sections.
func qwen35GGUF(modelType, arch string, mlp map[string]string) *model.GGUF {
	return &model.GGUF{
		Types: []string{modelType}, Arch: arch, Vocab: arch, SetVocab: model.VocabLoader.BPE,
		Layer: qwenNextLayer(mlp, map[string]string{"linear_attn.in_proj_qkv": "attn_qkv", "linear_attn.in_proj_z": "attn_gate",
			"linear_attn.in_proj_b": "ssm_beta", "linear_attn.in_proj_a": "ssm_alpha"}),
		ExpertOrder: qwenMoEOrder, Params: qwen35Params,
		// Qwen3NextModel's -exp and squeeze, the V heads reordered first.
		Tensors: map[string]model.TensorRule{
			"ssm_a": {NegExp: true, Rows: qwen35VRows(0, 1)}, "ssm_dt.bias": {Rows: qwen35VRows(0, 1)},
			"ssm_conv1d.weight": {Squeeze: true, Rows: qwen35VRows(2, 0)}, "attn_qkv.weight": {Rows: qwen35VRows(2, 0)},
			"attn_gate.weight": {Rows: qwen35VRows(0, 0)}, "ssm_beta.weight": {Rows: qwen35VRows(0, 1)},
			"ssm_alpha.weight": {Rows: qwen35VRows(0, 1)}, "ssm_out.weight": {Cols: qwen35VCols},
		},
	}
}

// qwen35VHeads reads the linear-attention head layout; per is 0 when the
// converter reorders nothing (as many key heads as value heads).
func qwen35VHeads(h *model.HParams) (nk, per, dk, dv int, err error) {
	get := func(key string) int {
		v, ok, e := h.FindInt(key)
		if e != nil && err == nil {
			err = e
		}
		if !ok {
			return 0
		}
		return int(v)
	}
	nk, nv := get("linear_num_key_heads"), get("linear_num_value_heads")
	if err != nil || nk <= 0 || nv <= 0 || nk == nv {
		return nk, 0, 0, 0, err
	}
	if nv%nk != 0 {
		return 0, 0, 0, 0, fmt.Errorf("%w: linear_num_value_heads %d is not a multiple of linear_num_key_heads %d", model.ErrExport, nv, nk)
	}
	dk, dv = get("linear_key_head_dim"), get("linear_value_head_dim")
	return nk, nv / nk, dk, dv, err
}

// qwen35VRows reorders the V heads of a tensor's rows from grouped to
// tiled (_LinearAttentionVReorderBase): after 2·nk·dk rows of q and k when
// qk is 2, heads of dim rows (0: linear_value_head_dim).
func qwen35VRows(qk, dim int) func(h *model.HParams, n int) ([]model.RowPart, error) {
	return func(h *model.HParams, n int) ([]model.RowPart, error) {
		nk, per, dk, dv, err := qwen35VHeads(h)
		if err != nil || per == 0 {
			return nil, err
		}
		if dim == 0 {
			dim = dv
		}
		skip := qk * nk * dk
		if n != skip+nk*per*dim {
			return nil, fmt.Errorf("%w: %d rows, not %d + %d V heads of %d", model.ErrExport, n, skip, nk*per, dim)
		}
		rows := model.Span(0, skip)
		for _, i := range model.GroupedToTiled(nk, per, dim) {
			rows = append(rows, skip+i)
		}
		return []model.RowPart{{Rows: rows}}, nil
	}
}

// qwen35VCols reorders out_proj's input columns (V heads) to tiled.
func qwen35VCols(h *model.HParams, n int) ([]int, error) {
	nk, per, _, dv, err := qwen35VHeads(h)
	if err != nil || per == 0 {
		return nil, err
	}
	if n != nk*per*dv {
		return nil, fmt.Errorf("%w: %d columns, not %d V heads of %d", model.ErrExport, n, nk*per, dv)
	}
	return model.GroupedToTiled(nk, per, dv), nil
}

// qwen35Params is Qwen3NextModel.set_gguf_parameters over the raw config
// (transformers 4.57 has no Qwen3.5 config class: no defaults, no derived
// layer_types), then the M-RoPE sections, [11, 11, 10, 0] when
// rope_parameters has no mrope_section.
func qwen35Params(m *model.Meta) error {
	if err := qwenNextSSMParams(m, false); err != nil {
		return err
	}
	sections := []int32{11, 11, 10, 0}
	if v, field, ok := m.Rope.Top().Get("mrope_section"); ok {
		list, isList := v.([]pyjson.Value)
		if !isList {
			return model.ConfigError(field, "a list of integers", v)
		}
		sections = make([]int32, 4)
		for i := 0; i < len(list) && i < 4; i++ {
			n, isInt := model.HPInt(list[i])
			if !isInt || n < math.MinInt32 || n > math.MaxInt32 {
				return model.ConfigError(fmt.Sprintf("%s[%d]", field, i), "an integer", list[i])
			}
			sections[i] = int32(n)
		}
	}
	m.Set(m.ArchKey("rope.dimension_sections"), gguf.NewValue(sections))
	return nil
}

// qwen35Rules is Model.sanitize (moe: Qwen3_5Moe's fused-expert rewrite),
// then TextModel.sanitize. Its lm_head.weight pop never matches a nested
// name, so it has no rule.
func qwen35Rules(moe []model.SanitizeRule) []model.SanitizeRule {
	norms := []model.Match{model.Suffix(".input_layernorm.weight"), model.Suffix(".post_attention_layernorm.weight"),
		model.Suffix("model.norm.weight"), model.Suffix(".q_norm.weight"), model.Suffix(".k_norm.weight")}
	conv := []model.Match{model.Contains("conv1d.weight")}
	rules := []model.SanitizeRule{
		model.Drop{model.Prefix("vision_tower"), model.Prefix("model.visual")},
		model.Rename{From: "model.language_model", To: "language_model.model", Prefix: true},
		model.Nest{Under: "language_model."},
	}
	rules = append(rules, moe...)
	return append(rules,
		model.When{All: conv, If: model.LastDimNot1, Rules: []model.SanitizeRule{model.Transform{Match: norms, If: model.Rank1, Op: model.ValueAddOne}}},
		model.Drop{model.Contains("mtp.")},
		model.Transform{Match: conv, If: model.LastDimNot1, Op: model.ValueSwapLast2},
	)
}

// qwen35Text returns the TextModelArgs config: text_config, or the whole
// config when it has none.
func qwen35Text(c model.Config) (model.Config, error) {
	if !c.Present("text_config") {
		return c, nil
	}
	tc := c.Object("text_config")
	if tc == nil {
		return model.Config{}, c.Errf("text_config", "is not an object")
	}
	return model.NewConfig(tc, "config.json text_config"), nil
}

// qwen35RopeType renames rope_parameters' rope_type to type (moved to the
// end), as TextModelArgs.__post_init__ does in place, in the dict the
// saved config shares.
func qwen35RopeType(tc model.Config) {
	rp := tc.Object("rope_parameters")
	if rp == nil || rp.Len() == 0 {
		return
	}
	if _, ok := rp.Get("type"); ok {
		return
	}
	if v, ok := rp.Get("rope_type"); ok {
		rp.Delete("rope_type")
		rp.Set("type", v)
	}
}

func buildQwen35(c model.Config, _ model.Tensors) (*model.Tree, error) {
	tc, err := qwen35Text(c)
	if err != nil {
		return nil, err
	}
	qwen35RopeType(tc)
	var d model.Dims
	var x qwen3NextDims
	var layers int
	if err := model.IntsOr(tc, model.IntDefault{Key: "hidden_size", Dst: &d.Hidden, Def: 4096},
		model.IntDefault{Key: "intermediate_size", Dst: &d.Inter, Def: 14336},
		model.IntDefault{Key: "num_hidden_layers", Dst: &layers, Def: 32},
		model.IntDefault{Key: "num_attention_heads", Dst: &d.Heads, Def: 32},
		model.IntDefault{Key: "vocab_size", Dst: &d.Vocab, Def: 151936},
		model.IntDefault{Key: "num_key_value_heads", Dst: &x.kv, Def: 8},
		model.IntDefault{Key: "linear_num_value_heads", Dst: &x.nv, Def: 64},
		model.IntDefault{Key: "linear_num_key_heads", Dst: &x.nk, Def: 16},
		model.IntDefault{Key: "linear_key_head_dim", Dst: &x.dk, Def: 192},
		model.IntDefault{Key: "linear_value_head_dim", Dst: &x.dv, Def: 128},
		model.IntDefault{Key: "linear_conv_kernel_dim", Dst: &x.kernel, Def: 4},
		model.IntDefault{Key: "full_attention_interval", Dst: &x.interval, Def: 4},
		model.IntDefault{Key: "num_experts", Dst: &x.experts, Def: 0},
		model.IntDefault{Key: "shared_expert_intermediate_size", Dst: &x.sharedInter, Def: 0},
		model.IntDefault{Key: "moe_intermediate_size", Dst: &x.moeInter, Def: 0}); err != nil {
		return nil, err
	}
	if err := x.readQwen35Rest(tc, layers, d.Heads); err != nil {
		return nil, err
	}
	if x.headDim, err = tc.IntOr("head_dim", d.Hidden/d.Heads); err != nil { // null: hidden_size // heads
		return nil, err
	}
	var b model.Builder
	p0 := "language_model."
	b.Embedding(p0+"model.embed_tokens", d.Vocab, d.Hidden)
	for l := 0; l < layers; l++ {
		p := p0 + "model.layers." + strconv.Itoa(l)
		if (l+1)%x.interval != 0 {
			x.gatedDeltaNet35(&b, p+".linear_attn", d.Hidden)
		} else {
			x.attention(&b, p+".self_attn", d)
		}
		b.Norm(p+".input_layernorm", d.Hidden)
		b.Norm(p+".post_attention_layernorm", d.Hidden)
		if x.experts > 0 {
			x.sparseMoe(&b, p+".mlp", d.Hidden)
		} else {
			b.MLP(p+".mlp", d.Hidden, d.Inter, false)
		}
	}
	b.Norm(p0+"model.norm", d.Hidden)
	if !x.tie {
		b.Linear(p0+"lm_head", d.Hidden, d.Vocab, false)
	}
	return b.Tree(layers), nil
}

// readQwen35Rest reads the flags and checks what TextModel's construction
// divides by.
func (x *qwen3NextDims) readQwen35Rest(tc model.Config, layers, heads int) (err error) {
	if x.tie, err = tc.BoolOr("tie_word_embeddings", false); err != nil {
		return err
	}
	if x.bias, err = tc.BoolOr("attention_bias", false); err != nil {
		return err
	}
	switch {
	case layers < 0 || layers > model.MaxLayers:
		return tc.Errf("num_hidden_layers", "is %d", layers)
	case heads == 0:
		return tc.Errf("num_attention_heads", "is 0")
	case x.interval == 0:
		return tc.Errf("full_attention_interval", "is 0")
	case x.nk == 0 || x.nv%x.nk != 0:
		return tc.Errf("linear_num_value_heads", "%d is not divisible by linear_num_key_heads %d", x.nv, x.nk)
	}
	return nil
}

// gatedDeltaNet35 adds qwen3_5's GatedDeltaNet in attribute order.
func (x qwen3NextDims) gatedDeltaNet35(b *model.Builder, p string, hidden int) {
	keyDim, valueDim := x.dk*x.nk, x.dv*x.nv
	b.Params(p+".conv1d", model.Param{Name: "weight", Shape: []int{keyDim*2 + valueDim, x.kernel, 1}})
	b.Linear(p+".in_proj_qkv", hidden, keyDim*2+valueDim, false)
	b.Linear(p+".in_proj_z", hidden, valueDim, false)
	b.Linear(p+".in_proj_b", hidden, x.nv, false)
	b.Linear(p+".in_proj_a", hidden, x.nv, false)
	b.BlockParams(p, model.Param{Name: "dt_bias", Shape: []int{x.nv}}, model.Param{Name: "A_log", Shape: []int{x.nv}})
	b.Norm(p+".norm", x.dv)
	b.Linear(p+".out_proj", valueDim, hidden, false)
}

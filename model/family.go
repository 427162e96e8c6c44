package model

import (
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/pyjson"
)

// Family is one model family: every config.json model_type it covers and
// all the rules the sinks need for it. A family is one Go value in one
// file of model/family; nothing about it lives anywhere else.
type Family struct {
	// Name is the family's mlx-lm model module (e.g. llama).
	Name string
	// Types are the config.json model_types converted by this family
	// (mlx-lm's own type first, then MODEL_REMAPPING aliases).
	Types []string
	// MLX is how mlx-lm builds, sanitizes and quantizes the model.
	MLX MLX
	// GGUF is how llama.cpp's convert_hf_to_gguf.py exports the family;
	// nil when it is not exported.
	GGUF *GGUF
}

// GGUF is the llama.cpp side of a family: the model class of
// convert_hf_to_gguf.py and the transformers config classes it reads.
type GGUF struct {
	// Types are the exported config.json model_types (a subset of
	// Family.Types).
	Types []string
	// Arch is the GGUF architecture name (general.architecture).
	Arch string
	// Vocab names the tokenizer rule set (VocabOptions.Arch); SetVocab is
	// its set_vocab (nil: DefaultVocab). TokenizerClass is the class
	// assumed when tokenizer_config.json names none ("" for none).
	Vocab          string
	SetVocab       func(l VocabLoader) error
	TokenizerClass string
	// PermuteQK undoes HF's rotate-half Q/K layout (LlamaModel.permute).
	PermuteQK bool
	// NormShift adds 1 to every *norm.weight (Gemma's RMSNorm scales by
	// 1 + weight).
	NormShift bool
	// DropHead never writes lm_head (Gemma's converters skip it).
	DropHead bool
	// DropTiedHead skips a checkpoint's lm_head.weight when
	// tie_word_embeddings is true (HunYuan's modify_tensors); without it
	// such a head is written, as TextModel does.
	DropTiedHead bool
	// TrimEmbd cuts token_embd to the tokenizer's size (Gemma 3).
	TrimEmbd bool
	// KeepMXFP4 repacks MXFP4-quantized tensors (a Hub checkpoint's
	// *_blocks/*_scales, MLX mxfp4) into GGML MXFP4 whatever the output
	// type, and makes general.file_type MOSTLY_MXFP4_MOE for f32, f16 and
	// bf16 (GptOssModel's repack_mxfp4).
	KeepMXFP4 bool
	// Layer maps a layer-relative module path (after sanitize) to its
	// GGUF name.
	Layer map[string]string
	// LayerArrays maps a layer-relative parameter (module path + "." +
	// name) holding one number per layer to a KV key (as written): the
	// values, in layer order, become one FLOAT32 array instead of tensors
	// (ApertusModel's xIELU parameters), written only when every layer
	// has one.
	LayerArrays map[string]string
	// ExpertOrder is the order the converter emits a layer's stacked
	// experts in (by GGUF base name).
	ExpertOrder []string
	// Prefix is a leading path the text model's modules carry that the
	// converter drops ("model.language_model." -> "model."), "" for none.
	Prefix string
	// Fuse writes pairs of a block's stacked expert tensors as one, when
	// both are slices of one checkpoint tensor (the converter writes that
	// tensor as is); otherwise they stay two tensors.
	Fuse []FuseRule
	// Stack maps a module path prefix outside the blocks to the GGUF base
	// name of the stack (a new leading axis) of the modules prefix+"0",
	// prefix+"1", ... (Gemma 3n's altup_projections.N).
	Stack map[string]string
	// PadRows are GGUF tensor names padded with zero rows up to config
	// vocab_size (Gemma 3n's embeddings).
	PadRows []string
	// Params writes the {arch}.* keys (set_gguf_parameters).
	Params func(m *Meta) error
	// Extra returns the generated tensors (generate_extra_tensors) and
	// the KVs written while generating them; nil for none.
	Extra func(h *HParams, rope *Rope) ([]ExtraTensor, []gguf.KV, error)
	// Configs are the transformers config classes, by model_type
	// (text_config types included).
	Configs map[string]*HFConfig
	// TextType is the text_config model_type a wrapper config implies
	// when its text_config names none.
	TextType string
	// Aliases are config keys the parameter tree reads that the
	// converter finds under other names too: key -> names in
	// find_hparam order (ConverterView).
	Aliases map[string][]string
	// MLX, when set, replaces the family's MLX part for the export: the
	// parameter tree and sanitize of what the converter writes where it
	// keeps tensors mlx-lm's sanitize drops (a next-n/MTP layer, a
	// router's score bias). Its Build sees the checkpoint, so a tensor the
	// converter keeps is in the tree only where the input has it (an
	// mlx-lm output has none). nil: the family's MLX.
	MLX *MLX
	// Global maps MLX module paths outside the blocks to GGUF base names
	// (nemotron_h's backbone.embeddings -> token_embd), before the
	// model.embed_tokens / model.norm / lm_head defaults.
	Global map[string]string
	// Blocks is the MLX module path prefix of the decoder blocks ("":
	// "model.layers.").
	Blocks string
	// Tensors are the GGUF-side reshapes, value transforms and gathers
	// (row and column reorders, one tensor into several) of tensors, by
	// GGUF name after "blk.N." (see TensorRule).
	Tensors map[string]TensorRule
	// ArchFor, when set, is the GGUF architecture for a config, instead of
	// Arch (NemotronHModel: nemotron_h_moe with experts, else nemotron_h).
	ArchFor func(h *HParams) string
	// LayerList, when set, is a config key whose list, when present, has
	// one entry per block: its length is the block count (NemotronHModel
	// sets num_hidden_layers from layers_block_type).
	LayerList string
	// Splits maps a layer-relative MLX module path to the GGUF base names
	// of its equal parts along the first axis, in order (GraniteMoeModel
	// writes shared_mlp.input_linear as gate and up).
	Splits map[string][]string
	// VocabPad is the multiple the vocabulary (not the embedding) is
	// padded to with [PADi] tokens (Mamba2Model.set_vocab's rounding of
	// vocab_size); nil for none. See PadVocab.
	VocabPad func(h *HParams) (int64, error)
}

// BlockPrefix is the MLX module path prefix of the decoder blocks.
func (g *GGUF) BlockPrefix() string {
	if g.Blocks == "" {
		return "model.layers."
	}
	return g.Blocks
}

// FuseRule names a GGUF tensor (base name, e.g. ffn_gate_up_exps) made
// of two of a block's stacked tensors concatenated along axis 1, in
// order (ffn_gate_exps, ffn_up_exps).
type FuseRule struct {
	Into  string
	Parts [2]string
}

// CommonLayer maps the layer-relative MLX module paths of the llama-like
// architectures to their GGUF names.
var CommonLayer = map[string]string{
	"input_layernorm":          "attn_norm",
	"post_attention_layernorm": "ffn_norm",
	"self_attn.q_proj":         "attn_q",
	"self_attn.k_proj":         "attn_k",
	"self_attn.v_proj":         "attn_v",
	"self_attn.o_proj":         "attn_output",
	"self_attn.q_norm":         "attn_q_norm",
	"self_attn.k_norm":         "attn_k_norm",
	"mlp.gate_proj":            "ffn_gate",
	"mlp.up_proj":              "ffn_up",
	"mlp.down_proj":            "ffn_down",
}

// WithLayer is CommonLayer with extra's entries added or replaced.
func WithLayer(extra map[string]string) map[string]string {
	m := make(map[string]string, len(CommonLayer)+len(extra))
	for k, v := range CommonLayer {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// MLX is the mlx-lm side of a family.
type MLX struct {
	// Build returns the parameter tree mlx-lm builds from the config. ts
	// is read only by families whose tree comes from the checkpoint.
	Build func(c Config, ts Tensors) (*Tree, error)
	// Rules are the model's sanitize as data, applied in order (see
	// SanitizeRule); nil for none.
	Rules []SanitizeRule
	// Sanitize is the rest of the model's sanitize, run after Rules: what
	// the rules cannot express. nil for nothing.
	Sanitize func(m *Tree, c Config, ts Tensors) error
	// Pred is the model's own quant_predicate; nil for none.
	Pred QuantPred
	// KeepDType is the model's cast_predicate negated: true for a
	// parameter (full name) that keeps its dtype when the floats are cast
	// (deepseek_v3's e_score_correction_bias); nil casts every float.
	KeepDType func(name string) bool
	// LegacyRope: the model's ModelArgs reads only rope_theta and
	// rope_scaling, not transformers 5's "rope_parameters", so mlx-lm
	// would load a transformers-5 config as another model (its default
	// rope); mlxconv then adds those keys to config.json from a flat
	// rope_parameters (convert's legacyRope). Set it with a
	// transformers-5 twin fixture proving it (llama_t5.json); without it
	// config.json is written through as mlx_lm.convert writes it.
	LegacyRope bool
	// ConfigEdit rewrites other transformers-5 spellings the model's
	// ModelArgs does not read into the transformers-4 ones, in the config
	// the loader reads (and so in the output config.json), after
	// LegacyRope; nil for none. Proven like LegacyRope, by a twin fixture.
	ConfigEdit func(c *pyjson.Object)
}

// QuantPred is a model's own quant_predicate result for a module: nil
// means "True" (quantize with the global parameters).
type QuantPred func(path string) *pyjson.Object

// Tensors is the checkpoint working set a sanitize rewrites: names in
// insertion order (as a Python dict) with their shapes.
type Tensors interface {
	Has(name string) bool
	Shape(name string) ([]int, bool)
	Names() []string
	Len() int
	Pop(name string)
	// Filter keeps the names for which keep returns true.
	Filter(keep func(name string) bool)
	// Stack pops srcs (all present, same dtype and shape) and sets dst to
	// their stack along a new leading axis.
	Stack(dst string, srcs []string) error
	// WithPrefix returns the names starting with prefix, in order.
	WithPrefix(prefix string) []string
	// DequantFP8 makes weight (float8_e4m3fn) its dequantization by the
	// float32 block scales scaleInv ([ceil(rows/block), ceil(cols/block)])
	// and pops scaleInv: rounded to bfloat16 as mlx-lm's FP8 sanitize does,
	// or with f32 the float32 products convert_hf_to_gguf.py keeps.
	DequantFP8(weight, scaleInv string, block int, f32 bool) error
	// ViewUint32 relabels a 32-bit integer tensor as uint32
	// (.view(mx.uint32)).
	ViewUint32(name string) error
	// Scaled sets dst to src's values times factor (Python's factor *
	// array: float32 arithmetic rounded to src's float dtype); src stays.
	Scaled(dst, src string, factor float32) error
	// Rename gives name the new name to, in place; to existing already is
	// an error.
	Rename(name, to string) error
	// Split pops name and sets dsts to its equal parts along axis (see
	// SplitShape).
	Split(name string, axis int, dsts []string) error
	// Interleave pops name and sets dsts[i] to every len(dsts)-th index
	// from i along axis (see InterleaveShape).
	Interleave(name string, axis int, dsts []string) error
	// Bitcast reads name's bytes as dtype (see BitcastShape).
	Bitcast(name, dtype string, flattenLast2 bool) error
	// Transform makes name's values op of its values (see ValueOp.Shape).
	Transform(name string, op ValueOp) error
	// View sets dst to a view of src (src stays; a sanitize pops it).
	View(dst, src string, v View) error
	// Scale makes name's values its values times s (a ValueScale).
	Scale(name string, s Scaling) error
}

// ---- config helpers shared by the family files

// NeedKeys checks that keys are present (mlx-lm's dataclass fields without
// a default; a missing one is a TypeError there).
func NeedKeys(c Config, keys ...string) error {
	for _, k := range keys {
		if !c.Present(k) {
			return c.Errf(k, "is missing (required by the model)")
		}
	}
	return nil
}

// MaxLayers bounds layer counts read from a config.
const MaxLayers = 1 << 16

// LayerCount returns num_hidden_layers, checked against a sane bound.
func LayerCount(c Config) (int, error) {
	n, err := c.ReqInt("num_hidden_layers")
	if err == nil && n > MaxLayers {
		err = c.Errf("num_hidden_layers", "is %d, too many", n)
	}
	return n, err
}

// Dims are the sizes every decoder config has.
type Dims struct {
	Hidden, Inter, Heads, Vocab int
}

// ReadDims reads hidden_size, intermediate_size, num_attention_heads and
// vocab_size, all required positive integers.
func ReadDims(c Config) (d Dims, err error) {
	if d.Hidden, err = c.PosInt("hidden_size"); err != nil {
		return
	}
	if d.Inter, err = c.PosInt("intermediate_size"); err != nil {
		return
	}
	if d.Heads, err = c.PosInt("num_attention_heads"); err != nil {
		return
	}
	d.Vocab, err = c.PosInt("vocab_size")
	return
}

// IntDefault is one integer field with its dataclass default.
type IntDefault struct {
	Key string
	Dst *int
	Def int
}

// IntsOr reads fields in order; the first failure is the error.
func IntsOr(c Config, fields ...IntDefault) error {
	for _, f := range fields {
		var err error
		if *f.Dst, err = c.IntOr(f.Key, f.Def); err != nil {
			return err
		}
	}
	return nil
}

// RouterPred is the 8-bit router override several MoE models define:
// {"group_size": 64, "bits": 8} (no mode, so affine) for paths ending in
// suffix.
func RouterPred(suffix string) QuantPred {
	return func(path string) *pyjson.Object {
		if !strings.HasSuffix(path, suffix) {
			return nil
		}
		o := pyjson.NewObject()
		o.Set("group_size", pyjson.Int(64))
		o.Set("bits", pyjson.Int(8))
		return o
	}
}

// RopeKeys are the ModelArgs fields transformers 5 moves into
// rope_parameters: rope_theta, rope_scaling (rope_parameters itself) and
// partial_rotary_factor.
var RopeKeys = map[string]bool{"rope_theta": true, "rope_scaling": true, "partial_rotary_factor": true}

// NeedKeysRope is NeedKeys that also accepts a RopeKeys field from a
// transformers-5 rope_parameters object: rope_scaling when the object is
// there, the others when it holds them.
func NeedKeysRope(c Config, keys ...string) error {
	rp := c.Object("rope_parameters")
	for _, k := range keys {
		if c.Present(k) {
			continue
		}
		if RopeKeys[k] && rp != nil {
			if _, ok := rp.Get(k); ok || k == "rope_scaling" {
				continue
			}
		}
		return c.Errf(k, "is missing (required by the model)")
	}
	return nil
}

package ggufexport

import (
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
	"github.com/mlxconv/mlxconv/model/family"
	"github.com/mlxconv/mlxconv/model/source"
)

// Architecture knowledge of the GGUF exporter, as data: for every config
// model_type mlxconv exports, the GGUF architecture llama.cpp's
// convert_hf_to_gguf.py (llama-cpp-python 0.3.36's vendored copy) writes,
// its tensor names, transforms and metadata.

// archInfo is one family's GGUF rules (model/family).
type archInfo = model.GGUF

type (
	hparams     = model.HParams
	metaWriter  = model.Meta
	ropeParams  = model.Rope
	extraTensor = model.ExtraTensor
)

// exportModelTypes returns the config.json model types Export supports.
func exportModelTypes() []string { return family.GGUFModelTypes() }

// newHParams builds the hyperparameters from config.json with the
// families' transformers config classes.
func newHParams(cfg *pyjson.Object) *hparams {
	textType := ""
	if mt, ok := cfg.Get("model_type"); ok {
		if s, ok := mt.(string); ok {
			if g := family.LookupGGUF(s); g != nil {
				textType = g.TextType
			}
		}
	}
	return model.NewHParams(cfg, family.HFConfig, textType)
}

// tensorName maps an MLX parameter name (module path + "." + param, after
// sanitize) to its GGUF name and block id (-1 outside blocks).
func tensorName(a *archInfo, name string) (string, int, bool) {
	name = textModelName(a, name)
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return "", -1, false
	}
	path, param := name[:dot], name[dot+1:]
	if param != "weight" && param != "bias" {
		return paramTensorName(a, path, param)
	}
	if g, ok := a.Global[path]; ok {
		return g + "." + param, -1, true
	}
	switch path {
	case "model.embed_tokens":
		return "token_embd." + param, -1, true
	case "model.norm":
		return "output_norm." + param, -1, true
	case "lm_head":
		return "output." + param, -1, true
	}
	rest, ok := strings.CutPrefix(path, a.BlockPrefix())
	if !ok {
		return "", -1, false
	}
	num, sub, ok := strings.Cut(rest, ".")
	if !ok {
		return "", -1, false
	}
	bid, err := strconv.Atoi(num)
	if err != nil || bid < 0 || strconv.Itoa(bid) != num {
		return "", -1, false
	}
	if g, ok := a.Layer[sub+"."+param]; ok { // a whole name (falcon_h1's bare ffn_norm)
		return "blk." + num + "." + g, bid, true
	}
	g, ok := a.Layer[sub]
	if !ok {
		return "", -1, false
	}
	return "blk." + num + "." + g + "." + param, bid, true
}

// textModelName is name without the text model's wrapper prefix:
// "language_model.", or a.Prefix for "model.".
func textModelName(a *archInfo, name string) string {
	name = strings.TrimPrefix(name, "language_model.")
	if rest, ok := strings.CutPrefix(name, a.Prefix); ok && a.Prefix != "" {
		name = "model." + rest
	}
	return name
}

// paramTensorName maps a block parameter that is neither weight nor bias
// (e.g. a router's e_score_correction_bias) by its full layer-relative
// name in a.Layer, whose value is the whole GGUF name after "blk.N."; a
// parameter of the block itself (Gemma 4's layer_scalar) by its name.
func paramTensorName(a *archInfo, path, param string) (string, int, bool) {
	rest, ok := strings.CutPrefix(path, a.BlockPrefix())
	if !ok {
		return "", -1, false
	}
	num, sub, hasSub := strings.Cut(rest, ".")
	bid, err := strconv.Atoi(num)
	if err != nil || bid < 0 || strconv.Itoa(bid) != num {
		return "", -1, false
	}
	key := param
	if hasSub {
		key = sub + "." + param
	}
	g, ok := a.Layer[key]
	if !ok {
		return "", -1, false
	}
	return "blk." + num + "." + g, bid, true
}

var (
	pyFloat = model.PyFloat
	hpInt   = model.HPInt
)

// ErrExport reports a model, config or option the exporter cannot handle.
// It is returned before any tensor data is written.
var ErrExport = model.ErrExport

// lookupArch returns the GGUF rules of a model_type, or nil.
func lookupArch(modelType string) *archInfo { return family.LookupGGUF(modelType) }

var newRopeParams = model.NewRope

// extraTensors returns the family's generated tensors and their KVs.
func extraTensors(a *archInfo, h *hparams, rope *ropeParams) ([]extraTensor, []gguf.KV, error) {
	if a.Extra == nil {
		return nil, nil, nil
	}
	return a.Extra(h, rope)
}

// converterInventory is inv with config.json as llama.cpp's converter
// reads it (model.ConverterView: config class defaults, find_hparam
// aliases), so that the parameter tree is built from what the converter
// accepts rather than from mlx-lm's ModelArgs requirements. inv itself
// is returned when the model type has no GGUF export (LoadModel's error
// then names it as before) or nothing changes.
func converterInventory(inv *source.Inventory) *source.Inventory {
	mt, _ := inv.Config.Get("model_type")
	s, _ := mt.(string)
	g := family.LookupGGUF(s)
	if g == nil {
		return inv
	}
	view := model.ConverterView(inv.Config, family.HFConfig(s), g.Aliases)
	if view == inv.Config {
		return inv
	}
	cp := *inv
	cp.Config = view
	return &cp
}

// converterMLX is the family's GGUF-side parameter tree and sanitize
// (model.GGUF.MLX), nil when it has none or no GGUF export. A block-scaled
// FP8 checkpoint (quant_method "fp8" with square weight blocks, as
// DeepSeek-V3 and Qwen3-*-FP8 ship) is dequantized first whatever the
// family, as convert_hf_to_gguf.py's dequant_model does for every model:
// each weight with a weight_scale_inv becomes its float32 products
// (model.FP8Dequant with F32), which the output type then rounds.
func converterMLX(inv *source.Inventory) *model.MLX {
	mt, _ := inv.Config.Get("model_type")
	s, _ := mt.(string)
	g := family.LookupGGUF(s)
	var x *model.MLX
	if g != nil {
		x = g.MLX
	}
	block, ok := fp8Block(inv.Config)
	if !ok || g == nil {
		return x
	}
	var cp model.MLX
	switch {
	case x != nil:
		cp = *x
	case family.Lookup(s) != nil:
		cp = family.Lookup(s).MLX
	default:
		return x
	}
	cp.Rules = append([]model.SanitizeRule{model.FP8Dequant{Block: block, F32: true}}, cp.Rules...)
	return &cp
}

// fp8Block returns the block size of a block-scaled FP8 checkpoint's
// quantization_config (top level or text_config): quant_method "fp8" with
// weight_block_size [B, B]. ue8m0 scales over 32x32 blocks are mxfp8,
// which the loader imports as MLX quantization instead.
func fp8Block(cfg *pyjson.Object) (int, bool) {
	qc, _ := cfg.Get("quantization_config")
	q, _ := qc.(*pyjson.Object)
	if q == nil {
		if tc, _ := cfg.Get("text_config"); tc != nil {
			if t, ok := tc.(*pyjson.Object); ok {
				qc, _ = t.Get("quantization_config")
				q, _ = qc.(*pyjson.Object)
			}
		}
	}
	if q == nil {
		return 0, false
	}
	c := model.NewConfig(q, "quantization_config")
	method, _ := c.Str("quant_method")
	bs, _ := c.IntList("weight_block_size")
	sf, _ := c.Str("scale_fmt")
	if method != "fp8" || len(bs) != 2 || bs[0] != bs[1] || bs[0] <= 0 || sf == "ue8m0" && bs[0] == 32 {
		return 0, false
	}
	return bs[0], true
}

// paramSet reports whether m has the parameter name (module path + "." +
// parameter; a quantized module's weight, scales, biases and bias).
func paramSet(m *source.Model) func(name string) bool {
	set := map[string]bool{}
	for _, mod := range m.Modules {
		for _, p := range mod.Params {
			set[mod.Path+"."+p.Name] = true
		}
		if mod.Quant != nil {
			for n, in := range map[string]*source.Input{"weight": mod.Weight, "scales": mod.Scales, "biases": mod.Biases, "bias": mod.Bias} {
				if in != nil {
					set[mod.Path+"."+n] = true
				}
			}
		}
	}
	return func(name string) bool { return set[name] }
}

// blockPath splits a module path under a's block prefix into the block
// number (as written and as an int) and the layer-relative rest.
func blockPath(a *archInfo, path string) (num, sub string, bid int, ok bool) {
	rest, ok := strings.CutPrefix(path, a.BlockPrefix())
	if !ok {
		return "", "", -1, false
	}
	num, sub, ok = strings.Cut(rest, ".")
	if !ok {
		return "", "", -1, false
	}
	bid, err := strconv.Atoi(num)
	if err != nil || bid < 0 || strconv.Itoa(bid) != num {
		return "", "", -1, false
	}
	return num, sub, bid, true
}

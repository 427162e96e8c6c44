package source

import (
	"fmt"
	"strings"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// sourceQuantSuffixes end the names of the tensors quantized Hub formats
// store beside (or instead of) a Linear's weight: block-scaled FP8
// (weight_scale_inv), compressed-tensors pack-quantized, nvfp4 and mxfp4
// (weight_packed, weight_scale, weight_shape, weight_zero_point,
// weight_global_scale, input_global_scale) and ModelOpt NVFP4
// (weight_scale, weight_scale_2, input_scale). mlx-lm 0.32.2 maps their
// quantization_config to an MLX "quantization" entry but renames the
// tensors only in the sanitize of a few model types (deepseek_v3: int4
// pack-quantized and FP8; gpt_oss: MXFP4 *_blocks); elsewhere its load
// fails on them.
var sourceQuantSuffixes = []string{
	".weight_scale_inv", ".weight_packed", ".weight_shape", ".weight_zero_point",
	".weight_global_scale", ".input_global_scale", ".weight_scale_2", ".weight_scale", ".input_scale",
}

// sourceQuantTensors returns the names among names that end in a
// sourceQuantSuffixes entry.
func sourceQuantTensors(names []string) []string {
	var out []string
	for _, n := range names {
		for _, s := range sourceQuantSuffixes {
			if strings.HasSuffix(n, s) {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

// sourceQuantFormat names the quantized source format a config's
// quantization_config (or hf_quant_config.json) describes, for the
// refusal message; "" when the config has none.
func sourceQuantFormat(cfg model.Config, hfQuant bool) string {
	qc := cfg.Object("quantization_config")
	if qc == nil {
		return ""
	}
	q := newConfig(qc, "config.json quantization_config")
	method, _ := q.Str("quant_method")
	switch method {
	case "fp8":
		bs, _ := q.IntList("weight_block_size")
		s := fmt.Sprintf("block-scaled FP8 (quant_method \"fp8\", weight_block_size %v", bs)
		if f, ok := q.Str("scale_fmt"); ok {
			s += fmt.Sprintf(", scale_fmt %q", f)
		}
		return s + ")"
	case "compressed-tensors":
		f, _ := q.Str("format")
		return fmt.Sprintf("compressed-tensors %q", f)
	case "modelopt":
		return "ModelOpt " + modeloptAlgo(q)
	case "":
		if hfQuant {
			// hf_quant_config.json has no quant_method (mlx-lm 0.32.2
			// fails on it with a KeyError).
			return "ModelOpt " + modeloptAlgo(q) + " (hf_quant_config.json)"
		}
		return "quantized"
	}
	return fmt.Sprintf("quant_method %q", method)
}

// modeloptAlgo is the quoted quant_algo of a ModelOpt config, flat
// (config.json) or nested under "quantization" (hf_quant_config.json).
func modeloptAlgo(q model.Config) string {
	if s := q.Object("quantization"); s != nil {
		q = newConfig(s, "quantization_config.quantization")
	}
	algo, _ := q.Str("quant_algo")
	return fmt.Sprintf("%q", algo)
}

// refuseSourceQuant turns a failed match whose leftover tensors belong to
// a quantized Hub format the family's sanitize does not repack into a
// refusal naming the format (format: sourceQuantFormat's, taken before
// importQuantization rewrote the config); nil when no such tensor is
// left.
func (pl *loader) refuseSourceQuant(format string) error {
	found := sourceQuantTensors(pl.ts.names())
	if len(found) == 0 {
		return nil
	}
	if format == "" {
		format = "quantized"
	}
	return fmt.Errorf("%w: %s checkpoint: the %s model does not load its packed tensors (%s), as mlx-lm 0.32.2's does not; dequantize to bf16 before converting",
		model.ErrUnsupported, format, pl.arch.Name, listNames(found))
}

// checkQuantMethod refuses a non-empty quantization_config without
// quant_method, which mlx-lm 0.32.2's load_model reads unconditionally
// (a KeyError; an output keeping that config would not load either).
// ModelOpt's hf_quant_config.json is such a config: mlx-lm copies it into
// the config when config.json has none.
func (pl *loader) checkQuantMethod(qc *pyjson.Object) error {
	if qc.Len() == 0 {
		return nil
	}
	if _, ok := qc.Get("quant_method"); ok {
		return nil
	}
	if pl.qcFromHF {
		return fmt.Errorf("%w: %s checkpoint: hf_quant_config.json has no \"quant_method\" (mlx-lm 0.32.2 fails on it with KeyError 'quant_method'); dequantize to bf16 before converting",
			model.ErrUnsupported, sourceQuantFormat(pl.cfg, true))
	}
	return fmt.Errorf("%w: config.json \"quantization_config\" has no \"quant_method\" (mlx-lm 0.32.2 fails on it with KeyError 'quant_method')", model.ErrConfig)
}

package quantplan

import (
	"fmt"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
)

// category is llama-quant.cpp's tensor_category: a tensor's role.
type category int

const (
	catOther category = iota
	catTokenEmbd
	catAttnQ
	catAttnV
	catAttnK
	catAttnQKV
	catAttnKVB
	catAttnOutput
	catFFNUp
	catFFNGate
	catFFNDown
	catOutput
)

// roles is tensor_get_category's substring table, in its order (the first
// match wins); output.weight and the token embeddings match whole names.
var roles = []struct {
	sub string
	cat category
}{
	{"attn_qkv.weight", catAttnQKV},
	{"attn_kv_b.weight", catAttnKVB},
	{"attn_v.weight", catAttnV},
	{"attn_k.weight", catAttnK},
	{"attn_q.weight", catAttnQ},
	{"attn_output.weight", catAttnOutput},
	{"ffn_up", catFFNUp},
	{"ffn_gate", catFFNGate},
	{"ffn_down", catFFNDown},
}

func categoryOf(name string) category {
	switch name {
	case "output.weight":
		return catOutput
	case "token_embd.weight", "per_layer_token_embd.weight":
		return catTokenEmbd
	}
	for _, r := range roles {
		if strings.Contains(name, r.sub) {
			return r.cat
		}
	}
	return catOther
}

// attnVLike is category_is_attn_v: the roles that get more bits.
func (c category) attnVLike() bool { return c == catAttnV || c == catAttnQKV || c == catAttnKVB }

// neverQuantized are the name substrings tensor_allows_quantization keeps
// as they are (besides norms, 1-D tensors and names not ending in weight).
var neverQuantized = []string{
	"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
	"ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
	"time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
	"time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight",
	"time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
	"time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
	"attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos",
	".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
}

// allowsQuantization is tensor_allows_quantization.
func (st *state) allowsQuantization(t *Tensor) bool {
	// ggml_n_dims: the index of the last dimension > 1, plus one (>= 1).
	dims := 1
	for i := len(t.Shape) - 1; i >= 1; i-- {
		if t.Shape[i] > 1 {
			dims = i + 1
			break
		}
	}
	name := t.Name
	switch {
	case dims < 2, !strings.HasSuffix(name, "weight"):
		return false
	case st.o.LeaveOutput && name == "output.weight":
		return false
	case name == "position_embd.weight", name == "token_types.weight":
		return false
	}
	for _, s := range neverQuantized {
		if strings.Contains(name, s) {
			return false
		}
	}
	return true
}

// seventyB lists the architectures whose n_layer llama.cpp calls
// LLM_TYPE_70B (src/models/*.cpp); llama only when n_head != n_head_kv.
var seventyB = map[string]int{"llama": 80, "deci": 80, "olmo": 80, "qwen2": 80, "jais2": 68}

// state is quantize_state_impl: the model facts and the counters.
type state struct {
	ft        FileType
	m         Model
	o         Options
	def       gguf.Type
	tied      bool // no output.weight: token_embd is the output
	nAttnV    int
	iAttnV    int
	iFFNDown  int
	gqa       int
	is70B     bool
	nFallback int
}

func newState(ft FileType, m Model, ts []Tensor, o Options) *state {
	st := &state{ft: ft, m: m, o: o, def: fileTypes[ft].def, tied: true}
	for _, t := range ts {
		c := categoryOf(t.Name)
		if c.attnVLike() {
			st.nAttnV++
		}
		if c == catOutput {
			st.tied = false
		}
	}
	kv := m.NHeadKV
	if kv == 0 {
		kv = m.NHead
	}
	if kv > 0 {
		st.gqa = m.NHead / kv
	}
	if n, ok := seventyB[m.Arch]; ok && m.NLayer == n {
		st.is70B = m.Arch != "llama" || m.NHead != kv
	}
	return st
}

// tensorType is llama_tensor_get_type for one tensor.
func (st *state) tensorType(t *Tensor) (gguf.Type, error) {
	if !st.allowsQuantization(t) {
		return t.Type, nil
	}
	cat := categoryOf(t.Name)
	if st.o.HasTokenEmbdType && cat == catTokenEmbd && !(t.Name == "per_layer_token_embd.weight" && st.override(t.Name) != nil) {
		return st.o.TokenEmbdType, nil
	}
	if st.o.HasOutputType && cat == catOutput {
		return st.o.OutputType, nil
	}
	typ := st.def
	ov := st.override(t.Name)
	if ov != nil {
		typ = ov.Type
	}
	if ov == nil && !st.o.Pure {
		var err error
		if typ, err = st.mixType(typ, t, cat); err != nil {
			return 0, err
		}
	}
	return st.fallback(t, typ)
}

// override is the first --tensor-type matching name.
func (st *state) override(name string) *Override {
	for i := range st.o.Overrides {
		if st.o.Overrides[i].Pattern.MatchString(name) {
			return &st.o.Overrides[i]
		}
	}
	return nil
}

// fallbackTypes is tensor_type_fallback's table for a row that is not a
// multiple of the type's block size.
var fallbackTypes = map[gguf.Type]gguf.Type{
	gguf.IQ1_S: gguf.IQ4_NL, gguf.IQ1_M: gguf.IQ4_NL, gguf.IQ2_XXS: gguf.IQ4_NL, gguf.IQ2_XS: gguf.IQ4_NL,
	gguf.IQ2_S: gguf.IQ4_NL, gguf.IQ3_XXS: gguf.IQ4_NL, gguf.IQ3_S: gguf.IQ4_NL, gguf.IQ4_XS: gguf.IQ4_NL,
	gguf.Q2_0: gguf.Q4_0, gguf.Q2_K: gguf.Q4_0, gguf.Q3_K: gguf.Q4_0, gguf.TQ1_0: gguf.Q4_0, gguf.TQ2_0: gguf.Q4_0,
	gguf.Q4_K: gguf.Q5_0, gguf.Q5_K: gguf.Q5_1, gguf.Q6_K: gguf.Q8_0,
}

// fallback is tensor_type_fallback: a type whose block fits the row, F16
// when even the fallback does not.
func (st *state) fallback(t *Tensor, typ gguf.Type) (gguf.Type, error) {
	ncols := t.Shape[0]
	bs := typ.BlockSize()
	if bs == 0 || ncols%bs == 0 {
		return typ, nil
	}
	st.nFallback++
	out, ok := fallbackTypes[typ]
	switch {
	case ok:
	case bs <= 32:
		out = typ
	default:
		return 0, fmt.Errorf("%w: no tensor type fallback is defined for type %s (tensor %q)", ErrPlan, typ, t.Name)
	}
	if ncols%out.BlockSize() != 0 {
		out = gguf.F16
	}
	return out, nil
}

// useMoreBits is llama-quant.cpp's use_more_bits: the first and last
// eighth of the layers and every third one between.
func useMoreBits(i, n int) bool {
	return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
}

// mixType is llama_tensor_get_type_impl for the supported file types.
func (st *state) mixType(typ gguf.Type, t *Tensor, cat category) (gguf.Type, error) {
	switch {
	case cat == catOutput || st.tied && cat == catTokenEmbd:
		return st.outputType(typ, t), nil
	case cat == catTokenEmbd:
		if st.ft == TQ10 || st.ft == TQ20 {
			return gguf.Q4_K, nil
		}
		return typ, nil // the K-quant file types keep the default
	case cat.attnVLike():
		typ = st.attnVType(typ)
		st.iAttnV++
		return typ, nil
	case cat == catAttnK:
		if st.m.NExpert == 8 {
			return gguf.Q8_0, nil
		}
		return typ, nil
	case cat == catFFNDown:
		i, n, err := st.layer(st.iFFNDown, t.Name)
		if err != nil {
			return 0, err
		}
		st.iFFNDown++
		return st.ffnDownType(typ, i, n), nil
	case cat == catAttnOutput:
		return st.attnOutputType(typ), nil
	case cat == catFFNGate, cat == catFFNUp:
		// Only IQ3_XS has a gate/up rule, but llama.cpp still checks the
		// layer of an expert model's tensor.
		_, _, err := st.layer(0, t.Name)
		return typ, err
	}
	return typ, nil
}

// outputType is the rule for output.weight (and a tied token_embd).
func (st *state) outputType(typ gguf.Type, t *Tensor) gguf.Type {
	switch {
	case st.o.HasOutputType:
		return st.o.OutputType
	case st.m.Arch == "falcon" || t.Shape[0]%typ.BlockSize() != 0:
		return gguf.Q8_0
	case typ != gguf.Q8_0:
		return gguf.Q6_K
	}
	return typ
}

// attnVRules are the per-file-type attn_v rules that depend on nothing
// but the GQA ratio and the attn_v counter.
func (st *state) attnVType(typ gguf.Type) gguf.Type {
	i, n := st.iAttnV, st.nAttnV
	switch st.ft {
	case Q2K:
		typ = pick(st.gqa >= 4, gguf.Q4_K, gguf.Q3_K)
	case Q3KM:
		typ = pick(i < 2, gguf.Q5_K, gguf.Q4_K)
	case Q3KL:
		typ = gguf.Q5_K
	case IQ4NL, IQ4XS:
		if st.gqa >= 4 {
			typ = gguf.Q5_K
		}
	case Q4KM, Q5KM:
		if useMoreBits(i, n) {
			typ = gguf.Q6_K
		}
	case Q4KS:
		if i < 4 {
			typ = gguf.Q5_K
		}
	}
	if st.is70B && (typ == gguf.Q3_K || typ == gguf.Q4_K) {
		typ = gguf.Q5_K
	}
	if st.m.NExpert == 8 {
		typ = gguf.Q8_0
	}
	return typ
}

// layer is layer_info: the counter's layer, or for an expert model the
// name's blk.N.
func (st *state) layer(counter int, name string) (int, int, error) {
	n := st.m.NLayer
	if st.m.NExpert <= 1 {
		return counter, n, nil
	}
	i, ok := parseLayer(name)
	if !ok {
		return 0, 0, fmt.Errorf("%w: failed to determine the layer of tensor %q", ErrPlan, name)
	}
	if i < 0 || i >= n {
		return 0, 0, fmt.Errorf("%w: bad layer %d for tensor %q: must be in [0, %d)", ErrPlan, i, name, n)
	}
	return i, n, nil
}

// ffnDownType is the ffn_down rule.
func (st *state) ffnDownType(typ gguf.Type, i, n int) gguf.Type {
	falcon := st.m.Arch == "falcon"
	switch st.ft {
	case Q2K:
		return gguf.Q3_K
	case Q3KM:
		return ffnDownQ3KM(falcon, i, n)
	case Q3KL:
		return pick(falcon, gguf.Q4_K, gguf.Q5_K)
	case Q4KM:
		return ffnDownQ4KM(typ, falcon, i, n)
	case IQ4NL, IQ4XS:
		if i < n/8 && !st.o.Imatrix {
			return gguf.Q5_K
		}
	case Q5KM:
		if useMoreBits(i, n) {
			return gguf.Q6_K
		}
	case Q4KS:
		if !falcon && i < n/8 {
			return gguf.Q5_K
		}
	}
	return typ
}

// ffnDownQ3KM is Q3_K_M's ffn_down rule.
func ffnDownQ3KM(falcon bool, i, n int) gguf.Type {
	switch {
	case i < n/16:
		return gguf.Q5_K
	case !falcon || useMoreBits(i, n):
		return gguf.Q4_K
	}
	return gguf.Q3_K
}

// ffnDownQ4KM is Q4_K_M's ffn_down rule.
func ffnDownQ4KM(typ gguf.Type, falcon bool, i, n int) gguf.Type {
	switch {
	case falcon && i < n/16:
		return gguf.Q6_K
	case falcon:
		return pick(useMoreBits(i, n), gguf.Q5_K, gguf.Q4_K)
	case useMoreBits(i, n):
		return gguf.Q6_K
	}
	return typ
}

// attnOutputFT8 are the file types whose attn_output becomes Q5_K in an
// 8-expert model.
var attnOutputFT8 = map[FileType]bool{Q2K: true, Q3KS: true, Q3KM: true, IQ4NL: true, Q4KS: true, Q4KM: true, IQ4XS: true}

// attnOutputType is the attn_output rule.
func (st *state) attnOutputType(typ gguf.Type) gguf.Type {
	switch {
	case st.m.Arch == "falcon":
		if st.ft == Q3KL {
			return gguf.Q4_K
		}
	case st.m.NExpert == 8:
		if attnOutputFT8[st.ft] {
			return gguf.Q5_K
		}
	default:
		switch st.ft {
		case Q2K:
			return gguf.Q3_K
		case Q3KM:
			return gguf.Q4_K
		case Q3KL:
			return gguf.Q5_K
		}
	}
	return typ
}

func pick(c bool, a, b gguf.Type) gguf.Type {
	if c {
		return a
	}
	return b
}

// RequiresImatrix is tensor_requires_imatrix for the supported file types:
// none of them needs an importance matrix (llama-quantize asks for one
// only for IQ1/IQ2/IQ3_XXS tensors and Q2_K_S's Q2_K ones).
func RequiresImatrix(name string, typ gguf.Type) bool {
	if name == "token_embd.weight" || name == "per_layer_token_embd.weight" || name == "output.weight" {
		return false
	}
	switch typ {
	case gguf.IQ3_XXS, gguf.IQ2_XXS, gguf.IQ2_XS, gguf.IQ2_S, gguf.IQ1_M, gguf.IQ1_S:
		return true
	}
	return false
}

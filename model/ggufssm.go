package model

import (
	"fmt"
	"math"
	"slices"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/pyjson"
)

// GGUF-side tensor rules of the state-space and hybrid families
// (convert_hf_to_gguf.py's Mamba2Model.modify_tensors and its kin): shape
// changes the converter makes with squeeze/reshape, and value transforms
// it computes in float32.

// TensorRule reshapes and transforms one kind of GGUF tensor (GGUF.Tensors,
// keyed by the GGUF name after "blk.N."). Reshapes never move bytes.
type TensorRule struct {
	// Squeeze drops every axis of size 1 (the conv1d weight's
	// data_torch.squeeze()).
	Squeeze bool
	// Column makes a 1-D tensor [n] a column [n, 1] (Mamba-2's A and D).
	Column bool
	// Groups, when set, reshapes a 1-D tensor [n] to [g, n/g], g the first
	// present config key of Groups (the grouped ssm_norm).
	Groups []string
	// NegExp makes x -exp(x), in float32 (A_log to A).
	NegExp bool
	// Rows, when set, gives the GGUF tensors made of this one: each part a
	// gather along axis 0 (the elements of a 1-D tensor), for a tensor of
	// n rows. A single part with Name "" keeps the mapped name; no parts
	// (nil) leave the tensor as it is (see RowPart; Qwen3-Next's
	// in_proj_qkvz split, Qwen3.5's V-head reorder).
	Rows func(h *HParams, n int) ([]RowPart, error)
	// Cols, when set, gathers the last axis of a tensor of n columns:
	// output column j is input column Cols(h, n)[j] (nil: as it is).
	Cols func(h *HParams, n int) ([]int, error)
}

// Reshape returns shape (numpy order) after the rule, or an error naming
// tensor when it does not apply.
func (r TensorRule) Reshape(h *HParams, tensor string, shape []int) ([]int, error) {
	out := slices.Clone(shape)
	if r.Squeeze {
		out = slices.DeleteFunc(out, func(d int) bool { return d == 1 })
	}
	if r.Column {
		if len(out) != 1 {
			return nil, fmt.Errorf("%w: tensor %q: a column of a %d-D tensor", ErrExport, tensor, len(out))
		}
		out = []int{out[0], 1}
	}
	if len(r.Groups) > 0 {
		g, err := h.ReqU32(r.Groups...)
		if err != nil {
			return nil, err
		}
		if len(out) != 1 || g <= 0 || out[0]%int(g) != 0 {
			return nil, fmt.Errorf("%w: tensor %q: shape %v does not split into %d groups", ErrExport, tensor, shape, g)
		}
		out = []int{int(g), out[0] / int(g)}
	}
	return out, nil
}

// PadVocab is a GGUF.VocabPad: the config's pad_vocab_size_multiple, def
// when absent (useConfig false: always def, as NemotronHModel sets it).
func PadVocab(def int64, useConfig bool) func(h *HParams) (int64, error) {
	return func(h *HParams) (int64, error) {
		if !useConfig {
			return def, nil
		}
		n, ok, err := h.FindU32("pad_vocab_size_multiple")
		if err != nil || !ok {
			return def, err
		}
		if n <= 0 {
			return 0, fmt.Errorf("%w: pad_vocab_size_multiple is %d", ErrExport, n)
		}
		return n, nil
	}
}

// RoundUp is n rounded up to a multiple of m (m <= 1: n).
func RoundUp(n, m int64) int64 {
	if m <= 1 {
		return n
	}
	return (n + m - 1) / m * m
}

// LayerArray writes {arch}.suffix as gguf-py writes a Python list of ints
// (an INT32 array): n for the layers where on holds, 0 for the others
// (the per-layer head_count_kv / feed_forward_length of the hybrids).
func (m *Meta) LayerArray(suffix string, layers int, n int64, on func(l int) bool) error {
	if n < math.MinInt32 || n > math.MaxInt32 {
		return fmt.Errorf("%w: %s: %d does not fit an INT32", ErrExport, m.ArchKey(suffix), n)
	}
	v := make([]int32, layers)
	for l := range v {
		if on(l) {
			v[l] = int32(n)
		}
	}
	m.Set(m.ArchKey(suffix), gguf.NewValue(v))
	return nil
}

// Without returns h without keys, as a converter that pops them from its
// hparams sees it (GraniteModel drops head_dim).
func (h *HParams) Without(keys ...string) *HParams {
	c := &HParams{m: make(map[string]pyjson.Value, len(h.m)), text: h.text}
	for k, v := range h.m {
		c.m[k] = v
	}
	for _, k := range keys {
		delete(c.m, k)
	}
	return c
}

// Mamba2Tensors are Mamba2Model.modify_tensors' reshapes: the conv1d
// weight squeezed, A (-exp(A_log)) and D as columns, the gated norm in
// n_groups rows.
var Mamba2Tensors = map[string]TensorRule{
	"ssm_conv1d.weight": {Squeeze: true},
	"ssm_a":             {Column: true, NegExp: true},
	"ssm_d":             {Column: true},
	"ssm_norm.weight":   {Groups: []string{"n_groups", "num_groups", "mamba_n_groups", "mamba_num_groups"}},
}

// Mamba2Layer maps a Mamba-2 mixer's MLX names (under the prefix p, e.g.
// "mixer.") to GGUF names; dt_bias is the converter's dt_proj.bias.
func Mamba2Layer(p string) map[string]string {
	return map[string]string{
		p + "in_proj": "ssm_in", p + "conv1d": "ssm_conv1d", p + "dt_bias": "ssm_dt.bias", p + "A_log": "ssm_a",
		p + "D": "ssm_d", p + "norm": "ssm_norm", p + "out_proj": "ssm_out",
	}
}

package quantplan

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
)

// ErrPlan is wrapped by every error of this package.
var ErrPlan = errors.New("quantplan")

// FileType is a llama_ftype this package plans (general.file_type).
type FileType = gguf.FileType

// The file types Plan supports (llama_ftype values).
const (
	Q2K   FileType = 10
	Q3KS  FileType = 11
	Q3KM  FileType = 12
	Q3KL  FileType = 13
	Q4KS  FileType = 14
	Q4KM  FileType = 15
	Q5KS  FileType = 16
	Q5KM  FileType = 17
	Q6K   FileType = 18
	IQ4NL FileType = 25
	IQ4XS FileType = 30
	TQ10  FileType = 36
	TQ20  FileType = 37
)

// fileTypeInfo is one file type's row: llama-quantize's name, its default
// tensor type (llama_ftype_get_default_type) and its aliases.
type fileTypeInfo struct {
	name    string
	def     gguf.Type
	aliases []string
}

// fileTypes is llama-quantize's QUANT_OPTIONS for the supported types
// ("Q4_K" is Q4_K_M, as in llama-quantize).
var fileTypes = map[FileType]fileTypeInfo{
	Q2K:   {"Q2_K", gguf.Q2_K, nil},
	Q3KS:  {"Q3_K_S", gguf.Q3_K, nil},
	Q3KM:  {"Q3_K_M", gguf.Q3_K, []string{"Q3_K"}},
	Q3KL:  {"Q3_K_L", gguf.Q3_K, nil},
	Q4KS:  {"Q4_K_S", gguf.Q4_K, nil},
	Q4KM:  {"Q4_K_M", gguf.Q4_K, []string{"Q4_K"}},
	Q5KS:  {"Q5_K_S", gguf.Q5_K, nil},
	Q5KM:  {"Q5_K_M", gguf.Q5_K, []string{"Q5_K"}},
	Q6K:   {"Q6_K", gguf.Q6_K, nil},
	IQ4NL: {"IQ4_NL", gguf.IQ4_NL, nil},
	IQ4XS: {"IQ4_XS", gguf.IQ4_XS, nil},
	TQ10:  {"TQ1_0", gguf.TQ1_0, nil},
	TQ20:  {"TQ2_0", gguf.TQ2_0, nil},
}

// FileTypes lists the supported file types in llama_ftype order.
func FileTypes() []FileType {
	out := make([]FileType, 0, len(fileTypes))
	for ft := range fileTypes {
		out = append(out, ft)
	}
	slices.Sort(out)
	return out
}

// Name is llama-quantize's name of ft ("Q4_K_M"); "" if unsupported.
func Name(ft FileType) string { return fileTypes[ft].name }

// DefaultType is the tensor type of ft's plain tensors (Q4_K for Q4_K_M).
func DefaultType(ft FileType) gguf.Type { return fileTypes[ft].def }

// ParseFileType maps a name ("q4_k_m", "Q4_K", case-insensitive) to a
// supported file type; ok is false for any other name.
func ParseFileType(s string) (FileType, bool) {
	for ft, info := range fileTypes {
		if strings.EqualFold(s, info.name) || slices.ContainsFunc(info.aliases, func(a string) bool { return strings.EqualFold(a, s) }) {
			return ft, true
		}
	}
	return 0, false
}

// Model holds the facts of the model the rules read (llama.cpp's hparams).
type Model struct {
	Arch    string // general.architecture
	NLayer  int    // {arch}.block_count
	NHead   int    // {arch}.attention.head_count (layer 0)
	NHeadKV int    // {arch}.attention.head_count_kv (layer 0; 0: NHead)
	NExpert int    // {arch}.expert_count (0 without)
}

// Tensor is one tensor of the bf16 intermediate.
type Tensor struct {
	Name  string
	Type  gguf.Type // its type in the intermediate (BF16, F32, …)
	Shape []uint64  // ggml order: Shape[0] is the row length
}

// Override is one --tensor-type PATTERN=TYPE: tensors whose name the
// pattern matches (anywhere) get Type.
type Override struct {
	Pattern *regexp.Regexp
	Type    gguf.Type
}

// Options are llama-quantize's knobs.
type Options struct {
	Pure        bool // --pure
	LeaveOutput bool // --leave-output-tensor
	// OutputType and TokenEmbdType, if set (Has*), are
	// --output-tensor-type and --token-embedding-type.
	OutputType, TokenEmbdType       gguf.Type
	HasOutputType, HasTokenEmbdType bool
	// Overrides are the --tensor-type options, in order (the first match
	// wins).
	Overrides []Override
	// Imatrix reports whether an importance matrix is given.
	Imatrix bool
}

// ParseOverride parses PATTERN=TYPE as llama-quantize does: the pattern is
// lower-cased, the type is a ggml type name in any case.
func ParseOverride(s string) (Override, error) {
	pat, typ, ok := strings.Cut(s, "=")
	switch {
	case !ok:
		return Override{}, fmt.Errorf("%w: tensor type %q: want PATTERN=TYPE", ErrPlan, s)
	case pat == "":
		return Override{}, fmt.Errorf("%w: tensor type %q: missing tensor name", ErrPlan, s)
	case typ == "":
		return Override{}, fmt.Errorf("%w: tensor type %q: missing quantization type", ErrPlan, s)
	}
	re, err := regexp.Compile(strings.ToLower(pat))
	if err != nil {
		return Override{}, fmt.Errorf("%w: tensor type %q: %w", ErrPlan, s, err)
	}
	t, err := gguf.ParseType(typ)
	if err != nil {
		return Override{}, fmt.Errorf("%w: tensor type %q: %w", ErrPlan, s, err)
	}
	return Override{Pattern: re, Type: t}, nil
}

// layerOf is the N of a "blk.N." name, -1 for any other (sscanf's "blk.%d.").
func layerOf(name string) int {
	n, ok := parseLayer(name)
	if !ok {
		return -1
	}
	return n
}

// parseLayer is sscanf(name, "blk.%d.", &n) == 1.
func parseLayer(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return 0, false
	}
	end := 0
	if end < len(rest) && (rest[0] == '-' || rest[0] == '+') {
		end++
	}
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(rest[:end])
	if err != nil {
		return 0, false
	}
	return n, true
}

// Order returns the indices of names in the order llama-quantize writes
// them (llama_model_loader's weight_name_comparer): by layer (tensors
// outside a block first), then by name.
func Order(names []string) []int {
	idx := make([]int, len(names))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		la, lb := layerOf(names[a]), layerOf(names[b])
		if la != lb {
			return la - lb
		}
		return strings.Compare(names[a], names[b])
	})
	return idx
}

// Plan returns the type llama-quantize writes for each tensor (same index
// as ts) when quantizing the intermediate to ft. The counters that some
// rules read (the how-many-th attn_v) run in llama-quantize's order
// (Order), whatever the order of ts.
func Plan(ft FileType, m Model, ts []Tensor, o Options) ([]gguf.Type, error) {
	if _, ok := fileTypes[ft]; !ok {
		return nil, fmt.Errorf("%w: unsupported file type %s", ErrPlan, ft)
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	st := newState(ft, m, ts, o)
	out := make([]gguf.Type, len(ts))
	for _, i := range Order(names) {
		typ, err := st.tensorType(&ts[i])
		if err != nil {
			return nil, err
		}
		out[i] = typ
	}
	return out, nil
}

// ModelFromKVs reads the Model facts from GGUF metadata as llama.cpp's
// load_hparams does: general.architecture, {arch}.block_count,
// {arch}.attention.head_count and head_count_kv (an array: layer 0's),
// {arch}.expert_count (0 when absent).
func ModelFromKVs(kvs []gguf.KV) Model {
	var m Model
	get := func(key string) (int, bool) {
		for _, kv := range kvs {
			if kv.Key != key {
				continue
			}
			v := kv.Value
			if v.IsArray() {
				if v.Len() == 0 {
					return 0, false
				}
				v = v.Index(0)
			}
			return intOf(v.Any())
		}
		return 0, false
	}
	for _, kv := range kvs {
		if kv.Key == "general.architecture" {
			m.Arch, _ = kv.Value.Any().(string)
		}
	}
	m.NLayer, _ = get(m.Arch + ".block_count")
	m.NHead, _ = get(m.Arch + ".attention.head_count")
	m.NHeadKV, _ = get(m.Arch + ".attention.head_count_kv")
	m.NExpert, _ = get(m.Arch + ".expert_count")
	return m
}

func intOf(x any) (int, bool) {
	switch v := x.(type) {
	case uint32:
		return int(v), true
	case int32:
		return int(v), true
	case uint64:
		return int(v), true
	case int64:
		return int(v), true
	case uint16:
		return int(v), true
	case int16:
		return int(v), true
	case uint8:
		return int(v), true
	case int8:
		return int(v), true
	}
	return 0, false
}

// KVOrder is the metadata order llama-quantize writes for an input's
// metadata: the input's keys without the split keys, with
// general.quantization_version and general.file_type moved to the end
// (gguf_set_val_* removes a key and appends it). The values of the moved
// keys are the input's; the caller sets them.
func KVOrder(in []gguf.KV) []gguf.KV {
	var out, tail []gguf.KV
	for _, kv := range in {
		switch kv.Key {
		case "split.no", "split.count", "split.tensors.count":
		case "general.quantization_version", "general.file_type":
			tail = append(tail, kv)
		default:
			out = append(out, kv)
		}
	}
	// quantization_version first, then file_type, as llama-quantize sets them.
	slices.SortStableFunc(tail, func(a, b gguf.KV) int { return strings.Compare(b.Key, a.Key) })
	return append(out, tail...)
}

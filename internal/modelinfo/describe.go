package modelinfo

import (
	"cmp"
	"slices"
	"strings"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model/source"
)

// Kind says what a Report describes.
type Kind string

// The kinds of Report.
const (
	KindFile  Kind = "safetensors" // one safetensors file
	KindModel Kind = "model"       // a model folder
)

// Tensor is one row of the tensor table.
type Tensor struct {
	Name  string    `json:"name"`
	DType mlx.DType `json:"-"`
	Type  string    `json:"dtype"` // the safetensors dtype name ("BF16")
	Shape []int     `json:"shape"`
	Bytes int64     `json:"bytes"`
	File  string    `json:"file,omitempty"` // the shard, for a model folder
}

// File is one safetensors file of a Report.
type File struct {
	Name     string            `json:"name"`
	Size     int64             `json:"size"`
	Tensors  int               `json:"tensors"`
	Metadata map[string]string `json:"metadata,omitempty"` // the header's __metadata__
}

// DTypeStat sums the tensors of one dtype.
type DTypeStat struct {
	DType    string `json:"dtype"`
	Tensors  int    `json:"tensors"`
	Elements int64  `json:"elements"` // stored elements (packed words for a quantized weight)
	Bytes    int64  `json:"bytes"`
}

// Quant is one quantization: mode, bits and group size.
type Quant struct {
	Mode      string `json:"mode"`
	Bits      int    `json:"bits"`
	GroupSize int    `json:"group_size"`
}

// Override is a per-module entry of config.json's quantization: Quant nil
// means the module is left unquantized (false).
type Override struct {
	Module string `json:"module"`
	Quant  *Quant `json:"quant"`
}

// QuantGroup counts the quantized modules that share one quantization.
type QuantGroup struct {
	Quant
	Modules int `json:"modules"`
}

// Quantization is what a Report knows about quantization.
type Quantization struct {
	// Config is config.json's quantization (nil: none).
	Config *Quant `json:"config,omitempty"`
	// Overrides are its per-module entries, in document order.
	Overrides []Override `json:"overrides,omitempty"`
	// Method is quantization_config.quant_method of a Hugging Face
	// pre-quantized model ("fp8", "awq", ...), when config.json has no
	// MLX quantization.
	Method string `json:"quant_method,omitempty"`
	// Modules groups the quantized modules found (a weight with .scales)
	// by their quantization, most modules first.
	Modules []QuantGroup `json:"modules,omitempty"`
	// Unknown are the quantized modules whose quantization the config
	// does not give and the shapes cannot tell, or whose shapes do not fit
	// the config: "module: reason".
	Unknown []string `json:"unknown,omitempty"`
}

// Report describes one safetensors file or one model folder.
type Report struct {
	Path          string        `json:"path"`
	Kind          Kind          `json:"kind"`
	ModelType     string        `json:"model_type,omitempty"`
	Architectures []string      `json:"architectures,omitempty"`
	Files         []File        `json:"files"`
	DTypes        []DTypeStat   `json:"dtypes"`
	Quantization  *Quantization `json:"quantization,omitempty"`
	// Parameters counts as mlx-lm does: a quantized weight at its float
	// size, its scales and biases not at all. ParametersExact is false
	// when some quantized module's bits are unknown (it is then left out).
	Parameters      int64 `json:"parameters"`
	ParametersExact bool  `json:"parameters_exact"`
	// Bytes is the sum of the tensors' bytes; BitsPerWeight is Bytes × 8 /
	// Parameters (0 when Parameters is 0 or not exact).
	Bytes         int64   `json:"bytes"`
	BitsPerWeight float64 `json:"bits_per_weight"`
	// Tensors is the tensor table, in file order, each file's by offset.
	Tensors []Tensor `json:"tensors"`
}

// Describe builds the report of the tensors of files, with cfg (nil when
// there is no config.json) for the model type and the quantization.
// tensors and files are kept as given (not copied).
func Describe(path string, kind Kind, files []File, tensors []Tensor, cfg *pyjson.Object) Report {
	r := Report{Path: path, Kind: kind, Files: files, Tensors: tensors, ParametersExact: true}
	if cfg != nil {
		r.ModelType, _ = get[string](cfg, "model_type")
		if archs, ok := get[[]pyjson.Value](cfg, "architectures"); ok {
			for _, a := range archs {
				if s, ok := a.(string); ok {
					r.Architectures = append(r.Architectures, s)
				}
			}
		}
	}
	r.DTypes = dtypeStats(tensors)
	q, mods := quantization(tensors, cfg)
	if q.Config != nil || q.Method != "" || len(q.Modules) > 0 || len(q.Unknown) > 0 {
		r.Quantization = &q
	}
	for _, t := range tensors {
		r.Bytes += t.Bytes
		n := source.NumElements(t.Shape)
		switch role, qt := mods.role(t.Name); role {
		case roleQuantAux:
		case roleQuantWeight:
			if qt == nil {
				r.ParametersExact = false
				continue
			}
			r.Parameters += n * 32 / int64(qt.Bits)
		default:
			r.Parameters += n
		}
	}
	if r.Parameters > 0 && r.ParametersExact {
		r.BitsPerWeight = float64(r.Bytes) * 8 / float64(r.Parameters)
	}
	return r
}

// dtypeStats sums the tensors per dtype, in dtype order.
func dtypeStats(tensors []Tensor) []DTypeStat {
	by := map[string]*DTypeStat{}
	var order []mlx.DType
	for _, t := range tensors {
		s := by[t.Type]
		if s == nil {
			s = &DTypeStat{DType: t.Type}
			by[t.Type] = s
			order = append(order, t.DType)
		}
		s.Tensors++
		s.Elements += source.NumElements(t.Shape)
		s.Bytes += t.Bytes
	}
	slices.Sort(order)
	out := make([]DTypeStat, 0, len(order))
	for _, d := range order {
		out = append(out, *by[d.SafetensorsName()])
	}
	return out
}

// get returns cfg[key] as a T.
func get[T any](o *pyjson.Object, key string) (T, bool) {
	var zero T
	if o == nil {
		return zero, false
	}
	v, ok := o.Get(key)
	if !ok {
		return zero, false
	}
	t, ok := v.(T)
	return t, ok
}

// parseQuant reads {"group_size", "bits", "mode"} as mlx-lm does (missing
// or null fields take the mode's defaults, mode "affine" when absent).
func parseQuant(o *pyjson.Object, where string) (*Quant, error) {
	p, err := source.QuantParams(o, where)
	if err != nil {
		return nil, err
	}
	return &Quant{Mode: p.Mode.String(), Bits: p.Bits, GroupSize: p.GroupSize}, nil
}

// String is "affine 4-bit, group 64".
func (q Quant) String() string {
	return q.Mode + " " + itoa(q.Bits) + "-bit, group " + itoa(q.GroupSize)
}

// mlxQuantConfig returns config.json's MLX quantization object:
// "quantization", else a "quantization_config" without quant_method
// (mlx-lm writes both), and the quant_method of an HF one.
func mlxQuantConfig(cfg *pyjson.Object) (*pyjson.Object, string) {
	if o, ok := get[*pyjson.Object](cfg, "quantization"); ok {
		return o, ""
	}
	o, ok := get[*pyjson.Object](cfg, "quantization_config")
	if !ok {
		return nil, ""
	}
	if m, ok := get[string](o, "quant_method"); ok {
		return nil, m
	}
	return o, ""
}

// configQuant reads the MLX quantization of cfg into q: the global entry
// and the per-module ones (an object, true for the global parameters,
// false or null for none), returned by module. An entry that cannot be
// read is listed in q.Unknown.
func configQuant(cfg *pyjson.Object, q *Quantization) map[string]*Quant {
	o, method := mlxQuantConfig(cfg)
	q.Method = method
	per := map[string]*Quant{}
	if o == nil {
		return per
	}
	if _, hasBits := o.Get("bits"); hasBits {
		var err error
		if q.Config, err = parseQuant(o, "config.json quantization"); err != nil {
			q.Unknown = append(q.Unknown, "(global): "+err.Error())
		}
	}
	for _, k := range o.Keys() {
		v, _ := o.Get(k)
		var mq *Quant
		switch x := v.(type) {
		case *pyjson.Object:
			var err error
			if mq, err = parseQuant(x, "config.json quantization."+k); err != nil {
				q.Unknown = append(q.Unknown, k+": "+err.Error())
				continue
			}
		case bool:
			if x {
				mq = q.Config
			}
		case nil:
		default:
			continue // group_size, bits, mode
		}
		q.Overrides = append(q.Overrides, Override{Module: k, Quant: mq})
		per[k] = mq
	}
	return per
}

// sortGroups orders groups by module count (most first), then by name.
func sortGroups(g []QuantGroup) {
	slices.SortFunc(g, func(a, b QuantGroup) int {
		if c := cmp.Compare(b.Modules, a.Modules); c != 0 {
			return c
		}
		return strings.Compare(a.String(), b.String())
	})
}

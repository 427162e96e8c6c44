package modelinfo

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/mlx"
)

// role is what a tensor is to the parameter count.
type role uint8

const (
	rolePlain       role = iota // counted at its element count
	roleQuantWeight             // a quantized module's packed weight
	roleQuantAux                // its scales or biases: not counted
)

// modules maps each quantized module to its quantization (nil: unknown).
type modules map[string]*Quant

// role says what the tensor name is, and for a quantized weight its
// module's quantization.
func (m modules) role(name string) (role, *Quant) {
	for _, suffix := range []string{".scales", ".biases"} {
		if mod, ok := strings.CutSuffix(name, suffix); ok {
			if _, q := m[mod]; q {
				return roleQuantAux, nil
			}
		}
	}
	if mod, ok := strings.CutSuffix(name, ".weight"); ok {
		if q, found := m[mod]; found {
			return roleQuantWeight, q
		}
	}
	return rolePlain, nil
}

// quantization finds the quantized modules of tensors (a .weight with a
// .scales beside it) and their quantization: the module's entry in the
// config, else the config's global one, else what the shapes tell (the
// MX/NV float modes only; affine bits and group size cannot be told apart
// from shapes alone).
func quantization(tensors []Tensor, cfg *pyjson.Object) (Quantization, modules) {
	var q Quantization
	per := configQuant(cfg, &q)
	byName := make(map[string]*Tensor, len(tensors))
	for i := range tensors {
		byName[tensors[i].Name] = &tensors[i]
	}
	mods := modules{}
	groups := map[Quant]int{}
	for _, t := range tensors {
		mod, ok := strings.CutSuffix(t.Name, ".scales")
		w := byName[mod+".weight"]
		if !ok || w == nil {
			continue
		}
		_, hasBias := byName[mod+".biases"]
		mq, why := moduleQuant(mod, w, &t, hasBias, per, q.Config)
		if why != "" {
			q.Unknown = append(q.Unknown, mod+": "+why)
			mods[mod] = nil
			continue
		}
		mods[mod] = mq
		groups[*mq]++
	}
	for g, n := range groups {
		q.Modules = append(q.Modules, QuantGroup{Quant: g, Modules: n})
	}
	sortGroups(q.Modules)
	slices.Sort(q.Unknown)
	return q, mods
}

// moduleQuant decides the quantization of module mod (packed weight w,
// scales s): its config entry, else the global one, else the shapes; why
// is set when it cannot be told or the shapes do not fit.
func moduleQuant(mod string, w, s *Tensor, hasBias bool, per map[string]*Quant, global *Quant) (q *Quant, why string) {
	entry, has := per[mod]
	switch {
	case has && entry == nil:
		return nil, "config.json says not quantized, but it has scales"
	case has:
		q = entry
	case global != nil:
		q = global
	default:
		q = inferFloatMode(w, s, hasBias)
		if q == nil {
			return nil, "bits and group size unknown (no quantization in config.json)"
		}
	}
	if err := fits(w, s, *q); err != "" {
		return nil, err
	}
	return q, ""
}

// inferFloatMode recognises the MX/NV float modes from uint8 scales, no
// biases and the ratio of packed columns to scale columns.
func inferFloatMode(w, s *Tensor, hasBias bool) *Quant {
	if hasBias || s.DType != mlx.U8 || len(w.Shape) == 0 || len(s.Shape) == 0 || s.Shape[len(s.Shape)-1] == 0 {
		return nil
	}
	pc, sc := w.Shape[len(w.Shape)-1], s.Shape[len(s.Shape)-1]
	if pc%sc != 0 {
		return nil
	}
	for _, m := range []mlx.QuantMode{mlx.MXFP4, mlx.NVFP4, mlx.MXFP8} {
		bits, group := m.DefaultBits(), m.DefaultGroupSize()
		if pc/sc == group*bits/32 {
			return &Quant{Mode: m.String(), Bits: bits, GroupSize: group}
		}
	}
	return nil
}

// fits checks the packed weight and scales shapes against q: a uint32
// weight whose last dimension unpacks to a multiple of the group size, and
// one scale per group.
func fits(w, s *Tensor, q Quant) string {
	if w.DType != mlx.U32 {
		return fmt.Sprintf("weight is %s, want a packed U32 for %s", w.Type, q)
	}
	if len(w.Shape) == 0 || len(s.Shape) != len(w.Shape) || !slices.Equal(w.Shape[:len(w.Shape)-1], s.Shape[:len(s.Shape)-1]) {
		return fmt.Sprintf("weight %v and scales %v do not match", w.Shape, s.Shape)
	}
	if q.Bits <= 0 || q.GroupSize <= 0 {
		return fmt.Sprintf("invalid quantization %s", q)
	}
	in := int64(w.Shape[len(w.Shape)-1]) * 32
	if in%int64(q.Bits) != 0 || in/int64(q.Bits) != int64(s.Shape[len(s.Shape)-1])*int64(q.GroupSize) {
		return fmt.Sprintf("weight %v and scales %v do not fit %s", w.Shape, s.Shape, q)
	}
	return ""
}

func itoa(n int) string { return strconv.Itoa(n) }

package convert

import (
	"fmt"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model"
)

// This file exposes the stages convert shares with other sinks (the GGUF
// exporter in package ggufexport): the checkpoint matched against its
// architecture, and reads of its tensors (StreamJob, in execute.go, lowers
// a job over its inputs to the pipeline executor).

// ModuleKind is the kind of MLX leaf module that holds a parameter.
type ModuleKind uint8

// Module kinds. Only Linear, Embedding, SwitchLinear and MultiLinear are
// quantizable.
const (
	KindOther        ModuleKind = ModuleKind(kindOther)
	KindLinear       ModuleKind = ModuleKind(kindLinear)
	KindEmbedding    ModuleKind = ModuleKind(kindEmbedding)
	KindSwitchLinear ModuleKind = ModuleKind(kindSwitchLinear)
	KindMultiLinear  ModuleKind = ModuleKind(model.KindMultiLinear)
)

func (k ModuleKind) String() string { return model.Kind(k).String() }

// Param is one float parameter of a module.
type Param struct {
	Name  string // "weight", "bias"
	Input *Input
}

// Module is one leaf module of a checkpoint after the architecture's
// sanitize, matched against the parameter tree mlx-lm builds.
type Module struct {
	Path string
	Kind ModuleKind
	// Params are the float parameters in attribute order (nil for a
	// pre-quantized module).
	Params []Param
	// Quant is set for a module quantized in the checkpoint (MLX, or an
	// AWQ/GPTQ import); Weight (packed uint32), Scales, Biases (affine
	// only) and the optional Bias hold its tensors.
	Quant                        *mlx.QuantParams
	Weight, Scales, Biases, Bias *Input
}

// Model is a checkpoint read as mlx-lm would load it: the model type, the
// architecture entry and every module in module order.
type Model struct {
	ModelType string
	Arch      string
	Modules   []Module
}

// LoadModel matches the inventory's checkpoint against its architecture:
// the loader's config edits, the parameter tree built from config.json,
// the architecture's sanitize (renames, drops, expert stacks), the import
// of pre-quantized checkpoints, and MLX's strict name and shape check. It
// reads no tensor data. Errors are those of MakePlan.
func LoadModel(inv *Inventory) (*Model, error) {
	arch, err := lookupArch(inv.Config)
	if err != nil {
		return nil, err
	}
	pl := &planner{inv: inv, arch: arch, cfgObj: cloneValue(inv.Config).(*pyjson.Object)}
	mods, err := pl.prepare()
	if err != nil {
		return nil, err
	}
	m := &Model{ModelType: pl.plan.ModelType, Arch: arch.Name, Modules: make([]Module, len(mods))}
	for i, st := range mods {
		mod := Module{Path: st.spec.Path, Kind: ModuleKind(st.spec.Kind)}
		if st.q != nil {
			q := *st.q
			mod.Quant = &q
			mod.Weight, mod.Scales, mod.Biases, mod.Bias = st.qw, st.qs, st.qb, st.bias
		} else {
			for _, p := range st.spec.Params {
				if in := st.params[p.Name]; in != nil {
					mod.Params = append(mod.Params, Param{Name: p.Name, Input: in})
				}
			}
		}
		m.Modules[i] = mod
	}
	return m, nil
}

// ReadSource reads len(p) bytes of source tensor src's data at offset off
// (as io.ReaderAt). The inventory must have been loaded from a directory.
func (inv *Inventory) ReadSource(src SourceTensor, p []byte, off int64) (int, error) {
	if src.File < 0 || src.File >= len(inv.readers) || inv.readers[src.File] == nil {
		return 0, fmt.Errorf("convert: input file %d is not open", src.File)
	}
	sec, err := inv.readers[src.File].Section(src.Name)
	if err != nil {
		return 0, err
	}
	return sec.ReadAt(p, off)
}

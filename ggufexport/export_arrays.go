package ggufexport

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/model"
	"github.com/mlxconv/mlxconv/model/source"
)

// layerScalar is one layer's value of a model.GGUF.LayerArrays parameter.
type layerScalar struct {
	key string // the KV key
	bid int
	src string
	in  *source.Input
}

// layerArrayKey returns the KV key and block of a LayerArrays parameter
// (ok false for any other name).
func layerArrayKey(a *archInfo, name string) (string, int, bool) {
	if len(a.LayerArrays) == 0 {
		return "", -1, false
	}
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return "", -1, false
	}
	_, sub, bid, ok := blockPath(a, name[:dot])
	if !ok {
		return "", -1, false
	}
	key, ok := a.LayerArrays[sub+name[dot:]]
	if !ok {
		return "", -1, false
	}
	return key, bid, true
}

// layerArrayKVs reads the LayerArrays parameters (one float element each)
// into one FLOAT32 array KV per key, in layer order, as the converter's
// per-layer .item() collection: a key is written only when every one of
// the blocks layers has a value. Keys come in sorted order.
func (pl *exportPlanner) layerArrayKVs(blocks int64) ([]gguf.KV, error) {
	byKey := map[string][]layerScalar{}
	for _, s := range pl.arrays {
		byKey[s.key] = append(byKey[s.key], s)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []gguf.KV
	for _, k := range keys {
		list := byKey[k]
		if int64(len(list)) != blocks {
			continue
		}
		slices.SortFunc(list, func(a, b layerScalar) int { return a.bid - b.bid })
		vals := make([]float32, len(list))
		for i, s := range list {
			v, err := pl.readScalar(s)
			if err != nil {
				return nil, err
			}
			vals[i] = v
		}
		out = append(out, gguf.KV{Key: k, Value: gguf.NewValue(vals)})
	}
	return out, nil
}

// readScalar reads a one-element float parameter as float32.
func (pl *exportPlanner) readScalar(s layerScalar) (float32, error) {
	if s.in == nil || s.in.NumElements() != 1 {
		return 0, fmt.Errorf("%w: %q: want one float value per layer", ErrExport, s.src)
	}
	in := s.in
	if in.Op == source.OpValue && in.Value == model.ValueSqueeze && in.Scales == nil && in.Mul == 0 {
		// A squeeze keeps the bytes (apertus's alpha_p, alpha_n).
		cp := *in
		cp.Op = source.OpDirect
		in = &cp
	}
	b, err := pl.readInput(in)
	if err != nil {
		return 0, err
	}
	if b == nil {
		return 0, fmt.Errorf("%w: %q: a derived tensor", ErrExport, s.src)
	}
	x := make([]float32, 1)
	if err := decodeInto(x, b, in.DType); err != nil {
		return 0, fmt.Errorf("%w: %q: %w", ErrExport, s.src, err)
	}
	return x[0], nil
}

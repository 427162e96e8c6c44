package ggufexport

import (
	"slices"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/model"
	"github.com/mlxconv/mlxconv/model/source"
)

// fuseCandidates applies the architecture's fuse rules: in every block,
// the two parts of a rule become one tensor (the first part's place in
// the list) when fuseInputs can read them as one; otherwise both stay.
func fuseCandidates(rules []model.FuseRule, out []candidate) []candidate {
	for _, r := range rules {
		at := map[string]int{}
		for i, c := range out {
			at[c.name] = i
		}
		drop := map[int]bool{}
		for i := range out {
			c := &out[i]
			rest, ok := strings.CutSuffix(c.name, "."+r.Parts[0]+".weight")
			if !ok || c.bid < 0 || c.float == nil || rest != "blk."+strconv.Itoa(c.bid) {
				continue
			}
			j, ok := at[rest+"."+r.Parts[1]+".weight"]
			if !ok || out[j].float == nil {
				continue
			}
			in, ok := fuseInputs(c.float, out[j].float)
			if !ok {
				continue
			}
			c.float, c.name = in, rest+"."+r.Into+".weight"
			c.shape = slices.Clone(in.Shape)
			drop[j] = true
		}
		kept := out[:0]
		for i, c := range out {
			if !drop[i] {
				kept = append(kept, c)
			}
		}
		out = kept
	}
	return out
}

// fuseInputs returns the concatenation along axis 1 of two stacked
// inputs [E, n, ...] when, for every index of axis 0, b's slice directly
// follows a's in the same stored tensor: the parts of one tensor's split
// (source.OpStack, one source per index) read back as that tensor.
func fuseInputs(a, b *source.Input) (*source.Input, bool) {
	if !stackedPair(a, b) {
		return nil, false
	}
	size := a.NumElements() / int64(a.Shape[0]) * int64(a.Sources[0].DType.Size())
	out := &source.Input{Name: a.Name, DType: a.DType, Shape: slices.Clone(a.Shape), Op: source.OpStack}
	out.Shape[1] *= 2
	for e := range a.Sources {
		sa, sb := a.Sources[e], b.Sources[e]
		if !adjacentSlices(sa, sb, a, size) {
			return nil, false
		}
		s := sa
		s.Shape = slices.Clone(out.Shape[1:])
		out.Sources = append(out.Sources, s)
	}
	return out, true
}

// stackedPair reports whether a and b are plain stacks of the same shape
// [E, n, ...] with one source per index of axis 0.
func stackedPair(a, b *source.Input) bool {
	plain := func(in *source.Input) bool {
		return in.Op == source.OpStack && in.Scales == nil && in.Mul == 0 && len(in.Shape) >= 3 && len(in.Sources) == in.Shape[0]
	}
	return plain(a) && plain(b) && a.DType == b.DType && slices.Equal(a.Shape, b.Shape)
}

// adjacentSlices reports whether sb is the size bytes right after sa in
// the same stored tensor, both whole slices of in's dtype and row shape.
func adjacentSlices(sa, sb source.SourceTensor, in *source.Input, size int64) bool {
	return sa.File == sb.File && sa.Name == sb.Name && sa.Run == 0 && sb.Run == 0 && sa.DType == in.DType &&
		sb.Offset == sa.Offset+size && slices.Equal(sa.Shape, in.Shape[1:])
}

package gguf

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
)

// Split metadata keys, written to every shard of a split model.
const (
	keySplitNo           = "split.no"            // UINT16, 0-based shard index
	keySplitCount        = "split.count"         // UINT16, number of shards
	keySplitTensorsCount = "split.tensors.count" // INT32, tensors over all shards
)

// SplitOptions limits the shards of a split output. The zero value means no
// split.
type SplitOptions struct {
	// MaxTensors is the most tensors per shard (0: no limit).
	MaxTensors int
	// MaxBytes is the most tensor data bytes per shard, counted without
	// padding as convert_hf_to_gguf.py counts them (0: no limit). A tensor
	// larger than MaxBytes gets a shard of its own.
	MaxBytes uint64
	// NoTensorsInFirst makes the first shard hold metadata only
	// (convert_hf_to_gguf.py --no-tensor-first-split).
	NoTensorsInFirst bool
}

// Shard is one output file of a split plan.
type Shard struct {
	Path string
	Plan *Plan
}

// shardPath returns llama.cpp's name of shard no (0-based) of count:
// "<prefix>-%05d-of-%05d.gguf" with a 1-based number, as llama_split_path
// and gguf-py's SHARD_NAME_FORMAT spell it.
func shardPath(prefix string, no, count int) string {
	return fmt.Sprintf("%s-%05d-of-%05d.gguf", prefix, no+1, count)
}

// PlanSplit plans the output of kvs and tensors to path, split as opts asks,
// following convert_hf_to_gguf.py (gguf-py GGUFWriter):
//   - tensors keep their order; a new shard starts when the current one is
//     not empty and already holds MaxTensors tensors, or when adding the next
//     tensor would exceed MaxBytes;
//   - if that yields one shard (and NoTensorsInFirst is not set) the result
//     is the single file path, without split keys;
//   - otherwise shard i is written to shardPath(stem, i, n), where stem is
//     path without its extension. All of kvs goes into the first shard. Every
//     shard then gets split.no (UINT16), split.count (UINT16) and
//     split.tensors.count (INT32), appended after the other KVs, as gguf-py
//     and gguf-split write them. Unlike gguf-py, a non-default
//     general.alignment KV is repeated in every shard, since each shard's
//     data is laid out with it. A shard without tensors (NoTensorsInFirst)
//     ends with zero padding to the alignment, as gguf-py writes it.
//
// kvs must not contain split.* keys. gguf-split (the C++ tool) differs only
// in counting padded sizes against MaxBytes.
func PlanSplit(path string, kvs []KV, tensors []TensorInfo, opts SplitOptions) ([]Shard, error) {
	if opts.MaxTensors < 0 {
		return nil, fmt.Errorf("%w: negative MaxTensors %d", ErrInvalid, opts.MaxTensors)
	}
	alignKV, err := splitAlignmentKV(kvs)
	if err != nil {
		return nil, err
	}
	groups, err := groupTensors(tensors, opts)
	if err != nil {
		return nil, err
	}
	if len(groups) == 1 {
		p, err := NewPlan(kvs, tensors)
		if err != nil {
			return nil, err
		}
		return []Shard{{Path: path, Plan: p}}, nil
	}
	if len(groups) > math.MaxUint16 {
		return nil, fmt.Errorf("%w: %d shards exceed the split.count limit %d", ErrInvalid, len(groups), math.MaxUint16)
	}
	if len(tensors) > math.MaxInt32 {
		return nil, fmt.Errorf("%w: %d tensors exceed the split.tensors.count limit", ErrInvalid, len(tensors))
	}

	prefix := shardPrefix(path)
	shards := make([]Shard, len(groups))
	for i, g := range groups {
		var skv []KV
		if i == 0 {
			skv = kvs
		} else if alignKV != nil {
			skv = []KV{*alignKV}
		}
		p, err := planShard(skv, g, i, len(groups), len(tensors))
		if err != nil {
			return nil, fmt.Errorf("shard %d: %w", i, err)
		}
		shards[i] = Shard{Path: shardPath(prefix, i, len(groups)), Plan: p}
	}
	return shards, nil
}

// splitAlignmentKV returns the general.alignment KV of kvs, or nil, after
// checking that kvs holds no split keys.
func splitAlignmentKV(kvs []KV) (*KV, error) {
	var alignKV *KV
	for i := range kvs {
		switch kvs[i].Key {
		case keySplitNo, keySplitCount, keySplitTensorsCount:
			return nil, fmt.Errorf("%w: kv %d %q: split keys are added by PlanSplit", ErrInvalid, i, kvs[i].Key)
		case keyAlignment:
			alignKV = &kvs[i]
		}
	}
	return alignKV, nil
}

// groupTensors splits tensors, in order, into the shards' groups as
// PlanSplit describes; with NoTensorsInFirst the first group is empty.
func groupTensors(tensors []TensorInfo, opts SplitOptions) ([][]TensorInfo, error) {
	var groups [][]TensorInfo
	if opts.NoTensorsInFirst {
		groups = append(groups, nil)
	}
	groups = append(groups, nil)
	var groupBytes uint64
	names := make(map[string]int, len(tensors))
	for i, t := range tensors {
		if j, dup := names[t.Name]; dup {
			return nil, fmt.Errorf("%w: tensor %d %q: duplicate name (first at tensor %d)", ErrInvalid, i, t.Name, j)
		}
		names[t.Name] = i
		size, err := tensorSize(t.Type, t.Shape)
		if err != nil {
			return nil, fmt.Errorf("tensor %d %q: %w", i, t.Name, err)
		}
		if cur := groups[len(groups)-1]; len(cur) > 0 && opts.full(len(cur), groupBytes, size) {
			groups = append(groups, nil)
			groupBytes = 0
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], t)
		groupBytes += size // sizes are < 2^63 each; a sum past MaxBytes starts a new shard
		if groupBytes > math.MaxInt64 {
			return nil, fmt.Errorf("%w: shard data size overflows", ErrInvalid)
		}
	}
	return groups, nil
}

// full reports whether a shard holding n tensors of total bytes has no
// room for another tensor of size bytes.
func (o SplitOptions) full(n int, total, size uint64) bool {
	return (o.MaxTensors > 0 && n >= o.MaxTensors) || (o.MaxBytes > 0 && total+size > o.MaxBytes)
}

// shardPrefix is path without its extension (all of it when it is only an
// extension), for shardPath.
func shardPrefix(path string) string {
	dir, base := filepath.Split(path)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	if stem == "" {
		stem = base
	}
	return dir + stem // like Python's Path.with_name: the directory part is kept as given
}

// planShard plans shard no of count: kvs, then the split keys, and the
// tensors of group g, with total tensors over all shards.
func planShard(kvs []KV, g []TensorInfo, no, count, total int) (*Plan, error) {
	skv := make([]KV, 0, len(kvs)+3)
	skv = append(skv, kvs...)
	skv = append(skv,
		KV{keySplitNo, NewValue(uint16(no))},
		KV{keySplitCount, NewValue(uint16(count))},
		KV{keySplitTensorsCount, NewValue(int32(total))},
	)
	p, err := NewPlan(skv, g)
	if err != nil {
		return nil, err
	}
	if len(g) == 0 {
		// gguf-py pads a tensorless shard's header to the alignment
		// (NoTensorsInFirst); the reader ignores those bytes.
		p.DataOffset = p.HeaderSize + int64(padding(uint64(p.HeaderSize), p.Alignment))
		p.FileSize = p.DataOffset
	}
	return p, nil
}

package oracle_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/ggufexport/quantplan"
)

// The K-quant type-plan oracle (issue 15): llama-quantize, built from the
// pinned sdist, quantizes synthetic GGUF files derived from the converter's
// bf16 references (the same KVs and tensor roles, with rows made multiples
// of 256 or not, more layers, other GQA ratios and expert counts; zero
// data, since only the types are compared) to every supported file type,
// and quantplan.Plan must choose the type llama-quantize wrote for every
// tensor, with the tensors in llama-quantize's order and its KV order.
//
// MLXCONV_KQTYPE_REFS lists the bf16 reference files (comma-separated; the
// build script takes kquant_check.sh's K-quant-sized ones, which are not
// scaled further; tiny ones from check.py prepare --types bf16 are);
// MLXCONV_LLAMA_CACHE locates bin/llama-quantize.

// kqVariant is one synthetic model derived from a reference.
type kqVariant struct {
	name     string
	scale    uint64 // every dimension but vocab rows and experts times this
	layers   int    // block count (0: the reference's)
	kvHeads  int    // attention.head_count_kv (0: the reference's)
	experts  int    // expert_count and the experts dimension (0: the reference's)
	ffnExtra uint64 // added to ffn_down's row length (a width not a multiple of 256)
}

var kqVariants = []kqVariant{
	{name: "tiny", scale: 1},
	{name: "x4-16L", scale: 4, layers: 16},
	{name: "x4-16L-ffn640", scale: 4, layers: 16, ffnExtra: 128},
	{name: "x4-24L-gqa4", scale: 4, layers: 24, kvHeads: 1},
	{name: "x4-8L-8exp", scale: 4, layers: 8, experts: 8},
}

// kqOptions are llama-quantize knob sets tried on one variant and type.
var kqOptions = [][]string{
	{"--pure"},
	{"--leave-output-tensor"},
	{"--output-tensor-type", "q8_0", "--token-embedding-type", "q4_k"},
	{"--tensor-type", "attn_q=q5_k", "--tensor-type", `blk\.1\.ffn=iq4_nl`, "--tensor-type", "FFN_UP=f16"},
}

func TestKQTypeOracle(t *testing.T) {
	refs := os.Getenv("MLXCONV_KQTYPE_REFS")
	cache := os.Getenv("MLXCONV_LLAMA_CACHE")
	if refs == "" || cache == "" {
		t.Skip("MLXCONV_KQTYPE_REFS and MLXCONV_LLAMA_CACHE not set (build.sh test sets them)")
	}
	quantize := filepath.Join(cache, "bin", "llama-quantize")
	dir := t.TempDir()
	c := &tally{t: t}
	for _, ref := range strings.Split(refs, ",") {
		f, err := gguf.Open(ref)
		require.NoError(t, err)
		arch := strings.TrimSuffix(filepath.Base(ref), "-bf16.gguf")
		for _, v := range kqVariants {
			in := filepath.Join(dir, arch+"-"+v.name+".gguf")
			if !writeVariant(t, f, v, in) {
				continue
			}
			for _, ft := range quantplan.FileTypes() {
				typePlanCase(t, c, quantize, in, arch+"/"+v.name, ft, nil)
			}
			if v.name == "x4-16L" {
				for _, o := range kqOptions {
					typePlanCase(t, c, quantize, in, arch+"/"+v.name, quantplan.Q4KM, o)
				}
			}
		}
		f.Close()
	}
	t.Logf("kqtype: %d passed, %d failed", c.passed, c.failed)
	fmt.Printf("kqtype: %d passed, %d failed\n", c.passed, c.failed)
}

// typePlanCase quantizes in to ft with llama-quantize and compares its types,
// tensor order and KV order with quantplan's.
func typePlanCase(t *testing.T, c *tally, quantize, in, label string, ft quantplan.FileType, opts []string) {
	t.Helper()
	out := strings.TrimSuffix(in, ".gguf") + "-" + quantplan.Name(ft) + ".gguf"
	args := append(slices.Clone(opts), in, out, quantplan.Name(ft), "2")
	if b, err := exec.Command(quantize, args...).CombinedOutput(); err != nil {
		c.check(label, quantplan.Name(ft)+strings.Join(opts, " "), false, "llama-quantize: %v: %s", err, lastLines(string(b), 5))
		return
	}
	defer os.Remove(out)
	src, err := gguf.Open(in)
	require.NoError(t, err)
	defer src.Close()
	got, err := gguf.Open(out)
	require.NoError(t, err)
	defer got.Close()

	o, err := kqParseOptions(opts)
	require.NoError(t, err)
	ts := make([]quantplan.Tensor, len(src.Tensors))
	names := make([]string, len(src.Tensors))
	for i, ti := range src.Tensors {
		ts[i] = quantplan.Tensor{Name: ti.Name, Type: ti.Type, Shape: ti.Shape}
		names[i] = ti.Name
	}
	want, err := quantplan.Plan(ft, quantplan.ModelFromKVs(src.KVs()), ts, o)
	name := label + " " + quantplan.Name(ft) + " " + strings.Join(opts, " ")
	c.check(name, "plan", err == nil, "%v", err)
	if err != nil {
		return
	}
	hist := map[gguf.Type]int{}
	for i, ti := range src.Tensors {
		gt, ok := got.Tensor(ti.Name)
		c.check(name, ti.Name, ok && gt.Type == want[i], "llama-quantize %s, plan %s", gt.Type, want[i])
		hist[gt.Type]++
	}
	t.Logf("%s: %d tensors %v", name, len(src.Tensors), hist)
	var order, gotOrder []string
	for _, i := range quantplan.Order(names) {
		order = append(order, names[i])
	}
	for _, ti := range got.Tensors {
		gotOrder = append(gotOrder, ti.Name)
	}
	c.check(name, "tensor order", slices.Equal(order, gotOrder), "llama-quantize %v", gotOrder)
	c.check(name, "kv order", slices.Equal(kvKeys(quantplan.KVOrder(src.KVs())), kvKeys(got.KVs())),
		"llama-quantize %v", kvKeys(got.KVs()))
}

func kvKeys(kvs []gguf.KV) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = kv.Key
	}
	return out
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " | ")
}

// kqParseOptions maps llama-quantize flags to quantplan.Options.
func kqParseOptions(args []string) (quantplan.Options, error) {
	var o quantplan.Options
	for i := 0; i < len(args); i++ {
		var err error
		switch args[i] {
		case "--pure":
			o.Pure = true
		case "--leave-output-tensor":
			o.LeaveOutput = true
		case "--output-tensor-type":
			i++
			o.OutputType, err = gguf.ParseType(args[i])
			o.HasOutputType = true
		case "--token-embedding-type":
			i++
			o.TokenEmbdType, err = gguf.ParseType(args[i])
			o.HasTokenEmbdType = true
		case "--tensor-type":
			i++
			var ov quantplan.Override
			ov, err = quantplan.ParseOverride(args[i])
			o.Overrides = append(o.Overrides, ov)
		}
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

// writeVariant writes the synthetic model v of ref to path; false (and
// nothing written) when v does not apply (experts on a dense model).
func writeVariant(t *testing.T, ref *gguf.File, v kqVariant, path string) bool {
	t.Helper()
	m := quantplan.ModelFromKVs(ref.KVs())
	if v.experts > 0 && m.NExpert == 0 {
		return false
	}
	layers := m.NLayer
	if v.layers > 0 {
		layers = v.layers
	}
	var hidden uint64
	if te, ok := ref.Tensor("token_embd.weight"); ok {
		hidden = te.Shape[0]
	}
	var infos []gguf.TensorInfo
	for _, ti := range ref.Tensors {
		rest, ok := strings.CutPrefix(ti.Name, "blk.0.")
		switch {
		case ok:
			for l := range layers {
				infos = append(infos, gguf.TensorInfo{Name: fmt.Sprintf("blk.%d.%s", l, rest), Type: ti.Type, Shape: variantShape(ti, v, hidden)})
			}
		case !strings.HasPrefix(ti.Name, "blk."):
			infos = append(infos, gguf.TensorInfo{Name: ti.Name, Type: ti.Type, Shape: variantShape(ti, v, hidden)})
		}
	}
	kvs := variantKVs(ref.KVs(), m, v, layers)
	p, err := gguf.NewPlan(kvs, infos)
	require.NoError(t, err)
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Write(p.AppendHeader(nil))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(p.FileSize))
	return true
}

// variantShape scales a reference tensor's shape for v.
func variantShape(ti gguf.TensorInfo, v kqVariant, hidden uint64) []uint64 {
	s := slices.Clone(ti.Shape)
	wide := hidden >= 256 // a K-quant-sized reference is not scaled
	vocab := ti.Name == "token_embd.weight" || ti.Name == "output.weight"
	for i := range s {
		switch {
		case i == 1 && vocab:
			s[i] = 512
		case i == 2 && v.experts > 0:
			s[i] = uint64(v.experts)
		case i < 2 && s[i] > 1 && !wide:
			s[i] *= v.scale
		}
	}
	if strings.Contains(ti.Name, "ffn_down") {
		s[0] += v.ffnExtra
	}
	return s
}

// variantKVs is ref's metadata with v's block count, KV heads and
// experts; per-layer arrays follow the block count.
func variantKVs(ref []gguf.KV, m quantplan.Model, v kqVariant, layers int) []gguf.KV {
	out := make([]gguf.KV, 0, len(ref))
	for _, kv := range ref {
		val := kv.Value
		switch {
		case kv.Key == m.Arch+".block_count":
			val = gguf.NewValue(uint32(layers))
		case kv.Key == m.Arch+".attention.head_count_kv" && v.kvHeads > 0 && !val.IsArray():
			val = gguf.NewValue(uint32(v.kvHeads))
		case kv.Key == m.Arch+".expert_count" && v.experts > 0:
			val = gguf.NewValue(uint32(v.experts))
		case val.IsArray() && val.Len() == m.NLayer && strings.HasPrefix(kv.Key, m.Arch+"."):
			val = repeatFirst(val, layers)
		}
		out = append(out, gguf.KV{Key: kv.Key, Value: val})
	}
	return out
}

// repeatFirst is an array of n copies of v's first element (u32/i32/f32).
func repeatFirst(v gguf.Value, n int) gguf.Value {
	switch x := v.Index(0).Any().(type) {
	case uint32:
		return gguf.NewValue(slices.Repeat([]uint32{x}, n))
	case int32:
		return gguf.NewValue(slices.Repeat([]int32{x}, n))
	case float32:
		return gguf.NewValue(slices.Repeat([]float32{x}, n))
	case bool:
		return gguf.NewValue(slices.Repeat([]bool{x}, n))
	}
	return v
}

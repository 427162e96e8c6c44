package ggufexport_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/convert"
	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/ggufexport"
	"github.com/mlxconv/mlxconv/internal/npfloat"
	"github.com/mlxconv/mlxconv/internal/oracle"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
	"github.com/mlxconv/mlxconv/model/source"
	"github.com/mlxconv/mlxconv/pipeline"
)

var updateExport = flag.Bool("update-export", false, "rewrite testdata/export/*.txt from the current planner")

// fxPre names the BPE pre-tokenizer of the fixtures (their tokenizer is
// not one llama.cpp knows).
const fxPre = "default"

func planFx(t *testing.T, dir string, opts ggufexport.ExportOptions) *ggufexport.ExportPlan {
	t.Helper()
	inv, err := source.LoadInventory(dir)
	require.NoError(t, err)
	defer inv.Close()
	opts.Model = dir
	if opts.Pre == "" {
		opts.Pre = fxPre
	}
	p, err := ggufexport.PlanExport(inv, opts)
	require.NoError(t, err)
	return p
}

// listing is the reviewed form of a plan: metadata (tokenizer arrays and the
// chat template summarised) and one line per tensor.
func listing(p *ggufexport.ExportPlan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "architecture %s, file type %s, %d parameters\n", p.Arch, p.FileType, p.Parameters)
	for _, kv := range p.KVs {
		v := kv.Value.String()
		if kv.Value.IsArray() && kv.Value.Len() > 4 {
			v = fmt.Sprintf("[%s×%d]", kv.Value.ElemType(), kv.Value.Len())
		}
		if len(v) > 80 {
			v = v[:80] + "…"
		}
		fmt.Fprintf(&b, "kv %s %s %s\n", kv.Key, kv.Value.Type(), v)
	}
	for _, t := range p.Tensors {
		e := "exact"
		if !t.Exact {
			e = "lossy"
		}
		fmt.Fprintf(&b, "%s %s %v %s | %s | %s | %s\n", t.Name, t.Type, t.Shape, e, t.Op, t.From, t.Source)
	}
	return b.String()
}

var qkRE = regexp.MustCompile(`\.attn_[qk]\.`)

var archNames = []string{"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "gemma3", "phi3", "mixtral", "qwen2_moe", "qwen3_moe"}

// TestExportPlanListing pins the GGUF names, shapes, types, transforms and
// metadata (f16 output) of every go_export fixture (archNames and the
// families added since: deepseek_v3's MLA, glm4's fused MLP and post-norms,
// olmo2, olmoe, granitemoe's fused experts) to reviewed listings.
func TestExportPlanListing(t *testing.T) {
	models := fxModels()
	names := slices.Sorted(maps.Keys(models))
	require.Subset(t, names, archNames)
	for _, arch := range names {
		t.Run(arch, func(t *testing.T) {
			dir, _ := writeFx(t, models[arch])
			got := listing(planFx(t, dir, ggufexport.ExportOptions{OutType: ggufexport.OutF16}))
			path := filepath.Join("testdata", "export", arch+".txt")
			if *updateExport {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -run TestExportPlanListing -update-export")
			assert.Equal(t, string(want), got)
		})
	}
}

// TestExportTensorDigests pins the bytes the exporter writes for the
// go_export fixtures beyond archNames (whose bytes TestExportHFRoundTrip
// computes independently): every tensor's type and sha256, f32 and q8_0, in
// testdata/export/NAME.sha256 (-update-export rewrites them). The same
// rules pass check.py candidate --tensor-bytes against convert_hf_to_gguf.py
// on the oracle fixtures; this catches a Go-side regression of their
// transforms (MLA's kv_b split, fused and stacked experts, norms) without
// Python.
func TestExportTensorDigests(t *testing.T) {
	models := fxModels()
	for _, arch := range slices.Sorted(maps.Keys(models)) {
		if slices.Contains(archNames, arch) {
			continue
		}
		t.Run(arch, func(t *testing.T) {
			dir, _ := writeFx(t, models[arch])
			var b strings.Builder
			for _, ot := range []ggufexport.OutType{ggufexport.OutF32, ggufexport.OutQ8_0} {
				out := filepath.Join(t.TempDir(), arch+".gguf")
				exportFx(t, dir, out, ggufexport.ExportOptions{OutType: ot, Workers: 2})
				f := mustOpen(t, out)
				for _, ti := range f.Tensors {
					fmt.Fprintf(&b, "%s %s %s %x\n", ot, ti.Name, ti.Type, sha256.Sum256(readTensor(t, f, ti.Name)))
				}
			}
			path := filepath.Join("testdata", "export", arch+".sha256")
			if *updateExport {
				require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -run TestExportTensorDigests -update-export")
			assert.Equal(t, string(want), b.String())
		})
	}
}

// TestExportPlanRules checks the converter's rules on the plans directly.
func TestExportPlanRules(t *testing.T) {
	models := fxModels()
	plans := map[string]*ggufexport.ExportPlan{}
	for _, arch := range archNames {
		dir, _ := writeFx(t, models[arch])
		plans[arch] = planFx(t, dir, ggufexport.ExportOptions{OutType: ggufexport.OutQ8_0})
	}
	find := func(p *ggufexport.ExportPlan, name string) *ggufexport.ExportTensor {
		for i := range p.Tensors {
			if p.Tensors[i].Name == name {
				return &p.Tensors[i]
			}
		}
		return nil
	}
	for arch, p := range plans {
		for _, tt := range p.Tensors {
			// 1-D, norm, router and non-.weight tensors are F32.
			f32 := len(tt.Shape) == 1 || strings.HasSuffix(tt.Name, "_norm.weight") || !strings.HasSuffix(tt.Name, ".weight") ||
				strings.HasSuffix(tt.Name, ".ffn_gate_inp.weight") || strings.HasSuffix(tt.Name, ".ffn_gate_inp_shexp.weight")
			if f32 {
				assert.Equal(t, "F32", tt.Type, "%s %s", arch, tt.Name)
			} else {
				assert.Equal(t, "Q8_0", tt.Type, "%s %s", arch, tt.Name)
			}
			llamaLike := arch == "llama" || arch == "mistral" || arch == "mixtral"
			assert.Equal(t, llamaLike && qkRE.MatchString(tt.Name), strings.Contains(tt.Op, "permute"), "%s %s permute", arch, tt.Name)
			if strings.HasPrefix(arch, "gemma") {
				assert.Equal(t, strings.HasSuffix(tt.Source, "norm.weight"), strings.Contains(tt.Op, "+1"), "%s %s", arch, tt.Name)
			} else {
				assert.NotContains(t, tt.Op, "+1")
			}
		}
	}
	// Permutation of llama's Q and K: by heads and by KV heads.
	assert.Contains(t, find(plans["llama"], "blk.0.attn_q.weight").Op, "permute 4 heads")
	assert.Contains(t, find(plans["llama"], "blk.0.attn_k.weight").Op, "permute 2 heads")
	assert.Contains(t, find(plans["llama"], "blk.1.attn_k.bias").Op, "permute 2 heads")
	assert.NotContains(t, find(plans["llama"], "blk.0.attn_v.weight").Op, "permute")
	// Experts: 3-D *_exps in ggml order {in, out, experts}.
	for _, arch := range []string{"mixtral", "qwen2_moe", "qwen3_moe"} {
		g := find(plans[arch], "blk.1.ffn_gate_exps.weight")
		require.NotNil(t, g, arch)
		assert.Equal(t, []uint64{fxHidden, g.Shape[1], fxExperts}, g.Shape, arch)
		d := find(plans[arch], "blk.1.ffn_down_exps.weight")
		assert.Equal(t, []uint64{g.Shape[1], fxHidden, fxExperts}, d.Shape, arch)
		assert.Contains(t, g.Op, "stack 4 experts")
	}
	// Tied embeddings: no output.weight for llama/qwen3/gemma*, the present
	// head is kept for qwen2; llama3 rope gives rope_freqs first.
	for _, arch := range []string{"llama", "qwen3", "gemma", "gemma2", "gemma3_text", "gemma3"} {
		assert.Nil(t, find(plans[arch], "output.weight"), arch)
	}
	assert.NotNil(t, find(plans["qwen2"], "output.weight"))
	assert.Equal(t, "rope_freqs.weight", plans["llama"].Tensors[0].Name)
	assert.Equal(t, "rope_factors_long.weight", plans["phi3"].Tensors[0].Name)
	// Gemma 3's vision tower is not exported.
	for _, tt := range plans["gemma3"].Tensors {
		assert.NotContains(t, tt.Source, "vision")
	}
	// Metadata types as llama.cpp checks them.
	kv := func(p *ggufexport.ExportPlan, key string) gguf.Value {
		for _, x := range p.KVs {
			if x.Key == key {
				return x.Value
			}
		}
		t.Fatalf("no %s", key)
		return gguf.Value{}
	}
	assert.Equal(t, "UINT32", kv(plans["llama"], "llama.context_length").Type())
	assert.Equal(t, "FLOAT32", kv(plans["llama"], "llama.rope.freq_base").Type())
	assert.Equal(t, "UINT32", kv(plans["llama"], "llama.rope.dimension_count").Type())
	assert.Equal(t, "linear", kv(plans["mistral"], "llama.rope.scaling.type").Any())
	assert.Equal(t, float32(2), kv(plans["mistral"], "llama.rope.scaling.factor").Any())
	assert.Equal(t, uint32(fxHidden/fxHeads), kv(plans["mistral"], "llama.rope.dimension_count").Any())
	assert.Equal(t, "yarn", kv(plans["qwen2"], "qwen2.rope.scaling.type").Any())
	assert.Equal(t, uint32(1024), kv(plans["qwen2"], "qwen2.rope.scaling.original_context_length").Any())
	assert.Equal(t, uint32(fxExperts), kv(plans["mixtral"], "llama.expert_count").Any())
	assert.Equal(t, uint32(7), kv(plans["llama"], "general.file_type").Any())
	assert.Equal(t, uint32(2), kv(plans["llama"], "general.quantization_version").Any())
}

// permRows applies LlamaModel.permute to a row-major [rows, cols] slice
// (cols 1 for a bias) with the given head count.
func permRows(v []float32, rows, cols, heads int) []float32 {
	out := make([]float32, len(v))
	g := rows / heads
	for h := 0; h < heads; h++ {
		for i := 0; i < g/2; i++ {
			for j := 0; j < 2; j++ {
				dst := h*g + i*2 + j
				src := h*g + j*g/2 + i
				copy(out[dst*cols:(dst+1)*cols], v[src*cols:(src+1)*cols])
			}
		}
	}
	return out
}

// expectedValues computes a GGUF tensor's values from the fixture, with an
// implementation of the converter's transforms independent of the
// exporter's.
func expectedValues(t *testing.T, m fxModel, tt ggufexport.ExportTensor, vals map[string][]float32) []float32 {
	t.Helper()
	src := tt.Source
	var v []float32
	var dt mlx.DType
	for _, ft := range m.tensors {
		if ft.name == src {
			dt = ft.dtype
		}
	}
	if x, ok := vals[src]; ok {
		v = append([]float32(nil), x...)
	} else if strings.Contains(src, ".switch_mlp.") {
		proj := src[strings.LastIndex(src[:len(src)-len(".weight")], ".")+1 : len(src)-len(".weight")]
		prefix := src[:strings.Index(src, ".switch_mlp.")]
		for e := 0; e < fxExperts; e++ {
			name := prefix + ".experts." + strconv.Itoa(e) + "." + proj + ".weight"
			if strings.Contains(prefix, "block_sparse_moe") {
				name = prefix + ".experts." + strconv.Itoa(e) + "." + map[string]string{"gate_proj": "w1", "down_proj": "w2", "up_proj": "w3"}[proj] + ".weight"
			}
			x, ok := vals[name]
			require.True(t, ok, "no fixture tensor %s", name)
			v = append(v, x...)
			dt = mlx.BF16
		}
	} else {
		t.Fatalf("no fixture tensor for %s (%s)", tt.Name, src)
	}
	if strings.HasPrefix(m.arch, "gemma") && strings.HasSuffix(src, "norm.weight") {
		for i := range v {
			v[i] += 1
			if dt == mlx.F16 {
				v[i] = npfloat.F16ToF32(npfloat.F32ToF16(v[i]))
			}
		}
	}
	if (m.arch == "llama" || m.arch == "mistral" || m.arch == "mixtral") && qkRE.MatchString(tt.Name) {
		heads := fxHeads
		if strings.Contains(tt.Name, ".attn_k.") {
			heads = fxKV
		}
		cols := int(tt.Shape[0])
		rows := len(v) / cols
		if len(tt.Shape) == 1 {
			rows, cols = len(v), 1
		}
		v = permRows(v, rows, cols, heads)
	}
	return v
}

func readTensor(t testing.TB, f *gguf.File, name string) []byte {
	t.Helper()
	return readAll(t, f, name)
}

// checkGGUFPy has gguf-py parse path and compares its view with ours.
func checkGGUFPy(t *testing.T, path string) {
	t.Helper()
	want := decodeJSON(t, oracle.Run(t, checkScript(t), "dump", path))
	got := decodeJSON(t, dumpJSON(t, mustOpen(t, path)))
	assert.Equal(t, want, got, "gguf-py reads %s differently", filepath.Base(path))
}

func exportFx(t *testing.T, dir, out string, opts ggufexport.ExportOptions) *ggufexport.ExportSummary {
	t.Helper()
	opts.Model, opts.OutFile = dir, out
	if opts.Pre == "" {
		opts.Pre = fxPre
	}
	sum, err := ggufexport.Export(context.Background(), opts)
	require.NoError(t, err)
	return sum
}

// TestExportHFRoundTrip exports every architecture with every output type
// and checks each tensor's bytes against gguf.AppendQuantize of values
// computed independently from the fixture, the metadata against the plan,
// and (for f32 and q8_0) gguf-py's reading of the file.
func TestExportHFRoundTrip(t *testing.T) {
	models := fxModels()
	types := []ggufexport.OutType{ggufexport.OutF32, ggufexport.OutF16, ggufexport.OutBF16, ggufexport.OutQ8_0, ggufexport.OutQ4_0, ggufexport.OutQ4_1, ggufexport.OutQ5_0, ggufexport.OutQ5_1, ggufexport.OutAuto}
	checked := 0
	for _, arch := range archNames {
		m := models[arch]
		dir, vals := writeFx(t, m)
		for _, ot := range types {
			t.Run(arch+"/"+string(ot), func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out.gguf")
				sum := exportFx(t, dir, out, ggufexport.ExportOptions{OutType: ot, Workers: 2})
				require.Equal(t, []string{out}, sum.Files)
				f := mustOpen(t, out)
				require.Len(t, f.Tensors, sum.Tensors)
				for i, tt := range ggufexport.SummaryPlan(sum).Tensors {
					ti := f.Tensors[i]
					require.Equal(t, tt.Name, ti.Name)
					require.Equal(t, tt.Type, ti.Type.String())
					require.Equal(t, tt.Shape, ti.Shape)
					if tt.Source == "" {
						continue // generated (rope_freqs, rope_factors)
					}
					want, err := gguf.AppendQuantize(nil, ti.Type, expectedValues(t, m, tt, vals))
					require.NoError(t, err)
					require.Equal(t, want, readTensor(t, f, ti.Name), "tensor %s (%s)", ti.Name, ti.Type)
					checked++
				}
				require.Len(t, f.KVs(), len(ggufexport.SummaryPlan(sum).KVs))
				for i, kv := range f.KVs() {
					assert.Equal(t, ggufexport.SummaryPlan(sum).KVs[i].Key, kv.Key)
					assert.True(t, ggufexport.SummaryPlan(sum).KVs[i].Value.Equal(kv.Value), kv.Key)
				}
				if ot == ggufexport.OutF32 || ot == ggufexport.OutQ8_0 || arch == "llama" {
					checkGGUFPy(t, out)
				}
			})
		}
	}
	t.Logf("%d tensors checked byte for byte", checked)
}

// TestExportPhi3RopeFactors checks the generated Phi-3 tensors and KV.
func TestExportPhi3RopeFactors(t *testing.T) {
	m := fxModels()["phi3"]
	dir, _ := writeFx(t, m)
	out := filepath.Join(t.TempDir(), "phi3.gguf")
	exportFx(t, dir, out, ggufexport.ExportOptions{OutType: ggufexport.OutF32})
	f := mustOpen(t, out)
	rs := m.config["rope_scaling"].(map[string]any)
	for name, key := range map[string]string{"rope_factors_long.weight": "long_factor", "rope_factors_short.weight": "short_factor"} {
		var want []float32
		for _, x := range rs[key].([]any) {
			want = append(want, float32(x.(float64)))
		}
		got, err := gguf.AppendDequantize(nil, gguf.F32, readTensor(t, f, name))
		require.NoError(t, err)
		assert.Equal(t, want, got, name)
	}
	attn, err := gguf.Get[float32](f, "phi3.rope.scaling.attn_factor")
	require.NoError(t, err)
	assert.Equal(t, float32(math.Sqrt(1+math.Log(4)/math.Log(4096))), attn)
	sw, err := gguf.Get[uint32](f, "phi3.attention.sliding_window")
	require.NoError(t, err)
	assert.Equal(t, uint32(2047), sw)
}

// mlxQuantize converts the fixture into an MLX-quantized model with
// mlxconv convert (mlx_lm.convert's output).
func mlxQuantize(t *testing.T, dir string, bits, group int, mode string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), fmt.Sprintf("%s-%s%d-g%d", filepath.Base(dir), mode, bits, group))
	qmode, err := mlx.ParseQuantMode(mode)
	require.NoError(t, err)
	_, err = convert.Run(context.Background(), convert.Options{HFPath: dir, MLXPath: out, Quantize: true, QBits: bits,
		QGroupSize: group, QMode: qmode, Workers: 2})
	require.NoError(t, err)
	return out
}

// mlxTensor is one quantized module read back from an MLX checkpoint.
type mlxTensor struct {
	w, s, b []byte
	wShape  []int
	sShape  []int
	sdt     mlx.DType
}

func readMLX(t *testing.T, dir string) map[string]mlxTensor {
	t.Helper()
	inv, err := source.LoadInventory(dir)
	require.NoError(t, err)
	defer inv.Close()
	read := func(st source.SourceTensor) []byte {
		n := st.DType.Size()
		for _, d := range st.Shape {
			n *= d
		}
		b := make([]byte, n)
		_, err := inv.ReadSource(st, b, 0)
		require.NoError(t, err)
		return b
	}
	by := map[string]source.SourceTensor{}
	for _, st := range inv.Tensors {
		by[st.Name] = st
	}
	out := map[string]mlxTensor{}
	for name, st := range by {
		prefix, ok := strings.CutSuffix(name, ".scales")
		if !ok {
			continue
		}
		w := by[prefix+".weight"]
		mt := mlxTensor{w: read(w), s: read(st), wShape: w.Shape, sShape: st.Shape, sdt: st.DType}
		if b, ok := by[prefix+".biases"]; ok {
			mt.b = read(b)
		}
		out[prefix+".weight"] = mt
	}
	return out
}

// mlxValues dequantizes an MLX tensor in float32 arithmetic from its exact
// parameters: for affine w = float32(scale)·q + float32(bias), the values a
// lossless Q4_1/Q5_1/Q4_0 repack must reproduce; for the fp modes MLX's own
// dequantization (exact in float32).
func mlxValues(t *testing.T, mt mlxTensor, p mlx.QuantParams) []float32 {
	t.Helper()
	lead := 1
	for _, d := range mt.wShape[:len(mt.wShape)-1] {
		lead *= d
	}
	q := mlx.Quantized{Weight: mt.w, WeightShape: []int{lead, mt.wShape[len(mt.wShape)-1]}, Scales: mt.s, Biases: mt.b,
		ScaleShape: []int{lead, mt.sShape[len(mt.sShape)-1]}, ScaleDType: mt.sdt}
	if p.Mode == mlx.Affine && mt.sdt != mlx.F32 {
		var err error
		q.Scales, err = mlx.Cast(mt.s, mt.sdt, mlx.F32)
		require.NoError(t, err)
		q.Biases, err = mlx.Cast(mt.b, mt.sdt, mlx.F32)
		require.NoError(t, err)
		q.ScaleDType = mlx.F32
	}
	b, err := mlx.Dequantize(q, p, mlx.F32)
	require.NoError(t, err)
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// dequantMXFP4 decodes GGUF MXFP4 blocks (E8M0 scale, split-half E2M1
// codes), independently of the exporter.
func dequantMXFP4(b []byte) []float32 {
	e2m1 := []float32{0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6}
	var out []float32
	for len(b) >= 17 {
		scale := float32(math.Ldexp(1, int(b[0])-127))
		var blk [32]float32
		for j := 0; j < 16; j++ {
			blk[j] = e2m1[b[1+j]&15] * scale
			blk[j+16] = e2m1[b[1+j]>>4] * scale
		}
		out = append(out, blk[:]...)
		b = b[17:]
	}
	return out
}

// TestExportMLXQuantized exports MLX-quantized models (made by mlxconv
// convert from the fixtures) and checks the repacks: every affine 4-bit
// tensor (group 32 and 64) becomes Q4_1 and dequantizes (gguf-py's
// dequantizer) to exactly float32(scale)·q + float32(bias); 2/3-bit to
// Q4_1 and 5-bit to Q5_1 likewise; mxfp4 to MXFP4 with MLX's values; 6/8
// bit to Q8_0, reported lossy, and to BF16 exactly as MLX dequantizes;
// llama's Q/K rows permuted.
func TestExportMLXQuantized(t *testing.T) {
	models := fxModels()
	cases := []struct {
		arch        string
		bits, group int
		mode        string
		outType     ggufexport.OutType
		want        gguf.Type
		exact       bool
	}{
		{"llama", 4, 32, "affine", ggufexport.OutAuto, gguf.Q4_1, true},
		{"llama", 4, 64, "affine", ggufexport.OutAuto, gguf.Q4_1, true},
		{"qwen3_moe", 4, 64, "affine", ggufexport.OutAuto, gguf.Q4_1, true},
		{"mixtral", 4, 32, "affine", ggufexport.OutQ4_1, gguf.Q4_1, true},
		{"qwen2", 2, 64, "affine", ggufexport.OutAuto, gguf.Q4_1, true},
		{"gemma3", 3, 32, "affine", ggufexport.OutAuto, gguf.Q4_1, true},
		{"qwen2_moe", 5, 32, "affine", ggufexport.OutAuto, gguf.Q5_1, true},
		{"phi3", 5, 32, "affine", ggufexport.OutAuto, gguf.Q5_1, false}, // float32 scales: rounded to float16
		{"mistral", 4, 64, "affine", ggufexport.OutQ5_1, gguf.Q5_1, true},
		{"qwen3", 4, 32, "mxfp4", ggufexport.OutAuto, gguf.MXFP4, true},
		{"gemma", 8, 64, "affine", ggufexport.OutAuto, gguf.Q8_0, false},
		{"qwen3_moe", 6, 64, "affine", ggufexport.OutAuto, gguf.Q8_0, false},
		{"gemma2", 8, 64, "affine", ggufexport.OutBF16, gguf.BF16, true},
		{"llama", 4, 64, "affine", ggufexport.OutQ8_0, gguf.Q8_0, false},
		{"mixtral", 8, 32, "mxfp8", ggufexport.OutAuto, gguf.Q8_0, false},
		{"qwen3", 4, 16, "nvfp4", ggufexport.OutAuto, gguf.Q8_0, false},
		{"phi3", 4, 32, "mxfp4", ggufexport.OutF32, gguf.F32, true},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%s/%s%d-g%d-%s", tc.arch, tc.mode, tc.bits, tc.group, tc.outType)
		t.Run(name, func(t *testing.T) {
			hf, _ := writeFx(t, models[tc.arch])
			dir := mlxQuantize(t, hf, tc.bits, tc.group, tc.mode)
			src := readMLX(t, dir)
			out := filepath.Join(t.TempDir(), "out.gguf")
			sum := exportFx(t, dir, out, ggufexport.ExportOptions{OutType: tc.outType, Workers: 2})
			f := mustOpen(t, out)
			p, err := mlx.ParseQuantMode(tc.mode)
			require.NoError(t, err)
			params := mlx.QuantParams{Mode: p, Bits: tc.bits, GroupSize: tc.group}
			n := 0
			for _, tt := range ggufexport.SummaryPlan(sum).Tensors {
				mt, ok := src[tt.Source]
				if !ok {
					continue
				}
				if tt.Type == "F32" && tc.want != gguf.F32 { // routers and the like: dequantized exactly
					assert.True(t, tt.Exact, tt.Name)
					continue
				}
				n++
				assert.Equal(t, tc.want.String(), tt.Type, tt.Name)
				assert.Equal(t, tc.exact, tt.Exact, "%s: %s", tt.Name, tt.Note)
				data := readTensor(t, f, tt.Name)
				var got []float32
				if tc.want == gguf.MXFP4 {
					got = dequantMXFP4(data)
				} else {
					got, err = gguf.AppendDequantize(nil, must(gguf.ParseType(tt.Type)), data)
					require.NoError(t, err)
				}
				want := mlxValues(t, mt, params)
				if qkRE.MatchString(tt.Name) && (tc.arch == "llama" || tc.arch == "mistral" || tc.arch == "mixtral") {
					heads := fxHeads
					if strings.Contains(tt.Name, ".attn_k.") {
						heads = fxKV
					}
					want = permRows(want, len(want)/int(tt.Shape[0]), int(tt.Shape[0]), heads)
				}
				if n == 1 && tc.want != gguf.BF16 {
					// gguf-py's dequantizer on the file's bytes agrees.
					requireSameFloats(t, got, ggufPyDequant(t, tt.Type, data), tt.Name+" (gguf-py)")
				}
				switch {
				case tc.exact && tc.want == gguf.BF16:
					// MLX's own dequantization in the scales' dtype.
					assert.Equal(t, mlxOwn(t, mt, params), data, tt.Name)
				case tc.exact:
					requireSameFloats(t, want, got, tt.Name)
				default:
					require.Len(t, got, len(want))
					maxErr := float32(0)
					for i := range want {
						maxErr = max(maxErr, float32(math.Abs(float64(want[i]-got[i]))))
					}
					assert.Less(t, maxErr, float32(0.05), tt.Name)
					assert.NotEmpty(t, tt.Note, tt.Name)
				}
			}
			assert.Positive(t, n)
			checkGGUFPy(t, out)
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// mlxOwn returns MLX's dequantization of mt in the scales' dtype (bf16 bits).
func mlxOwn(t *testing.T, mt mlxTensor, p mlx.QuantParams) []byte {
	lead := 1
	for _, d := range mt.wShape[:len(mt.wShape)-1] {
		lead *= d
	}
	q := mlx.Quantized{Weight: mt.w, WeightShape: []int{lead, mt.wShape[len(mt.wShape)-1]}, Scales: mt.s, Biases: mt.b,
		ScaleShape: []int{lead, mt.sShape[len(mt.sShape)-1]}, ScaleDType: mt.sdt}
	b, err := mlx.Dequantize(q, p, mlx.BF16)
	require.NoError(t, err)
	return b
}

// TestExportSymmetricQ4_0 rewrites an MLX 4-bit model's biases to
// -8·scale: the export picks Q4_0, losslessly.
func TestExportSymmetricQ4_0(t *testing.T) {
	hf, _ := writeFx(t, fxModels()["qwen3"])
	dir := mlxQuantize(t, hf, 4, 32, "affine")
	// Rewrite model.safetensors with biases = -8 * scales.
	path := filepath.Join(dir, "model.safetensors")
	stf, err := safetensorsRead(path)
	require.NoError(t, err)
	scales := map[string][]byte{}
	for _, st := range stf {
		if p, ok := strings.CutSuffix(st.Name, ".scales"); ok {
			scales[p] = st.Data
		}
	}
	for i, st := range stf {
		if p, ok := strings.CutSuffix(st.Name, ".biases"); ok {
			s := scales[p]
			nb := make([]byte, len(s))
			for j := 0; j+1 < len(s); j += 2 {
				v := npfloat.BF16ToF32(binary.LittleEndian.Uint16(s[j:]))
				binary.LittleEndian.PutUint16(nb[j:], npfloat.F32ToBF16(-8*v))
			}
			stf[i].Data = nb
		}
	}
	require.NoError(t, safetensorsWrite(path, stf))
	src := readMLX(t, dir)
	out := filepath.Join(t.TempDir(), "q40.gguf")
	sum := exportFx(t, dir, out, ggufexport.ExportOptions{})
	assert.Equal(t, "MOSTLY_Q4_0", sum.FileType)
	f := mustOpen(t, out)
	n := 0
	for _, tt := range ggufexport.SummaryPlan(sum).Tensors {
		mt, ok := src[tt.Source]
		if !ok {
			continue
		}
		n++
		require.Equal(t, "Q4_0", tt.Type, tt.Name)
		assert.True(t, tt.Exact, tt.Name)
		got, err := gguf.AppendDequantize(nil, gguf.Q4_0, readTensor(t, f, tt.Name))
		require.NoError(t, err)
		requireSameFloats(t, mlxValues(t, mt, mlx.QuantParams{Mode: mlx.Affine, Bits: 4, GroupSize: 32}), got, tt.Name)
	}
	assert.Positive(t, n)
	checkGGUFPy(t, out)
}

// TestExportMLXFloatMatchesHF: an MLX float model (mlxconv convert without
// -q) exports to the same tensors as its HF source.
func TestExportMLXFloatMatchesHF(t *testing.T) {
	for _, arch := range []string{"llama", "mixtral", "gemma3", "qwen2_moe"} {
		t.Run(arch, func(t *testing.T) {
			hf, _ := writeFx(t, fxModels()[arch])
			mlxDir := filepath.Join(t.TempDir(), arch)
			_, err := convert.Run(context.Background(), convert.Options{HFPath: hf, MLXPath: mlxDir})
			require.NoError(t, err)
			a := filepath.Join(t.TempDir(), "hf.gguf")
			b := filepath.Join(t.TempDir(), "mlx.gguf")
			exportFx(t, hf, a, ggufexport.ExportOptions{OutType: ggufexport.OutF32})
			exportFx(t, mlxDir, b, ggufexport.ExportOptions{OutType: ggufexport.OutF32})
			fa, fb := mustOpen(t, a), mustOpen(t, b)
			names := func(f *gguf.File) []string {
				var n []string
				for _, ti := range f.Tensors {
					n = append(n, ti.Name)
				}
				sort.Strings(n)
				return n
			}
			require.Equal(t, names(fa), names(fb))
			for _, ti := range fa.Tensors {
				assert.Equal(t, readTensor(t, fa, ti.Name), readTensor(t, fb, ti.Name), ti.Name)
			}
		})
	}
}

func safetensorsRead(path string) ([]safetensors.Tensor, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []safetensors.Tensor
	for _, ti := range f.Tensors() {
		b, err := f.ReadTensor(ti.Name, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, safetensors.Tensor{TensorInfo: safetensors.TensorInfo{Name: ti.Name, DType: ti.DType, Shape: ti.Shape}, Data: b})
	}
	return out, nil
}

func safetensorsWrite(path string, ts []safetensors.Tensor) error {
	return safetensors.WriteFile(path, ts, map[string]string{"format": "mlx"}, safetensors.MLX)
}

// requireSameFloats compares values (bit patterns, except that -0 equals
// +0: Q4_0 computes 0 as d·(8-8)) and reports the first difference.
func requireSameFloats(t *testing.T, want, got []float32, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(got[i]) && !(want[i] == 0 && got[i] == 0) {
			t.Fatalf("%s: element %d is %g, want %g (%d elements)", what, i, got[i], want[i], len(want))
		}
	}
}

// TestExportSplit splits an export by tensor count and by size: shards named
// as llama.cpp expects, split.* keys, all tensors present once, each shard
// parsed identically by gguf-py.
func TestExportSplit(t *testing.T) {
	dir, _ := writeFx(t, fxModels()["qwen3"])
	ref := filepath.Join(t.TempDir(), "whole.gguf")
	whole := exportFx(t, dir, ref, ggufexport.ExportOptions{OutType: ggufexport.OutQ8_0})
	wf := mustOpen(t, ref)
	for _, tc := range []struct {
		name string
		opts ggufexport.ExportOptions
	}{
		{"tensors", ggufexport.ExportOptions{OutType: ggufexport.OutQ8_0, SplitMaxTensors: 7}},
		{"bytes", ggufexport.ExportOptions{OutType: ggufexport.OutQ8_0, SplitMaxSize: 20000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "split.gguf")
			sum := exportFx(t, dir, out, tc.opts)
			require.Greater(t, len(sum.Files), 1)
			seen := map[string]bool{}
			for i, p := range sum.Files {
				assert.Equal(t, filepath.Join(filepath.Dir(out), fmt.Sprintf("split-%05d-of-%05d.gguf", i+1, len(sum.Files))), p)
				f := mustOpen(t, p)
				no, err := gguf.Get[uint16](f, "split.no")
				require.NoError(t, err)
				assert.Equal(t, uint16(i), no)
				cnt, err := gguf.Get[int32](f, "split.tensors.count")
				require.NoError(t, err)
				assert.Equal(t, int32(len(ggufexport.SummaryPlan(whole).Tensors)), cnt)
				_, hasArch := f.Lookup("general.architecture")
				assert.Equal(t, i == 0, hasArch)
				for _, ti := range f.Tensors {
					assert.False(t, seen[ti.Name])
					seen[ti.Name] = true
					assert.Equal(t, readTensor(t, wf, ti.Name), readTensor(t, f, ti.Name), ti.Name)
				}
				checkGGUFPy(t, p)
			}
			assert.Len(t, seen, len(ggufexport.SummaryPlan(whole).Tensors))
			_, err := os.Stat(out)
			assert.True(t, os.IsNotExist(err), "no unsplit file")
		})
	}
}

// TestExportNothingLeftOnError cancels an export after its first tensor and
// makes one fail on a truncated input: no output and no temporary file
// remain.
func TestExportNothingLeftOnError(t *testing.T) {
	dir, _ := writeFx(t, fxModels()["llama"])
	outDir := t.TempDir()
	out := filepath.Join(outDir, "out.gguf")
	ctx, cancel := context.WithCancel(context.Background())
	opts := ggufexport.ExportOptions{Model: dir, OutFile: out, Pre: fxPre, Workers: 1, Progress: func(p pipeline.Progress) {
		if p.TensorsDone > 0 {
			cancel()
		}
	}}
	ggufexport.SetExportUnitBytes(&opts, 512)
	_, err := ggufexport.Export(ctx, opts)
	require.ErrorIs(t, err, context.Canceled)
	entries, err := os.ReadDir(outDir)
	require.NoError(t, err)
	assert.Empty(t, entries)

	// Truncate the checkpoint: the header still parses, a read fails.
	st := filepath.Join(dir, "model.safetensors")
	fi, err := os.Stat(st)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(out, []byte("old"), 0o644)) // an existing output stays as it was
	f, err := os.OpenFile(st, os.O_RDWR, 0)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(fi.Size()-4096))
	require.NoError(t, f.Close())
	_, err = ggufexport.Export(context.Background(), ggufexport.ExportOptions{Model: dir, OutFile: out, Pre: fxPre})
	require.Error(t, err)
	entries, err = os.ReadDir(outDir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, "old", string(b))
}

// TestExportErrors covers refusals before anything is written.
func TestExportErrors(t *testing.T) {
	models := fxModels()
	dir, _ := writeFx(t, models["qwen3"])
	ctx := context.Background()
	_, err := ggufexport.Export(ctx, ggufexport.ExportOptions{Model: dir, OutType: "q7_k", Pre: fxPre})
	assert.ErrorIs(t, err, ggufexport.ErrExport)
	_, err = ggufexport.Export(ctx, ggufexport.ExportOptions{})
	assert.ErrorIs(t, err, ggufexport.ErrExport)
	_, err = ggufexport.Export(ctx, ggufexport.ExportOptions{Model: filepath.Join(dir, "config.json")})
	assert.ErrorIs(t, err, ggufexport.ErrExport)
	// An unrecognised BPE pre-tokenizer needs --pre.
	_, err = ggufexport.Export(ctx, ggufexport.ExportOptions{Model: dir, DryRun: true})
	assert.ErrorIs(t, err, ggufexport.ErrUnknownPre)
	assert.Contains(t, err.Error(), "pass a pre-tokenizer name")
	// A model type convert knows but GGUF export does not.
	m := models["llama"]
	m.config = fxBase("helium", nil)
	m.arch = "helium"
	sdir, _ := writeFx(t, fxModel{arch: "helium", config: m.config, tensors: []fxTensor{{"model.embed_tokens.weight", mlx.BF16, []int{fxVocab, fxHidden}}}})
	_, err = ggufexport.Export(ctx, ggufexport.ExportOptions{Model: sdir, DryRun: true, Pre: fxPre})
	assert.ErrorIs(t, err, ggufexport.ErrExport)
	assert.Contains(t, err.Error(), "helium")
	// Dry runs write nothing.
	out := filepath.Join(t.TempDir(), "x.gguf")
	sum, err := ggufexport.Export(ctx, ggufexport.ExportOptions{Model: dir, OutFile: out, DryRun: true, Pre: fxPre})
	require.NoError(t, err)
	assert.True(t, sum.DryRun)
	_, err = os.Stat(out)
	assert.True(t, os.IsNotExist(err))
}

// TestExportDefaultName names the output as convert_hf_to_gguf.py does, in
// the model directory, and fills {ftype} templates.
func TestExportDefaultName(t *testing.T) {
	dir, _ := writeFx(t, fxModels()["qwen3"])
	sum, err := ggufexport.Export(context.Background(), ggufexport.ExportOptions{Model: dir, DryRun: true, Pre: fxPre, OutType: ggufexport.OutQ8_0})
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Join(dir, "Qwen3-84K-Q8_0.gguf")}, sum.Files)
	sum, err = ggufexport.Export(context.Background(), ggufexport.ExportOptions{Model: dir, DryRun: true, Pre: fxPre, OutFile: "/x/m-{ftype}.gguf"})
	require.NoError(t, err)
	assert.Equal(t, []string{"/x/m-bf16.gguf"}, sum.Files)
}

// TestExportBoundedMemory exports a checkpoint whose embedding is 64 MiB
// and checks the heap never holds a fraction of it.
func TestExportBoundedMemory(t *testing.T) {
	const vocab, hidden = 8192, 2048
	m := fxModel{arch: "big", config: fxBase("qwen3", map[string]any{"hidden_size": hidden, "vocab_size": vocab,
		"num_hidden_layers": 0, "head_dim": 16, "tie_word_embeddings": true}),
		tensors: []fxTensor{{"model.embed_tokens.weight", mlx.F32, []int{vocab, hidden}}, {"model.norm.weight", mlx.F32, []int{hidden}}}}
	dir, _ := writeFx(t, m)
	out := filepath.Join(t.TempDir(), "big.gguf")
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	opts := ggufexport.ExportOptions{Model: dir, OutFile: out, OutType: ggufexport.OutQ8_0, Pre: fxPre, Workers: 2}
	ggufexport.SetExportUnitBytes(&opts, 1<<20)
	sum, err := ggufexport.Export(context.Background(), opts)
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	assert.Equal(t, int64(vocab*hidden/32*34+hidden*4), sum.Bytes)
	grown := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("peak heap growth %d KiB for a %d KiB tensor", grown>>10, vocab*hidden*4>>10)
	assert.Less(t, grown, int64(24<<20), "the heap must not hold the 64 MiB tensor")
}

// TestExportAutoType: auto follows the first matrix that is bfloat16 or
// float16 in reading order (float32 ones are skipped), as the converter's
// guess does; all-float32 gives f16.
func TestExportAutoType(t *testing.T) {
	m := fxModels()["llama"]
	for i := range m.tensors {
		if m.tensors[i].name == "model.embed_tokens.weight" {
			m.tensors[i].dtype = mlx.F32 // first in reading order
		}
	}
	dir, _ := writeFx(t, m)
	p := planFx(t, dir, ggufexport.ExportOptions{})
	assert.Equal(t, "MOSTLY_BF16", p.FileType)
	for _, tt := range p.Tensors {
		if tt.Name == "token_embd.weight" {
			assert.Equal(t, "BF16", tt.Type)
			assert.False(t, tt.Exact)
		}
	}
	m = fxModels()["phi3"] // all float32
	dir, _ = writeFx(t, m)
	p = planFx(t, dir, ggufexport.ExportOptions{})
	assert.Equal(t, "MOSTLY_F16", p.FileType)
	m = fxModels()["gemma"] // float16
	dir, _ = writeFx(t, m)
	p = planFx(t, dir, ggufexport.ExportOptions{})
	assert.Equal(t, "MOSTLY_F16", p.FileType)
	for _, tt := range p.Tensors {
		assert.True(t, tt.Exact, tt.Name)
	}
}

// ggufPyDequant decodes data of GGUF type typ with gguf-py
// (gguf.quants.dequantize, through gguf_check.py).
func ggufPyDequant(t *testing.T, typ string, data []byte) []float32 {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.bin"), filepath.Join(dir, "out.f32")
	require.NoError(t, os.WriteFile(in, data, 0o644))
	oracle.Run(t, checkScript(t), "dequantize", typ, in, out)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// TestExportConverterConfig: the parameter tree is built from config.json
// as llama.cpp's converter reads it, not from mlx-lm's ModelArgs
// requirements: a transformers-5 MoE config naming num_experts
// num_local_experts (which mlx-lm refuses) and without the keys its config
// class defaults (decoder_sparse_step, mlp_only_layers, norm_topk_prob)
// exports to the same file as the transformers-4 config.
func TestExportConverterConfig(t *testing.T) {
	for _, arch := range []string{"qwen3_moe", "qwen2_moe"} {
		t.Run(arch, func(t *testing.T) {
			m := fxModels()[arch]
			want := filepath.Join(t.TempDir(), "want.gguf")
			hf, _ := writeFx(t, m)
			exportFx(t, hf, want, ggufexport.ExportOptions{})

			cfg := maps.Clone(m.config)
			cfg["num_local_experts"] = cfg["num_experts"]
			delete(cfg, "num_experts")
			for _, k := range []string{"decoder_sparse_step", "mlp_only_layers", "norm_topk_prob"} {
				delete(cfg, k)
			}
			m.config = cfg
			tf5, _ := writeFx(t, m)
			got := filepath.Join(t.TempDir(), "got.gguf")
			exportFx(t, tf5, got, ggufexport.ExportOptions{})
			a, err := os.ReadFile(want)
			require.NoError(t, err)
			b, err := os.ReadFile(got)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(a, b), "GGUF files differ")
		})
	}
}

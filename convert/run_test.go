package convert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/modelcard"
	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model/family"
	"github.com/mlxconv/mlxconv/pipeline"
)

// dirEntries lists a directory's names.
func dirEntries(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestDryRunText(t *testing.T) {
	m := tinyDense("qwen3", `, "head_dim": 8, "tie_word_embeddings": true, "max_position_embeddings": 64, "rope_theta": 1e6, "torch_dtype": "bfloat16"`,
		f32, append(denseNames, "qn", "kn"))
	p := mustPlan(t, m, Options{Quantize: true, QGroupSize: 32, QBits: 8, Rules: mustRules(t, "embed=skip", "down_proj=4")})
	var b bytes.Buffer
	require.NoError(t, p.WriteText(&b))
	assert.Equal(t, `model type: qwen3 (architecture qwen3)
dtype: bfloat16
quantization: affine 8-bit, group 32
TENSOR                                          DTYPE  SHAPE    SHARD  ACTION
model.embed_tokens.weight                       BF16   [32,32]  1      cast F32->BF16 [rule embed=skip]
model.layers.0.self_attn.q_proj.weight          U32    [32,8]   1      quantize affine 8-bit g32 from F32->BF16
model.layers.0.self_attn.q_proj.scales          BF16   [32,1]   1      quantize affine 8-bit g32 from F32->BF16 of model.layers.0.self_attn.q_proj.weight
model.layers.0.self_attn.q_proj.biases          BF16   [32,1]   1      quantize affine 8-bit g32 from F32->BF16 of model.layers.0.self_attn.q_proj.weight
model.layers.0.self_attn.k_proj.weight          U32    [16,8]   1      quantize affine 8-bit g32 from F32->BF16
model.layers.0.self_attn.k_proj.scales          BF16   [16,1]   1      quantize affine 8-bit g32 from F32->BF16 of model.layers.0.self_attn.k_proj.weight
model.layers.0.self_attn.k_proj.biases          BF16   [16,1]   1      quantize affine 8-bit g32 from F32->BF16 of model.layers.0.self_attn.k_proj.weight
model.layers.0.self_attn.v_proj.weight          U32    [16,8]   1      quantize affine 8-bit g32 from F32->BF16
model.layers.0.self_attn.v_proj.scales          BF16   [16,1]   1      quantize affine 8-bit g32 from F32->BF16 of model.layers.0.self_attn.v_proj.weight
model.layers.0.self_attn.v_proj.biases          BF16   [16,1]   1      quantize affine 8-bit g32 from F32->BF16 of model.layers.0.self_attn.v_proj.weight
model.layers.0.self_attn.o_proj.weight          U32    [32,8]   1      quantize affine 8-bit g32 from F32->BF16
model.layers.0.self_attn.o_proj.scales          BF16   [32,1]   1      quantize affine 8-bit g32 from F32->BF16 of model.layers.0.self_attn.o_proj.weight
model.layers.0.self_attn.o_proj.biases          BF16   [32,1]   1      quantize affine 8-bit g32 from F32->BF16 of model.layers.0.self_attn.o_proj.weight
model.layers.0.self_attn.q_norm.weight          BF16   [8]      1      cast F32->BF16
model.layers.0.self_attn.k_norm.weight          BF16   [8]      1      cast F32->BF16
model.layers.0.mlp.gate_proj.weight             U32    [64,8]   1      quantize affine 8-bit g32 from F32->BF16
model.layers.0.mlp.gate_proj.scales             BF16   [64,1]   1      quantize affine 8-bit g32 from F32->BF16 of model.layers.0.mlp.gate_proj.weight
model.layers.0.mlp.gate_proj.biases             BF16   [64,1]   1      quantize affine 8-bit g32 from F32->BF16 of model.layers.0.mlp.gate_proj.weight
model.layers.0.mlp.down_proj.weight             U32    [32,8]   1      quantize affine 4-bit g32 from F32->BF16 [rule down_proj=4]
model.layers.0.mlp.down_proj.scales             BF16   [32,2]   1      quantize affine 4-bit g32 from F32->BF16 of model.layers.0.mlp.down_proj.weight [rule down_proj=4]
model.layers.0.mlp.down_proj.biases             BF16   [32,2]   1      quantize affine 4-bit g32 from F32->BF16 of model.layers.0.mlp.down_proj.weight [rule down_proj=4]
model.layers.0.mlp.up_proj.weight               U32    [64,8]   1      quantize affine 8-bit g32 from F32->BF16
model.layers.0.mlp.up_proj.scales               BF16   [64,1]   1      quantize affine 8-bit g32 from F32->BF16 of model.layers.0.mlp.up_proj.weight
model.layers.0.mlp.up_proj.biases               BF16   [64,1]   1      quantize affine 8-bit g32 from F32->BF16 of model.layers.0.mlp.up_proj.weight
model.layers.0.input_layernorm.weight           BF16   [32]     1      cast F32->BF16
model.layers.0.post_attention_layernorm.weight  BF16   [32]     1      cast F32->BF16
model.norm.weight                               BF16   [32]     1      cast F32->BF16
shard 1: model.safetensors, 27 tensors, 11.3 KiB
total: 27 tensors, 11.3 KiB (11616 bytes), 10352 parameters, 8.977 bits per weight
`, b.String())
}

// config.json and the index as mlx-lm writes them (Python json.dump with
// indent 4, sorted top level, no trailing newline).
func TestConfigAndIndexBytes(t *testing.T) {
	m := tinyDense("qwen3_moe", `, "num_experts": 2, "num_experts_per_tok": 1, "moe_intermediate_size": 16, "head_dim": 8,
"decoder_sparse_step": 1, "mlp_only_layers": [0], "rope_theta": 1000000.0, "tie_word_embeddings": true, "max_position_embeddings": 64,
"norm_topk_prob": true, "_name_or_path": "x", "vision_config": {"a": 1}, "rope_scaling": {"factor": 4.0, "low": 1e-7, "inf": Infinity},
"text": "\u00e9\u4e2d\ud83d\ude00", "big": 12345678901234567890, "f": 1E+20`, bf16, append(denseNames, "qn", "kn"))
	inv := inventoryOf(t, m)
	gc, err := pyjson.Parse([]byte(`{"eos_token_id": [7, 8]}`))
	require.NoError(t, err)
	inv.GenerationConfig = gc
	p, err := makePlan(inv, Options{Quantize: true, QGroupSize: 32})
	require.NoError(t, err)
	assert.Equal(t, `{
    "big": 12345678901234567890,
    "decoder_sparse_step": 1,
    "eos_token_id": [
        7,
        8
    ],
    "f": 1e+20,
    "head_dim": 8,
    "hidden_size": 32,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
    "mlp_only_layers": [
        0
    ],
    "model_type": "qwen3_moe",
    "moe_intermediate_size": 16,
    "norm_topk_prob": true,
    "num_attention_heads": 4,
    "num_experts": 2,
    "num_experts_per_tok": 1,
    "num_hidden_layers": 1,
    "num_key_value_heads": 2,
    "quantization": {
        "group_size": 32,
        "bits": 4,
        "mode": "affine"
    },
    "quantization_config": {
        "group_size": 32,
        "bits": 4,
        "mode": "affine"
    },
    "rms_norm_eps": 1e-06,
    "rope_scaling": {
        "factor": 4.0,
        "low": 1e-07,
        "inf": {
            "__float__": "Infinity"
        }
    },
    "rope_theta": 1000000.0,
    "text": "\u00e9\u4e2d\ud83d\ude00",
    "tie_word_embeddings": true,
    "vocab_size": 32
}`, string(p.Config))
	idx := string(p.Index)
	assert.True(t, strings.HasPrefix(idx, "{\n    \"metadata\": {\n        \"total_size\": 6624,\n        \"total_parameters\": 10352\n    },\n    \"weight_map\": {\n        \"model.embed_tokens.biases\": \"model.safetensors\",\n"), idx)
	assert.True(t, strings.HasSuffix(idx, "\"model.norm.weight\": \"model.safetensors\"\n    }\n}"), idx)
}

func TestDequantizePopsQuantization(t *testing.T) {
	m := modelAWQ()
	p := mustPlan(t, m, Options{Dequantize: true})
	assert.NotContains(t, string(p.Config), "quantization")
	p = mustPlan(t, m, Options{})
	assert.Contains(t, string(p.Config), "\"quantization\": {\n        \"group_size\": 32,\n        \"bits\": 4\n    },\n    \"quantization_config\": {\n        \"group_size\": 32,\n        \"bits\": 4\n    },")
}

func TestPlanErrors(t *testing.T) {
	llama := modelLlama()
	drop := func(m genModel, name string) genModel {
		var ts []genTensor
		for _, x := range m.tensors {
			if x.name != name {
				ts = append(ts, x)
			}
		}
		m.tensors = ts
		return m
	}
	extra := llama
	extra.tensors = append(append([]genTensor(nil), llama.tensors...), f32("model.layers.0.mlp.extra.weight", 4))
	wrongShape := drop(llama, "model.norm.weight")
	wrongShape.tensors = append(wrongShape.tensors, f32("model.norm.weight", 65))
	cases := []struct {
		name string
		m    genModel
		o    Options
		is   error
		msg  string
	}{
		{"unknown type", genModel{config: `{"model_type": "minicpmv"}`}, Options{}, ErrUnsupported, `model type "minicpmv" is not supported; supported families: apertus, cohere, cohere2, deepseek_v3, dots1, ernie4_5, ernie4_5_moe`},
		{"custom code", genModel{config: `{"model_type": "llama", "model_file": "x.py"}`}, Options{}, ErrUnsupported, "custom model file"},
		{"no model_type", genModel{config: `{}`}, Options{}, ErrConfig, "no model_type"},
		{"missing field", genModel{config: `{"model_type": "qwen2", "hidden_size": 32}`}, Options{}, ErrConfig, `"num_hidden_layers" is missing`},
		{"bad field", genModel{config: `{"model_type": "llama", "hidden_size": "x", "num_hidden_layers": 1, "intermediate_size": 1, "num_attention_heads": 1, "rms_norm_eps": 1, "vocab_size": 1}`}, Options{}, ErrConfig, `"hidden_size" is the string "x", want an integer`},
		{"missing tensor", drop(llama, "model.layers.2.mlp.up_proj.weight"), Options{}, ErrWeights, `missing 1 parameters: "model.layers.2.mlp.up_proj.weight"`},
		{"extra tensor", extra, Options{}, ErrWeights, `1 parameters not in the llama model: "model.layers.0.mlp.extra.weight"`},
		{"wrong shape", wrongShape, Options{}, ErrWeights, `tensor "model.norm.weight" (model.safetensors) has shape [65], the model expects [64]`},
		{"q and d", llama, Options{Quantize: true, Dequantize: true}, ErrOptions, "either quantize or dequantize"},
		{"recipe mode", llama, Options{QuantPredicate: "mixed_2_6", QMode: mlx.MXFP4}, ErrOptions, "only support 'affine'"},
		{"recipe without down_proj", genericModel(), Options{Quantize: true, QuantPredicate: "mixed_3_6"}, ErrOptions, "does not have expected keys for mixed quant"},
		{"bad bits", llama, Options{Quantize: true, QBits: 7}, ErrOptions, "does not support 7 bits"},
		{"bad group", llama, Options{Quantize: true, QMode: mlx.MXFP4, QGroupSize: 64}, ErrOptions, "mxfp4 does not support group size 64"},
		{"bad dtype", llama, Options{DType: mlx.F64}, ErrOptions, "DType float64"},
		{"awq bits", func() genModel {
			m := modelAWQ()
			m.config = strings.Replace(m.config, `"bits": 4`, `"bits": 8`, 1)
			return m
		}(), Options{}, ErrUnsupported, "only bits=4"},
		{"awq g_idx", func() genModel {
			m := modelAWQ()
			m.tensors = append(m.tensors, genTensor{"model.layers.0.self_attn.q_proj.g_idx", mlx.I32, []int{64}})
			return m
		}(), Options{}, ErrUnsupported, "g_idx"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := makePlan(inventoryOf(t, c.m), c.o)
			require.Error(t, err)
			assert.ErrorIs(t, err, c.is)
			assert.Contains(t, err.Error(), c.msg)
		})
	}
}

func TestSupportedModelTypes(t *testing.T) {
	got := family.ModelTypes()
	for _, want := range []string{"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "gemma3", "phi3", "mixtral", "qwen2_moe", "qwen3_moe", "starcoder2",
		"smollm3", "olmo2", "granite", "seed_oss", "internlm3", "hunyuan_v1_dense", "mistral3", "ministral3", "apertus"} {
		assert.Contains(t, got, want)
	}
	assert.NotContains(t, got, "generic")
}

// writeTiny writes the llama test model and returns its directory.
func writeTiny(t testing.TB, m genModel) string {
	dir := filepath.Join(t.TempDir(), "in")
	writeModel(t, dir, m)
	return dir
}

func TestRunRefusesExistingOutput(t *testing.T) {
	in := writeTiny(t, modelLlama())
	out := filepath.Join(t.TempDir(), "out")
	require.NoError(t, os.Mkdir(out, 0o755))
	_, err := Run(context.Background(), Options{HFPath: in, MLXPath: out})
	assert.ErrorIs(t, err, ErrExists)
	// Checked before the input is looked at.
	_, err = Run(context.Background(), Options{HFPath: filepath.Join(t.TempDir(), "nope"), MLXPath: out})
	assert.ErrorIs(t, err, ErrExists)

	// --force replaces only an earlier output (or an empty directory):
	// a directory holding anything else is refused and left alone.
	require.NoError(t, os.WriteFile(filepath.Join(out, "stale"), []byte("x"), 0o644))
	_, err = Run(context.Background(), Options{HFPath: in, MLXPath: out, Force: true})
	require.ErrorIs(t, err, ErrExists)
	assert.Contains(t, err.Error(), `it holds "stale"`)
	assert.Equal(t, []string{"stale"}, dirEntries(t, out))
	assert.Len(t, dirEntries(t, filepath.Dir(out)), 1, "no temporary directory left")

	require.NoError(t, os.Remove(filepath.Join(out, "stale")))
	_, err = Run(context.Background(), Options{HFPath: in, MLXPath: out, Force: true})
	require.NoError(t, err, "an empty directory is replaced")
	assert.Contains(t, dirEntries(t, out), "model.safetensors")
	_, err = Run(context.Background(), Options{HFPath: in, MLXPath: out, Force: true, Quantize: true})
	require.NoError(t, err, "an earlier output is replaced")
	cfg, err := os.ReadFile(filepath.Join(out, "config.json"))
	require.NoError(t, err)
	assert.Contains(t, string(cfg), `"quantization"`)
	assert.Len(t, dirEntries(t, filepath.Dir(out)), 1, "no temporary directory left")

	_, err = Run(context.Background(), Options{HFPath: in, MLXPath: filepath.Dir(in), Force: true})
	assert.ErrorIs(t, err, ErrOptions, "--force must not replace the input's directory")
}

// TestRunOutputAppears: a directory that appears at MLXPath while the
// conversion runs is never replaced without Force, nor with Force when it
// is not an earlier output; the input and the intruder are untouched and
// nothing is left behind.
func TestRunOutputAppears(t *testing.T) {
	for _, force := range []bool{false, true} {
		t.Run(fmt.Sprint("force=", force), func(t *testing.T) {
			in := writeTiny(t, modelLlama())
			out := filepath.Join(t.TempDir(), "out")
			hook := func(p string) (outFile, error) {
				if filepath.Base(p) == "README.md" { // the last file written
					if err := os.MkdirAll(out, 0o755); err != nil {
						return nil, err
					}
					if err := os.WriteFile(filepath.Join(out, "mine.txt"), []byte("precious"), 0o644); err != nil {
						return nil, err
					}
				}
				return os.Create(p)
			}
			_, err := Run(context.Background(), Options{HFPath: in, MLXPath: out, Force: force, createFile: hook})
			require.ErrorIs(t, err, ErrExists)
			assert.Contains(t, err.Error(), strconv.Quote(out))
			assert.NotContains(t, err.Error(), "\n")
			assert.Equal(t, []string{"mine.txt"}, dirEntries(t, out))
			assert.Equal(t, []string{"out"}, dirEntries(t, filepath.Dir(out)), "no temporary directory left")
		})
	}
}

// TestRunOutputOverlapsInput: the output may not be, contain or be inside
// the input directory (also through a symlink), with or without Force.
func TestRunOutputOverlapsInput(t *testing.T) {
	in := writeTiny(t, modelLlama())
	link := filepath.Join(t.TempDir(), "link")
	require.NoError(t, os.Symlink(in, link))
	cases := []struct{ name, out, want string }{
		{"the input", in, "is the input"},
		{"the input through a symlink", link, "is the input"},
		{"inside the input", filepath.Join(in, "mlx"), "is inside the input directory"},
		{"inside the input through a symlink", filepath.Join(link, "a", "mlx"), "is inside the input directory"},
		{"contains the input", filepath.Dir(in), "contains the input"},
	}
	for _, c := range cases {
		for _, force := range []bool{false, true} {
			t.Run(fmt.Sprint(c.name, " force=", force), func(t *testing.T) {
				before := dirEntries(t, in)
				_, err := Run(context.Background(), Options{HFPath: in, MLXPath: c.out, Force: force})
				if !force && c.out != filepath.Join(in, "mlx") && c.out != filepath.Join(link, "a", "mlx") {
					require.ErrorIs(t, err, ErrExists) // the early existence check
					return
				}
				require.ErrorIs(t, err, ErrOptions)
				assert.Contains(t, err.Error(), c.want)
				assert.Equal(t, before, dirEntries(t, in))
			})
		}
	}
}

func TestRunHubPath(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	_, err := Run(context.Background(), Options{HFPath: "org/model", MLXPath: out})
	assert.ErrorIs(t, err, ErrHub)
	assert.Contains(t, err.Error(), "needs the hub package")

	in := writeTiny(t, modelLlama())
	var gotRepo, gotRev string
	_, err = Run(context.Background(), Options{HFPath: "org/model", Revision: "v1", MLXPath: out,
		ResolveHub: func(_ context.Context, repo, rev string) (string, error) { gotRepo, gotRev = repo, rev; return in, nil }})
	require.NoError(t, err)
	assert.Equal(t, "org/model", gotRepo)
	assert.Equal(t, "v1", gotRev)
	card, err := os.ReadFile(filepath.Join(out, "README.md"))
	require.NoError(t, err)
	meta, _ := modelcard.SplitFrontMatter(string(card))
	assert.Equal(t, "base_model: org/model\nlibrary_name: mlx\npipeline_tag: text-generation\ntags:\n- mlx", meta)

	_, err = Run(context.Background(), Options{HFPath: in, MLXPath: filepath.Join(t.TempDir(), "o"), UploadRepo: "me/x"})
	assert.ErrorIs(t, err, ErrHub)
}

func TestRunDryRunWritesNothing(t *testing.T) {
	in := writeTiny(t, modelLlama())
	parent := t.TempDir()
	sum, err := Run(context.Background(), Options{HFPath: in, MLXPath: filepath.Join(parent, "out"), DryRun: true, Quantize: true})
	require.NoError(t, err)
	assert.Empty(t, dirEntries(t, parent))
	require.NotNil(t, sum.plan)
	assert.Equal(t, 96, sum.Tensors)
	assert.Equal(t, "affine 4-bit, group 64", sum.Quantization)
	assert.InDelta(t, 4.5, sum.BitsPerWeight, 0.5)
}

// TestRunCancel cancels the context from the progress callback after the
// first tensor: Run must fail with context.Canceled and leave nothing.
func TestRunCancel(t *testing.T) {
	in := writeTiny(t, modelMixtral())
	parent := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var events atomic.Int32
	_, err := Run(ctx, Options{HFPath: in, MLXPath: filepath.Join(parent, "out"), Quantize: true, Workers: 2, unitBytes: 512,
		Progress: func(p pipeline.Progress) {
			if p.Stage == pipeline.StageWrite && p.TensorsDone > 0 {
				events.Add(1)
				cancel()
			}
		}})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Positive(t, events.Load())
	assert.Empty(t, dirEntries(t, parent), "no output and no temporary directory")
}

// fullFile fails every write past a byte budget shared by the run, as a
// full disk does.
type fullFile struct {
	f      *os.File
	budget *atomic.Int64
}

func (f *fullFile) WriteAt(p []byte, off int64) (int, error) {
	if f.budget.Add(-int64(len(p))) < 0 {
		return 0, &os.PathError{Op: "write", Path: f.f.Name(), Err: syscall.ENOSPC}
	}
	return f.f.WriteAt(p, off)
}

func (f *fullFile) Close() error { return f.f.Close() }

func TestRunDiskFull(t *testing.T) {
	in := writeTiny(t, modelLlama())
	for _, budget := range []int64{0, 100, 20000, 60000} {
		t.Run(fmt.Sprint(budget), func(t *testing.T) {
			parent := t.TempDir()
			var left atomic.Int64
			left.Store(budget)
			opts := Options{HFPath: in, MLXPath: filepath.Join(parent, "out"), Quantize: true, Workers: 2, unitBytes: 2048}
			opts.createFile = func(path string) (outFile, error) {
				f, err := os.Create(path)
				if err != nil {
					return nil, err
				}
				return &fullFile{f: f, budget: &left}, nil
			}
			_, err := Run(context.Background(), opts)
			require.Error(t, err)
			assert.ErrorIs(t, err, syscall.ENOSPC)
			assert.Empty(t, dirEntries(t, parent), "no output and no temporary directory")
		})
	}
}

func TestRunTruncatedShard(t *testing.T) {
	in := writeTiny(t, modelLlama())
	p := filepath.Join(in, "model.safetensors")
	st, err := os.Stat(p)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(p, st.Size()-10))
	parent := t.TempDir()
	_, err = Run(context.Background(), Options{HFPath: in, MLXPath: filepath.Join(parent, "out")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "model.safetensors")
	assert.Empty(t, dirEntries(t, parent))
}

// A backend failure mid-run names the module and removes the output.
type failingBackend struct{ mlx.Backend }

func (failingBackend) Quantize([]byte, mlx.DType, []int, mlx.QuantParams) (mlx.Quantized, error) {
	return mlx.Quantized{}, errors.New("boom")
}

func TestRunBackendError(t *testing.T) {
	in := writeTiny(t, modelLlama())
	parent := t.TempDir()
	_, err := Run(context.Background(), Options{HFPath: in, MLXPath: filepath.Join(parent, "out"), Quantize: true,
		Backend: failingBackend{mlx.NewNative(1, mlx.RoundingCPU)}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "quantize: boom")
	assert.Contains(t, err.Error(), `module "model.`)
	assert.Empty(t, dirEntries(t, parent))
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"5GiB": 5 << 30, "5gb": 5e9, "500MB": 500e6, "1.5GB": 1.5e9, "1024": 1024, "2 KiB": 2048, "7b": 7} {
		got, err := ParseSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "GB", "5XB", "-1", "0", "1e3"} {
		_, err := ParseSize(in)
		assert.ErrorIs(t, err, ErrOptions, in)
	}
}

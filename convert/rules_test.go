package convert

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/mlx"
)

func TestParseRule(t *testing.T) {
	cases := []struct {
		in      string
		pattern string
		skip    bool
		dtype   mlx.DType
		bits    int
		group   int
		mode    string
		err     string
	}{
		{in: "lm_head=skip", pattern: "lm_head", skip: true},
		{in: `embed_tokens = bfloat16`, pattern: "embed_tokens", dtype: mlx.BF16},
		{in: "norm=float32", pattern: "norm", dtype: mlx.F32},
		{in: "x=float16", pattern: "x", dtype: mlx.F16},
		{in: `layers\.[0-3]\.=8`, pattern: `layers\.[0-3]\.`, bits: 8},
		{in: "down_proj=6/32", pattern: "down_proj", bits: 6, group: 32},
		{in: "mlp=4/32/mxfp4", pattern: "mlp", bits: 4, group: 32, mode: "mxfp4"},
		{in: "a=b=8", pattern: "a=b", bits: 8}, // the last '=' splits
		{in: "noequals", err: "want PATTERN=SPEC"},
		{in: "=8", err: "want PATTERN=SPEC"},
		{in: "x=", err: "want skip, float16"},
		{in: "x=int8", err: "want skip, float16"},
		{in: "x=0", err: "want skip, float16"},
		{in: "x=4/0", err: "bad group size"},
		{in: "x=4/g", err: "bad group size"},
		{in: "x=4/32/foo", err: "unknown mode"},
		{in: "x=4/32/affine/1", err: "too many parts"},
		{in: "(=4", err: "missing closing )"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			r, err := ParseRule(c.in)
			if c.err != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrOptions)
				assert.Contains(t, err.Error(), c.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.pattern, r.Pattern.String())
			assert.Equal(t, c.skip, r.Skip)
			assert.Equal(t, c.dtype, r.DType)
			assert.Equal(t, c.bits, r.Bits)
			assert.Equal(t, c.group, r.Group)
			assert.Equal(t, c.mode, r.Mode)
			assert.Equal(t, c.in, r.String())
		})
	}
}

func TestParseRules(t *testing.T) {
	rules, err := ParseRules(strings.NewReader("# keep the head\nlm_head=skip\n\n  embed=8  \n"), "rules.txt")
	require.NoError(t, err)
	require.Len(t, rules, 2)
	assert.True(t, rules[0].Skip)
	assert.Equal(t, 8, rules[1].Bits)

	_, err = ParseRules(strings.NewReader("a=skip\nb=nine\n"), "rules.txt")
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrOptions)
	assert.Contains(t, err.Error(), "rules.txt:2:")
}

// The 4-layer llama of the golden tests, quantized with rules that override
// the recipe for some modules: the plan and the quantization entries of
// config.json, exactly.
func TestRulesPlanAndConfig(t *testing.T) {
	opts := Options{Quantize: true, QuantPredicate: "mixed_3_6",
		Rules: mustRules(t, `embed_tokens=8/32`, `layers\.0\.self_attn\.[qk]_proj=skip`, `layers\.1\.mlp\.down_proj=bfloat16`,
			`layers\.2\.mlp=2/64/affine`, `layers\.3\.mlp\.gate_proj=4/32/mxfp4`, `norm=float32`)}
	p := mustPlan(t, modelLlama(), opts)
	var sel strings.Builder
	for _, line := range strings.Split(planListing(p), "\n") {
		if strings.Contains(line, "[rule") || strings.HasPrefix(line, "model.layers.0.self_attn.v_proj.weight") {
			sel.WriteString(line + "\n")
		}
	}
	assert.Equal(t, `model.embed_tokens.weight U32 [96,16] 1: quantize affine 8-bit g32 from F32->BF16 [rule embed_tokens=8/32]
model.embed_tokens.scales BF16 [96,2] 1: quantize affine 8-bit g32 from F32->BF16 of model.embed_tokens.weight [rule embed_tokens=8/32]
model.embed_tokens.biases BF16 [96,2] 1: quantize affine 8-bit g32 from F32->BF16 of model.embed_tokens.weight [rule embed_tokens=8/32]
model.layers.0.self_attn.q_proj.weight BF16 [64,64] 1: cast F32->BF16 [rule layers\.0\.self_attn\.[qk]_proj=skip]
model.layers.0.self_attn.k_proj.weight BF16 [32,64] 1: cast F32->BF16 [rule layers\.0\.self_attn\.[qk]_proj=skip]
model.layers.0.self_attn.v_proj.weight U32 [32,6] 1: quantize affine 3-bit g64 from F32->BF16 [recipe mixed_3_6]
model.layers.0.input_layernorm.weight F32 [64] 1: copy [rule norm=float32]
model.layers.0.post_attention_layernorm.weight F32 [64] 1: copy [rule norm=float32]
model.layers.1.mlp.down_proj.weight BF16 [64,128] 1: cast F32->BF16 [rule layers\.1\.mlp\.down_proj=bfloat16]
model.layers.1.input_layernorm.weight F32 [64] 1: copy [rule norm=float32]
model.layers.1.post_attention_layernorm.weight F32 [64] 1: copy [rule norm=float32]
model.layers.2.mlp.gate_proj.weight U32 [128,4] 1: quantize affine 2-bit g64 from F32->BF16 [rule layers\.2\.mlp=2/64/affine]
model.layers.2.mlp.gate_proj.scales BF16 [128,1] 1: quantize affine 2-bit g64 from F32->BF16 of model.layers.2.mlp.gate_proj.weight [rule layers\.2\.mlp=2/64/affine]
model.layers.2.mlp.gate_proj.biases BF16 [128,1] 1: quantize affine 2-bit g64 from F32->BF16 of model.layers.2.mlp.gate_proj.weight [rule layers\.2\.mlp=2/64/affine]
model.layers.2.mlp.down_proj.weight U32 [64,8] 1: quantize affine 2-bit g64 from F32->BF16 [rule layers\.2\.mlp=2/64/affine]
model.layers.2.mlp.down_proj.scales BF16 [64,2] 1: quantize affine 2-bit g64 from F32->BF16 of model.layers.2.mlp.down_proj.weight [rule layers\.2\.mlp=2/64/affine]
model.layers.2.mlp.down_proj.biases BF16 [64,2] 1: quantize affine 2-bit g64 from F32->BF16 of model.layers.2.mlp.down_proj.weight [rule layers\.2\.mlp=2/64/affine]
model.layers.2.mlp.up_proj.weight U32 [128,4] 1: quantize affine 2-bit g64 from F32->BF16 [rule layers\.2\.mlp=2/64/affine]
model.layers.2.mlp.up_proj.scales BF16 [128,1] 1: quantize affine 2-bit g64 from F32->BF16 of model.layers.2.mlp.up_proj.weight [rule layers\.2\.mlp=2/64/affine]
model.layers.2.mlp.up_proj.biases BF16 [128,1] 1: quantize affine 2-bit g64 from F32->BF16 of model.layers.2.mlp.up_proj.weight [rule layers\.2\.mlp=2/64/affine]
model.layers.2.input_layernorm.weight F32 [64] 1: copy [rule norm=float32]
model.layers.2.post_attention_layernorm.weight F32 [64] 1: copy [rule norm=float32]
model.layers.3.mlp.gate_proj.weight U32 [128,8] 1: quantize mxfp4 4-bit g32 from F32->BF16 [rule layers\.3\.mlp\.gate_proj=4/32/mxfp4]
model.layers.3.mlp.gate_proj.scales U8 [128,2] 1: quantize mxfp4 4-bit g32 from F32->BF16 of model.layers.3.mlp.gate_proj.weight [rule layers\.3\.mlp\.gate_proj=4/32/mxfp4]
model.layers.3.input_layernorm.weight F32 [64] 1: copy [rule norm=float32]
model.layers.3.post_attention_layernorm.weight F32 [64] 1: copy [rule norm=float32]
model.norm.weight F32 [64] 1: copy [rule norm=float32]
`, sel.String())

	// Rule entries join the recipe's per-module entries, in module order.
	cfg := string(p.Config)
	i := strings.Index(cfg, `"quantization": {`)
	j := strings.Index(cfg, `"quantization_config"`)
	require.True(t, i >= 0 && j > i)
	q := cfg[i:j]
	for _, want := range []string{
		"\"quantization\": {\n        \"group_size\": 64,\n        \"bits\": 4,\n        \"mode\": \"affine\",\n        \"model.embed_tokens\": {\n            \"group_size\": 32,\n            \"bits\": 8,\n            \"mode\": \"affine\"\n        },\n        \"model.layers.0.self_attn.v_proj\": {\n            \"group_size\": null,\n            \"bits\": 3,",
		"\"model.layers.2.mlp.gate_proj\": {\n            \"group_size\": 64,\n            \"bits\": 2,\n            \"mode\": \"affine\"\n        },",
		"\"model.layers.3.mlp.gate_proj\": {\n            \"group_size\": 32,\n            \"bits\": 4,\n            \"mode\": \"mxfp4\"\n        },\n        \"model.layers.3.mlp.down_proj\": {\n            \"group_size\": null,\n            \"bits\": 6,",
	} {
		assert.Contains(t, q, want)
	}
	assert.NotContains(t, q, "model.layers.0.self_attn.q_proj", "skipped modules get no entry")
	assert.NotContains(t, q, "model.layers.1.mlp.down_proj", "dtype-rule modules get no entry")
}

// Without a recipe, a rule entry is written only when it differs from the
// global parameters.
func TestRuleEntriesOnlyWhenDifferent(t *testing.T) {
	p := mustPlan(t, modelLlama(), Options{Quantize: true, Rules: mustRules(t, "q_proj=4", "k_proj=8")})
	cfg := string(p.Config)
	assert.NotContains(t, cfg, "q_proj")
	assert.Contains(t, cfg, "\"model.layers.0.self_attn.k_proj\": {\n            \"group_size\": 64,\n            \"bits\": 8,\n            \"mode\": \"affine\"\n        }")
}

func TestRuleErrors(t *testing.T) {
	_, err := makePlan(inventoryOf(t, modelLlama()), Options{Rules: mustRules(t, "x=8")})
	assert.ErrorIs(t, err, ErrOptions)
	assert.Contains(t, err.Error(), "need Quantize")

	_, err = makePlan(inventoryOf(t, modelLlama()), Options{Quantize: true, Rules: mustRules(t, "mlp=3/16")})
	assert.ErrorIs(t, err, ErrOptions)
	assert.Contains(t, err.Error(), `rule "mlp=3/16" on "model.layers.0.mlp.gate_proj"`)

	_, err = makePlan(inventoryOf(t, modelLlama()), Options{Quantize: true, Rules: mustRules(t, "o_proj=4/32/nvfp4")})
	assert.True(t, errors.Is(err, ErrOptions))
	assert.True(t, errors.Is(err, mlx.ErrQuant))

	p := mustPlan(t, modelLlama(), Options{Quantize: true, Rules: mustRules(t, "o_proj=4/16/nvfp4")})
	n := 0
	for _, tt := range p.Tensors {
		if strings.HasPrefix(tt.Name, "model.layers.0.self_attn.o_proj.") {
			n++
			if tt.Name == "model.layers.0.self_attn.o_proj.scales" {
				assert.Equal(t, []int{64, 4}, tt.Shape)
				assert.Equal(t, mlx.U8, tt.DType)
			}
		}
	}
	assert.Equal(t, 2, n, "nvfp4 has no biases")
}

// A rule whose group does not divide the last dimension leaves the module
// unquantized.
func TestRuleNotDivisible(t *testing.T) {
	p := mustPlan(t, modelPhi3(), Options{Quantize: true, QGroupSize: 32, Rules: mustRules(t, "qkv_proj=8/64")})
	var b bytes.Buffer
	for i, tt := range p.Tensors {
		if strings.Contains(tt.Name, "layers.0.self_attn") {
			b.WriteString(tt.Name + ": " + p.Describe(i) + "\n")
		}
	}
	assert.Equal(t, "model.layers.0.self_attn.qkv_proj.weight: copy [rule qkv_proj=8/64: last dimension 96 is not a multiple of 64]\n"+
		"model.layers.0.self_attn.o_proj.weight: quantize affine 4-bit g32 from F32\n"+
		"model.layers.0.self_attn.o_proj.scales: quantize affine 4-bit g32 from F32 of model.layers.0.self_attn.o_proj.weight\n"+
		"model.layers.0.self_attn.o_proj.biases: quantize affine 4-bit g32 from F32 of model.layers.0.self_attn.o_proj.weight\n", b.String())
}

package ggufexport_test

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/ggufexport"
	"github.com/mlxconv/mlxconv/mlx"
)

// qwen35Fx is a tiny Qwen3.5 text checkpoint (flat config, Hugging Face
// names, bfloat16): layer 0 gated delta-net with 2 key heads and 4 value heads of
// 32, layer 1 full attention.
func qwen35Fx() fxModel {
	mk := fxT(mlx.BF16)
	const h, nk, nv, dk, dv = 64, 2, 4, 16, 32
	qkv := 2*nk*dk + nv*dv
	ts := []fxTensor{mk("model.embed_tokens.weight", fxVocab, h), mk("model.norm.weight", h), mk("lm_head.weight", fxVocab, h)}
	for l := 0; l < 2; l++ {
		p := "model.layers." + string(rune('0'+l)) + "."
		ts = append(ts, mk(p+"input_layernorm.weight", h), mk(p+"post_attention_layernorm.weight", h),
			mk(p+"mlp.gate_proj.weight", 128, h), mk(p+"mlp.up_proj.weight", 128, h), mk(p+"mlp.down_proj.weight", h, 128))
	}
	ts = append(ts, mk("model.layers.0.linear_attn.A_log", nv), mk("model.layers.0.linear_attn.dt_bias", nv),
		mk("model.layers.0.linear_attn.conv1d.weight", qkv, 1, 4), mk("model.layers.0.linear_attn.in_proj_qkv.weight", qkv, h),
		mk("model.layers.0.linear_attn.in_proj_z.weight", nv*dv, h), mk("model.layers.0.linear_attn.in_proj_b.weight", nv, h),
		mk("model.layers.0.linear_attn.in_proj_a.weight", nv, h), mk("model.layers.0.linear_attn.norm.weight", dv),
		mk("model.layers.0.linear_attn.out_proj.weight", h, nv*dv),
		mk("model.layers.1.self_attn.q_proj.weight", 4*16*2, h), mk("model.layers.1.self_attn.k_proj.weight", 32, h),
		mk("model.layers.1.self_attn.v_proj.weight", 32, h), mk("model.layers.1.self_attn.o_proj.weight", h, 64),
		mk("model.layers.1.self_attn.q_norm.weight", 16), mk("model.layers.1.self_attn.k_norm.weight", 16))
	cfg := map[string]any{"model_type": "qwen3_5", "hidden_size": h, "intermediate_size": 128, "num_hidden_layers": 2,
		"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "linear_conv_kernel_dim": 4,
		"linear_key_head_dim": dk, "linear_value_head_dim": dv, "linear_num_key_heads": nk, "linear_num_value_heads": nv,
		"full_attention_interval": 2, "layer_types": []string{"linear_attention", "full_attention"}, "vocab_size": fxVocab,
		"rms_norm_eps": 1e-6, "tie_word_embeddings": false, "max_position_embeddings": 512,
		"rope_parameters": map[string]any{"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25, "mrope_section": []int{1, 1, 0}}}
	return fxModel{arch: "qwen3_5", config: cfg, tensors: ts}
}

// qwen35Tiled is the V-head order of the fixture (2 key heads, 2 value
// heads each): grouped heads 0 1 | 2 3 tiled as 0 2 1 3.
var qwen35Tiled = []int{0, 2, 1, 3}

func f32s(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// reorderHeads returns v ([rows, cols] row-major) with the heads of dim
// rows (byRows) or columns, starting at row/column skip, in qwen35Tiled
// order.
func reorderHeads(v []float32, rows, cols, skip, dim int, byRows bool) []float32 {
	out := make([]float32, len(v))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			sr, sc := r, c
			if byRows && r >= skip {
				sr = skip + qwen35Tiled[(r-skip)/dim]*dim + (r-skip)%dim
			}
			if !byRows && c >= skip {
				sc = skip + qwen35Tiled[(c-skip)/dim]*dim + (c-skip)%dim
			}
			out[r*cols+c] = v[sr*cols+sc]
		}
	}
	return out
}

// TestExportQwen35Reorder: Qwen3.5's V heads reach the GGUF in tiled order
// (attn_qkv's V rows, attn_gate's rows, ssm_out's columns), the norms
// shifted by 1 in float32, from the HF checkpoint and from its MLX 4-bit
// conversion (group 32: ssm_out's column permutation moves whole groups,
// so it still repacks to Q4_1; with group 64 it splits them and an f32
// export dequantizes, then permutes).
func TestExportQwen35Reorder(t *testing.T) {
	m := qwen35Fx()
	dir, vals := writeFx(t, m)
	out := filepath.Join(t.TempDir(), "hf.gguf")
	exportFx(t, dir, out, ggufexport.ExportOptions{OutType: ggufexport.OutF32, Workers: 2})
	f := mustOpen(t, out)
	get := func(f *gguf.File, name string) []float32 { return f32s(readTensor(t, f, name)) }
	p := "model.layers.0.linear_attn."
	require.Equal(t, reorderHeads(vals[p+"in_proj_qkv.weight"], 192, 64, 64, 32, true), get(f, "blk.0.attn_qkv.weight"))
	require.Equal(t, reorderHeads(vals[p+"in_proj_z.weight"], 128, 64, 0, 32, true), get(f, "blk.0.attn_gate.weight"))
	require.Equal(t, reorderHeads(vals[p+"in_proj_b.weight"], 4, 64, 0, 1, true), get(f, "blk.0.ssm_beta.weight"))
	require.Equal(t, reorderHeads(vals[p+"out_proj.weight"], 64, 128, 0, 32, false), get(f, "blk.0.ssm_out.weight"))
	require.Equal(t, reorderHeads(vals[p+"dt_bias"], 4, 1, 0, 1, true), get(f, "blk.0.ssm_dt.bias"))
	norm := vals["model.layers.0.input_layernorm.weight"]
	shifted := make([]float32, len(norm))
	for i, v := range norm {
		shifted[i] = v + 1
	}
	require.Equal(t, shifted, get(f, "blk.0.attn_norm.weight"))

	// The MLX 4-bit model: f32 (dequantized, then permuted) and auto
	// (whole groups permuted, repacked).
	q := mlxQuantize(t, dir, 4, 32, "affine")
	mt := readMLX(t, q)
	qp := mlx.QuantParams{Mode: mlx.Affine, Bits: 4, GroupSize: 32}
	deq := func(name string) []float32 {
		w := mt["language_model."+name]
		rows := w.wShape[0]
		b, err := mlx.Dequantize(mlx.Quantized{Weight: w.w, WeightShape: w.wShape, Scales: w.s, Biases: w.b,
			ScaleShape: w.sShape, ScaleDType: w.sdt}, qp, mlx.F32)
		require.NoError(t, err, "%s (%d rows)", name, rows)
		return f32s(b)
	}
	outQ := filepath.Join(t.TempDir(), "q.gguf")
	exportFx(t, q, outQ, ggufexport.ExportOptions{OutType: ggufexport.OutF32, Workers: 2})
	fq := mustOpen(t, outQ)
	require.Equal(t, reorderHeads(deq(p+"out_proj.weight"), 64, 128, 0, 32, false), get(fq, "blk.0.ssm_out.weight"))
	require.Equal(t, reorderHeads(deq(p+"in_proj_z.weight"), 128, 64, 0, 32, true), get(fq, "blk.0.attn_gate.weight"))

	// Group 64 splits the 32-column heads: dequantized, then permuted.
	q64 := mlxQuantize(t, dir, 4, 64, "affine")
	w64 := readMLX(t, q64)["language_model."+p+"out_proj.weight"]
	b64, err := mlx.Dequantize(mlx.Quantized{Weight: w64.w, WeightShape: w64.wShape, Scales: w64.s, Biases: w64.b,
		ScaleShape: w64.sShape, ScaleDType: w64.sdt}, mlx.QuantParams{Mode: mlx.Affine, Bits: 4, GroupSize: 64}, mlx.F32)
	require.NoError(t, err)
	out64 := filepath.Join(t.TempDir(), "q64.gguf")
	exportFx(t, q64, out64, ggufexport.ExportOptions{OutType: ggufexport.OutF32, Workers: 2})
	require.Equal(t, reorderHeads(f32s(b64), 64, 128, 0, 32, false), get(mustOpen(t, out64), "blk.0.ssm_out.weight"))

	outA := filepath.Join(t.TempDir(), "auto.gguf")
	sum := exportFx(t, q, outA, ggufexport.ExportOptions{Workers: 2})
	fa := mustOpen(t, outA)
	for _, tt := range ggufexport.SummaryPlan(sum).Tensors {
		if tt.Name != "blk.0.ssm_out.weight" {
			continue
		}
		require.Equal(t, "Q4_1", tt.Type)
		require.True(t, tt.Exact, tt.Note)
		got, err := gguf.AppendDequantize(nil, gguf.Q4_1, readTensor(t, fa, tt.Name))
		require.NoError(t, err)
		want := reorderHeads(mlxValues(t, mt["language_model."+p+"out_proj.weight"], qp), 64, 128, 0, 32, false)
		require.Equal(t, want, got)
	}
}

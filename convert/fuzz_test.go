package convert

import (
	"bytes"
	"strings"
	"testing"
)

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"lm_head=skip", "norm=float32", `layers\.[0-3]\.=8/32/affine`, "=", "a=4/", "(=1", "x=4/32/mxfp4/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s)
		if err != nil {
			return
		}
		again, err := ParseRule(r.Text)
		if err != nil || again.Pattern.String() != r.Pattern.String() || again.Bits != r.Bits || again.Group != r.Group ||
			again.Mode != r.Mode || again.Skip != r.Skip || again.DType != r.DType {
			t.Fatalf("rule %q does not re-parse to itself: %v", s, err)
		}
		_, _ = ParseRules(strings.NewReader(s+"\n#c\n"+s), "f")
	})
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"5GiB", "1.5GB", "100", "7 kib", "", "9999999999999TB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n <= 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
	})
}

// FuzzMakePlan plans the llama test checkpoint under arbitrary config.json
// bytes: hostile configs must give errors, never panics or huge
// allocations.
func FuzzMakePlan(f *testing.F) {
	for _, m := range []genModel{modelLlama(), modelMixtral(), modelQwen3MoE(), modelGemma3(), modelAWQ()} {
		f.Add([]byte(m.config), uint8(0))
		f.Add([]byte(m.config), uint8(1))
	}
	f.Add([]byte(`{"model_type": "mixtral", "num_local_experts": 2147483647}`), uint8(0))
	f.Add([]byte(`{"model_type": "llama", "layer_types": [1,2,3], "hidden_size": 64, "num_hidden_layers": 1, "intermediate_size": 1, "num_attention_heads": 0, "rms_norm_eps": 1, "vocab_size": 1}`), uint8(1))
	base := modelLlama()
	f.Fuzz(func(t *testing.T, cfg []byte, mode uint8) {
		if len(cfg) > 4096 {
			return
		}
		m := base
		m.config = string(cfg)
		o, err := parseObject(cfg)
		if err != nil {
			return
		}
		inv := inventoryOf(t, genModel{config: "{}", tensors: m.tensors})
		inv.Config = o
		opts := []Options{{}, {Quantize: true}, {Dequantize: true}, {Quantize: true, QuantPredicate: "mixed_2_6"}}[mode%4]
		p, err := makePlan(inv, opts)
		if err == nil {
			var b bytes.Buffer
			if err := p.WriteText(&b); err != nil {
				t.Fatal(err)
			}
		}
	})
}

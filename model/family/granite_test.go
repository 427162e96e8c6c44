package family

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestGranitePred: o_proj, down_proj and lm_head at 8 bits, group 64
// (no mode: affine); everything else with the global parameters.
func TestGranitePred(t *testing.T) {
	const eight = "group_size=64 bits=8 "
	for path, want := range map[string]string{
		"model.layers.0.self_attn.o_proj": eight,
		"model.layers.3.mlp.down_proj":    eight,
		"lm_head":                         eight,
		"model.layers.0.self_attn.q_proj": "",
		"model.embed_tokens":              "",
		"model.lm_head":                   "",
	} {
		got := ""
		if o := Granite.MLX.Pred(path); o != nil {
			for _, k := range o.Keys() {
				v, _ := o.Get(k)
				got += fmt.Sprintf("%s=%v ", k, v)
			}
		}
		assert.Equal(t, want, got, path)
	}
}

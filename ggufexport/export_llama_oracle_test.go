package ggufexport_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/ggufexport"
	"github.com/mlxconv/mlxconv/internal/llamaoracle"
)

// TestExportLlamaOracle exports every prepared tiny model of
// scripts/oracle/llama (convert_models.py's architectures) with each
// prepared output type and compares the file with convert_hf_to_gguf.py's
// through check.py compare: KV set, types and values (allow-list
// allow.txt), tensor names, types, shapes and bytes, the prompt's
// tokenization in llama.cpp and llama.cpp's logits (relative error <= 1e-5)
// and greedy tokens.
func TestExportLlamaOracle(t *testing.T) {
	o := llamaoracle.New(t)
	cases := o.Cases()
	require.NotEmpty(t, cases)
	passed, failed := 0, 0
	for _, c := range cases {
		t.Run(c.Name(), func(t *testing.T) {
			require.True(t, c.OK, "reference: %s", c.Error)
			out := filepath.Join(t.TempDir(), c.Arch+"-"+c.OutType+".gguf")
			_, err := ggufexport.Export(context.Background(), ggufexport.ExportOptions{Model: c.Model, OutFile: out, OutType: ggufexport.OutType(c.OutType)})
			require.NoError(t, err)
			for _, ch := range o.Compare(t, c, out, llamaoracle.Options{TensorBytes: true}) {
				if ch.OK {
					passed++
				} else {
					failed++
				}
			}
		})
	}
	t.Logf("llama-oracle: %d cases, %d checks passed, %d failed", len(cases), passed, failed)
}

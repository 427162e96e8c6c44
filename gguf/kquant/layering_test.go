package kquant_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLayering: kquant is arithmetic under the GGUF format package; it
// imports package gguf (for gguf.Type) and internal helpers, nothing of the
// converter (convert, model, pipeline, ggufexport) and no native code.
func TestLayering(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	const mod = "github.com/mlxconv/mlxconv/"
	for _, p := range strings.Fields(string(out)) {
		assert.NotContains(t, p, "purego")
		if rest, ok := strings.CutPrefix(p, mod); ok {
			assert.True(t, rest == "gguf" || rest == "gguf/kquant" || strings.HasPrefix(rest, "internal/"), "kquant imports %s", p)
		}
	}
}

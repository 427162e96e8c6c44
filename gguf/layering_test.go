package gguf_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFormatOnly keeps the layering of issue #12: package gguf is the GGUF
// format and imports no mlxconv package but internal helpers (no convert,
// no model or pipeline package, no purego); ggufexport, the exporter above
// it, links no purego either.
func TestFormatOnly(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	const mod = "github.com/mlxconv/mlxconv/"
	for _, p := range strings.Fields(string(out)) {
		assert.NotContains(t, p, "purego")
		if rest, ok := strings.CutPrefix(p, mod); ok && rest != "gguf" {
			assert.True(t, strings.HasPrefix(rest, "internal/"), "gguf imports %s", p)
		}
	}
	out, err = exec.Command(goTool, "list", "-deps", "../ggufexport").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, p := range strings.Fields(string(out)) {
		assert.NotContains(t, p, "purego")
		assert.NotEqual(t, mod+"bridge", p)
	}
}

package mlx

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenNative(t *testing.T) {
	b, info, err := OpenNative(2, "")
	require.NoError(t, err)
	defer b.Close()
	assert.Equal(t, BackendInfo{Backend: "native", Device: "cpu", Rounding: RoundingCPU}, info)
	assert.Equal(t, "native on cpu, cpu rounding", info.String())

	_, info, err = OpenNative(1, "libmlxc not found")
	require.NoError(t, err)
	assert.Equal(t, "native on cpu, cpu rounding (MLX unavailable: libmlxc not found)", info.String())
}

// TestNoNativeDeps keeps the layering of issue #12: mlx and mlx/safetensors
// link no purego (the MLX backend lives in mlx/mlxbackend).
func TestNoNativeDeps(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".", "./safetensors").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, p := range strings.Fields(string(out)) {
		assert.NotContains(t, p, "purego")
		assert.NotEqual(t, "github.com/mlxconv/mlxconv/bridge", p)
	}
}

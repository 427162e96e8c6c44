package reliability

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConvertSmoke checks the harness itself: a good conversion exits 0,
// leaves the input unchanged and writes only the output folder.
func TestConvertSmoke(t *testing.T) {
	src := tinyModel(t)
	before := snapshot(t, src)
	outParent := t.TempDir()
	r := run(t, runOpts{}, "convert", "--hf-path", src, "--mlx-path", filepath.Join(outParent, "out"), "-q", "--quiet")
	require.Equal(t, 0, r.Code, r.Stderr)
	requireUnchanged(t, before, src)
	require.FileExists(t, filepath.Join(outParent, "out", "model.safetensors"))
	ents := snapshot(t, outParent)
	for k := range ents {
		require.True(t, k == "." || filepath.Dir(k) == "out" || k == "out" || filepath.Dir(filepath.Dir(k)) == "out", "unexpected entry %s", k)
	}
}

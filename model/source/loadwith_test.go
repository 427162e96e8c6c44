package source

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/model"
)

// TestLoadModelWith: a replacement MLX part (model.GGUF.MLX) builds the
// tree and sanitizes instead of the family's, sees the checkpoint, and
// leaves Model.Family the family found.
func TestLoadModelWith(t *testing.T) {
	dir := t.TempDir()
	writeTestModel(t, dir, []genTensor{bf16("a.weight", 4, 2), bf16("mtp.weight", 4, 2), f32("drop.me", 3)})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type": "llama", "k": 2}`), 0o644))
	inv, err := LoadInventory(dir)
	require.NoError(t, err)
	defer inv.Close()
	// keep builds a.weight, and mtp.weight where the checkpoint has it.
	keep := func(c model.Config, ts model.Tensors) (*model.Tree, error) {
		var b model.Builder
		b.Linear("a", 2, 4, false)
		if ts.Has("mtp.weight") {
			b.Linear("mtp", 2, 4, false)
		}
		return b.Tree(1), nil
	}
	cases := []struct {
		name string
		x    *model.MLX
		mods []string // module paths; nil with err
		err  string
	}{
		{name: "nil is the family's (llama refuses this checkpoint)", err: `"hidden_size" is missing`},
		{name: "replacement keeps what its rules keep", mods: []string{"a", "mtp"},
			x: &model.MLX{Build: keep, Rules: []model.SanitizeRule{model.Drop{model.Prefix("drop.")}}}},
		{name: "replacement dropping what its tree has", err: `missing 1 parameters: "mtp.weight"`,
			x: &model.MLX{Build: func(c model.Config, ts model.Tensors) (*model.Tree, error) {
				tr, err := keep(c, ts)
				ts.Pop("mtp.weight")
				return tr, err
			}, Rules: []model.SanitizeRule{model.Drop{model.Prefix("drop.")}}}},
		{name: "replacement without the drop", err: `1 parameters not in the llama model: "drop.me"`, x: &model.MLX{Build: keep}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := LoadModelWith(inv, tc.x)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			var paths []string
			for _, mod := range m.Modules {
				paths = append(paths, mod.Path)
			}
			assert.Equal(t, tc.mods, paths)
			assert.Equal(t, "llama", m.Family.Name)
			assert.NotNil(t, m.Family.MLX.Build, "the family value is not changed")
		})
	}
}

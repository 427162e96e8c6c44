package convert

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model/source"
)

// TestQuantizationConfigContradiction checks a pre-quantized (MLX)
// checkpoint whose config.json "quantization" says something else about a
// module than the checkpoint stores: mlx-lm's load_model refuses each case
// (extra scales/biases, missing scales, a shape mismatch), so converting
// it is a one-line error naming the module and the config field.
func TestQuantizationConfigContradiction(t *testing.T) {
	in := writeTiny(t, modelLlama())
	q := filepath.Join(t.TempDir(), "q")
	_, err := Run(context.Background(), Options{HFPath: in, MLXPath: q, Quantize: true})
	require.NoError(t, err)
	cfgBytes, err := os.ReadFile(filepath.Join(q, "config.json"))
	require.NoError(t, err)

	const mod = "model.layers.0.mlp.down_proj"
	const field = `config.json: "quantization"."` + mod + `"`
	withEntry := func(t *testing.T, entry string) string {
		v, err := pyjson.Parse(cfgBytes)
		require.NoError(t, err)
		e, err := pyjson.Parse([]byte(entry))
		require.NoError(t, err)
		cfg := v.(*pyjson.Object)
		qv, _ := cfg.Get("quantization")
		qv.(*pyjson.Object).Set(mod, e)
		b, err := pyjson.Marshal(cfg)
		require.NoError(t, err)
		dir := filepath.Join(t.TempDir(), "m")
		require.NoError(t, os.Mkdir(dir, 0o755))
		ents, err := os.ReadDir(q)
		require.NoError(t, err)
		for _, de := range ents {
			data, err := os.ReadFile(filepath.Join(q, de.Name()))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, de.Name()), data, 0o644))
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644))
		return dir
	}
	for _, tc := range []struct {
		name, entry string
		is          error
		fragments   []string
	}{
		{"false", `false`, ErrConfig, []string{field, "is false (not quantized)", "stores " + mod + " packed"}},
		{"null", `null`, ErrConfig, []string{field, "is null (not quantized)"}},
		{"other bits", `{"group_size": 64, "bits": 8}`, ErrConfig, []string{field, "says 8-bit affine with group size 64", "stores " + mod + " packed as 4-bit affine with group size 64"}},
		{"other group", `{"group_size": 32, "bits": 4, "mode": "affine"}`, ErrConfig, []string{field, "says 4-bit affine with group size 32", "4-bit affine with group size 64"}},
		{"other mode", `{"mode": "mxfp4"}`, ErrConfig, []string{field, "says 4-bit mxfp4 with group size 32"}},
		{"wrong type", `"4bit"`, ErrConfig, []string{field, `is the string "4bit", want an object or a bool`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := makePlan(inventoryOfDir(t, withEntry(t, tc.entry)), Options{})
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.is)
			for _, f := range tc.fragments {
				assert.Contains(t, err.Error(), f)
			}
			assert.NotContains(t, err.Error(), "\n")
		})
	}

	// Entries that agree with the checkpoint convert: the same parameters,
	// and true (the top-level ones).
	for _, entry := range []string{`{"group_size": 64, "bits": 4, "mode": "affine"}`, `true`} {
		_, err := makePlan(inventoryOfDir(t, withEntry(t, entry)), Options{})
		require.NoError(t, err, entry)
	}

	// A float module the config says is quantized.
	v, err := pyjson.Parse([]byte(modelLlama().config))
	require.NoError(t, err)
	cfg := v.(*pyjson.Object)
	qo, _ := pyjson.Parse([]byte(`{"group_size": 64, "bits": 4, "` + mod + `": {"group_size": 64, "bits": 4}}`))
	cfg.Set("quantization", qo)
	b, err := pyjson.Marshal(cfg)
	require.NoError(t, err)
	m := modelLlama()
	m.config = string(b)
	_, err = makePlan(inventoryOf(t, m), Options{})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrConfig)
	assert.Contains(t, err.Error(), field+" says 4-bit affine with group size 64, but the checkpoint stores "+mod+" unquantized (no "+mod+".scales)")
}

func inventoryOfDir(t testing.TB, dir string) *source.Inventory {
	t.Helper()
	inv, err := source.LoadInventory(dir)
	require.NoError(t, err)
	t.Cleanup(func() { inv.Close() })
	return inv
}

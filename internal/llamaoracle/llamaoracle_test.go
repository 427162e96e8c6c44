package llamaoracle_test

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/llamaoracle"
)

// recorder captures Errorf so that a test can require a comparison to fail.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func find(t *testing.T, o *llamaoracle.Oracle, arch, outType string) llamaoracle.Case {
	t.Helper()
	for _, c := range o.Cases(outType) {
		if c.Arch == arch {
			require.True(t, c.OK, "reference %s: %s", c.Name(), c.Error)
			return c
		}
	}
	t.Fatalf("no prepared case %s/%s", arch, outType)
	return llamaoracle.Case{}
}

// Every architecture and output type prepared, its reference converted and loaded.
func TestReferencesLoad(t *testing.T) {
	o := llamaoracle.New(t)
	require.NotEmpty(t, o.Index.Cases)
	for _, c := range o.Index.Cases {
		assert.True(t, c.OK, "%s: %s", c.Name(), c.Error)
	}
}

// The reference compared with itself passes every check (the plumbing the
// exporter's tests use), on three architectures with small vocabularies.
func TestReferenceEqualsItself(t *testing.T) {
	o := llamaoracle.New(t)
	for _, arch := range []string{"mistral", "gemma", "phi3"} {
		t.Run(arch, func(t *testing.T) {
			c := find(t, o, arch, "f32")
			checks := o.Compare(t, c, c.GGUF, llamaoracle.Options{TensorBytes: true})
			names := map[string]bool{}
			for _, ch := range checks {
				names[ch.Name] = ch.OK
			}
			for _, n := range []string{"kv-f32", "tensors-f32", "tokenize-f32", "logits-f32"} {
				assert.True(t, names[n], "check %s missing or failed: %v", n, checks)
			}
		})
	}
}

// An f16 file offered as the f32 export is caught by the KV, tensor and
// logits comparisons (f16 rounding moves the logits ~1e-3 relative, far
// above the 1e-5 bound).
func TestCompareCatchesWrongType(t *testing.T) {
	o := llamaoracle.New(t)
	c32 := find(t, o, "gemma", "f32")
	c16 := find(t, o, "gemma", "f16")
	rec := &recorder{TB: t}
	checks := o.Compare(rec, c32, c16.GGUF, llamaoracle.Options{})
	failed := map[string]bool{}
	for _, ch := range checks {
		if !ch.OK {
			failed[ch.Name] = true
		}
	}
	assert.True(t, failed["kv-f32"], "general.file_type differs: %v", checks)
	assert.True(t, failed["tensors-f32"], "tensor types differ: %v", checks)
	assert.True(t, failed["logits-f32"], "logits differ: %v", checks)
	assert.NotEmpty(t, rec.errs)
}

// Dump, Logits and RefConvert directly: a fresh conversion of the gemma model
// has the dump and logits of the prepared reference.
func TestDirectHelpers(t *testing.T) {
	o := llamaoracle.New(t)
	c := find(t, o, "gemma", "f32")
	out := filepath.Join(t.TempDir(), "gemma.gguf")
	require.NoError(t, o.RefConvert(t, c.Model, out, "f32"))
	d := o.Dump(t, out)
	ref := o.Dump(t, c.GGUF)
	require.Equal(t, ref.KV, d.KV)
	require.Equal(t, ref.Tensors, d.Tensors)
	kv := d.Find("general.architecture")
	require.NotNil(t, kv)
	assert.JSONEq(t, `"gemma"`, string(kv.Value))

	l := o.Logits(t, out, o.Index.Prompt, nil)
	assert.Equal(t, l.PromptTokens, l.Tokens)
	assert.Zero(t, l.Missing)
	v, err := l.Values()
	require.NoError(t, err)
	require.Len(t, v, l.NVocab)
	for _, x := range v {
		require.False(t, math.IsNaN(float64(x)) || math.IsInf(float64(x), 0))
	}
	// The same input ids give bit-identical logits.
	l2 := o.Logits(t, c.GGUF, "", l.Tokens)
	assert.Equal(t, l.SHA256, l2.SHA256)

	require.Error(t, o.RefConvert(t, t.TempDir(), filepath.Join(t.TempDir(), "x.gguf"), "f32"), "an empty directory must not convert")
	require.Error(t, o.LoadError(t, filepath.Join(c.Model, "config.json")), "a JSON file must not load")
}

package family

import (
	"slices"
	"testing"
)

// TestRegistry checks the registry's invariants: a model_type belongs to
// one family, exported types are the family's own, every family can
// build, and the tokenizer rule sets resolve.
func TestRegistry(t *testing.T) {
	seen := map[string]string{}
	for _, f := range All {
		if f.MLX.Build == nil {
			t.Errorf("%s: no MLX.Build", f.Name)
		}
		for _, mt := range f.Types {
			if other, dup := seen[mt]; dup {
				t.Errorf("model_type %q is in %s and %s", mt, other, f.Name)
			}
			seen[mt] = f.Name
			if Lookup(mt) != f {
				t.Errorf("Lookup(%q) is not %s", mt, f.Name)
			}
		}
		g := f.GGUF
		if g == nil {
			continue
		}
		for _, mt := range g.Types {
			if !slices.Contains(f.Types, mt) {
				t.Errorf("%s exports %q, which it does not convert", f.Name, mt)
			}
			if LookupGGUF(mt) != g {
				t.Errorf("LookupGGUF(%q) is not %s's", mt, f.Name)
			}
		}
		if g.Arch == "" || g.Params == nil || len(g.Layer) == 0 {
			t.Errorf("%s: incomplete GGUF rules", f.Name)
		}
		if VocabRules(g.Vocab) == nil {
			t.Errorf("%s: no tokenizer rules for %q", f.Name, g.Vocab)
		}
	}
	if Lookup("no_such_type") != nil || LookupGGUF("no_such_type") != nil || VocabRules("no_such_arch") != nil {
		t.Error("unknown names must not resolve")
	}
	if n := len(ModelTypes()); n != len(seen) {
		t.Errorf("ModelTypes has %d entries, want %d", n, len(seen))
	}
}

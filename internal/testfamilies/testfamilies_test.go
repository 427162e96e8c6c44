package testfamilies

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestFamilies checks that every file loads, is named after its family and
// has at least one section, and that the Go sections are complete.
func TestFamilies(t *testing.T) {
	fams, err := All()
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) < 12 {
		t.Fatalf("%d family files in %s", len(fams), Dir())
	}
	for _, name := range Names(fams) {
		b, err := os.ReadFile(filepath.Join(Dir(), name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		if len(raw) < 2 {
			t.Errorf("%s: no section", name)
		}
		f := fams[name]
		for sec, s := range map[string]*Section{"go_convert": f.GoConvert, "go_export": f.GoExport} {
			if s == nil {
				continue
			}
			if s.Layout == "" || s.DType == "" || s.Tokenizer == "" {
				t.Errorf("%s.%s: layout %q, dtype %q, tokenizer %q", name, sec, s.Layout, s.DType, s.Tokenizer)
			}
			if c, err := s.ConfigMap(); err != nil || c["model_type"] == nil {
				t.Errorf("%s.%s: config without model_type (%v)", name, sec, err)
			}
		}
	}
}

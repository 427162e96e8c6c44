package family

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Issue 12's acceptance rule: a model_type is named, as a Go string, by
// exactly one non-test file of the module (its family file in
// model/family), so adding or moving a family touches one place.
// scripts/ (oracle drivers, benchmarks) and the test helpers below are
// outside the rule; comments do not count (only string literals are
// read, with go/parser).

// testHelpers are packages of non-_test.go files that only tests import.
var testHelpers = map[string]string{
	"internal/testfamilies": "loads testdata/families for the Go tests",
	"internal/llamaoracle":  "drives the llama.cpp oracle from Go tests (imports testing)",
	"internal/oracle":       "oracle plumbing shared by the oracle tests (imports testing)",
}

// stringExceptions are files that may hold a model_type's spelling
// because the same string is also a value of the GGUF format or of
// llama.cpp, not a model_type: file (slash-separated, from the module
// root) → string → reason. An entry that no longer matches fails the
// test, so the list cannot go stale.
var stringExceptions = map[string]map[string]string{
	"ggufexport/tokenizer_pre.go": {
		"qwen2":   "llama.cpp pre-tokenizer name (tokenizer.ggml.pre) in get_vocab_base_pre's hash table",
		"glm4":    "llama.cpp pre-tokenizer name (tokenizer.ggml.pre) in get_vocab_base_pre's hash table",
		"exaone4": "llama.cpp pre-tokenizer name (tokenizer.ggml.pre) in get_vocab_base_pre's hash table",
		"hunyuan": "llama.cpp pre-tokenizer name (tokenizer.ggml.pre) in get_vocab_base_pre's hash table",
		"llama4":  "llama.cpp pre-tokenizer name (tokenizer.ggml.pre) in get_vocab_base_pre's hash table",
		"gemma4":  "llama.cpp pre-tokenizer name (tokenizer.ggml.pre) in get_vocab_base_pre's hash table",
		"lfm2":    "llama.cpp pre-tokenizer name (tokenizer.ggml.pre) in get_vocab_base_pre's hash table",
	},
	"ggufexport/tokenizer_spm.go": {
		"llama": `GGUF tokenizer model name (tokenizer.ggml.model = "llama", SentencePiece)`,
	},
	"ggufexport/tokenizer_llamahf.go": {
		"llama": `GGUF tokenizer model name (tokenizer.ggml.model = "llama", LlamaHfVocab)`,
	},
	"ggufexport/quantplan/rules.go": {
		"llama": "GGUF architecture name (general.architecture) in llama-quantize's 70B size-class table and its attn_v rule",
		"qwen2": "GGUF architecture name (general.architecture) in llama-quantize's 70B size-class table",
	},
	"model/family/internlm3.go": {
		"llama": `GGUF architecture name: internlm3 exports as llama.cpp's InternLM3Model, architecture llama (Arch)`,
	},
	"model/family/mixtral.go": {
		"llama": `GGUF architecture name and tokenizer rule set: mixtral exports as llama.cpp's LlamaModel (Arch, Vocab)`,
	},
}

// moduleRoot is the directory holding go.mod, two levels up.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return root
}

// sourceFiles parses every non-test .go file of the module outside
// scripts/, testdata, hidden directories and the test helpers, by path
// relative to the root (slash-separated).
func sourceFiles(t *testing.T, root string) map[string]*ast.File {
	t.Helper()
	files := map[string]*ast.File{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (rel == "scripts" || name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || testHelpers[rel] != "") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files[rel] = f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestModelTypeStringsInOneFile: for every model_type of the registry,
// exactly one scanned file (a model/family file) has a string literal
// equal to it, exceptions aside.
func TestModelTypeStringsInOneFile(t *testing.T) {
	root := moduleRoot(t)
	files := sourceFiles(t, root)
	if len(files) < 50 || files["model/family/all.go"] == nil {
		t.Fatalf("scanned %d files from %s: not the module", len(files), root)
	}
	types := map[string]bool{}
	for _, mt := range ModelTypes() {
		types[mt] = true
	}
	named := map[string][]string{} // model_type → files naming it
	usedExc := map[[2]string]bool{}
	for rel, f := range files {
		seen := map[string]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil || !types[s] || seen[s] {
				return true
			}
			seen[s] = true
			if stringExceptions[rel][s] != "" {
				usedExc[[2]string{rel, s}] = true
				return true
			}
			named[s] = append(named[s], rel)
			return true
		})
	}
	for _, mt := range ModelTypes() {
		fs := named[mt]
		slices.Sort(fs)
		switch {
		case len(fs) != 1:
			t.Errorf("model_type %q is named as a string by %d files, want 1 (its family file): %v", mt, len(fs), fs)
		case !strings.HasPrefix(fs[0], "model/family/"):
			t.Errorf("model_type %q is named only by %s, not by a model/family file", mt, fs[0])
		}
	}
	for file, m := range stringExceptions {
		for s, why := range m {
			if !usedExc[[2]string{file, s}] {
				t.Errorf("stale exception: %s no longer names %q (%s): remove it", file, s, why)
			}
		}
	}
}

// TestFamilyFileBudget: the MoE family qwen3_moe fits in 150 lines.
func TestFamilyFileBudget(t *testing.T) {
	b, err := os.ReadFile("qwen3_moe.go")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n > 150 {
		t.Errorf("qwen3_moe.go has %d lines, want ≤ 150", n)
	}
}

// TestNoInitInModel: families are listed in All, never registered by an
// init() anywhere in model/.
func TestNoInitInModel(t *testing.T) {
	root := moduleRoot(t)
	n := 0
	for rel, f := range sourceFiles(t, root) {
		if !strings.HasPrefix(rel, "model/") {
			continue
		}
		n++
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == "init" {
				t.Errorf("%s declares func init()", rel)
			}
		}
	}
	if n == 0 {
		t.Fatal("no files scanned under model/")
	}
}

package llamaoracle

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/mlxconv/mlxconv/internal/oracle"
)

// Oracle is a located llama.cpp oracle and prepared work directory.
type Oracle struct {
	Cache   string // MLXCONV_LLAMA_CACHE: venv/, llama.cpp/, npm/
	Work    string // MLXCONV_LLAMA_WORK: index.json, hf/ARCH/
	Scripts string // scripts/oracle/llama in this repository
	Index   Index
}

// Index is WORK/index.json as check.py prepare writes it.
type Index struct {
	Prompt    string `json:"prompt"`
	Converter string `json:"converter"`
	Cases     []Case `json:"cases"`
}

// Case is one architecture and output type with its reference results.
type Case struct {
	Arch    string `json:"arch"`    // convert_models.py architecture name, e.g. "qwen3_moe"
	OutType string `json:"outtype"` // f32, f16, ...
	Model   string `json:"model"`   // the HF model directory
	GGUF    string `json:"gguf"`    // the reference GGUF (convert_hf_to_gguf.py)
	Dump    string `json:"dump"`    // its dump.py JSON
	Logits  string `json:"logits"`  // its runtime.py JSON
	OK      bool   `json:"ok"`      // the reference converted and loaded
	Error   string `json:"error"`   // why not, when !OK
}

// Name is "arch/outtype", for t.Run.
func (c Case) Name() string { return c.Arch + "/" + c.OutType }

// New locates the oracle (skipping the test locally, failing it under CI,
// when the variables are unset) and reads the prepared index.
func New(t testing.TB) *Oracle {
	t.Helper()
	o := &Oracle{
		Cache:   oracle.Env(t, "MLXCONV_LLAMA_CACHE"),
		Work:    oracle.Env(t, "MLXCONV_LLAMA_WORK"),
		Scripts: scriptsDir(t),
	}
	raw, err := os.ReadFile(filepath.Join(o.Work, "index.json"))
	if err != nil {
		t.Fatalf("llamaoracle: %v (run scripts/oracle/llama/check.py prepare)", err)
	}
	if err := json.Unmarshal(raw, &o.Index); err != nil {
		t.Fatalf("llamaoracle: index.json: %v", err)
	}
	return o
}

func scriptsDir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("llamaoracle: cannot locate the source tree")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "scripts", "oracle", "llama")
}

// Cases returns the prepared cases, optionally only those of the given output types.
func (o *Oracle) Cases(outTypes ...string) []Case {
	var out []Case
	for _, c := range o.Index.Cases {
		if len(outTypes) == 0 || contains(outTypes, c.OutType) {
			out = append(out, c)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Python returns the oracle venv's interpreter.
func (o *Oracle) Python() string { return filepath.Join(o.Cache, "venv", "bin", "python") }

// run executes name with args and returns stdout; a non-zero exit fails the
// test with stderr unless allowFail.
func (o *Oracle) run(t testing.TB, allowFail bool, env []string, name string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "MLXCONV_LLAMA_CACHE="+o.Cache)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil && !allowFail {
		t.Fatalf("llamaoracle: %s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, tail(stderr.String(), 4000))
	}
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("%s: %w: %s", filepath.Base(name), err, tail(stderr.String(), 4000))
	}
	return stdout.Bytes(), nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// RefConvert runs llama.cpp's convert_hf_to_gguf.py on hfDir, writing out
// with outType (f32, f16, bf16, q8_0). It returns the converter's error
// (with its log) instead of failing, so that tests can also expect refusals.
func (o *Oracle) RefConvert(t testing.TB, hfDir, out, outType string, extra ...string) error {
	t.Helper()
	args := append([]string{filepath.Join(o.Scripts, "ref_convert.py"), "--converter", filepath.Join(o.Cache, "llama.cpp"),
		hfDir, out, outType}, extra...)
	_, err := o.run(t, true, nil, o.Python(), args...)
	return err
}

// Dump is dump.py's JSON for one GGUF file.
type Dump struct {
	Version     int      `json:"version"`
	Alignment   int      `json:"alignment"`
	KVCount     int      `json:"kv_count"`
	TensorCount int      `json:"tensor_count"`
	KV          []KV     `json:"kv"`
	Tensors     []Tensor `json:"tensors"`
}

// KV is one metadata entry. Scalars have Value; arrays have ElemType, Len,
// SHA256 (of the elements as GGUF stores them) and Value (at most 64
// elements) or Head (the first 4).
type KV struct {
	Key      string          `json:"key"`
	Type     string          `json:"type"` // GGUF value type name: UINT32, FLOAT32, STRING, ARRAY, ...
	Value    json.RawMessage `json:"value,omitempty"`
	ElemType string          `json:"elem_type,omitempty"`
	Len      int             `json:"len,omitempty"`
	SHA256   string          `json:"sha256,omitempty"`
	Head     json.RawMessage `json:"head,omitempty"`
}

// Tensor is one tensor info with the sha256 of its data.
type Tensor struct {
	Name      string   `json:"name"`
	Type      string   `json:"type"`  // ggml type name: F32, F16, Q8_0, ...
	Shape     []uint64 `json:"shape"` // ggml order (ne[0] first)
	NElements uint64   `json:"n_elements"`
	NBytes    uint64   `json:"n_bytes"`
	SHA256    string   `json:"sha256"`
}

// Find returns the KV with key, or nil.
func (d *Dump) Find(key string) *KV {
	for i := range d.KV {
		if d.KV[i].Key == key {
			return &d.KV[i]
		}
	}
	return nil
}

// Dump parses file with dump.py (its fast reader; reader "gguf-py" uses
// gguf-py's GGUFReader instead, much slower on large vocabularies).
func (o *Oracle) Dump(t testing.TB, file string, reader ...string) *Dump {
	t.Helper()
	args := []string{filepath.Join(o.Scripts, "dump.py"), file}
	if len(reader) > 0 {
		args = append(args, "--reader", reader[0])
	}
	out, _ := o.run(t, false, []string{"PYTHONPATH=" + filepath.Join(o.Cache, "llama.cpp", "gguf-py")}, o.Python(), args...)
	var d Dump
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("llamaoracle: dump %s: %v", file, err)
	}
	return &d
}

// Logits is runtime.py's result for one file.
type Logits struct {
	PromptTokens []int    `json:"prompt_tokens"` // the file's own tokenization of the prompt (BOS per add_bos)
	Tokens       []int    `json:"tokens"`        // the evaluated input
	NVocab       int      `json:"n_vocab"`
	Missing      int      `json:"missing_logits"`
	Greedy       []int    `json:"greedy"`
	Top          [][2]any `json:"top"`
	SHA256       string   `json:"logits_sha256"`
	Raw          string   `json:"logits_f32_b64"`
	Release      any      `json:"llama_cpp"`
}

// Values decodes the logits vector (float32 by token id).
func (l *Logits) Values() ([]float32, error) {
	raw, err := base64.StdEncoding.DecodeString(l.Raw)
	if err != nil {
		return nil, fmt.Errorf("logits: %w", err)
	}
	if len(raw)%4 != 0 {
		return nil, fmt.Errorf("logits: %d bytes is not a float32 vector", len(raw))
	}
	v := make([]float32, len(raw)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return v, nil
}

// Logits loads file in llama.cpp and evaluates prompt (tokenized by the
// file, BOS added per its add_bos) or, when tokens is non-nil, exactly
// tokens. A load failure fails the test with llama.cpp's message; use
// LoadError to expect one.
func (o *Oracle) Logits(t testing.TB, file, prompt string, tokens []int) *Logits {
	t.Helper()
	l, err := o.logits(t, file, prompt, tokens)
	if err != nil {
		t.Fatalf("llamaoracle: %v", err)
	}
	return l
}

// LoadError returns llama.cpp's error loading file, or nil if it loads.
func (o *Oracle) LoadError(t testing.TB, file string) error {
	t.Helper()
	_, err := o.logits(t, file, "a", nil)
	return err
}

func (o *Oracle) logits(t testing.TB, file, prompt string, tokens []int) (*Logits, error) {
	t.Helper()
	args := []string{filepath.Join(o.Scripts, "runtime.py"), file, "--prompt", prompt}
	if tokens != nil {
		s := make([]string, len(tokens))
		for i, v := range tokens {
			s[i] = strconv.Itoa(v)
		}
		args = append(args, "--tokens", strings.Join(s, ","))
	}
	out, err := o.run(t, true, nil, o.Python(), args...)
	if err != nil {
		return nil, err
	}
	var l Logits
	if err := json.Unmarshal(out, &l); err != nil {
		return nil, fmt.Errorf("logits %s: %w", file, err)
	}
	return &l, nil
}

// Check is one comparison's outcome.
type Check struct {
	Arch   string `json:"arch"`
	Name   string `json:"name"` // kv-f32, tensors-f32, tokenize-f32, logits-f32, load-f32, parse-f32, reference-f32
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Options tune Compare.
type Options struct {
	Allow       string  // allow-list file (default scripts/oracle/llama/allow.txt)
	RTol        float64 // logits relative error bound (default 1e-5)
	TensorBytes bool    // also require identical tensor data
}

// Compare runs check.py compare for candidate (the exporter's GGUF for case
// c) and reports every failed check with t.Errorf; it returns all checks.
func (o *Oracle) Compare(t testing.TB, c Case, candidate string, opt Options) []Check {
	t.Helper()
	args := []string{filepath.Join(o.Scripts, "check.py"), "compare", "--work", o.Work, "--arch", c.Arch,
		"--outtype", c.OutType, "--json", candidate}
	if opt.Allow != "" {
		args = append(args, "--allow", opt.Allow)
	}
	if opt.RTol != 0 {
		args = append(args, "--rtol", strconv.FormatFloat(opt.RTol, 'g', -1, 64))
	}
	if opt.TensorBytes {
		args = append(args, "--tensor-bytes")
	}
	out, err := o.run(t, true, nil, o.Python(), args...)
	var rep struct {
		Checks []Check `json:"checks"`
	}
	if jerr := json.Unmarshal(out, &rep); jerr != nil || len(rep.Checks) == 0 {
		t.Fatalf("llamaoracle: check.py compare %s: no report (%v, %v)", c.Name(), jerr, err)
	}
	for _, ch := range rep.Checks {
		if !ch.OK {
			t.Errorf("%s %s: %s", c.Name(), ch.Name, ch.Detail)
		}
	}
	return rep.Checks
}

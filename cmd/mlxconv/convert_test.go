package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
	"github.com/mlxconv/mlxconv/pipeline"
)

// TestMain lets the test binary run as mlxconv itself (for the signal
// test) when MLXCONV_TEST_AS_MAIN is set.
func TestMain(m *testing.M) {
	if os.Getenv("MLXCONV_TEST_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// selfCommand runs this test binary again with args. Under emulation
// (./build.sh's arm64 run sets MLXCONV_TEST_EXEC to qemu-aarch64-static,
// since the kernel cannot run an arm64 binary by itself there) it runs it
// through the emulator, which passes signals on to it.
func selfCommand(args ...string) *exec.Cmd {
	if w := os.Getenv("MLXCONV_TEST_EXEC"); w != "" {
		return exec.Command(w, append([]string{os.Args[0]}, args...)...)
	}
	return exec.Command(os.Args[0], args...)
}

// tinyLlama writes a small llama checkpoint (2 layers, hidden 64) with
// deterministic weights.
func tinyLlama(t testing.TB, dir string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	cfg := `{"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
"num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-05, "vocab_size": 64,
"tie_word_embeddings": true, "torch_dtype": "bfloat16"}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(`{"model":{"type":"WordLevel","vocab":{"a":0},"unk_token":"a"}}`), 0o644))
	shapes := map[string][]int{"model.embed_tokens.weight": {64, 64}, "model.norm.weight": {64}}
	for l := 0; l < 2; l++ {
		p := "model.layers." + strconv.Itoa(l) + "."
		for n, s := range map[string][]int{"self_attn.q_proj": {64, 64}, "self_attn.k_proj": {32, 64}, "self_attn.v_proj": {32, 64},
			"self_attn.o_proj": {64, 64}, "mlp.gate_proj": {128, 64}, "mlp.up_proj": {128, 64}, "mlp.down_proj": {64, 128},
			"input_layernorm": {64}, "post_attention_layernorm": {64}} {
			shapes[p+n+".weight"] = s
		}
	}
	var ts []safetensors.Tensor
	seed := uint32(1)
	for name, shape := range shapes {
		n := 1
		for _, d := range shape {
			n *= d
		}
		data := make([]byte, 4*n)
		for i := 0; i < n; i++ {
			seed = seed*1664525 + 1013904223
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(float32(int32(seed>>8)-(1<<23))/float32(1<<26)))
		}
		ts = append(ts, safetensors.Tensor{TensorInfo: safetensors.TensorInfo{Name: name, DType: mlx.F32, Shape: shape}, Data: data})
	}
	sortTensors(ts)
	require.NoError(t, safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}, safetensors.HF))
}

func sortTensors(ts []safetensors.Tensor) {
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && ts[j].Name < ts[j-1].Name; j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}

// run runs the CLI in process.
func runCLI(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &environment{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), getenv: func(string) string { return "" }}
	code = runMain(context.Background(), env, args)
	return code, out.String(), errb.String()
}

func TestConvertCLI(t *testing.T) {
	work := t.TempDir()
	in := filepath.Join(work, "in")
	tinyLlama(t, in)
	out := filepath.Join(work, "out")

	code, stdout, stderr := runCLI(t, "convert", "--hf-path", in, "--mlx-path", out, "-q", "--backend", "native", "--workers", "2")
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stdout)
	// Not a terminal: the summary line is the whole output.
	assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
	assert.Contains(t, stderr, "mlxconv: wrote "+out+": 50 tensors in 1 shard(s), 44.4 kB, 4.547 bits per weight")
	cfg, err := os.ReadFile(filepath.Join(out, "config.json"))
	require.NoError(t, err)
	assert.Contains(t, string(cfg), "\"quantization\": {\n        \"group_size\": 64,\n        \"bits\": 4,\n        \"mode\": \"affine\"\n    },")

	// The output exists now: refused, exit 1.
	code, _, stderr = runCLI(t, "convert", "--model", in, "--mlx-path", out, "--quiet")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "already exists")

	// --force replaces it; --json prints the summary; --quiet prints nothing else.
	rules := filepath.Join(work, "rules.txt")
	require.NoError(t, os.WriteFile(rules, []byte("# keep the embedding\nembed_tokens=bfloat16\n"), 0o644))
	code, stdout, stderr = runCLI(t, "convert", "--hf-path", in, "--mlx-path", out, "--force", "-q", "--q-bits", "8",
		"--quant-rule", `layers\.1\.mlp=4/32`, "--quant-rules", rules, "--json", "--quiet", "--backend", "native")
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stderr)
	var sum struct {
		Output       string   `json:"output"`
		ModelType    string   `json:"model_type"`
		Quantization string   `json:"quantization"`
		Tensors      int      `json:"tensors"`
		Files        []string `json:"shard_files"`
		Backend      string   `json:"backend"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &sum), stdout)
	assert.Equal(t, out, sum.Output)
	assert.Equal(t, "llama", sum.ModelType)
	assert.Equal(t, "affine 8-bit, group 64", sum.Quantization)
	assert.Equal(t, 48, sum.Tensors) // the embedding stays float
	assert.Equal(t, []string{"model.safetensors"}, sum.Files)
	assert.Equal(t, "native", sum.Backend)
	cfg, err = os.ReadFile(filepath.Join(out, "config.json"))
	require.NoError(t, err)
	assert.Contains(t, string(cfg), "\"model.layers.1.mlp.gate_proj\": {\n            \"group_size\": 32,\n            \"bits\": 4,")
}

func TestConvertDryRun(t *testing.T) {
	work := t.TempDir()
	in := filepath.Join(work, "in")
	tinyLlama(t, in)
	code, stdout, stderr := runCLI(t, "convert", "--hf-path", in, "--mlx-path", filepath.Join(work, "out"), "--dry-run",
		"-q", "--q-mode", "mxfp4", "--max-shard-size", "20KB")
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	assert.Equal(t, "model type: llama (architecture llama)", lines[0])
	assert.Equal(t, "dtype: bfloat16", lines[1])
	assert.Equal(t, "quantization: mxfp4 4-bit, group 32", lines[2])
	assert.Equal(t, "TENSOR                                          DTYPE  SHAPE    SHARD  ACTION", lines[3])
	assert.Equal(t, "model.embed_tokens.weight                       U32    [64,8]   1      quantize mxfp4 4-bit g32 from F32->BF16", lines[4])
	assert.Equal(t, "model.embed_tokens.scales                       U8     [64,2]   1      quantize mxfp4 4-bit g32 from F32->BF16 of model.embed_tokens.weight", lines[5])
	assert.Contains(t, stdout, "shard 1: model-00001-of-00003.safetensors, 14 tensors, 17.0 KiB\nshard 2: model-00002-of-00003.safetensors, 16 tensors, 19.4 KiB\nshard 3: model-00003-of-00003.safetensors, 5 tensors, 4.6 KiB\n")
	assert.Contains(t, stdout, "total: 35 tensors, 41.0 KiB (41984 bytes), 78144 parameters, 4.298 bits per weight\n")
	assert.Contains(t, stdout, "copied: tokenizer.json\n")
	assert.NoFileExists(t, filepath.Join(work, "out"))

	code, stdout, _ = runCLI(t, "convert", "--hf-path", in, "--dry-run", "--json")
	require.Equal(t, 0, code)
	var sum struct {
		DryRun bool `json:"dry_run"`
		Plan   []struct {
			Name, DType, Shard, Action string
			Shape                      []int
		} `json:"tensor_plan"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &sum))
	assert.True(t, sum.DryRun)
	require.Len(t, sum.Plan, 20)
	assert.Equal(t, "model.embed_tokens.weight", sum.Plan[0].Name)
	assert.Equal(t, "BF16", sum.Plan[0].DType)
	assert.Equal(t, "cast F32->BF16", sum.Plan[0].Action)
}

// A --hf-path that is not a local directory goes to the Hub; offline and
// with an empty cache that is a clear error, and nothing touches the network.
func TestConvertHubOfflineNoCache(t *testing.T) {
	cache := t.TempDir()
	var out, errb bytes.Buffer
	env := &environment{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), getenv: func(k string) string {
		switch k {
		case "HF_HUB_OFFLINE":
			return "1"
		case "HF_HUB_CACHE":
			return cache
		}
		return ""
	}}
	code := runMain(context.Background(), env, []string{"convert", "--hf-path", "org/repo", "--mlx-path", filepath.Join(t.TempDir(), "o"), "--dry-run"})
	assert.Equal(t, 1, code, errb.String())
	assert.Contains(t, errb.String(), "org/repo")
	assert.Contains(t, errb.String(), "offline")
}

func TestConvertUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"convert"}, 2, "--hf-path (or --model) is required"},
		{[]string{"convert", "--hf-path", "x", "--q-mode", "int4"}, 2, `--q-mode "int4"`},
		{[]string{"convert", "--hf-path", "x", "--dtype", "float64"}, 2, `--dtype "float64"`},
		{[]string{"convert", "--hf-path", "x", "--quant-predicate", "mixed_9_9"}, 2, "--quant-predicate"},
		{[]string{"convert", "--hf-path", "x", "--quant-rule", "nope"}, 2, "want PATTERN=SPEC"},
		{[]string{"convert", "--hf-path", "x", "--max-shard-size", "lots"}, 2, "--max-shard-size"},
		{[]string{"convert", "--hf-path", "x", "--backend", "gpu"}, 2, "--backend"},
		{[]string{"convert", "--hf-path", "x", "--q-bits", "-1"}, 2, "must not be negative"},
		{[]string{"convert", "--hf-path", "x", "extra"}, 2, "unexpected argument"},
		{[]string{"convert", "--nope"}, 2, "unknown flag"},
	} {
		t.Run(strings.Join(c.args[1:], " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, c.args...)
			assert.Equal(t, c.code, code, stderr)
			assert.Contains(t, stderr, c.msg)
		})
	}
	code, _, stderr := runCLI(t, "convert", "--help")
	assert.Equal(t, 0, code)
	for _, flag := range []string{"--hf-path", "--model", "--mlx-path", "-q, --quantize", "--q-group-size", "--q-bits", "--q-mode",
		"--quant-predicate", "--dtype", "--upload-repo", "-d, --dequantize", "--trust-remote-code", "--quant-rule", "--quant-rules",
		"--revision", "--max-shard-size", "--force", "--dry-run", "--json", "--quiet", "--workers", "--backend"} {
		assert.Contains(t, stderr, flag)
	}
}

func TestProgressBar(t *testing.T) {
	var b bytes.Buffer
	now := time.Unix(0, 0)
	p := newProgressBar(&b, true)
	p.now = func() time.Time { return now }
	p.width = func() int { return 100 }
	p.update(pipeline.Progress{Stage: pipeline.StagePlan, TensorsTotal: 4, BytesTotal: 4000})
	now = now.Add(time.Second)
	p.update(pipeline.Progress{Stage: pipeline.StageWrite, TensorsDone: 1, TensorsTotal: 4, BytesDone: 1000, BytesTotal: 4000})
	now = now.Add(50 * time.Millisecond) // throttled
	p.update(pipeline.Progress{Stage: pipeline.StageWrite, TensorsDone: 2, TensorsTotal: 4, BytesDone: 2000, BytesTotal: 4000})
	note := p.notice(func(msg string) { fmt.Fprintf(&b, "mlxconv: note: %s\n", msg) })
	note("hello") // erases the line; the next update redraws it
	now = now.Add(time.Second)
	p.update(pipeline.Progress{Stage: pipeline.StageWrite, TensorsDone: 4, TensorsTotal: 4, BytesDone: 4000, BytesTotal: 4000})
	p.finish(true)
	assert.Equal(t, "\r[                              ]   0%  0/4 tensors  0 B/4.0 kB\x1b[K"+
		"\r[=======                       ]  25%  1/4 tensors  1.0 kB/4.0 kB  1.0 kB/s  ETA 0:03\x1b[K"+
		"\r\x1b[Kmlxconv: note: hello\n"+
		"\r[==============================] 100%  4/4 tensors  4.0 kB/4.0 kB  2.0 kB/s\x1b[K"+
		"\r\x1b[K", b.String())

	// A failed run keeps the last state on its own line.
	b.Reset()
	p = newProgressBar(&b, true)
	p.width = func() int { return 0 } // unknown: 80 columns
	p.update(pipeline.Progress{Stage: pipeline.StagePlan, TensorsTotal: 4, BytesTotal: 4000})
	p.finish(false)
	assert.Equal(t, "\r[                              ]   0%  0/4 tensors  0 B/4.0 kB\x1b[K\n", b.String())

	// Not a terminal: nothing at all.
	b.Reset()
	p = newProgressBar(&b, false)
	p.update(pipeline.Progress{Stage: pipeline.StagePlan, TensorsTotal: 10, BytesTotal: 1e9})
	for i := 0; i <= 10; i++ {
		p.update(pipeline.Progress{Stage: pipeline.StageWrite, TensorsDone: i, TensorsTotal: 10, BytesDone: int64(i) * 1e8, BytesTotal: 1e9})
	}
	p.notice(func(msg string) { fmt.Fprintln(&b, msg) })("a note")
	p.finish(true)
	assert.Equal(t, "a note\n", b.String())
}

// The line fits the width: the bar shrinks, then goes, then the text is
// cut with "…".
func TestProgressLineWidth(t *testing.T) {
	start := time.Unix(0, 0)
	p := &progressBar{start: start, prog: pipeline.Progress{Stage: pipeline.StageWrite, TensorsDone: 123, TensorsTotal: 291,
		BytesDone: 6_710_000_000, BytesTotal: 16_060_000_000}}
	now := start.Add(16 * time.Second)
	text := " 41%  123/291 tensors  6.71 GB/16.06 GB  419.4 MB/s  ETA 0:22"
	for _, tc := range []struct {
		max  int
		want string
	}{
		{119, "[============                  ] " + text},
		{79, "[======         ] " + text},
		{59, text[:58] + "…"},
		{20, text[:19] + "…"},
	} {
		got := p.line(now, tc.max)
		assert.Equal(t, tc.want, got, "max %d", tc.max)
		assert.LessOrEqual(t, utf8.RuneCountInString(got), tc.max)
	}
}

// TestConvertSIGINT runs the CLI as a separate process on a large sparse
// checkpoint, interrupts it once it has started writing, and checks the
// exit status and that nothing is left behind.
func TestConvertSIGINT(t *testing.T) {
	work := t.TempDir()
	in := filepath.Join(work, "in")
	require.NoError(t, os.MkdirAll(in, 0o755))
	// One huge embedding (1 GiB of zeros, a sparse file) and a minimal
	// llama around it; quantizing it takes seconds.
	const vocab, hidden = 65536, 4096
	cfg := fmt.Sprintf(`{"model_type": "llama", "hidden_size": %d, "intermediate_size": 64, "num_hidden_layers": 0,
"num_attention_heads": 64, "rms_norm_eps": 1e-05, "vocab_size": %d, "tie_word_embeddings": true}`, hidden, vocab)
	require.NoError(t, os.WriteFile(filepath.Join(in, "config.json"), []byte(cfg), 0o644))
	infos := []safetensors.TensorInfo{{Name: "model.embed_tokens.weight", DType: mlx.F32, Shape: []int{vocab, hidden}},
		{Name: "model.norm.weight", DType: mlx.F32, Shape: []int{hidden}}}
	laid, size, err := safetensors.Layout(infos)
	require.NoError(t, err)
	hdr, err := safetensors.Header(laid, nil, safetensors.HF)
	require.NoError(t, err)
	f, err := os.Create(filepath.Join(in, "model.safetensors"))
	require.NoError(t, err)
	require.NoError(t, binary.Write(f, binary.LittleEndian, uint64(len(hdr))))
	_, err = f.Write(hdr)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(8+int64(len(hdr))+size))
	require.NoError(t, f.Close())

	outParent := filepath.Join(work, "outs")
	require.NoError(t, os.MkdirAll(outParent, 0o755))
	cmd := selfCommand("convert", "--hf-path", in, "--mlx-path", filepath.Join(outParent, "out"), "-q",
		"--backend", "native", "--workers", "1")
	cmd.Env = append(os.Environ(), "MLXCONV_TEST_AS_MAIN=1")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(stderr)
	var log strings.Builder
	// Not a terminal, so no progress is printed: the temporary output
	// directory says that the run has started writing.
	require.True(t, waitForEntry(outParent, 60*time.Second), "the run never started writing")
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, log.String())
	assert.Equal(t, 130, ee.ExitCode(), log.String())
	assert.Contains(t, log.String(), "interrupted")
	es, err := os.ReadDir(outParent)
	require.NoError(t, err)
	assert.Empty(t, es, "no output and no temporary directory")
}

// waitForEntry polls dir until it has an entry (true) or timeout passes.
func waitForEntry(dir string, timeout time.Duration) bool {
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if es, err := os.ReadDir(dir); err == nil && len(es) > 0 {
			return true
		}
	}
	return false
}

package oracle_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/gguf/kquant"
	"github.com/mlxconv/mlxconv/internal/oracle"
)

// ggmlQuant is a running mlxconv-kquant (llama/kquant.c): ggml's
// ggml_quantize_chunk and to_float over a pipe.
type ggmlQuant struct {
	cmd *exec.Cmd
	in  *bufio.Writer
	out *bufio.Reader
}

// startGGMLQuant compiles llama/kquant.c against the static ggml of the
// llama.cpp runtime that scripts/oracle/llama/setup.sh built (under
// $MLXCONV_LLAMA_CACHE/bin/../lib) and starts it.
func startGGMLQuant(t *testing.T) *ggmlQuant {
	t.Helper()
	rt, err := filepath.EvalSymlinks(filepath.Join(oracle.Env(t, "MLXCONV_LLAMA_CACHE"), "bin"))
	require.NoError(t, err, "the llama.cpp runtime: run scripts/oracle/llama/setup.sh")
	rt = filepath.Dir(rt)
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	bin := filepath.Join(t.TempDir(), "mlxconv-kquant")
	out, err := exec.Command(cc, "-std=c11", "-O2", "-I"+filepath.Join(rt, "include"), "-o", bin,
		filepath.Join("llama", "kquant.c"), filepath.Join(rt, "lib", "libggml-base.a"),
		"-fopenmp", "-lstdc++", "-lm", "-lpthread").CombinedOutput()
	require.NoError(t, err, "compiling llama/kquant.c: %s", out)
	g := &ggmlQuant{cmd: exec.Command(bin)}
	g.cmd.Stderr = os.Stderr
	w, err := g.cmd.StdinPipe()
	require.NoError(t, err)
	r, err := g.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, g.cmd.Start())
	g.in, g.out = bufio.NewWriterSize(w, 1<<20), bufio.NewReaderSize(r, 1<<20)
	t.Cleanup(func() {
		_ = w.Close()
		_ = g.cmd.Wait()
	})
	return g
}

func (g *ggmlQuant) call(t *testing.T, hdr [4]int64, data ...any) []byte {
	t.Helper()
	require.NoError(t, binary.Write(g.in, binary.LittleEndian, hdr))
	for _, d := range data {
		require.NoError(t, binary.Write(g.in, binary.LittleEndian, d))
	}
	require.NoError(t, g.in.Flush())
	var n int64
	require.NoError(t, binary.Read(g.out, binary.LittleEndian, &n))
	b := make([]byte, n)
	_, err := io.ReadFull(g.out, b)
	require.NoError(t, err)
	return b
}

func (g *ggmlQuant) quantize(t *testing.T, typ gguf.Type, src []float32, nrows, ncols int, imatrix []float32) []byte {
	b := int64(ncols)
	data := []any{src}
	if imatrix != nil {
		b |= 1 << 62
		data = append(data, imatrix)
	}
	return g.call(t, [4]int64{0, int64(typ), int64(nrows), b}, data...)
}

func (g *ggmlQuant) dequantize(t *testing.T, typ gguf.Type, src []byte) []uint32 {
	b := g.call(t, [4]int64{1, int64(typ), int64(len(src)), 0}, src)
	v := make([]uint32, len(b)/4)
	for i := range v {
		v[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return v
}

// kqDist is one way of filling a row.
type kqDist struct {
	name string
	gen  func(r *rand.Rand, i int) float32
}

func normal(s float64) func(*rand.Rand, int) float32 {
	return func(r *rand.Rand, _ int) float32 { return float32(r.NormFloat64() * s) }
}

// bf16 rounds a generator's values to bfloat16, as checkpoints hold them.
func bf16(f func(*rand.Rand, int) float32) func(*rand.Rand, int) float32 {
	return func(r *rand.Rand, i int) float32 {
		b := math.Float32bits(f(r, i))
		b += 0x7fff + (b>>16)&1
		return math.Float32frombits(b &^ 0xffff)
	}
}

var kqDists = []kqDist{
	{"normal", normal(1)},
	{"weights", bf16(normal(0.02))},
	{"heavy-tailed", func(r *rand.Rand, _ int) float32 { // Student-t with 1.5 degrees of freedom
		return float32(r.NormFloat64() / math.Pow(r.Float64()+1e-9, 1/1.5))
	}},
	{"outliers", func(r *rand.Rand, _ int) float32 {
		if r.IntN(64) == 0 {
			return float32(r.NormFloat64() * 50)
		}
		return float32(r.NormFloat64() * 0.01)
	}},
	{"zero", func(*rand.Rand, int) float32 { return 0 }},
	{"negative-zero", func(r *rand.Rand, _ int) float32 { return float32(math.Copysign(0, -1)) }},
	{"signed-zeros", func(r *rand.Rand, _ int) float32 { return float32(math.Copysign(0, float64(r.IntN(2))-0.5)) }},
	{"constant", func(*rand.Rand, int) float32 { return 0.37 }},
	{"negative-constant", func(*rand.Rand, int) float32 { return -1.25 }},
	{"positive", func(r *rand.Rand, _ int) float32 { return float32(r.Float64()) }},
	{"negative", func(r *rand.Rand, _ int) float32 { return -float32(r.ExpFloat64()) }},
	{"integers", func(r *rand.Rand, _ int) float32 { return float32(r.IntN(9) - 4) }},
	{"sparse", func(r *rand.Rand, _ int) float32 {
		if r.IntN(40) == 0 {
			return float32(r.NormFloat64())
		}
		return 0
	}},
	{"half-zero-blocks", func(r *rand.Rand, i int) float32 {
		if i/32%2 == 0 {
			return 0
		}
		return float32(r.NormFloat64())
	}},
	{"tiny", normal(1e-20)},
	{"tinier", normal(1e-30)},
	{"subnormal", normal(1e-39)},
	{"near-eps", normal(1e-15)},
	{"large", normal(1e15)},
	{"huge", normal(1e20)},
	{"huger", normal(1e30)},
	{"mixed-scale", func(r *rand.Rand, i int) float32 { return float32(r.NormFloat64() * math.Pow(10, float64(i%13-6))) }},
	{"ramp", func(_ *rand.Rand, i int) float32 { return float32(i%256)/128 - 1 }},
	{"fp16-range", normal(6e4)},
}

// kqImatrix is one way of making an importance matrix (nil: none).
var kqImatrix = []struct {
	name string
	gen  func(r *rand.Rand, n int) []float32
}{
	{"none", func(*rand.Rand, int) []float32 { return nil }},
	{"imatrix", func(r *rand.Rand, n int) []float32 {
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(r.ExpFloat64() * 0.1)
		}
		return w
	}},
	{"imatrix-zeros", func(r *rand.Rand, n int) []float32 {
		w := make([]float32, n)
		for i := range w {
			if r.IntN(3) > 0 {
				w[i] = float32(r.ExpFloat64() * 1e3)
			}
		}
		return w
	}},
	{"imatrix-all-zero", func(_ *rand.Rand, n int) []float32 { return make([]float32, n) }},
	{"imatrix-extreme", func(r *rand.Rand, n int) []float32 {
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(math.Pow(10, float64(r.IntN(61)-30)))
		}
		return w
	}},
}

// TestKQuantOracle quantizes hostile-ish rows with package kquant and with
// ggml's ggml_quantize_chunk (built from the pinned sdist) and compares the
// bytes, then the dequantized values of both (bit for bit), and dequantizes
// random bytes with both. It prints "kquant: N passed, M failed".
// MLXCONV_KQUANT_SEED=N draws other rows.
func TestKQuantOracle(t *testing.T) {
	g := startGGMLQuant(t)
	c := &tally{t: t}
	seed := uint64(2026) // MLXCONV_KQUANT_SEED picks other rows (for longer local sweeps)
	if v := os.Getenv("MLXCONV_KQUANT_SEED"); v != "" {
		var err error
		seed, err = strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "MLXCONV_KQUANT_SEED")
	}
	r := rand.New(rand.NewPCG(15, seed))
	for _, typ := range kquant.Types() {
		bs := kquant.BlockSize(typ)
		for _, d := range kqDists {
			for _, im := range kqImatrix {
				for _, shape := range [][2]int{{1, max(bs, 32)}, {3, 256}, {2, 768}, {1, 2816}, {1, 4096}} {
					if shape[1]%bs != 0 {
						continue
					}
					name := fmt.Sprintf("%s/%s/%s/%dx%d", typ, d.name, im.name, shape[0], shape[1])
					kqCase(t, c, g, r, typ, name, d.gen, im.gen, shape[0], shape[1])
				}
			}
		}
		kqHostileBytes(t, c, g, r, typ)
	}
	kqGGUFPy(t, g, r)
	fmt.Printf("kquant: %d passed, %d failed\n", c.passed, c.failed)
}

func kqCase(t *testing.T, c *tally, g *ggmlQuant, r *rand.Rand, typ gguf.Type, name string,
	gen func(*rand.Rand, int) float32, genW func(*rand.Rand, int) []float32, nrows, ncols int) {
	src := make([]float32, nrows*ncols)
	for i := range src {
		src[i] = gen(r, i%ncols)
	}
	imatrix := genW(r, ncols)
	want := g.quantize(t, typ, src, nrows, ncols, imatrix)
	rs, err := kquant.RowSize(typ, ncols)
	require.NoError(t, err)
	got := make([]byte, nrows*rs)
	require.NoError(t, kquant.Quantize(typ, got, src, nrows, ncols, imatrix), name)
	i := firstDiff(want, got)
	c.check("quantize", name, i < 0, "bytes differ from ggml's at byte %d of %d (block %d; ours % x, ggml % x)",
		i, len(want), i/kquant.TypeSize(typ), window(got, i), window(want, i))
	kqCompareDequant(t, c, g, typ, name, want)
}

// kqCompareDequant dequantizes blocks with kquant and ggml and compares the
// float32 bits.
func kqCompareDequant(t *testing.T, c *tally, g *ggmlQuant, typ gguf.Type, name string, blocks []byte) {
	want := g.dequantize(t, typ, blocks)
	got := make([]float32, len(want))
	n, err := kquant.Dequantize(typ, got, blocks)
	require.NoError(t, err)
	require.Equal(t, len(want), n)
	for j := range want {
		if math.Float32bits(got[j]) != want[j] {
			c.check("dequantize", name, false, "value %d: ours %#08x (%v), ggml %#08x (%v)",
				j, math.Float32bits(got[j]), got[j], want[j], math.Float32frombits(want[j]))
			return
		}
	}
	c.check("dequantize", name, true, "")
}

// kqHostileBytes dequantizes random blocks (scales that decode to NaN, Inf,
// subnormals) with both.
func kqHostileBytes(t *testing.T, c *tally, g *ggmlQuant, r *rand.Rand, typ gguf.Type) {
	ts := kquant.TypeSize(typ)
	for k := range 8 {
		b := make([]byte, 16*ts)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if k%2 == 1 { // force special fp16 scales at the block's start
			for blk := range 16 {
				binary.LittleEndian.PutUint16(b[blk*ts:], []uint16{0x7c00, 0xfc00, 0x7e01, 0x0001, 0x8000, 0x7bff}[blk%6])
			}
		}
		kqCompareDequant(t, c, g, typ, fmt.Sprintf("%s/random-bytes/%d", typ, k), b)
	}
}

// kqGGUFPy logs how often package gguf's AppendQuantize (gguf-py's
// definition, what convert_hf_to_gguf.py writes) differs from ggml's
// reference quantizers on the same rows (information only).
func kqGGUFPy(t *testing.T, g *ggmlQuant, r *rand.Rand) {
	for _, typ := range []gguf.Type{gguf.Q4_0, gguf.Q4_1, gguf.Q5_0, gguf.Q5_1, gguf.Q8_0} {
		same, diff := 0, 0
		for _, d := range kqDists {
			src := make([]float32, 256)
			for i := range src {
				src[i] = d.gen(r, i)
			}
			want := g.quantize(t, typ, src, 1, 256, nil)
			got, err := gguf.AppendQuantize(nil, typ, src)
			require.NoError(t, err)
			if firstDiff(want, got) < 0 {
				same++
			} else {
				diff++
				t.Logf("gguf.AppendQuantize %s %s differs from ggml", typ, d.name)
			}
		}
		t.Logf("gguf.AppendQuantize %s: %d rows equal to ggml's, %d differ", typ, same, diff)
	}
}

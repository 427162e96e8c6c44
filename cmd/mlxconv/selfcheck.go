package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/mlxbackend"
)

// selfcheck quantizes and dequantizes a fixed pseudo-random bf16 matrix in
// every mode and checks each element's error against the mode's bound.
func init() {
	register(command{
		name:    "selfcheck",
		summary: "quantize/dequantize a test matrix in every mode and check the error bounds",
		run: func(ctx context.Context, env *environment, args []string) error {
			fs := newFlags(env, "selfcheck", "selfcheck [--backend auto|mlx|native]")
			kind := fs.String("backend", "auto", "backend: auto, mlx or native")
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			b, info, err := mlxbackend.Select(mlx.BackendKind(*kind), 0)
			if err != nil {
				return err
			}
			defer b.Close()
			fmt.Fprintf(env.stdout, "backend: %s\n", info)
			return selfcheck(env, b)
		},
	})
}

func selfcheck(env *environment, b mlx.Backend) error {
	const rows, cols = 64, 512
	r := rand.New(rand.NewPCG(1, 2))
	w := make([]byte, rows*cols*2)
	ref := make([]float32, rows*cols)
	for i := range ref {
		h := mlx.F32ToBF16(float32(r.NormFloat64()))
		binary.LittleEndian.PutUint16(w[2*i:], h)
		ref[i] = mlx.BF16ToF32(h)
	}
	shape := []int{rows, cols}
	type mode struct {
		p   mlx.QuantParams
		rel float64 // bound on |err| relative to the group's max |w|
	}
	var modes []mode
	for _, bits := range []int{2, 3, 4, 5, 6, 8} {
		for _, gs := range []int{32, 64, 128} {
			// One step of 2^bits-1 levels over the range [-max, max] (MLX
			// moves the grid so that 0 is exact, which can cost up to a
			// step at the clipped edge), plus bf16 rounding.
			modes = append(modes, mode{mlx.QuantParams{Mode: mlx.Affine, Bits: bits, GroupSize: gs}, 2.0/float64(int(1)<<bits-1) + 0.05})
		}
	}
	modes = append(modes,
		mode{mlx.QuantParams{Mode: mlx.MXFP4, Bits: 4, GroupSize: 32}, 0.5},
		mode{mlx.QuantParams{Mode: mlx.NVFP4, Bits: 4, GroupSize: 16}, 0.25},
		mode{mlx.QuantParams{Mode: mlx.MXFP8, Bits: 8, GroupSize: 32}, 0.13},
	)
	bad := 0
	for _, m := range modes {
		q, err := b.Quantize(w, mlx.BF16, shape, m.p)
		if err != nil {
			return fmt.Errorf("%s %d-bit gs%d: quantize: %w", m.p.Mode, m.p.Bits, m.p.GroupSize, err)
		}
		out, err := b.Dequantize(q, m.p, mlx.F32)
		if err != nil {
			return fmt.Errorf("%s %d-bit gs%d: dequantize: %w", m.p.Mode, m.p.Bits, m.p.GroupSize, err)
		}
		worst, sq := 0.0, 0.0
		for g := 0; g < len(ref); g += m.p.GroupSize {
			amax := 0.0
			for _, v := range ref[g : g+m.p.GroupSize] {
				amax = math.Max(amax, math.Abs(float64(v)))
			}
			for i := g; i < g+m.p.GroupSize; i++ {
				got := math.Float32frombits(binary.LittleEndian.Uint32(out[4*i:]))
				d := math.Abs(float64(got) - float64(ref[i]))
				sq += d * d
				worst = math.Max(worst, d/amax)
			}
		}
		bpw := float64(len(q.Weight)+len(q.Scales)+len(q.Biases)) * 8 / float64(len(ref))
		status := "ok"
		if worst > m.rel {
			status = "FAIL"
			bad++
		}
		fmt.Fprintf(env.stdout, "%-4s %-6s %d-bit gs%-3d  %.3f bits/weight  rmse %.5f  max rel err %.4f (bound %.4f)\n",
			status, m.p.Mode, m.p.Bits, m.p.GroupSize, bpw, math.Sqrt(sq/float64(len(ref))), worst, m.rel)
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d modes exceeded their error bound", bad, len(modes))
	}
	fmt.Fprintf(env.stdout, "selfcheck: %d passed, 0 failed\n", len(modes))
	return nil
}

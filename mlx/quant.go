package mlx

import (
	"errors"
	"fmt"

	"github.com/mlxconv/mlxconv/internal/fparith"
)

// QuantMode is an MLX quantization mode. Every property lives in one trait
// table (quantModeTraits).
type QuantMode uint8

// The MLX quantization modes.
const (
	Affine QuantMode = iota // scale and bias per group, bits 2,3,4,5,6,8
	MXFP4                   // FP4 e2m1 elements, e8m0 scale per 32
	NVFP4                   // FP4 e2m1 elements, e4m3 scale per 16, optional global scale
	MXFP8                   // FP8 e4m3 elements, e8m0 scale per 32
	numQuantModes
)

type quantModeTrait struct {
	name         string
	defaultBits  int
	defaultGroup int
	bits         []int // allowed bits
	groups       []int // allowed group sizes
	scaleDType   DType // Invalid means "same dtype as the weight"
	hasBias      bool
}

var quantModeTraits = [numQuantModes]quantModeTrait{
	Affine: {"affine", 4, 64, []int{1, 2, 3, 4, 5, 6, 8}, []int{32, 64, 128}, Invalid, true},
	MXFP4:  {"mxfp4", 4, 32, []int{4}, []int{32}, U8, false},
	NVFP4:  {"nvfp4", 4, 16, []int{4}, []int{16}, U8, false},
	MXFP8:  {"mxfp8", 8, 32, []int{8}, []int{32}, U8, false},
}

// String returns the mode name as mlx-lm writes it in config.json ("affine").
func (m QuantMode) String() string {
	if m >= numQuantModes {
		return fmt.Sprintf("QuantMode(%d)", uint8(m))
	}
	return quantModeTraits[m].name
}

// DefaultBits is the bits mlx_lm.convert uses for the mode when --q-bits is
// not given.
func (m QuantMode) DefaultBits() int { return quantModeTraits[m].defaultBits }

// DefaultGroupSize is the group size mlx_lm.convert uses for the mode when
// --q-group-size is not given.
func (m QuantMode) DefaultGroupSize() int { return quantModeTraits[m].defaultGroup }

// HasBias reports whether the mode stores a bias per group (affine only).
func (m QuantMode) HasBias() bool { return quantModeTraits[m].hasBias }

// ScaleDType returns the dtype of the scales for a weight of dtype w.
func (m QuantMode) ScaleDType(w DType) DType {
	if d := quantModeTraits[m].scaleDType; d != Invalid {
		return d
	}
	return w
}

// ParseQuantMode maps "affine", "mxfp4", "nvfp4", "mxfp8" to a QuantMode.
func ParseQuantMode(s string) (QuantMode, error) {
	for m := Affine; m < numQuantModes; m++ {
		if quantModeTraits[m].name == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown mode %q (want affine, mxfp4, nvfp4 or mxfp8)", ErrQuant, s)
}

// Rounding selects which MLX implementation's arithmetic the kernels
// reproduce bit for bit. The two differ in tie rounding, the start value of
// the affine max, FP4 rounding of ties and signs, and e8m0 of a zero scale
// (see ../shared/reference/mlxc.md §4.5).
type Rounding uint8

const (
	// RoundingCPU reproduces MLX's CPU backend (the default; verified against
	// MLX in CI). A NaN that an invalid operation creates (0·Inf, Inf−Inf,
	// ...) follows the CPU the program runs on, as MLX's does: negative on
	// x86, positive on ARM (see the package doc).
	RoundingCPU Rounding = iota
	// RoundingMetal reproduces MLX's Metal kernels, i.e. what mlx_lm.convert
	// writes on a Mac with a GPU. Its created NaNs follow the ARM rule on
	// every platform (unverified: the GPU's own rule is not documented).
	RoundingMetal
)

// String returns "cpu" or "metal".
func (r Rounding) String() string {
	switch r {
	case RoundingCPU:
		return "cpu"
	case RoundingMetal:
		return "metal"
	}
	return fmt.Sprintf("Rounding(%d)", uint8(r))
}

// ErrQuant is wrapped by every invalid-quantization-parameter error.
var ErrQuant = errors.New("mlx: invalid quantization")

// QuantParams describes one quantization: mode, bits, group size and the
// rounding rules. GlobalScale applies to NVFP4 only (nil: none). Chunk
// places the quantized rows in a larger tensor (zero: they are the whole
// tensor).
type QuantParams struct {
	Mode        QuantMode
	Bits        int
	GroupSize   int
	Rounding    Rounding
	GlobalScale *float32
	Chunk       Chunk
}

// Chunk says that a Quantize call's rows are a chunk of a larger tensor:
// their first group is group Group of the Groups groups (scales) of the
// whole tensor. The zero Chunk means the rows are the whole tensor.
//
// Only the MX scale bytes of RoundingCPU on arm64 depend on it: MLX's CPU
// there converts a tensor's last Groups mod 8 (float32) or mod 16
// (bfloat16) scale bytes by another rule than the others (see Reference per
// operation and platform), so a tensor quantized in row chunks gives the
// whole tensor's bytes only if each chunk says where it lies. Backends
// over libmlxc ignore it (MLX quantizes each chunk as a tensor of its own).
type Chunk struct {
	Group, Groups int
}

// Validate checks the parameters against what MLX accepts for the mode.
func (p QuantParams) Validate() error {
	if p.Mode >= numQuantModes {
		return fmt.Errorf("%w: mode %d", ErrQuant, p.Mode)
	}
	t := quantModeTraits[p.Mode]
	if !containsInt(t.bits, p.Bits) {
		return fmt.Errorf("%w: %s does not support %d bits (supported: %v)", ErrQuant, p.Mode, p.Bits, t.bits)
	}
	if !containsInt(t.groups, p.GroupSize) {
		return fmt.Errorf("%w: %s does not support group size %d (supported: %v)", ErrQuant, p.Mode, p.GroupSize, t.groups)
	}
	if p.GlobalScale != nil && p.Mode != NVFP4 {
		return fmt.Errorf("%w: global scale is only for nvfp4", ErrQuant)
	}
	if p.Rounding > RoundingMetal {
		return fmt.Errorf("%w: rounding %d", ErrQuant, p.Rounding)
	}
	return nil
}

func containsInt(xs []int, v int) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}

// metalNaN is the NaN rule of RoundingMetal: Apple's GPUs do not document
// theirs; the ARM rule of the CPUs beside them is assumed.
var metalNaN = fparith.ARM

// nanRule returns the NaN rule of quantization with rounding r: the host's
// for MLX's CPU (whose NaNs come from the CPU it runs on), metalNaN for
// Metal.
func nanRule(r Rounding) fparith.Rule {
	if r == RoundingMetal {
		return metalNaN
	}
	return fparith.Host()
}

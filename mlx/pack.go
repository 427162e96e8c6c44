package mlx

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"unsafe"

	"github.com/mlxconv/mlxconv/internal/fparith"
)

// This file holds the quantization API (shapes, validation, dispatch) and
// MLX's packing layout: element i of a tensor occupies bits
// [i*bits, (i+1)*bits) of a little-endian, LSB-first bitstream stored in
// uint32 words. Every group (gs*bits bits) starts on a word boundary.

// maxGroup is the largest group size of any mode (the kernels keep one
// group on the stack).
const maxGroup = 128

// qlayout is a validated quantization geometry.
type qlayout struct {
	p          QuantParams
	groups     int // number of groups (elements / group size)
	groupBytes int // packed bytes per group: gs*bits/8
}

// newLayout validates p and the weight shape ([..., K], ndim >= 2,
// K % group size == 0) and computes the output shapes.
func newLayout(shape []int, p QuantParams) (qlayout, error) {
	if err := p.Validate(); err != nil {
		return qlayout{}, err
	}
	if len(shape) < 2 {
		return qlayout{}, fmt.Errorf("%w: weight shape %v: need at least 2 dimensions", ErrQuant, shape)
	}
	n, err := numElements(shape)
	if err != nil {
		return qlayout{}, err
	}
	k := shape[len(shape)-1]
	if k%p.GroupSize != 0 {
		return qlayout{}, fmt.Errorf("%w: weight shape %v: last dimension %d is not a multiple of the group size %d",
			ErrQuant, shape, k, p.GroupSize)
	}
	return qlayout{p: p, groups: n / p.GroupSize, groupBytes: p.GroupSize * p.Bits / 8}, nil
}

// shapes returns the packed weight and scale shapes of a validated weight
// shape.
func (l qlayout) shapes(shape []int) (wq, scales []int) {
	k := shape[len(shape)-1]
	wq = append([]int(nil), shape...)
	scales = append([]int(nil), shape...)
	wq[len(shape)-1] = k * l.p.Bits / 32
	scales[len(shape)-1] = k / l.p.GroupSize
	return wq, scales
}

// numElements multiplies the dimensions, rejecting negative dimensions and
// products that overflow an int.
func numElements(shape []int) (int, error) {
	n := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("%w: shape %v: negative dimension", ErrQuant, shape)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt>>3 {
			return 0, fmt.Errorf("%w: shape %v: too many elements", ErrQuant, shape)
		}
		n = lo
	}
	return int(n), nil
}

// quantizable reports whether dt can be quantized (MLX's CPU accepts
// float32, float16 and bfloat16).
func quantizable(dt DType) bool { return dt == F32 || dt == F16 || dt == BF16 }

// QuantizedShapes returns the shapes of the packed weight (uint32 words,
// [..., K*bits/32]) and of the scales (and biases) ([..., K/groupSize]) for a
// weight of the given shape. Errors wrap ErrQuant.
func QuantizedShapes(shape []int, p QuantParams) (wq, scales []int, err error) {
	l, err := newLayout(shape, p)
	if err != nil {
		return nil, nil, err
	}
	wq, scales = l.shapes(shape)
	return wq, scales, nil
}

// QuantizeInto quantizes w (dtype dt: F32, F16 or BF16; little-endian,
// row-major, the given shape) into caller-sized buffers, as mx.quantize does
// with the rounding rules p.Rounding selects:
//   - wq: the packed weight, 4*prod(wq shape) bytes (see QuantizedShapes);
//   - scales: one per group, in dt for Affine and uint8 for the fp modes;
//   - biases: one per group in dt for Affine; nil (or empty) otherwise.
//
// The work is split over Workers() goroutines. The buffers must not overlap.
// Errors wrap ErrQuant; nothing is written when an error is returned.
func QuantizeInto(w []byte, dt DType, shape []int, p QuantParams, wq, scales, biases []byte) error {
	return quantizeInto(Workers(), w, dt, shape, p, wq, scales, biases)
}

func quantizeInto(workers int, w []byte, dt DType, shape []int, p QuantParams, wq, scales, biases []byte) error {
	l, err := newLayout(shape, p)
	if err != nil {
		return err
	}
	if !quantizable(dt) {
		return fmt.Errorf("%w: cannot quantize dtype %s (want float32, float16 or bfloat16)", ErrQuant, dt)
	}
	n := l.groups * p.GroupSize
	sd := p.Mode.ScaleDType(dt)
	switch {
	case len(w) != n*dt.Size():
		return fmt.Errorf("%w: weight %v %s: have %d bytes, want %d", ErrQuant, shape, dt, len(w), n*dt.Size())
	case len(wq) != l.groups*l.groupBytes:
		return fmt.Errorf("%w: packed weight buffer: have %d bytes, want %d", ErrQuant, len(wq), l.groups*l.groupBytes)
	case len(scales) != l.groups*sd.Size():
		return fmt.Errorf("%w: scales buffer: have %d bytes, want %d", ErrQuant, len(scales), l.groups*sd.Size())
	case p.Mode.HasBias() && len(biases) != l.groups*sd.Size():
		return fmt.Errorf("%w: biases buffer: have %d bytes, want %d", ErrQuant, len(biases), l.groups*sd.Size())
	case !p.Mode.HasBias() && len(biases) != 0:
		return fmt.Errorf("%w: %s has no biases, got a %d-byte buffer", ErrQuant, p.Mode, len(biases))
	case p.Chunk != (Chunk{}) && (p.Chunk.Group < 0 || p.Chunk.Group > p.Chunk.Groups-l.groups):
		return fmt.Errorf("%w: chunk of %d groups at group %d of %d", ErrQuant, l.groups, p.Chunk.Group, p.Chunk.Groups)
	}
	if p.Mode == Affine {
		k := affineQuantKernel{dt: dt, p: p, groupBytes: l.groupBytes, w: w, wq: wq, scales: scales, biases: biases}
		k.prepare()
		if g := grainFor(p.GroupSize); workers <= 1 || l.groups <= g {
			k.run(0, l.groups)
		} else {
			parallelFor(workers, l.groups, g, k.run)
		}
		return nil
	}
	k := fpQuantKernel{dt: dt, p: p, groupBytes: l.groupBytes, w: w, wq: wq, scales: scales}
	k.first, k.total = 0, l.groups
	if p.Chunk != (Chunk{}) {
		k.first, k.total = p.Chunk.Group, p.Chunk.Groups
	}
	k.prepare()
	if g := grainFor(p.GroupSize); workers <= 1 || l.groups <= g {
		k.run(0, l.groups)
	} else {
		parallelFor(workers, l.groups, g, k.run)
	}
	return nil
}

// Quantize quantizes w as QuantizeInto does, allocating the outputs.
func Quantize(w []byte, dt DType, shape []int, p QuantParams) (Quantized, error) {
	return quantize(Workers(), w, dt, shape, p)
}

func quantize(workers int, w []byte, dt DType, shape []int, p QuantParams) (Quantized, error) {
	l, err := newLayout(shape, p)
	if err != nil {
		return Quantized{}, err
	}
	if !quantizable(dt) {
		return Quantized{}, fmt.Errorf("%w: cannot quantize dtype %s (want float32, float16 or bfloat16)", ErrQuant, dt)
	}
	sd := p.Mode.ScaleDType(dt)
	wqShape, sShape := l.shapes(shape)
	q := Quantized{
		Weight:      make([]byte, l.groups*l.groupBytes),
		WeightShape: wqShape,
		Scales:      make([]byte, l.groups*sd.Size()),
		ScaleShape:  sShape,
		ScaleDType:  sd,
	}
	if p.Mode.HasBias() {
		q.Biases = make([]byte, l.groups*sd.Size())
	}
	if err := quantizeInto(workers, w, dt, shape, p, q.Weight, q.Scales, q.Biases); err != nil {
		return Quantized{}, err
	}
	return q, nil
}

// DequantizedDType returns the dtype mx.dequantize produces for a weight
// quantized with p whose scales have dtype scaleDType, when dtype out is
// requested (Invalid: MLX's default). The default is the scales' dtype for
// Affine and bfloat16 for the fp modes. NVFP4 with a global scale always
// yields float32: MLX's CPU fallback promotes to float32 and ignores out.
func DequantizedDType(p QuantParams, scaleDType, out DType) DType {
	if p.Mode == NVFP4 && p.GlobalScale != nil {
		return F32
	}
	if out != Invalid {
		return out
	}
	if p.Mode == Affine {
		return scaleDType
	}
	return BF16
}

// deqLayout validates a Quantized against p and returns the geometry and the
// number of output elements.
func deqLayout(q Quantized, p QuantParams) (qlayout, int, error) {
	if err := p.Validate(); err != nil {
		return qlayout{}, 0, err
	}
	ws, ss := q.WeightShape, q.ScaleShape
	if err := checkScaleShape(ws, ss); err != nil {
		return qlayout{}, 0, err
	}
	words, err := numElements(ws)
	if err != nil {
		return qlayout{}, 0, err
	}
	if _, err := numElements(ss); err != nil {
		return qlayout{}, 0, err
	}
	// numElements caps words below 2^60, so words*4 cannot overflow; once
	// the buffer is known to hold that many bytes, words*32 cannot either.
	if len(q.Weight) != words*4 {
		return qlayout{}, 0, fmt.Errorf("%w: packed weight: have %d bytes, want %d", ErrQuant, len(q.Weight), words*4)
	}
	kw, ks := ws[len(ws)-1], ss[len(ss)-1]
	if kw*32%p.Bits != 0 || kw*32/p.Bits%p.GroupSize != 0 || kw*32/p.Bits/p.GroupSize != ks {
		return qlayout{}, 0, fmt.Errorf("%w: weight shape %v and scale shape %v do not match bits %d, group size %d",
			ErrQuant, ws, ss, p.Bits, p.GroupSize)
	}
	n := words * 32 / p.Bits
	l := qlayout{p: p, groups: n / p.GroupSize, groupBytes: p.GroupSize * p.Bits / 8}
	if err := checkScales(q, p.Mode, l.groups); err != nil {
		return qlayout{}, 0, err
	}
	return l, n, nil
}

// checkScaleShape checks that weight shape ws and scale shape ss have the
// same rank, at least 2, and agree in all but the last dimension.
func checkScaleShape(ws, ss []int) error {
	if len(ws) < 2 || len(ss) != len(ws) {
		return fmt.Errorf("%w: weight shape %v, scale shape %v: need the same rank, at least 2", ErrQuant, ws, ss)
	}
	for i := range len(ws) - 1 {
		if ws[i] != ss[i] {
			return fmt.Errorf("%w: weight shape %v and scale shape %v differ", ErrQuant, ws, ss)
		}
	}
	return nil
}

// checkScales checks q's scales and biases for groups groups of mode:
// affine has float scales and biases, the other modes uint8 scales only.
func checkScales(q Quantized, mode QuantMode, groups int) error {
	if mode == Affine {
		if !quantizable(q.ScaleDType) {
			return fmt.Errorf("%w: affine scales of dtype %s (want float32, float16 or bfloat16)", ErrQuant, q.ScaleDType)
		}
		sz := groups * q.ScaleDType.Size()
		if len(q.Scales) != sz || len(q.Biases) != sz {
			return fmt.Errorf("%w: scales/biases: have %d/%d bytes, want %d", ErrQuant, len(q.Scales), len(q.Biases), sz)
		}
		return nil
	}
	if q.ScaleDType != U8 {
		return fmt.Errorf("%w: %s scales of dtype %s (want uint8)", ErrQuant, mode, q.ScaleDType)
	}
	if len(q.Scales) != groups {
		return fmt.Errorf("%w: scales: have %d bytes, want %d", ErrQuant, len(q.Scales), groups)
	}
	if len(q.Biases) != 0 {
		return fmt.Errorf("%w: %s has no biases, got %d bytes", ErrQuant, mode, len(q.Biases))
	}
	return nil
}

// Dequantize reverses a quantization as mx.dequantize does on MLX's CPU
// (whatever p.Rounding says: the GPU's dequantize kernels round the same way
// except for a possible fused multiply-add in Metal's affine kernel). out is
// the requested dtype (F32, F16 or BF16; Invalid: MLX's default); the result
// has dtype DequantizedDType(p, q.ScaleDType, out) and shape q.WeightShape
// with the last dimension K = WeightShape[-1]*32/bits. Errors wrap ErrQuant.
func Dequantize(q Quantized, p QuantParams, out DType) ([]byte, error) {
	return dequantize(Workers(), q, p, out)
}

func dequantize(workers int, q Quantized, p QuantParams, out DType) ([]byte, error) {
	_, n, err := deqLayout(q, p)
	if err != nil {
		return nil, err
	}
	od := DequantizedDType(p, q.ScaleDType, out)
	if !quantizable(od) {
		return nil, fmt.Errorf("%w: cannot dequantize to dtype %s (want float32, float16 or bfloat16)", ErrQuant, od)
	}
	dst := make([]byte, n*od.Size())
	if err := dequantizeInto(workers, dst, q, p, out); err != nil {
		return nil, err
	}
	return dst, nil
}

// DequantizeInto is Dequantize into a caller-sized buffer of
// K*prod(leading dims) elements of dtype DequantizedDType(p, q.ScaleDType,
// out).
func DequantizeInto(dst []byte, q Quantized, p QuantParams, out DType) error {
	return dequantizeInto(Workers(), dst, q, p, out)
}

func dequantizeInto(workers int, dst []byte, q Quantized, p QuantParams, out DType) error {
	l, n, err := deqLayout(q, p)
	if err != nil {
		return err
	}
	od := DequantizedDType(p, q.ScaleDType, out)
	if !quantizable(od) {
		return fmt.Errorf("%w: cannot dequantize to dtype %s (want float32, float16 or bfloat16)", ErrQuant, od)
	}
	if len(dst) != n*od.Size() {
		return fmt.Errorf("%w: output buffer: have %d bytes, want %d", ErrQuant, len(dst), n*od.Size())
	}
	g := grainFor(p.GroupSize)
	if p.Mode == Affine {
		k := affineDequantKernel{p: p, sd: q.ScaleDType, od: od, groupBytes: l.groupBytes, wq: q.Weight, scales: q.Scales, biases: q.Biases, dst: dst,
			nan: fparith.Host()}
		if workers <= 1 || l.groups <= g {
			k.run(0, l.groups)
		} else {
			parallelFor(workers, l.groups, g, k.run)
		}
		return nil
	}
	ot := out
	if ot == Invalid {
		ot = BF16
	}
	if !quantizable(ot) {
		return fmt.Errorf("%w: cannot dequantize to dtype %s (want float32, float16 or bfloat16)", ErrQuant, ot)
	}
	k := fpDequantKernel{p: p, ot: ot, od: od, groupBytes: l.groupBytes, wq: q.Weight, scales: q.Scales, dst: dst}
	k.prepare()
	if workers <= 1 || l.groups <= g {
		k.run(0, l.groups)
	} else {
		parallelFor(workers, l.groups, g, k.run)
	}
	return nil
}

// packGroup packs len(q) values of the given bits (each < 2^bits) into dst,
// LSB first; len(dst) == len(q)*bits/8 and len(q) is a multiple of 8.
func packGroup(dst []byte, q []uint8, bits int) {
	switch bits {
	case 8:
		copy(dst, q)
	case 4:
		for j := 0; j+8 <= len(q); j += 8 {
			v := uint32(q[j]) | uint32(q[j+1])<<4 | uint32(q[j+2])<<8 | uint32(q[j+3])<<12 |
				uint32(q[j+4])<<16 | uint32(q[j+5])<<20 | uint32(q[j+6])<<24 | uint32(q[j+7])<<28
			binary.LittleEndian.PutUint32(dst[j/2:], v)
		}
	case 2:
		for j := 0; j+16 <= len(q); j += 16 {
			var v uint32
			for k := range 16 {
				v |= uint32(q[j+k]) << (2 * k)
			}
			binary.LittleEndian.PutUint32(dst[j/4:], v)
		}
	default: // 3, 5, 6: 8 values make 3, 5 or 6 bytes
		o := 0
		for j := 0; j+8 <= len(q); j += 8 {
			var v uint64
			for k := range 8 {
				v |= uint64(q[j+k]) << (bits * k)
			}
			for b := range bits {
				dst[o+b] = byte(v >> (8 * b))
			}
			o += bits
		}
	}
}

// unpackGroup is the inverse of packGroup: it fills q from src.
func unpackGroup(q []uint8, src []byte, bits int) {
	switch bits {
	case 8:
		copy(q, src)
	case 4:
		for j := 0; j+8 <= len(q); j += 8 {
			v := binary.LittleEndian.Uint32(src[j/2:])
			for k := range 8 {
				q[j+k] = uint8(v>>(4*k)) & 0xf
			}
		}
	case 2:
		for j := 0; j+16 <= len(q); j += 16 {
			v := binary.LittleEndian.Uint32(src[j/4:])
			for k := range 16 {
				q[j+k] = uint8(v>>(2*k)) & 3
			}
		}
	default:
		o := 0
		mask := uint64(1)<<bits - 1
		for j := 0; j+8 <= len(q); j += 8 {
			var v uint64
			for b := range bits {
				v |= uint64(src[o+b]) << (8 * b)
			}
			for k := range 8 {
				q[j+k] = uint8(v >> (bits * k) & mask)
			}
			o += bits
		}
	}
}

// loadGroup widens len(x) elements of dtype dt from src (which holds exactly
// len(x) elements) into x. Widening is exact.
func loadGroup(x []float32, src []byte, dt DType, f16 *[1 << 16]float32) {
	switch dt {
	case BF16:
		if v := viewU16(src); v != nil {
			v = v[:len(x)]
			for j, h := range v {
				x[j] = math.Float32frombits(uint32(h) << 16)
			}
			return
		}
		src = src[:2*len(x)]
		for j := range x {
			x[j] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*j:])) << 16)
		}
	case F16:
		if v := viewU16(src); v != nil {
			v = v[:len(x)]
			for j, h := range v {
				x[j] = f16[h]
			}
			return
		}
		src = src[:2*len(x)]
		for j := range x {
			x[j] = f16[binary.LittleEndian.Uint16(src[2*j:])]
		}
	default:
		if v := viewU32(src); v != nil {
			v = v[:len(x)]
			for j, b := range v {
				x[j] = math.Float32frombits(b)
			}
			return
		}
		src = src[:4*len(x)]
		for j := range x {
			x[j] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*j:]))
		}
	}
}

// hostLittleEndian reports whether the machine stores integers
// little-endian, so that aligned byte buffers can be read as integer slices.
var hostLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// viewU16 returns b as a []uint16 of little-endian elements when the host is
// little-endian and b is 2-byte aligned, and nil otherwise (callers then
// decode with encoding/binary).
func viewU16(b []byte) []uint16 {
	p := unsafe.SliceData(b)
	if !hostLittleEndian || len(b) < 2 || uintptr(unsafe.Pointer(p))%2 != 0 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(p)), len(b)/2)
}

// viewU32 is viewU16 for 4-byte elements.
func viewU32(b []byte) []uint32 {
	p := unsafe.SliceData(b)
	if !hostLittleEndian || len(b) < 4 || uintptr(unsafe.Pointer(p))%4 != 0 {
		return nil
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(p)), len(b)/4)
}

// storeFloat writes v rounded to dtype dt at element index i of dst.
func storeFloat(dst []byte, dt DType, i int, v float32) {
	switch dt {
	case BF16:
		binary.LittleEndian.PutUint16(dst[2*i:], F32ToBF16(v))
	case F16:
		binary.LittleEndian.PutUint16(dst[2*i:], F32ToF16(v))
	default:
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

// loadFloat reads element i of dtype dt from src, widened to float32.
func loadFloat(src []byte, dt DType, i int) float32 {
	switch dt {
	case BF16:
		return BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	case F16:
		return F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	default:
		return math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

// roundTo rounds v to dtype dt (F32, F16 or BF16) and widens it back: the
// value an MLX op on dt-typed arrays produces from a float32 result.
func roundTo(dt DType, v float32) float32 {
	switch dt {
	case BF16:
		return BF16ToF32(F32ToBF16(v))
	case F16:
		return F16ToF32(F32ToF16(v))
	}
	return v
}

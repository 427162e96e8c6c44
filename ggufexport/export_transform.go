package ggufexport

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mlxconv/mlxconv/mlx"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/npfloat"
	"github.com/mlxconv/mlxconv/internal/simd"
)

// The tensor transforms of the GGUF exporter. A tensorOp turns rows of a
// checkpoint tensor into rows of a GGUF tensor; the pipeline executor
// streams the rows.

// opMode is how a tensor's data is produced.
type opMode uint8

const (
	// opFloat: a float source (f32, f16, bf16) widened to float32 exactly,
	// transformed (norm shift), and encoded as the output type by
	// AppendQuantize (gguf-py's quantizers).
	opFloat opMode = iota
	// opRepack: an MLX-quantized source whose codes and per-group
	// parameters are copied into GGUF blocks (Q4_0, Q4_1, Q5_1, MXFP4).
	opRepack
	// opDequant: an MLX-quantized source dequantized as MLX does
	// (mlx.Dequantize), then encoded as the output type.
	opDequant
)

// tensorOp is the planned conversion of one exported tensor (a value).
type tensorOp struct {
	mode opMode
	out  gguf.Type
	ne0  int  // elements per row
	oneD bool // a 1-D tensor: the permutation moves elements of the one row

	inDType   mlx.DType // opFloat: source dtype
	normShift bool      // opFloat: add 1 (Gemma norms)
	negExp    bool      // opFloat: -exp(x) (Mamba-2's A_log)

	q          mlx.QuantParams // opRepack, opDequant
	scaleDType mlx.DType
	deqOut     mlx.DType // opDequant: dtype mlx.Dequantize produces

	// permGroup > 0 permutes rows (elements for oneD) within groups of
	// permGroup as LlamaModel.permute does: output i*2+j of a group is
	// input j*permGroup/2+i.
	permGroup int64

	// A family's tensor rule's gathers (model.TensorRule Rows, Cols): rows
	// along axis 0 (elements of a 1-D tensor), columns (quantized: whole
	// groups) permuted; either makes the tensor one whole unit.
	gather    []int
	cols      []int
	colsAfter bool // cols permutes the dequantized values (it splits groups)

	// kq, if set, quantizes the op's output further (K-quant output
	// types: llama-quantize's step after the bf16 conversion).
	kq *kquantOp

	desc string
}

// repackStats are what writing a repacked tensor measured (the plan holds
// none: it is a value).
type repackStats struct {
	blocks  atomic.Int64 // blocks written
	inexact atomic.Int64 // blocks whose parameters did not survive
}

// rowGroup is the number of rows every work unit holds a multiple of.
func (op *tensorOp) rowGroup() int64 {
	if op.permGroup > 0 && !op.oneD {
		return op.permGroup
	}
	return 1
}

// kquantDirect reports whether the K-quant step can read the source rows
// themselves: a bf16 source whose bf16 intermediate transform would copy
// every finite value unchanged (a NaN, which the table would canonicalize,
// is refused by the K-quant step either way).
func (op *tensorOp) kquantDirect() bool {
	return op.kq != nil && op.mode == opFloat && op.inDType == mlx.BF16 && op.out == gguf.BF16 &&
		!op.normShift && !op.negExp && op.permGroup == 0 && !op.whole()
}

// String describes the op.
func (op *tensorOp) String() string { return op.desc }

// transform converts rows rows of the inputs (each in its Input dtype)
// into the GGUF tensor's bytes for those rows; repacks count their blocks
// in st. Output buffers come from a pool; the executor hands them back
// through release once written.
func (op *tensorOp) transform(ins [][]byte, rows int64, st *repackStats) ([][]byte, error) {
	if op.whole() {
		var err error
		if ins, rows, err = op.regather(ins, rows); err != nil {
			return nil, err
		}
	}
	n := int(rows) * op.ne0
	var out []byte
	var err error
	switch op.mode {
	case opFloat:
		if out, err = op.convertFloats(ins[0], n); err != nil {
			return nil, err
		}
	case opRepack:
		if out, err = op.repack(ins, int(rows), st); err != nil {
			return nil, err
		}
	case opDequant:
		if out, err = op.dequant(ins, int(rows)); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("gguf: unknown tensor op %d", op.mode)
	}
	if op.permGroup > 0 && !op.oneD {
		p := permuteRows(out, int(rows), op.permGroup)
		putBuf(out)
		out = p
	}
	return [][]byte{out}, nil
}

// release returns an output buffer to the pool.
func release(b []byte) { putBuf(b) }

// Buffer pools: work units have similar sizes, so a buffer taken from the
// pool usually fits the next one.
var (
	bytePool sync.Pool // *[]byte
	f32Pool  sync.Pool // *[]float32
)

func getBuf(n int) []byte {
	if p, ok := bytePool.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]byte, n)
}

func putBuf(b []byte) {
	if cap(b) >= 1<<16 {
		bytePool.Put(&b)
	}
}

func getF32(n int) []float32 {
	if p, ok := f32Pool.Get().(*[]float32); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]float32, n)
}

func putF32(x []float32) {
	if cap(x) >= 1<<14 {
		f32Pool.Put(&x)
	}
}

// Conversion tables between the 16-bit float types, with the exact
// semantics of the float32 round trip (F16ToF32 then F32ToBF16, ...), so the
// direct paths give the bytes the general path gives.
var (
	convTabOnce                 sync.Once
	bf16ToF16Tab, f16ToBF16Tab  *[1 << 16]uint16
	f16RoundTrip, bf16RoundTrip *[1 << 16]uint16
	f16ToF32Tab                 *[1 << 16]float32
)

func convTables() {
	convTabOnce.Do(func() {
		bf16ToF16Tab, f16ToBF16Tab = new([1 << 16]uint16), new([1 << 16]uint16)
		f16RoundTrip, bf16RoundTrip = new([1 << 16]uint16), new([1 << 16]uint16)
		f16ToF32Tab = new([1 << 16]float32)
		for i := range 1 << 16 {
			h := uint16(i)
			bf16ToF16Tab[i] = npfloat.F32ToF16(npfloat.BF16ToF32(h))
			bf16RoundTrip[i] = npfloat.F32ToBF16(npfloat.BF16ToF32(h))
			f := npfloat.F16ToF32(h)
			f16ToF32Tab[i] = f
			f16ToBF16Tab[i] = npfloat.F32ToBF16(f)
			f16RoundTrip[i] = npfloat.F32ToF16(f)
		}
	})
}

// convertFloats encodes n elements of a float source as the output type.
// Float outputs of untransformed data convert element by element (16-bit
// pairs through tables); everything else goes through float32 and
// AppendQuantize.
func (op *tensorOp) convertFloats(src []byte, n int) ([]byte, error) {
	if len(src) != n*op.inDType.Size() {
		return nil, fmt.Errorf("gguf: %d bytes of %s for %d elements", len(src), op.inDType, n)
	}
	if !op.normShift && !op.negExp && !(op.permGroup > 0 && op.oneD) {
		if out, ok := convertDirect(src, op.inDType, op.out, n); ok {
			return out, nil
		}
	}
	x := getF32(n)
	defer putF32(x)
	if err := decodeInto(x, src, op.inDType); err != nil {
		return nil, err
	}
	if op.normShift {
		shiftNorm(x, op.inDType)
	}
	if op.negExp {
		negExp(x, op.inDType)
	}
	if op.permGroup > 0 && op.oneD {
		x = permuteElems(x, op.permGroup)
	}
	return encodeFloats(x, op.out)
}

// encodeFloats encodes x as type t into a pooled buffer: Q8_0 through the
// fast quantizer where it applies, everything else through AppendQuantize.
func encodeFloats(x []float32, t gguf.Type) ([]byte, error) {
	size := len(x) / int(t.BlockSize()) * int(t.TypeSize())
	if t == gguf.Q8_0 && len(x)%32 == 0 {
		out := getBuf(size)
		if quantizeQ8_0Fast(out, x) {
			return out, nil
		}
		putBuf(out)
	}
	out, err := gguf.AppendQuantize(getBuf(size)[:0], t, x)
	if err != nil {
		putBuf(out)
		return nil, err
	}
	return out, nil
}

// convertDirect converts between float encodings without a float32
// buffer; ok is false for the pairs it does not handle.
func convertDirect(src []byte, from mlx.DType, to gguf.Type, n int) ([]byte, bool) {
	switch {
	case to == gguf.F32:
		return widenDirect(src, from, n)
	case from == mlx.F32 && (to == gguf.F16 || to == gguf.BF16):
		return narrowDirect(src, to, n), true
	}
	return convert16Direct(src, from, to, n)
}

// widenDirect converts float32, bfloat16 or float16 to float32.
func widenDirect(src []byte, from mlx.DType, n int) ([]byte, bool) {
	switch from {
	case mlx.F32:
		out := getBuf(4 * n)
		copy(out, src)
		return out, true
	case mlx.BF16:
		out := getBuf(4 * n)
		for i := range n {
			binary.LittleEndian.PutUint32(out[4*i:], uint32(binary.LittleEndian.Uint16(src[2*i:]))<<16)
		}
		return out, true
	case mlx.F16:
		convTables()
		out := getBuf(4 * n)
		for i := range n {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(f16ToF32Tab[binary.LittleEndian.Uint16(src[2*i:])]))
		}
		return out, true
	}
	return nil, false
}

// narrowDirect converts float32 to float16 or bfloat16 (to).
func narrowDirect(src []byte, to gguf.Type, n int) []byte {
	out := getBuf(2 * n)
	conv := npfloat.F32ToF16
	if to == gguf.BF16 {
		conv = npfloat.F32ToBF16
	}
	for i := range n {
		binary.LittleEndian.PutUint16(out[2*i:], conv(math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))))
	}
	return out
}

// convert16Direct converts between the 16-bit float encodings through a
// lookup table (bfloat16 -> float16 first through the vector kernel).
func convert16Direct(src []byte, from mlx.DType, to gguf.Type, n int) ([]byte, bool) {
	var tab *[1 << 16]uint16
	var out []byte // elements before start are already in out
	start := 0
	switch {
	case from == mlx.BF16 && to == gguf.F16:
		// The vector kernel, unless the data holds a NaN (gguf-py keeps
		// NaN payloads, the table has its rule); the table does the rest.
		m := n &^ 15
		out = getBuf(2 * n)
		if ok, nan := simd.BF16ToF16(out[:2*m], src[:2*m]); ok && !nan {
			start = m
		}
		convTables()
		tab = bf16ToF16Tab
	case from == mlx.BF16 && to == gguf.BF16:
		convTables()
		tab = bf16RoundTrip
	case from == mlx.F16 && to == gguf.BF16:
		convTables()
		tab = f16ToBF16Tab
	case from == mlx.F16 && to == gguf.F16:
		convTables()
		tab = f16RoundTrip
	default:
		return nil, false
	}
	if out == nil {
		out = getBuf(2 * n)
	}
	for i := start; i < n; i++ {
		binary.LittleEndian.PutUint16(out[2*i:], tab[binary.LittleEndian.Uint16(src[2*i:])])
	}
	return out, true
}

// decodeInto widens len(x) elements of dtype dt to float32 (exactly).
func decodeInto(x []float32, b []byte, dt mlx.DType) error {
	if len(b) != len(x)*dt.Size() {
		return fmt.Errorf("gguf: %d bytes of %s for %d elements", len(b), dt, len(x))
	}
	switch dt {
	case mlx.F32:
		for i := range x {
			x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case mlx.F16:
		// (No vector kernel: gguf-py keeps float16 NaN payloads unquieted.)
		convTables()
		for i := range x {
			x[i] = f16ToF32Tab[binary.LittleEndian.Uint16(b[2*i:])]
		}
	case mlx.BF16:
		m := len(x) &^ 15
		if simd.WidenBF16(x[:m], b[:2*m]) {
			x, b = x[m:], b[2*m:]
		}
		for i := range x {
			x[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
	default:
		return fmt.Errorf("%w: cannot export %s data", ErrExport, dt)
	}
	return nil
}

// shiftNorm adds 1 as convert_hf_to_gguf.py does on the tensor it holds:
// float32 for bfloat16 and float32 sources (widened before the shift), a
// float16 result for float16 sources.
func shiftNorm(x []float32, dt mlx.DType) {
	if dt == mlx.F16 {
		for i, v := range x {
			x[i] = npfloat.F16ToF32(npfloat.F32ToF16(v + 1))
		}
		return
	}
	for i, v := range x {
		x[i] = v + 1
	}
}

func permIndex(o, g int64) int64 {
	i, j := o/2, o%2
	return j*(g/2) + i
}

// permuteElems applies the Q/K permutation to the elements of a 1-D tensor.
func permuteElems(x []float32, g int64) []float32 {
	out := make([]float32, len(x))
	for base := int64(0); base < int64(len(x)); base += g {
		for o := int64(0); o < g; o++ {
			out[base+o] = x[base+permIndex(o, g)]
		}
	}
	return out
}

// permuteRows applies the Q/K permutation to whole rows of b.
func permuteRows(b []byte, rows int, g int64) []byte {
	if rows == 0 {
		return b
	}
	rb := len(b) / rows
	out := getBuf(len(b))
	for base := int64(0); base < int64(rows); base += g {
		for o := int64(0); o < g; o++ {
			src := (base + permIndex(o, g)) * int64(rb)
			copy(out[(base+o)*int64(rb):(base+o+1)*int64(rb)], b[src:src+int64(rb)])
		}
	}
	return out
}

// unpackCodes reads len(q) codes of bits bits from MLX's LSB-first
// bitstream (little-endian words; every row starts on a word boundary).
func unpackCodes(q []uint8, src []byte, bits int) {
	if bits == 4 {
		for i := range len(q) / 2 {
			c := src[i]
			q[2*i], q[2*i+1] = c&15, c>>4
		}
		return
	}
	mask := uint64(1)<<bits - 1
	var acc uint64
	nacc, p := 0, 0
	for i := range q {
		for nacc < bits {
			acc |= uint64(src[p]) << nacc
			p++
			nacc += 8
		}
		q[i] = uint8(acc & mask)
		acc >>= bits
		nacc -= bits
	}
}

func loadParam(b []byte, dt mlx.DType, i int) float32 {
	switch dt {
	case mlx.F32:
		return math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	case mlx.F16:
		return npfloat.F16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
	case mlx.BF16:
		return npfloat.BF16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return float32(math.NaN())
}

// f16Exact reports whether v survives the conversion to float16.
func f16Exact(v float32) (uint16, bool) {
	h := npfloat.F32ToF16(v)
	return h, npfloat.F16ToF32(h) == v
}

// repack copies MLX codes and group parameters into GGUF blocks.
func (op *tensorOp) repack(ins [][]byte, rows int, st *repackStats) ([]byte, error) {
	bits, gs := op.q.Bits, op.q.GroupSize
	rowW := op.ne0 * bits / 8
	groups := op.ne0 / gs
	bsz := int(op.out.TypeSize())
	nb := op.ne0 / 32
	if len(ins[0]) != rows*rowW {
		return nil, fmt.Errorf("gguf: packed weight: %d bytes for %d rows of %d", len(ins[0]), rows, rowW)
	}
	sdt := op.scaleDType
	out := getBuf(rows * nb * bsz)
	q := make([]uint8, op.ne0)
	var inexact int64
	for r := 0; r < rows; r++ {
		unpackCodes(q, ins[0][r*rowW:(r+1)*rowW], bits)
		for b := 0; b < nb; b++ {
			g := r*groups + b*32/gs
			blk := out[(r*nb+b)*bsz : (r*nb+b+1)*bsz]
			qb := q[b*32 : b*32+32]
			if op.q.Mode == mlx.MXFP4 {
				blk[0] = ins[1][g]
				packNibbles(blk[1:17], qb)
				continue
			}
			s := loadParam(ins[1], sdt, g)
			d, dOK := f16Exact(s)
			// An inexact scale matters only where a code is non-zero
			// (Q4_1/Q5_1); Q4_0's offset -8·d always uses it.
			bad := !dOK && (op.out == gguf.Q4_0 || !allZero(qb))
			binary.LittleEndian.PutUint16(blk[0:], d)
			switch op.out {
			case gguf.Q4_0:
				if loadParam(ins[2], sdt, g) != -8*s {
					bad = true
				}
				packNibbles(blk[2:18], qb)
			case gguf.Q4_1:
				m, mOK := f16Exact(loadParam(ins[2], sdt, g))
				bad = bad || !mOK
				binary.LittleEndian.PutUint16(blk[2:], m)
				packNibbles(blk[4:20], qb)
			case gguf.Q5_1:
				m, mOK := f16Exact(loadParam(ins[2], sdt, g))
				bad = bad || !mOK
				binary.LittleEndian.PutUint16(blk[2:], m)
				packQ5Codes(blk[4:24], qb)
			default:
				return nil, fmt.Errorf("gguf: no repack to %s", op.out)
			}
			if bad {
				inexact++
			}
		}
	}
	st.blocks.Add(int64(rows * nb))
	st.inexact.Add(inexact)
	return out, nil
}

// packNibbles packs a block's 32 4-bit codes into dst[:16]: code j in
// the low nibble of byte j, code j+16 in its high nibble.
func packNibbles(dst []byte, qb []uint8) {
	for j := range 16 {
		dst[j] = qb[j] | qb[j+16]<<4
	}
}

// packQ5Codes packs a block's 32 5-bit codes into dst[:20] as Q5_1 holds
// them: the fifth bits as a little-endian uint32, then the low nibbles
// paired as in packNibbles.
func packQ5Codes(dst []byte, qb []uint8) {
	var qh uint32
	for j := range 32 {
		qh |= uint32(qb[j]>>4&1) << j
	}
	binary.LittleEndian.PutUint32(dst[0:], qh)
	for j := range 16 {
		dst[4+j] = qb[j]&15 | (qb[j+16]&15)<<4
	}
}

func allZero(q []uint8) bool {
	for _, v := range q {
		if v != 0 {
			return false
		}
	}
	return true
}

// dequant dequantizes rows as MLX does, then encodes them.
func (op *tensorOp) dequant(ins [][]byte, rows int) ([]byte, error) {
	packed := op.ne0 * op.q.Bits / 32
	qz := mlx.Quantized{
		Weight:      ins[0],
		WeightShape: []int{rows, packed},
		Scales:      ins[1],
		ScaleShape:  []int{rows, op.ne0 / op.q.GroupSize},
		ScaleDType:  op.scaleDType,
	}
	if op.q.Mode.HasBias() {
		qz.Biases = ins[2]
	}
	buf := getBuf(rows * op.ne0 * op.deqOut.Size())
	if err := mlx.DequantizeInto(buf, qz, op.q, op.deqOut); err != nil {
		putBuf(buf)
		return nil, err
	}
	if op.colsAfter {
		p, err := permuteCols(buf, rows, op.cols)
		putBuf(buf)
		if err != nil {
			return nil, err
		}
		buf = p
	}
	if sameFloat(op.out, op.deqOut) {
		return buf, nil
	}
	defer putBuf(buf)
	x := getF32(rows * op.ne0)
	defer putF32(x)
	if err := decodeInto(x, buf, op.deqOut); err != nil {
		return nil, err
	}
	return encodeFloats(x, op.out)
}

// sameFloat reports whether GGUF type t stores dtype d's bits unchanged.
func sameFloat(t gguf.Type, d mlx.DType) bool {
	return t == gguf.F32 && d == mlx.F32 || t == gguf.F16 && d == mlx.F16 || t == gguf.BF16 && d == mlx.BF16
}

// describeQuant names an MLX quantization ("affine 4-bit g64, bf16 scales").
func describeQuant(p mlx.QuantParams, sdt mlx.DType) string {
	s := fmt.Sprintf("%s %d-bit g%d", p.Mode, p.Bits, p.GroupSize)
	if p.Mode == mlx.Affine {
		s += ", " + strings.ToLower(sdt.String()) + " scales"
	}
	return s
}

// quantizeQ8_0Fast encodes x (whole 32-element blocks) as Q8_0 into dst
// (len(x)/32*34 bytes) with the same bytes as AppendQuantize, using integer
// comparisons and float64 rounding. It returns false, leaving dst
// unspecified, when a block is non-finite or has a scale below the float32
// normal range (AppendQuantize's error and x86 corner cases apply there).
func quantizeQ8_0Fast(dst []byte, x []float32) bool {
	if simd.Q8_0(dst, x) {
		return true
	}
	for b := 0; b+32 <= len(x); b += 32 {
		blk := x[b : b+32 : b+32]
		var amaxBits uint32
		for _, v := range blk {
			a := math.Float32bits(v) & 0x7fffffff
			if a >= 0x7f800000 {
				return false // NaN or Inf
			}
			amaxBits = max(amaxBits, a)
		}
		amax := math.Float32frombits(amaxBits)
		d := amax / 127
		out := dst[b/32*34 : b/32*34+34]
		if amax == 0 {
			binary.LittleEndian.PutUint16(out, npfloat.F32ToF16(d))
			clear(out[2:])
			continue
		}
		if math.Float32bits(d)&0x7f800000 == 0 {
			return false // subnormal scale: 1/d may overflow
		}
		id := 1 / d
		binary.LittleEndian.PutUint16(out, npfloat.F32ToF16(d))
		q := out[2:34:34]
		for j, v := range blk {
			// Round half away from zero: |r| <= 127.x, so r ± 0.5 is exact
			// in float64 and truncation finishes the rounding.
			r := float64(v * id)
			q[j] = byte(int32(r + math.Copysign(0.5, r)))
		}
	}
	return true
}

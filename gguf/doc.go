// Package gguf reads and writes GGUF files, the model format of llama.cpp and
// ggml, and converts float data to the ggml tensor types gguf-py can produce.
//
// # Contract
//
// Reading. NewReader parses the header of a GGUF file given as an io.ReaderAt
// and its size (Open does the same for a path). It never reads tensor data
// eagerly: Section returns a bounded reader per tensor. Every count, length
// and offset in the file is treated as hostile: nothing is allocated from a
// field before the field is checked against the bytes left in the file and
// against llama.cpp's limits, and all arithmetic is overflow-checked. The
// reader accepts what llama.cpp's gguf.cpp (ggml d99724f2) accepts and
// rejects what it rejects:
//   - magic "GGUF"; version 2 or 3 (little-endian only; a byte-swapped
//     big-endian file is reported as such; v1 is rejected);
//   - non-empty, unique keys; strings of at most 2^30 bytes; arrays
//     of at most MaxArrayLen (2^30) elements; no nested arrays; value types 0-12;
//     a BOOL byte other than 0 reads as true;
//   - general.alignment, if present, of type UINT32 and a non-zero power of
//     two (gguf.cpp's rule; the specification's "multiple of 8" is not
//     required when reading);
//   - tensor names of at most 63 bytes, unique; at most 4
//     dimensions, each below 2^63 (zero is allowed, as in llama.cpp); an
//     element count and byte size that fit int64; a valid, non-removed type;
//     ne[0] a multiple of the type's block size;
//   - tensor offsets dense and in info order (each equals the sum of the
//     aligned sizes of the tensors before it), and every tensor's data inside
//     the file. The data section starts at the aligned end of the tensor
//     infos when there are tensors. Padding after the last tensor is not
//     required (llama.cpp's mmap loader does not need it either).
//
// All reader errors wrap ErrFormat and name the KV (index and key) or tensor
// (index and name) at fault.
//
// Writing. Writing is planned first and streamed second. NewPlan validates
// the metadata and tensor infos against the same rules (stricter where the
// writer can be: non-empty tensor names, alignment at least 8) and lays out
// the file: KVs and tensors in the caller's order, dense offsets aligned with
// the same helper the reader uses, the padding after the tensor infos and
// after every tensor including the last. A file without tensors ends right
// after its metadata, as convert_hf_to_gguf.py --vocab-only writes it. The
// caller chooses each value's exact type through the Go type given to
// NewValue (uint32, int32, float32, []string, ...), because llama.cpp's
// loader checks types exactly. Then either Writer streams the data sequentially to an
// io.Writer, or WriteParallel writes tensors concurrently through an
// io.WriterAt at their planned offsets. Output bytes depend only on the plan
// and the tensor data. PlanSplit splits a tensor list into shards named and
// keyed as llama.cpp's split loader expects. Writer input errors wrap
// ErrInvalid.
//
// Quantization. AppendQuantize converts float32 values to F32, F16, BF16,
// Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 bit-identically to gguf-py 0.19.0's numpy
// reference quantizers (gguf.quants), and AppendDequantize inverts them as
// gguf-py does. Block quantizers refuse NaN and ±Inf with ErrNonFinite. The
// float conversions (internal/npfloat) round to nearest even and equal
// package mlx's for every non-NaN value; NaNs follow numpy, not MLX.
// See AppendQuantize and quants.go for the remaining corner cases.
//
// # Reference per operation and platform
//
// The reference of every GGUF type is gguf-py 0.19.0's numpy code
// (gguf.quants), checked byte for byte on linux/amd64 (TestQuantOracle
// against the live peer, TestQuantGolden against its committed outputs).
// llama.cpp's C quantizers (quantize_row_*_ref) implement the same
// algorithms, but a C compiler may contract their x*y+z into an FMA (GCC
// does by default on arm64), so llama.cpp's own bytes can differ by
// platform; mlxconv follows gguf-py. Per operation:
//
//   - Rounding: numpy evaluates every operation separately, on every CPU,
//     so every product that feeds a sum is written float32(x*y)+z (Go would
//     fuse it on arm64). ./build.sh test checks the arm64 machine code for
//     fused instructions and runs the suite under qemu-aarch64;
//     TestQuantNoFMA crafts Q4_0/Q5_0 blocks whose quants fusion would
//     change. (Dequantizing multiplies an fp16 d by a quant of at most 8
//     bits: the product is exact, so fusion could not change it.)
//   - Float conversions (internal/npfloat): integer code, the same
//     bits everywhere.
//   - NaNs created by an invalid operation: AppendDequantize of a block
//     whose d or m is Inf or NaN (0·Inf, Inf−Inf) gives the CPU's default
//     NaN as numpy does, negative on x86 and positive on ARM
//     (internal/fparith's Host rule); the golden tests pin the x86 rule and
//     hold on every platform. The quantizers refuse non-finite input.
//   - Float to integer conversions out of range (blocks whose scale is a
//     float32 subnormal, see x86Byte): x86's rule on every platform. numpy
//     on arm64 saturates there instead (C leaves it undefined); unverified.
//
// K-quants, when they land, follow the same rules: gguf-py's numpy code as
// the reference, every product that feeds a sum converted explicitly.
//
// Layering. The package is the GGUF format only: it imports no other
// mlxconv package except internal helpers (no convert, no model or pipeline
// package, no purego). Mapping a model to GGUF (planning rules, tensor
// transforms, tokenizer export) is package ggufexport's.
//
// # Non-goals
//
// Big-endian files, GGUF v1, K-quant and IQ quantizers, tensor data
// validation (the bytes of a tensor are opaque here), and model semantics
// (see package ggufexport).
package gguf

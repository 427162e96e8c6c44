// Package safetensors reads and writes safetensors files: an 8-byte
// little-endian header length N, N bytes of JSON header, then the data
// section holding every tensor's body (little-endian, row-major).
//
// # Reading
//
// NewReader (any io.ReaderAt plus its size) and Open (a path) read and
// validate the header and nothing else. Tensor bodies are read lazily:
// Section hands out an independent io.SectionReader, ReadTensor fills a
// caller buffer (one pread per tensor for a File), Bytes returns a zero-copy
// slice of the memory mapping Open makes on Linux and macOS (read-only,
// valid until Close) and a copy otherwise. A file is never read whole.
//
// Every length and offset in a file is treated as hostile. A file is
// accepted only if all of the following hold; otherwise the error is a
// *FormatError wrapping ErrFormat, naming the file and, when the fault
// belongs to one tensor, the tensor:
//   - the header length is at most MaxHeaderSize and fits in the file;
//   - the header is valid UTF-8 and exactly one JSON object (JSON whitespace
//     may surround it, as writers pad with spaces), whose keys are unique;
//   - "__metadata__", if present, is null or an object of string values
//     with unique keys;
//   - every other key is a tensor whose value has exactly the fields dtype
//     (a dtype mlx.ParseSafetensorsDType knows), shape (non-negative
//     integers) and data_offsets (two non-negative integers), each once; no
//     fraction, exponent or unknown field is allowed;
//   - the product of the non-zero dimensions times the element size fits in
//     an int64 and equals end-begin;
//   - begin <= end <= the data section's length, and the tensors, sorted by
//     offset, tile the data section exactly: no gap, no overlap, no
//     trailing byte (the rule of Hugging Face's safetensors library).
//
// This is Hugging Face's validation, made stricter in three ways: duplicate
// keys and unknown entry fields are errors (serde silently keeps the last
// duplicate and ignores unknown fields), and a shape whose non-zero
// dimensions overflow is rejected even when another dimension is zero.
// Dtypes the Rust library knows but mlx.DType does not (F4, F6_*, F8_E8M0,
// the FNUZ types) are rejected as unknown.
//
// Tensors lists the tensors by data offset. A Reader is immutable after
// construction and safe for concurrent use.
//
// # Writing
//
// Writing is planned, then streamed. The plan is the ordered list of
// TensorInfo: the order is the order of the bodies in the data section,
// laid out back to back from offset 0 without alignment (Layout). NewWriter
// validates the plan, writes the header, and then accepts the bodies in plan
// order through Create or WriteTensor, checking each body's length; Close
// checks that all were written and flushes, without closing the destination.
//
// Two header styles reproduce the two reference writers byte for byte:
// MLX (mx.save_safetensors: sorted keys, no padding, "__metadata__":null
// when empty) and HF (Hugging Face's safetensors: metadata first, tensors in
// data order, space padding to a multiple of 8). Neither writer's data order
// is a choice this package makes: MLX lays bodies out in std::unordered_map
// order, which cannot be reproduced portably, and HF sorts by dtype
// alignment then name (CompareHF). Given the same order, the same tensors
// and the same metadata, the output is identical to the reference writer's
// file. Output bytes are a pure function of the plan, the metadata and the
// bodies.
//
// # Non-goals
//
// No tensor arithmetic, dtype conversion or big-endian support; no sharded
// index files (model.safetensors.index.json) - those belong to the
// converter; no in-place editing.
package safetensors

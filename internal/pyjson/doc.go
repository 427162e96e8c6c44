// Package pyjson reads JSON into an order-preserving tree and writes it back
// exactly as Python's json module does, so that files mlxconv writes
// (config.json, model.safetensors.index.json) are byte-identical to those
// written by mlx-lm.
//
// Reading keeps object keys in document order. A repeated key keeps its first
// position and its last value, as Python's dict does. Numbers keep their
// source text until written: integers are written as Python writes ints
// (arbitrary precision), other numbers as Python's float repr ("1e-06",
// "10000.0"). NaN and ±Infinity, which Python's json accepts, are accepted and
// written back as NaN, Infinity and -Infinity.
//
// Writing follows json.dump(obj, f, indent=4) with the defaults mlx-lm uses:
// ensure_ascii=True (\uXXXX escapes, surrogate pairs beyond the BMP),
// separators "," and ": ", one element per line, "[]" and "{}" for empty
// containers, and no trailing newline.
//
// Non-goals: this is not a general JSON library; it does not map onto Go
// structs. Decode into Go types with encoding/json where order does not
// matter.
//
// It is internal, shared by packages convert and gguf (issue #12: shared
// helpers live under internal/, not inside one of the layers).
package pyjson

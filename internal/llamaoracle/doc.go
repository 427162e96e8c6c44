// Package llamaoracle gives tests of the GGUF exporter (mlxconv gguf) access
// to the llama.cpp oracle in scripts/oracle/llama: llama.cpp's own
// convert_hf_to_gguf.py as the reference converter, a GGUF dump (every KV with
// its GGUF type, tensor infos with the sha256 of their bytes) and llama.cpp
// inference through llama.cpp built from the same pinned sdist (setup.sh's
// CPU build and its mlxconv-logits tool: raw logits of the last prompt
// position, greedy tokens).
//
// Two environment variables, both exported by ./build.sh test, locate it:
// MLXCONV_LLAMA_CACHE, the directory scripts/oracle/llama/setup.sh prints
// (venv, converter, llama.cpp build), and MLXCONV_LLAMA_WORK, a directory that
// `check.py prepare` filled with the tiny HF models of every architecture and
// their reference GGUFs, dumps and logits (index.json). As with
// internal/oracle, a test that needs them is skipped when they are unset and
// fails under CI.
//
// The comparisons themselves live in scripts/oracle/llama (compare.py,
// check.py) so that the Go tests, `check.py candidate` and a person at a shell
// apply exactly the same rules: the KV allow-list allow.txt, the logits
// relative error max|cand-ref|/max|ref| <= 1e-5, equal greedy tokens.
package llamaoracle

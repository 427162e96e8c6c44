// Package oracle holds the conformance tests that compare mlxconv with the
// real peers (MLX on CPU, mlx-lm, gguf-py, ggml's quantizers). The Python
// side lives beside this file; ./build.sh test installs the pinned peers,
// generates fresh cases and runs these tests with MLXCONV_ORACLE_DIR and
// MLXCONV_ORACLE_PYTHON set.
package oracle

// Package oracle gives tests access to the pinned real peers (MLX, mlx-lm,
// gguf-py, ...) that scripts/oracle/setup.sh installs and ./build.sh test
// exports through environment variables.
//
// Outside CI a test that needs a peer is skipped with a message when the
// variable is unset; under CI (CI=true) it fails instead, so that no oracle
// check can silently disappear from a CI run.
package oracle

import (
	"os"
	"os/exec"
	"testing"
)

// Python returns the oracle venv's python (MLXCONV_ORACLE_PYTHON).
func Python(t testing.TB) string {
	t.Helper()
	return Env(t, "MLXCONV_ORACLE_PYTHON")
}

// Env returns the value of the oracle variable name, skipping the test (or
// failing it under CI) when it is unset.
func Env(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not set: run the tests through ./build.sh test", name)
	}
	t.Skipf("%s is not set: run ./build.sh test for the oracle checks", name)
	return ""
}

// Run runs the oracle python with args and returns its stdout, failing the
// test with stderr on error.
func Run(t testing.TB, args ...string) []byte {
	t.Helper()
	py := Python(t)
	cmd := exec.Command(py, args...)
	var stderr []byte
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", py, args, err, stderr)
	}
	return out
}

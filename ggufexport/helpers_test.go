package ggufexport_test

// Test helpers; the GGUF dump and readers are package gguftest's, shared
// with package gguf's tests.

import (
	"path/filepath"
	"testing"

	"github.com/mlxconv/mlxconv/gguf/gguftest"
)

// From package gguftest (shared with package gguf's tests).
var (
	dumpJSON   = gguftest.DumpJSON
	decodeJSON = gguftest.DecodeJSON
	moduleRoot = gguftest.ModuleRoot
	mustOpen   = gguftest.Open
	readAll    = gguftest.ReadAll
)

func checkScript(t testing.TB) string {
	return filepath.Join(moduleRoot(t), "scripts", "oracle", "gguf_check.py")
}

//go:build !(linux && (amd64 || arm64 || loong64 || riscv64 || ppc64le || s390x))

package source

import "os"

// adviseWillNeed is a no-op where fadvise is not available.
func adviseWillNeed(*os.File, int64, int64) {}

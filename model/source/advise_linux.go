//go:build linux && (amd64 || arm64 || loong64 || riscv64 || ppc64le || s390x)

package source

import (
	"os"
	"syscall"
)

// adviseWillNeed asks the kernel to start reading [off, off+n) of f into
// the page cache (POSIX_FADV_WILLNEED), so that input I/O overlaps with
// computation. Errors are ignored: it is only a hint.
func adviseWillNeed(f *os.File, off, n int64) {
	const posixFadvWillNeed = 3
	if f == nil || n <= 0 {
		return
	}
	_, _, _ = syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), uintptr(off), uintptr(n), posixFadvWillNeed, 0, 0)
}

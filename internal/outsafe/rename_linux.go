//go:build linux && (amd64 || arm64)

package outsafe

import (
	"os"
	"syscall"
	"unsafe"
)

const (
	atFDCWD         = -0x64  // AT_FDCWD
	renameNoReplace = 1 << 0 // RENAME_NOREPLACE
	renameExchange  = 1 << 1 // RENAME_EXCHANGE
)

// renameat2 is renameat2(AT_FDCWD, from, AT_FDCWD, to, flags); a kernel or
// file system without it gives errUnsupported.
func renameat2(from, to string, flags uintptr) error {
	p0, err := syscall.BytePtrFromString(from)
	if err != nil {
		return err
	}
	p1, err := syscall.BytePtrFromString(to)
	if err != nil {
		return err
	}
	fd := atFDCWD
	for {
		_, _, e := syscall.Syscall6(sysRenameat2, uintptr(fd), uintptr(unsafe.Pointer(p0)), uintptr(fd),
			uintptr(unsafe.Pointer(p1)), flags, 0)
		switch {
		case e == 0:
			return nil
		case e == syscall.EINTR:
			continue
		case e == syscall.ENOSYS || e == syscall.EINVAL:
			return errUnsupported
		}
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: e}
	}
}

// renameNoReplaceOS renames from to to, failing with an error matching
// fs.ErrExist when to exists.
func renameNoReplaceOS(from, to string) error { return renameat2(from, to, renameNoReplace) }

// renameExchangeOS swaps from and to atomically.
func renameExchangeOS(from, to string) error { return renameat2(from, to, renameExchange) }

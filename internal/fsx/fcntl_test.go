//go:build unix

package fsx

import (
	"os"
	"syscall"
)

// fcntlGetfl returns the file status flags of f's descriptor.
func fcntlGetfl(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var fl int
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		if e != 0 {
			ferr = e
		}
		fl = int(r)
	}); err != nil {
		return 0, err
	}
	return fl, ferr
}

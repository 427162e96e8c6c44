//go:build unix

package fsx

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// openFlag makes the open of a FIFO return at once instead of waiting for
// a writer; openRegular then sees its type and refuses it.
const openFlag = syscall.O_NONBLOCK

// setBlocking clears O_NONBLOCK again, so a regular file reads like one
// from os.Open.
func setBlocking(f *os.File) error {
	if err := syscall.SetNonblock(int(f.Fd()), false); err != nil {
		return &fs.PathError{Op: "fcntl", Path: f.Name(), Err: err}
	}
	return nil
}

// noDevice reports an open that failed because the path is a socket (or a
// device without a driver): ENXIO.
func noDevice(err error) bool { return errors.Is(err, syscall.ENXIO) }

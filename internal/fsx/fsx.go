package fsx

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrNotRegular is matched (errors.Is) by the error for a path that is not
// a regular file: a directory, named pipe, socket or device.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is matched by ReadFile's error for a file over the limit.
var ErrTooLarge = errors.New("file too large")

// NotRegularError reports a path that is not a regular file.
type NotRegularError struct {
	Path string      // the path as given to the function
	Mode fs.FileMode // its type bits (after following symlinks)
}

// Error returns, for example, `"config.json": not a regular file (named pipe)`.
func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%q: not a regular file (%s)", e.Path, Kind(e.Mode))
}

// Unwrap returns ErrNotRegular.
func (e *NotRegularError) Unwrap() error { return ErrNotRegular }

// Kind names the type of a file mode for messages: "regular file",
// "directory", "named pipe", "socket", "character device", "block device",
// "symbolic link" or "irregular file".
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m&fs.ModeDir != 0:
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	default:
		return "irregular file"
	}
}

// StatRegular is os.Stat (following symlinks) that fails with a
// *NotRegularError unless path is a regular file.
func StatRegular(path string) (fs.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &NotRegularError{Path: path, Mode: st.Mode().Type()}
	}
	return st, nil
}

// OpenRegular opens path for reading if it is a regular file (symlinks are
// followed) and fails with a *NotRegularError otherwise, without blocking:
// see the package comment. The returned file is in blocking mode, like one
// from os.Open; the caller closes it.
func OpenRegular(path string) (*os.File, error) {
	// Stat first so that a device is never opened (opening some has side
	// effects); the descriptor is checked again below against a swap.
	if _, err := StatRegular(path); err != nil {
		return nil, err
	}
	return openRegular(path)
}

// openRegular opens path (with O_NONBLOCK on unix: an open that cannot wait
// for a FIFO's writer), checks the descriptor's type and restores blocking
// mode.
func openRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openFlag, 0)
	if err != nil {
		if noDevice(err) {
			// A socket (or a device without a driver): name its type.
			if st, serr := os.Stat(path); serr == nil && !st.Mode().IsRegular() {
				return nil, &NotRegularError{Path: path, Mode: st.Mode().Type()}
			}
		}
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = &NotRegularError{Path: path, Mode: st.Mode().Type()}
	}
	if err == nil {
		err = setBlocking(f)
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// ReadFile reads the whole regular file at path, refusing (ErrTooLarge,
// before reading) one of more than limit bytes; limit < 0 means no limit.
// A file that grows past limit while being read is refused too.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if limit >= 0 && size > limit {
		return nil, fmt.Errorf("%q: %d bytes, over the %d-byte limit: %w", path, size, limit, ErrTooLarge)
	}
	var r io.Reader = f
	if limit >= 0 {
		r = io.LimitReader(f, limit+1)
	}
	b := make([]byte, 0, size+1)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
	if limit >= 0 && int64(len(b)) > limit {
		return nil, fmt.Errorf("%q: more than %d bytes: %w", path, limit, ErrTooLarge)
	}
	return b, nil
}

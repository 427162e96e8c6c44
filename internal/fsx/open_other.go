//go:build !unix

package fsx

import "os"

// openRegular opens path and checks the descriptor's type. Without
// O_NONBLOCK the open itself may wait on a special file that replaced the
// regular one after OpenRegular's stat; the platforms this tool ships for
// are all unix.
func openRegular(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		_ = f.Close()
		return nil, &NotRegularError{Path: path, Mode: st.Mode().Type()}
	}
	return f, nil
}

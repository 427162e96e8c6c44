package safetensors

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors. Every error returned by this package that stems from one
// of these conditions wraps the matching sentinel, so callers can branch with
// errors.Is.
var (
	// ErrFormat reports a malformed or non-conforming safetensors file.
	// Errors wrapping it are *FormatError values naming the file and, when
	// the fault belongs to one tensor, the tensor.
	ErrFormat = errors.New("safetensors: invalid format")
	// ErrNotFound reports a tensor name that is not in the file.
	ErrNotFound = errors.New("safetensors: no such tensor")
	// ErrPlan reports a Writer plan that cannot be written: a bad dtype,
	// shape, name or metadata string, a duplicate name, an oversized header.
	ErrPlan = errors.New("safetensors: invalid plan")
	// ErrWrite reports a Writer used against its plan: a tensor out of
	// order, a body of the wrong length, Close before every body was written.
	ErrWrite = errors.New("safetensors: write does not follow the plan")
	// ErrClosed reports use of a File after Close.
	ErrClosed = errors.New("safetensors: file closed")
)

// FormatError describes why a file was rejected. It wraps ErrFormat.
type FormatError struct {
	File   string // the file's name (path, or the name given with WithName)
	Tensor string // the tensor concerned, "__metadata__", or "" for the whole header
	Msg    string // what is wrong
}

func (e *FormatError) Error() string {
	if e.Tensor == "" {
		return "safetensors: " + e.File + ": " + e.Msg
	}
	return "safetensors: " + e.File + ": tensor " + quoteName(e.Tensor) + ": " + e.Msg
}

// Unwrap returns ErrFormat.
func (e *FormatError) Unwrap() error { return ErrFormat }

// maxNameInError bounds how much of a (possibly hostile, up to 100 MB) name
// an error message repeats.
const maxNameInError = 200

// quoteName quotes s for an error message, truncating very long names.
func quoteName(s string) string {
	if len(s) > maxNameInError {
		return strconv.Quote(s[:maxNameInError]) + "..."
	}
	return strconv.Quote(s)
}

func planErr(tensor, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if tensor == "" {
		return fmt.Errorf("%s: %w", msg, ErrPlan)
	}
	return fmt.Errorf("tensor %s: %s: %w", quoteName(tensor), msg, ErrPlan)
}

func writeErr(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrWrite)
}

// Package fsx opens input files safely: only regular files (or symlinks to
// them) are opened, so a named pipe, socket or device given where a model
// file is expected is refused with an error naming it instead of blocking
// forever in open(2) or read(2).
//
// OpenRegular stats the path first (so a device is never opened), then
// opens it with O_RDONLY|O_NONBLOCK|O_CLOEXEC — an open that cannot block
// even when the file was swapped for a FIFO after the stat — checks the
// descriptor with fstat, and clears O_NONBLOCK before handing it out as an
// ordinary blocking *os.File. ReadFile and StatRegular build on the same
// check.
//
// Errors for a file of the wrong type are *NotRegularError and match
// ErrNotRegular with errors.Is; ReadFile's size limit is ErrTooLarge.
// Other failures are the usual *fs.PathError, so errors.Is(err,
// fs.ErrNotExist) works as with os.Open. Every message names the path as
// given, quoted with %q.
//
// Non-goals: this package does not defend against a regular file that is
// truncated or rewritten while it is read (readers check sizes and
// offsets), and it does not confine paths to a directory.
package fsx

// Package outsafe guards the outputs of mlxconv's commands: one mechanism
// shared by the MLX directory sink (convert) and the GGUF file sink (gguf).
//
// Reserve prepares one final output path before anything is written:
//
//   - Inputs. The output is resolved (symlinks followed, on its deepest
//     existing ancestor when it does not exist yet) and compared with every
//     input by device and inode, so symlinks, hard links and bind mounts are
//     seen through. An output that is an input, is inside an input
//     directory, or contains an input is refused (Options.Inputs); an
//     output may sit inside a directory listed in Options.Hosts (the GGUF
//     default output lands in the model directory) but not be or contain it.
//   - Lock. An advisory lock (flock) on ".<base>.mlxconv.lock" next to the
//     final path is held for the whole run; the file holds the owner's pid.
//     A second run into the same path fails at once, naming that pid.
//   - Existing output. What is at the final path at start is recorded. It is
//     refused unless Options.Force; with Force it must pass
//     Options.Replaceable (it looks like a previous output of the same
//     command).
//   - Temporary. The output is written to a sibling named
//     ".<base>.mlxconv-tmp-<pid>-<random>" (a directory or a file).
//   - Crash leftovers. Temporaries ("-tmp-") and set-aside previous outputs
//     ("-old-") in the same parent whose owner pid is gone and whose lock is
//     free are removed (a set-aside previous output whose final path is
//     missing is renamed back instead); Options.Notice gets one line saying
//     so. Stale lock files are removed silently.
//   - Parents. Missing parent directories are created, and removed again
//     when the run is aborted. A parent that is a file is one clear error.
//
// Commit renames the temporary into place. It refuses a final path that
// exists now but did not at start (or is another inode) unless Force, and
// with Force it replaces only what Options.Replaceable accepts, atomically
// (rename-exchange on Linux; elsewhere a file rename, or for a directory
// set-aside, rename, remove). Abort removes the temporary, the created
// parents and the lock file. Both are safe to call more than once, and
// Abort after Commit does nothing.
//
// Errors are *Error values: one line, names quoted with %q, matching one of
// the sentinels (ErrOverlap, ErrExists, ErrBusy, ErrNotOutput, ErrPath) with
// errors.Is.
//
// Non-goals: Windows (the package builds there but neither locks nor
// recognises dead owners, so it never removes a leftover); network file
// systems whose flock is not shared between hosts; pid namespaces (a
// leftover is removed only when its owner pid is gone here and its lock is
// free, so a run in another namespace that still holds the lock is safe).
package outsafe

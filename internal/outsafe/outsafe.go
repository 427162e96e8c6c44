package outsafe

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// errUnsupported: the platform or file system lacks a rename flavour.
var errUnsupported = errors.New("outsafe: unsupported")

// The atomic rename flavours (variables so that tests can take the
// fallbacks other platforms use).
var (
	renameNoReplaceFn = renameNoReplaceOS
	renameExchangeFn  = renameExchangeOS
)

// Options configure Reserve.
type Options struct {
	// Dir makes the output a directory (the temporary is a directory);
	// otherwise it is a regular file.
	Dir bool
	// Inputs are the files and directories the run reads. The output must
	// not be one of them, contain one, or be inside one.
	Inputs []string
	// Hosts are input directories the output may be inside of (it must
	// still not be or contain them).
	Hosts []string
	// Force allows replacing an existing output that Replaceable accepts.
	Force bool
	// Replaceable reports why the existing path is not a previous output of
	// the same command (nil: it is, and Force may replace it). It gets the
	// final path; nil Replaceable refuses every existing path.
	Replaceable func(path string) error
	// Notice, if set, receives one-line messages (stale leftovers removed).
	// It is called from Reserve and Commit.
	Notice func(msg string)
}

// Target is one reserved output: a lock on the final path and a temporary
// sibling to write into. Its methods are not safe for concurrent use.
type Target struct {
	final   string // as given, cleaned
	display string // as given
	parent  string
	base    string
	tmp     string
	file    *os.File
	lock    *os.File
	start   fs.FileInfo // Lstat of final at start, nil if absent
	created []string    // parent directories created, outermost first
	opts    Options
	done    bool
}

// Reserve checks final against the inputs, creates missing parent
// directories, locks final, removes stale leftovers of dead runs in its
// parent, checks what exists at final, and creates the temporary. On error
// nothing it made is left behind. The caller must end the Target with
// Commit or Abort (Abort after Commit is a no-op, so a deferred Abort is
// fine).
func Reserve(final string, opts Options) (t *Target, err error) {
	clean, parent, base, err := splitFinal(final)
	if err != nil {
		return nil, err
	}
	if err := CheckInputs(final, opts.Inputs, opts.Hosts); err != nil {
		return nil, err
	}
	t = &Target{final: clean, display: final, parent: parent, base: base, opts: opts}
	defer func() {
		if err != nil {
			t.Abort()
			t = nil
		}
	}()
	if err := t.makeParents(); err != nil {
		return t, err
	}
	if err := t.takeLock(); err != nil {
		return t, err
	}
	if err := t.checkExisting(); err != nil {
		return t, err
	}
	cleanStale(parent, base, opts.Notice)
	return t, t.createTemp()
}

// splitFinal cleans final and splits it into its parent directory and base
// name, refusing paths that do not name a file or directory.
func splitFinal(final string) (clean, parent, base string, err error) {
	if final == "" {
		return "", "", "", refuse(ErrPath, "no output path")
	}
	clean = filepath.Clean(final)
	parent, base = filepath.Split(clean)
	if parent == "" {
		parent = "."
	}
	parent = filepath.Clean(parent)
	if base == "" || base == "." || base == ".." {
		return "", "", "", refuse(ErrPath, fmt.Sprintf("output %q does not name a file or directory", final))
	}
	return clean, parent, base, nil
}

// checkExisting records what exists at the final path, refusing it unless
// Force is set and it may be replaced.
func (t *Target) checkExisting() error {
	fi, err := os.Lstat(t.final)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("output %q: %w", t.display, err)
	}
	t.start = fi
	if !t.opts.Force {
		return refuse(ErrExists, fmt.Sprintf("output %q already exists; delete it or choose another path", t.display))
	}
	return t.replaceable()
}

// createTemp creates the temporary sibling: a directory for a directory
// output, else a file left open in t.file.
func (t *Target) createTemp() error {
	tmp := filepath.Join(t.parent, leftoverName(t.base, kindTmp, os.Getpid()))
	if t.opts.Dir {
		if err := os.Mkdir(tmp, 0o755); err != nil {
			return fmt.Errorf("output %q: %w", t.display, err)
		}
		t.tmp = tmp
		if err := os.Chmod(tmp, 0o755); err != nil {
			return fmt.Errorf("output %q: %w", t.display, err)
		}
		return nil
	}
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("output %q: %w", t.display, err)
	}
	t.tmp, t.file = tmp, f
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("output %q: %w", t.display, err)
	}
	return nil
}

// Final returns the final path (cleaned).
func (t *Target) Final() string { return t.final }

// Temp returns the temporary sibling the output is written to.
func (t *Target) Temp() string { return t.tmp }

// File returns the temporary file of a file output, open for reading and
// writing (nil for a directory output). The caller writes it and closes it
// before Commit; Abort closes it too.
func (t *Target) File() *os.File { return t.file }

// makeParents creates the missing parent directories, remembering them.
func (t *Target) makeParents() error {
	var missing []string
	for p := t.parent; ; {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return refuse(ErrPath, fmt.Sprintf("output %q: %q is a file, not a directory", t.display, p))
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("output %q: %w", t.display, err)
		}
		missing = append(missing, p)
		up := filepath.Dir(p)
		if up == p {
			break
		}
		p = up
	}
	for i := len(missing) - 1; i >= 0; i-- {
		err := os.Mkdir(missing[i], 0o755)
		switch {
		case err == nil:
			t.created = append(t.created, missing[i])
		case errors.Is(err, fs.ErrExist):
		default:
			return fmt.Errorf("output %q: %w", t.display, err)
		}
	}
	return nil
}

// lockPath is the lock file of t's final path.
func (t *Target) lockPath() string { return filepath.Join(t.parent, lockName(t.base)) }

// takeLock locks the lock file, retrying when it was replaced while we
// waited (another run removed it), and writes our pid into it.
func (t *Target) takeLock() error {
	p := t.lockPath()
	for range 10 {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("output %q: lock: %w", t.display, err)
		}
		busy, err := tryLock(f)
		if err != nil {
			_ = f.Close()
			return fmt.Errorf("output %q: lock: %w", t.display, err)
		}
		if busy {
			_ = f.Close()
			who := "another mlxconv"
			if b, err := os.ReadFile(p); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
					who += fmt.Sprintf(" (pid %d)", pid)
				}
			}
			return refuse(ErrBusy, fmt.Sprintf("output %q is in use by %s; wait for it to finish or choose another path", t.display, who))
		}
		if sameFile(f, p) {
			t.lock = f
			if err := f.Truncate(0); err == nil {
				_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
			}
			return nil
		}
		_ = f.Close()
	}
	return fmt.Errorf("output %q: lock file %q keeps changing", t.display, p)
}

// sameFile reports whether the open file f is still the file at path p.
func sameFile(f *os.File, p string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(p)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// unlock removes the lock file (if it is still ours) and releases it.
func unlock(f *os.File, p string) {
	if sameFile(f, p) {
		_ = os.Remove(p)
	}
	_ = f.Close()
}

// replaceable applies Options.Replaceable to the existing final path.
func (t *Target) replaceable() error {
	why := errors.New("no check for earlier outputs")
	if t.opts.Replaceable != nil {
		why = t.opts.Replaceable(t.final)
	}
	if why == nil {
		return nil
	}
	return refuse(ErrNotOutput, fmt.Sprintf("will not replace %q: it is not an earlier output of this command (%v); remove it yourself or choose another path", t.display, why))
}

// Commit moves the temporary into place (see the package doc for what it
// refuses) and releases the lock. On error it aborts: the temporary and the
// created parents are removed, whatever is at the final path is untouched.
func (t *Target) Commit() error {
	if t.done {
		return fmt.Errorf("output %q: already committed or aborted", t.display)
	}
	if t.file != nil {
		_ = t.file.Close()
		t.file = nil
	}
	if err := t.commit(); err != nil {
		t.Abort()
		return err
	}
	t.done = true
	t.tmp = ""
	t.release()
	return nil
}

func (t *Target) commit() error {
	_, err := os.Lstat(t.final)
	if errors.Is(err, fs.ErrNotExist) {
		err = t.place()
		if err == nil {
			return nil
		}
		if _, err2 := os.Lstat(t.final); err2 == nil {
			return t.existing()
		}
		return fmt.Errorf("output %q: %w", t.display, err)
	}
	if err != nil {
		return fmt.Errorf("output %q: %w", t.display, err)
	}
	return t.existing()
}

// existing handles a final path that exists at commit.
func (t *Target) existing() error {
	if !t.opts.Force {
		return refuse(ErrExists, fmt.Sprintf("output %q appeared while this run was writing and was left alone; nothing was written", t.display))
	}
	// Whether or not it is what was there at start, check it (again).
	if err := t.replaceable(); err != nil {
		return err
	}
	return t.replace()
}

// place renames the temporary to a final path that does not exist, never
// replacing one that appears meanwhile (where the platform can tell).
func (t *Target) place() error {
	err := renameNoReplaceFn(t.tmp, t.final)
	if !errors.Is(err, errUnsupported) {
		return err
	}
	if !t.opts.Dir {
		// link fails if the name exists; fall back to rename where links
		// are not supported.
		if err := os.Link(t.tmp, t.final); err == nil {
			_ = os.Remove(t.tmp)
			return nil
		} else if errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	// A directory rename fails over anything but an empty directory.
	return os.Rename(t.tmp, t.final)
}

// replace swaps the temporary with the existing (checked) final path and
// removes the previous output.
func (t *Target) replace() error {
	err := renameExchangeFn(t.tmp, t.final)
	if err == nil {
		// t.tmp now holds the previous output.
		if err := os.RemoveAll(t.tmp); err != nil {
			t.notice(fmt.Sprintf("could not remove the replaced output, now at %q: %v", t.tmp, err))
		}
		return nil
	}
	if !errors.Is(err, errUnsupported) {
		return fmt.Errorf("output %q: replace: %w", t.display, err)
	}
	if !t.opts.Dir {
		if err := os.Rename(t.tmp, t.final); err != nil {
			return fmt.Errorf("output %q: replace: %w", t.display, err)
		}
		return nil
	}
	old := filepath.Join(t.parent, leftoverName(t.base, kindOld, os.Getpid()))
	if err := os.Rename(t.final, old); err != nil {
		return fmt.Errorf("output %q: replace: %w", t.display, err)
	}
	if err := os.Rename(t.tmp, t.final); err != nil {
		_ = os.Rename(old, t.final)
		return fmt.Errorf("output %q: replace: %w", t.display, err)
	}
	if err := os.RemoveAll(old); err != nil {
		t.notice(fmt.Sprintf("could not remove the replaced output, now at %q: %v", old, err))
	}
	return nil
}

// Abort removes the temporary, the parent directories Reserve created (if
// empty) and the lock file. It does nothing after Commit or a first Abort.
func (t *Target) Abort() {
	if t == nil || t.done {
		return
	}
	t.done = true
	if t.file != nil {
		_ = t.file.Close()
		t.file = nil
	}
	if t.tmp != "" {
		_ = os.RemoveAll(t.tmp)
		t.tmp = ""
	}
	t.release()
	for i := len(t.created) - 1; i >= 0; i-- {
		_ = os.Remove(t.created[i])
	}
	t.created = nil
}

// release removes and unlocks the lock file.
func (t *Target) release() {
	if t.lock != nil {
		unlock(t.lock, t.lockPath())
		t.lock = nil
	}
}

func (t *Target) notice(msg string) {
	if t.opts.Notice != nil {
		t.opts.Notice(msg)
	}
}

// randomSuffix returns 8 random hex digits.
func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

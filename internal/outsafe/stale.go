package outsafe

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Leftover kinds, part of the name: ".<base>.mlxconv-<kind>-<pid>-<random>".
const (
	kindTmp = "tmp" // a temporary being written
	kindOld = "old" // a previous output set aside while replacing it
)

const lockSuffix = ".mlxconv.lock"

// lockName is the lock file of base.
func lockName(base string) string { return "." + base + lockSuffix }

// leftoverName names a new temporary or set-aside entry of base for pid.
func leftoverName(base, kind string, pid int) string {
	return "." + base + ".mlxconv-" + kind + "-" + strconv.Itoa(pid) + "-" + randomSuffix()
}

// parseLeftover splits a leftoverName; ok is false for other names.
func parseLeftover(name string) (base, kind string, pid int, ok bool) {
	if !strings.HasPrefix(name, ".") {
		return "", "", 0, false
	}
	for _, k := range []string{kindTmp, kindOld} {
		marker := ".mlxconv-" + k + "-"
		i := strings.LastIndex(name, marker)
		if i < 1 {
			continue
		}
		rest := name[i+len(marker):]
		p, r, found := strings.Cut(rest, "-")
		n, err := strconv.Atoi(p)
		if !found || err != nil || n <= 0 || r == "" || strings.Trim(r, "0123456789abcdef") != "" {
			return "", "", 0, false
		}
		return name[1:i], k, n, true
	}
	return "", "", 0, false
}

// cleanStale removes the leftovers in parent of runs that are gone: their
// owner pid no longer exists and their base's lock is free (own is the base
// this process holds the lock of). A set-aside previous output whose final
// path is missing is renamed back. Stale lock files are removed. notice
// gets one line when anything but a lock file was touched.
func cleanStale(parent, own string, notice func(string)) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	locks := &staleLocks{parent: parent, own: own, held: map[string]*os.File{}, busy: map[string]bool{}}
	defer locks.release()
	var removed, restored []string
	pids := map[int]bool{}
	for _, e := range entries {
		name := e.Name()
		if base, ok := lockBase(name); ok {
			locks.free(base) // removed on unlock
			continue
		}
		base, kind, pid, ok := parseLeftover(name)
		if !ok || pid == os.Getpid() || !pidGone(pid) || !locks.free(base) {
			continue
		}
		switch cleanLeftover(parent, name, base, kind) {
		case leftoverRestored:
			restored = append(restored, base)
			pids[pid] = true
		case leftoverRemoved:
			removed = append(removed, name)
			pids[pid] = true
		}
	}
	if notice == nil || len(removed)+len(restored) == 0 {
		return
	}
	notice(staleNotice(parent, pids, removed, restored))
}

// lockBase returns the output base name a lock file name (".<base>.lock")
// belongs to.
func lockBase(name string) (string, bool) {
	if strings.HasPrefix(name, ".") && strings.HasSuffix(name, lockSuffix) && len(name) > 1+len(lockSuffix) {
		return name[1 : len(name)-len(lockSuffix)], true
	}
	return "", false
}

// staleLocks tracks the output locks cleanStale holds in parent while it
// cleans, and those a live run holds (busy).
type staleLocks struct {
	parent, own string
	held        map[string]*os.File
	busy        map[string]bool
}

// free reports whether no live run holds base's lock, keeping the lock
// while we clean.
func (l *staleLocks) free(base string) bool {
	if base == l.own {
		return true
	}
	if l.busy[base] {
		return false
	}
	if _, ok := l.held[base]; ok {
		return true
	}
	p := filepath.Join(l.parent, lockName(base))
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if err != nil {
		l.busy[base] = true
		return false
	}
	if b, err := tryLock(f); err != nil || b || !sameFile(f, p) {
		_ = f.Close()
		l.busy[base] = true
		return false
	}
	l.held[base] = f
	return true
}

// release unlocks (and so removes) every lock free took.
func (l *staleLocks) release() {
	for base, f := range l.held {
		unlock(f, filepath.Join(l.parent, lockName(base)))
	}
}

type leftoverOutcome int

const (
	leftoverKept leftoverOutcome = iota
	leftoverRestored
	leftoverRemoved
)

// cleanLeftover renames a previous output (kindOld) back to base when
// nothing is there, and otherwise removes the leftover name.
func cleanLeftover(parent, name, base, kind string) leftoverOutcome {
	p := filepath.Join(parent, name)
	if kind == kindOld {
		final := filepath.Join(parent, base)
		if _, err := os.Lstat(final); errors.Is(err, fs.ErrNotExist) {
			if os.Rename(p, final) == nil {
				return leftoverRestored
			}
			return leftoverKept
		}
	}
	if os.RemoveAll(p) == nil {
		return leftoverRemoved
	}
	return leftoverKept
}

// staleNotice is the one line cleanStale reports.
func staleNotice(parent string, pids map[int]bool, removed, restored []string) string {
	var ps []string
	for p := range pids {
		ps = append(ps, strconv.Itoa(p))
	}
	slices.Sort(ps)
	var parts []string
	if len(removed) > 0 {
		parts = append(parts, "removed "+quoteList(removed))
	}
	if len(restored) > 0 {
		parts = append(parts, "restored the previous output "+quoteList(restored))
	}
	return fmt.Sprintf("leftovers of an earlier run that did not finish (pid %s, gone) in %q: %s",
		strings.Join(ps, ", "), parent, strings.Join(parts, "; "))
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

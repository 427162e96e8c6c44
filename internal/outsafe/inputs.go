package outsafe

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// CheckInputs refuses an output path that overlaps an input (see Options:
// Inputs may be neither the output, nor contain it, nor be inside it; Hosts
// may contain it). Symlinks are followed and files compared by device and
// inode, so a symlink, a hard link or a bind mount of an input is seen as
// that input. Inputs that cannot be resolved (missing, dangling links) are
// skipped: the command fails on them by itself. It writes nothing.
func CheckInputs(output string, inputs, hosts []string) error {
	outFI, ancestors, err := resolveOutput(output)
	if err != nil {
		return err
	}
	ins := append(resolveInputs(inputs, false), resolveInputs(hosts, true)...)
	// The most precise finding first: is, then inside, then contains.
	if in, ok := inputIsOutput(ins, outFI); ok {
		return refuse(ErrOverlap, fmt.Sprintf("output %q is the input %q", output, in.name))
	}
	if in, ok := inputContainsOutput(ins, ancestors); ok {
		return refuse(ErrOverlap, fmt.Sprintf("output %q is inside the input directory %q", output, in.name))
	}
	if in, ok := outputContainsInput(ins, outFI); ok {
		return refuse(ErrOverlap, fmt.Sprintf("output %q contains the input %q", output, in.name))
	}
	return nil
}

// resolvedInput is an input of CheckInputs that exists, symlinks followed.
type resolvedInput struct {
	name string // as given
	real string
	fi   fs.FileInfo
	host bool // may contain the output
}

// resolveInputs resolves names, skipping those that cannot be resolved.
func resolveInputs(names []string, host bool) []resolvedInput {
	var ins []resolvedInput
	for _, in := range names {
		abs, err := filepath.Abs(in)
		if err != nil {
			continue
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			continue
		}
		if fi, err := os.Stat(real); err == nil {
			ins = append(ins, resolvedInput{in, real, fi, host})
		}
	}
	return ins
}

// inputIsOutput returns the first input that is the output itself.
func inputIsOutput(ins []resolvedInput, outFI fs.FileInfo) (resolvedInput, bool) {
	for _, in := range ins {
		if outFI != nil && os.SameFile(outFI, in.fi) {
			return in, true
		}
	}
	return resolvedInput{}, false
}

// inputContainsOutput returns the first input directory (not a host) that
// is one of the output's ancestors.
func inputContainsOutput(ins []resolvedInput, ancestors []fs.FileInfo) (resolvedInput, bool) {
	for _, in := range ins {
		if in.host || !in.fi.IsDir() {
			continue
		}
		if slices.ContainsFunc(ancestors, func(a fs.FileInfo) bool { return os.SameFile(a, in.fi) }) {
			return in, true
		}
	}
	return resolvedInput{}, false
}

// outputContainsInput returns the first input inside the output directory.
func outputContainsInput(ins []resolvedInput, outFI fs.FileInfo) (resolvedInput, bool) {
	if outFI == nil || !outFI.IsDir() {
		return resolvedInput{}, false
	}
	for _, in := range ins {
		if slices.ContainsFunc(chain(filepath.Dir(in.real)), func(a fs.FileInfo) bool { return os.SameFile(a, outFI) }) {
			return in, true
		}
	}
	return resolvedInput{}, false
}

// resolveOutput returns the output's own FileInfo (nil when it does not
// exist; symlinks followed) and those of its existing ancestors, from the
// parent up to the root, all after resolving symlinks.
func resolveOutput(output string) (fs.FileInfo, []fs.FileInfo, error) {
	abs, err := filepath.Abs(output)
	if err != nil {
		return nil, nil, fmt.Errorf("output %q: %w", output, err)
	}
	p := abs
	for {
		if _, err := os.Stat(p); err == nil {
			break
		}
		up := filepath.Dir(p)
		if up == p {
			break
		}
		p = up
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return nil, nil, fmt.Errorf("output %q: %w", output, err)
	}
	c := chain(real)
	if p == abs && len(c) > 0 {
		return c[0], c[1:], nil
	}
	return nil, c, nil
}

// chain returns the FileInfos of the resolved path p and of each ancestor
// up to the root (entries that cannot be read are left out).
func chain(p string) []fs.FileInfo {
	var out []fs.FileInfo
	for {
		if fi, err := os.Stat(p); err == nil {
			out = append(out, fi)
		}
		up := filepath.Dir(p)
		if up == p {
			return out
		}
		p = up
	}
}

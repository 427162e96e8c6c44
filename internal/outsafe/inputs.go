package outsafe

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
	check := func(in string, host bool) error {
		abs, err := filepath.Abs(in)
		if err != nil {
			return nil
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			return nil
		}
		fi, err := os.Stat(real)
		if err != nil {
			return nil
		}
		if outFI != nil && os.SameFile(outFI, fi) {
			return refuse(ErrOverlap, fmt.Sprintf("output %q is the input %q", output, in))
		}
		if !host && fi.IsDir() {
			for _, a := range ancestors {
				if os.SameFile(a, fi) {
					return refuse(ErrOverlap, fmt.Sprintf("output %q is inside the input directory %q", output, in))
				}
			}
		}
		if outFI != nil && outFI.IsDir() {
			for _, a := range chain(filepath.Dir(real)) {
				if os.SameFile(a, outFI) {
					return refuse(ErrOverlap, fmt.Sprintf("output %q contains the input %q", output, in))
				}
			}
		}
		return nil
	}
	for _, in := range inputs {
		if err := check(in, false); err != nil {
			return err
		}
	}
	for _, in := range hosts {
		if err := check(in, true); err != nil {
			return err
		}
	}
	return nil
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

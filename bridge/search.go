package bridge

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/mlxconv/mlxconv/bridge/internal/mlxc"
)

// EnvLibrary names the environment variable that overrides the search: a
// libmlxc file, or a folder holding one.
const EnvLibrary = "MLXC_LIBRARY"

// Env is the view of the operating system that the library search uses.
// Tests inject one to exercise other platforms' search orders.
type Env struct {
	GOOS   string
	GOARCH string
	Getenv func(key string) string
	Stat   func(name string) (fs.FileInfo, error)
	// Check, when set, vets each searched candidate without loading it;
	// a candidate it fails is skipped with that reason. nil: no check.
	Check func(path string) error
}

// SystemEnv is the real environment: runtime.GOOS/GOARCH, os.Getenv,
// os.Stat and CheckLibrary.
func SystemEnv() Env {
	return Env{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, Getenv: os.Getenv, Stat: os.Stat, Check: CheckLibrary}
}

// CheckLibrary inspects the libmlxc at path without loading it, as Open
// does before handing a file to the dynamic loader: it must be an ELF
// (Linux) or Mach-O (macOS, thin or universal) shared library for this
// CPU whose segments lie inside the file, exporting the mlx-c symbols
// Open binds. A truncated library would crash the process inside the
// loader. The error is one line naming the file and wraps ErrBadLibrary,
// ErrNotMLXC, ErrABI, ErrSymbol or ErrLoad (cannot open). It works in
// every build, also where Open is unsupported.
func CheckLibrary(path string) error { return mlxc.Check(path) }

// LibraryName returns libmlxc's file name on goos.
func LibraryName(goos string) string {
	if goos == "darwin" {
		return "libmlxc.dylib"
	}
	return "libmlxc.so"
}

// SearchPaths returns the standard places, in order, where Find looks for
// libmlxc when MLXC_LIBRARY is unset:
//
//	darwin: /opt/homebrew/lib (Homebrew, Apple silicon), /opt/local/lib
//	        (MacPorts), /usr/local/lib
//	linux:  /usr/local/lib, /usr/lib/<multiarch triplet>, /usr/lib64, /usr/lib
func SearchPaths(env Env) []string {
	name := LibraryName(env.GOOS)
	var dirs []string
	switch env.GOOS {
	case "darwin":
		dirs = []string{"/opt/homebrew/lib", "/opt/local/lib", "/usr/local/lib"}
	case "linux":
		dirs = []string{"/usr/local/lib"}
		switch env.GOARCH {
		case "amd64":
			dirs = append(dirs, "/usr/lib/x86_64-linux-gnu")
		case "arm64":
			dirs = append(dirs, "/usr/lib/aarch64-linux-gnu")
		}
		dirs = append(dirs, "/usr/lib64", "/usr/lib")
	default:
		return nil
	}
	paths := make([]string, len(dirs))
	for i, d := range dirs {
		paths[i] = d + "/" + name
	}
	return paths
}

// Find returns the libmlxc to load; it is Search without the list of
// skipped candidates.
func Find(env Env) (string, error) {
	p, _, err := Search(env)
	return p, err
}

// Search returns the libmlxc to load. MLXC_LIBRARY, when set, decides
// alone: a file is used as is (Open checks it), a folder is searched for
// LibraryName; if it names nothing usable Search fails rather than falling
// back. Otherwise the first of SearchPaths that is a regular file and
// passes env.Check wins; the candidates that failed the check come back in
// skipped, one error each (one line naming the file and the reason). When
// none is left the error wraps ErrNotFound, says what was tried and wraps
// the skipped candidates' errors too.
func Search(env Env) (path string, skipped []error, err error) {
	if v := env.Getenv(EnvLibrary); v != "" {
		fi, err := env.Stat(v)
		if err != nil {
			return "", nil, fmt.Errorf("%w: %s=%s: %v", ErrNotFound, EnvLibrary, v, err)
		}
		if !fi.IsDir() {
			return v, nil, nil
		}
		p := filepath.Join(v, LibraryName(env.GOOS))
		if fi, err := env.Stat(p); err != nil || fi.IsDir() {
			return "", nil, fmt.Errorf("%w: %s=%s holds no %s", ErrNotFound, EnvLibrary, v, LibraryName(env.GOOS))
		}
		return p, nil, nil
	}
	paths := SearchPaths(env)
	if len(paths) == 0 {
		return "", nil, fmt.Errorf("%w: no standard location on %s/%s; set %s", ErrNotFound, env.GOOS, env.GOARCH, EnvLibrary)
	}
	for _, p := range paths {
		fi, err := env.Stat(p)
		if err != nil || fi.IsDir() {
			continue
		}
		if env.Check != nil {
			if err := env.Check(p); err != nil {
				skipped = append(skipped, err)
				continue
			}
		}
		return p, skipped, nil
	}
	if len(skipped) > 0 {
		// One line: the skipped reasons joined with "; ", each wrapped.
		args := []any{ErrNotFound}
		for _, e := range skipped {
			args = append(args, e)
		}
		args = append(args, strings.Join(paths, ", "), EnvLibrary)
		format := "%w: skipped " + strings.Repeat("%w; ", len(skipped)-1) + "%w (tried %s; set %s)"
		return "", skipped, fmt.Errorf(format, args...)
	}
	return "", nil, fmt.Errorf("%w (tried %s; set %s)", ErrNotFound, strings.Join(paths, ", "), EnvLibrary)
}

package bridge

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
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
}

// SystemEnv is the real environment: runtime.GOOS/GOARCH, os.Getenv and
// os.Stat.
func SystemEnv() Env {
	return Env{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, Getenv: os.Getenv, Stat: os.Stat}
}

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

// Find returns the libmlxc to load. MLXC_LIBRARY, when set, decides alone:
// a file is used as is, a folder is searched for LibraryName; if it names
// nothing usable Find fails rather than falling back. Otherwise the first
// of SearchPaths that is a regular file wins. Errors wrap ErrNotFound and
// say what was tried.
func Find(env Env) (string, error) {
	if v := env.Getenv(EnvLibrary); v != "" {
		fi, err := env.Stat(v)
		if err != nil {
			return "", fmt.Errorf("%w: %s=%s: %v", ErrNotFound, EnvLibrary, v, err)
		}
		if !fi.IsDir() {
			return v, nil
		}
		p := filepath.Join(v, LibraryName(env.GOOS))
		if fi, err := env.Stat(p); err != nil || fi.IsDir() {
			return "", fmt.Errorf("%w: %s=%s holds no %s", ErrNotFound, EnvLibrary, v, LibraryName(env.GOOS))
		}
		return p, nil
	}
	paths := SearchPaths(env)
	if len(paths) == 0 {
		return "", fmt.Errorf("%w: no standard location on %s/%s; set %s", ErrNotFound, env.GOOS, env.GOARCH, EnvLibrary)
	}
	for _, p := range paths {
		if fi, err := env.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w (tried %s; set %s)", ErrNotFound, strings.Join(paths, ", "), EnvLibrary)
}

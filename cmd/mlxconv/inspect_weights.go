package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/internal/fsx"
	"github.com/mlxconv/mlxconv/internal/modelinfo"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
)

// isWeights reports whether inspect's argument is safetensors weights (a
// file that is not GGUF, or a directory with *.safetensors or their index,
// or with config.json and no *.gguf) rather than GGUF.
func isWeights(arg string) (bool, error) {
	st, err := os.Stat(arg)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return false, fmt.Errorf("%q: %w", arg, pe.Err)
		}
		return false, err
	}
	if !st.IsDir() {
		return !strings.HasSuffix(arg, ".gguf") && !hasGGUFMagic(arg), nil
	}
	entries, err := os.ReadDir(arg)
	if err != nil {
		return false, fmt.Errorf("%q: %w", arg, errors.Unwrap(err))
	}
	var config, gguf bool
	for _, e := range entries {
		switch n := e.Name(); {
		case strings.HasSuffix(n, ".safetensors") || n == "model.safetensors.index.json":
			return true, nil
		case n == "config.json":
			config = true
		case strings.HasSuffix(n, ".gguf"):
			gguf = true
		}
	}
	return config && !gguf, nil
}

// ggufNote names the GGUF files of a model folder, which its report
// leaves out, and says how to see them.
func ggufNote(w io.Writer, dir string) {
	matches, _ := filepath.Glob(filepath.Join(dir, "*.gguf"))
	if len(matches) == 0 {
		return
	}
	names := make([]string, len(matches))
	for i, m := range matches {
		names[i] = strconv.Quote(filepath.Base(m))
	}
	fmt.Fprintf(w, "\nalso in the folder: %s (run inspect on the file for its GGUF report)\n", strings.Join(names, ", "))
}

// hasGGUFMagic reports whether the regular file at path starts with
// "GGUF" (a FIFO or device is not opened: false).
func hasGGUFMagic(path string) bool {
	f, err := fsx.OpenRegular(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && bytes.Equal(magic[:], []byte("GGUF"))
}

// inspectWeights prints the report of a safetensors file or model folder.
func inspectWeights(env *environment, arg string, asJSON, full bool) error {
	var (
		r   modelinfo.Report
		err error
	)
	dir := false
	if st, serr := os.Stat(arg); serr == nil && st.IsDir() {
		dir = true
		r, err = modelinfo.OpenDir(filepath.Clean(arg))
	} else {
		r, err = modelinfo.OpenFile(arg)
		if errors.Is(err, safetensors.ErrFormat) && !strings.HasSuffix(arg, ".safetensors") {
			err = fmt.Errorf("%q is neither GGUF nor safetensors: %w", arg, err)
		}
	}
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(env.stdout, r)
	}
	if err := r.WriteText(env.stdout, full); err != nil {
		return err
	}
	if dir {
		ggufNote(env.stdout, arg)
	}
	return nil
}

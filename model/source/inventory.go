package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mlxconv/mlxconv/internal/fsx"
	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
	"github.com/mlxconv/mlxconv/model"
)

// Inventory is everything the planner needs to know about an input model,
// read without touching tensor data: config.json, the optional
// generation_config.json and hf_quant_config.json, the headers of the
// safetensors shards, and the auxiliary files copied to the output.
//
// Tests build Inventories directly; LoadInventory reads one from a
// directory.
type Inventory struct {
	// Dir is the model directory ("" for an in-memory inventory).
	Dir string
	// Config is config.json, keys in document order.
	Config *pyjson.Object
	// GenerationConfig is generation_config.json (nil when absent or not
	// valid JSON, as mlx-lm ignores it then).
	GenerationConfig pyjson.Value
	// HFQuantConfig is hf_quant_config.json (nil when absent).
	HFQuantConfig *pyjson.Object
	// Files are the safetensors shards, relative to Dir, in load order.
	Files []string
	// Tensors lists every tensor of every shard (File indexes Files).
	Tensors []SourceTensor
	// Aux are the files copied verbatim to the output (tokenizer files,
	// chat templates, generation_config.json, top-level *.py), relative to
	// Dir, sorted.
	Aux []string

	readers []*safetensors.Reader // parallel to Files; nil in memory
	closers []*os.File
}

// SourceTensor is one tensor of an input shard, as its header describes
// it, or a contiguous part of one (a sanitize Split): Shape elements at
// byte Offset of the stored tensor Name.
type SourceTensor struct {
	File   int // index into Inventory.Files
	Name   string
	DType  mlx.DType
	Shape  []int
	Offset int64 // bytes into the stored tensor; 0 for a whole tensor
	// Run > 0: the bytes are runs of Run bytes, run k at Offset + k*Stride
	// (a part of an interleaved split; pipeline.Slice's strided form).
	Run, Stride int64
}

// Close closes the shard files LoadInventory opened.
func (inv *Inventory) Close() error {
	var errs []error
	for _, f := range inv.closers {
		if err := f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	inv.closers = nil
	inv.readers = nil
	return errors.Join(errs...)
}

// maxConfigSize bounds the JSON files read whole (config.json and friends).
const maxConfigSize = 64 << 20

// readSmallFile reads the regular file p of at most maxConfigSize bytes; a
// named pipe, socket, device or directory is refused without blocking
// (the error matches fsx.ErrNotRegular).
func readSmallFile(p string) ([]byte, error) {
	return fsx.ReadFile(p, maxConfigSize)
}

// readOptional is readSmallFile for a file that may be absent: a missing
// file gives (nil, nil); a FIFO, socket, device or directory in its place
// is an error naming it (matching fsx.ErrNotRegular). Other read errors
// are returned as they are, for the caller to ignore or report.
func readOptional(p string) ([]byte, error) {
	b, err := readSmallFile(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case errors.Is(err, fsx.ErrNotRegular):
		return nil, fmt.Errorf("convert: %w", err)
	}
	return b, err
}

// readConfig reads and parses dir/config.json.
func readConfig(dir string) (*pyjson.Object, error) {
	p := filepath.Join(dir, "config.json")
	b, err := readSmallFile(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", model.ErrConfig, err)
	}
	v, err := pyjson.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", model.ErrConfig, p, err)
	}
	o, ok := v.(*pyjson.Object)
	if !ok {
		return nil, fmt.Errorf("%w: %q: not a JSON object", model.ErrConfig, p)
	}
	return o, nil
}

// LoadInventory reads the model directory dir: config.json first (an
// unsupported model_type fails here, before any shard is opened), then the
// headers of the shards named by model.safetensors.index.json, or of every
// model*.safetensors when there is no index. The shards stay open for
// reading until Close.
func LoadInventory(dir string) (*Inventory, error) {
	cfg, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	if _, err := lookup(cfg); err != nil {
		return nil, err
	}
	inv := &Inventory{Dir: dir, Config: cfg}
	if err := inv.readSideConfigs(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	inv.Files, err = shardFiles(dir, entries)
	if err != nil {
		return nil, err
	}
	inv.Aux, err = auxFiles(dir, entries)
	if err != nil {
		return nil, err
	}
	if err := inv.openShards(identity); err != nil {
		inv.Close()
		return nil, err
	}
	return inv, nil
}

// readSideConfigs reads the optional generation_config.json (kept when it
// parses) and hf_quant_config.json (an error when it does not).
func (inv *Inventory) readSideConfigs() error {
	b, err := readOptional(filepath.Join(inv.Dir, "generation_config.json"))
	if errors.Is(err, fsx.ErrNotRegular) {
		return err
	}
	if err == nil && b != nil {
		if v, err := pyjson.Parse(b); err == nil {
			inv.GenerationConfig = v
		}
	}
	b, err = readOptional(filepath.Join(inv.Dir, "hf_quant_config.json"))
	if errors.Is(err, fsx.ErrNotRegular) {
		return err
	}
	if err != nil || b == nil {
		return nil
	}
	v, err := pyjson.Parse(b)
	if err != nil {
		return fmt.Errorf("%w: hf_quant_config.json: %v", model.ErrConfig, err)
	}
	if o, ok := v.(*pyjson.Object); ok {
		inv.HFQuantConfig = o
	}
	return nil
}

// identity is openShards' naming for LoadInventory: paths as they are.
func identity(p string) string { return p }

// openShards opens inv.Files and reads their headers into inv.Tensors,
// refusing a tensor in two shards; fileName(path) is what the readers' errors
// call a shard. On error the caller closes inv.
func (inv *Inventory) openShards(fileName func(string) string) error {
	seen := map[string]string{}
	for i, name := range inv.Files {
		p := filepath.Join(inv.Dir, name)
		f, err := fsx.OpenRegular(p) // a FIFO is refused, not waited on
		if err != nil {
			return fmt.Errorf("convert: %w", err)
		}
		inv.closers = append(inv.closers, f)
		st, err := f.Stat()
		if err != nil {
			return fmt.Errorf("convert: %w", err)
		}
		// Plain positioned reads rather than a memory mapping: the pages
		// then live in the page cache, not in our resident set.
		rd, err := safetensors.NewReader(f, st.Size(), safetensors.WithName(fileName(p)))
		if err != nil {
			return err
		}
		inv.readers = append(inv.readers, rd)
		for _, t := range rd.Tensors() {
			if other, dup := seen[t.Name]; dup {
				return fmt.Errorf("%w: tensor %q is in both %q and %q", model.ErrWeights, t.Name, other, name)
			}
			seen[t.Name] = name
			inv.Tensors = append(inv.Tensors, SourceTensor{File: i, Name: t.Name, DType: t.DType, Shape: t.Shape})
		}
	}
	return nil
}

// shardFiles returns the shards to read: the files the index names, else
// model*.safetensors (mlx-lm's glob), sorted.
func shardFiles(dir string, entries []fs.DirEntry) ([]string, error) {
	idxPath := filepath.Join(dir, "model.safetensors.index.json")
	b, err := readSmallFile(idxPath)
	if errors.Is(err, fsx.ErrNotRegular) {
		return nil, fmt.Errorf("convert: %w", err)
	}
	if err == nil {
		files, err := indexedShards(dir, idxPath, b)
		if err != nil || len(files) > 0 {
			return files, err
		}
	}
	var files []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, "model") && strings.HasSuffix(n, ".safetensors") && !e.IsDir() {
			files = append(files, n)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: no safetensors found in %q (want model*.safetensors)", model.ErrWeights, dir)
	}
	slices.Sort(files)
	return files, nil
}

// indexedShards returns the files the weight_map of the index b (read from
// idxPath) names, sorted; each must be a regular file in dir.
func indexedShards(dir, idxPath string, b []byte) ([]string, error) {
	v, err := pyjson.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", model.ErrWeights, idxPath, err)
	}
	o, _ := v.(*pyjson.Object)
	var wm *pyjson.Object
	if o != nil {
		wm = newConfig(o, "").Object("weight_map")
	}
	if wm == nil {
		return nil, fmt.Errorf("%w: %q: no weight_map object", model.ErrWeights, idxPath)
	}
	set := map[string]bool{}
	for _, k := range wm.Keys() {
		fv, _ := wm.Get(k)
		name, ok := fv.(string)
		if !ok || !isPlainFileName(name) {
			return nil, fmt.Errorf("%w: %q: tensor %q maps to %s, want a file name in the model directory",
				model.ErrWeights, idxPath, k, describe(fv))
		}
		set[name] = true
	}
	files := make([]string, 0, len(set))
	for n := range set {
		if _, err := fsx.StatRegular(filepath.Join(dir, n)); err != nil {
			return nil, fmt.Errorf("%w: %q names %q: %w", model.ErrWeights, idxPath, n, err)
		}
		files = append(files, n)
	}
	slices.Sort(files)
	return files, nil
}

// isPlainFileName reports whether name names a file directly in a
// directory: no separator, not empty, "." or "..".
func isPlainFileName(name string) bool {
	return name != "" && name == path.Base(name) && !strings.ContainsAny(name, `/\`) && name != "." && name != ".."
}

// auxNames are the files copied verbatim besides *.py, *.jinja and
// *.tiktoken.
var auxNames = map[string]bool{
	"generation_config.json":  true,
	"tokenizer.json":          true,
	"tokenizer_config.json":   true,
	"special_tokens_map.json": true,
	"added_tokens.json":       true,
	"tokenizer.model":         true,
	"tiktoken.model":          true,
	"vocab.json":              true,
	"vocab.txt":               true,
	"merges.txt":              true,
	"spiece.model":            true,
	"chat_template.json":      true,
}

// IsAux reports whether name, a file of a model directory, is copied
// verbatim to a converted model (Inventory.Aux): tokenizer files, chat
// templates, generation_config.json, *.py, *.jinja and *.tiktoken files.
func IsAux(name string) bool {
	if auxNames[name] {
		return true
	}
	for _, ext := range []string{".py", ".jinja", ".tiktoken"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// auxFiles returns the entries of dir to copy verbatim (see IsAux), sorted.
// Symlinks are followed (the HF cache is made of them); a dangling one or
// a directory is skipped, while a named pipe, socket or device under an
// aux name is an error naming it (copying it would block or read forever).
func auxFiles(dir string, entries []fs.DirEntry) ([]string, error) {
	var out []string
	for _, e := range entries {
		if !IsAux(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		st, err := os.Stat(p) // follows HF cache symlinks
		if err != nil || st.IsDir() {
			continue
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("convert: %w", &fsx.NotRegularError{Path: p, Mode: st.Mode().Type()})
		}
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out, nil
}

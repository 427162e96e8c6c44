package convert

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlxconv/mlxconv/internal/fsx"
	"github.com/mlxconv/mlxconv/internal/outsafe"
	"github.com/mlxconv/mlxconv/internal/prealloc"
	"github.com/mlxconv/mlxconv/model/source"
)

// outFile is an output file of the sink: positioned writes, then Close.
type outFile interface {
	io.WriterAt
	Close() error
}

// createFunc creates an output file (os.Create by default; tests inject
// failing files to simulate a full disk).
type createFunc func(path string) (outFile, error)

func osCreate(path string) (outFile, error) { return os.Create(path) }

// mlxSink writes an MLX model directory through an outsafe.Target: the
// output is checked against the inputs and locked, everything goes into a
// temporary sibling of the final path, renamed into place by commit; abort
// removes it (and the parent directories the run created).
//
// It implements pipeline.Sink: Open writes the shard headers, the executor
// streams the tensors, Commit writes the small files and renames.
type mlxSink struct {
	final  string
	tmp    string
	target *outsafe.Target
	create createFunc
	files  []outFile

	plan    *mlxPlan
	dir     string // the input model directory (copied files)
	card    []byte // README.md
	dataOff []int64
}

// newSink reserves final for a conversion of the model directory dir.
func newSink(final, dir string, force bool, notice func(string), create createFunc) (*mlxSink, error) {
	if create == nil {
		create = osCreate
	}
	inputs := []string{dir}
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			inputs = append(inputs, filepath.Join(dir, e.Name()))
		}
	}
	t, err := outsafe.Reserve(final, outsafe.Options{Dir: true, Inputs: inputs, Force: force,
		Replaceable: earlierOutput, Notice: notice})
	if err != nil {
		return nil, outputError(err)
	}
	return &mlxSink{final: final, tmp: t.Temp(), target: t, create: create, dir: dir}, nil
}

// outputError maps an outsafe refusal onto this package's sentinels.
func outputError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, outsafe.ErrOverlap), errors.Is(err, outsafe.ErrPath):
		return fmt.Errorf("%w: %w", ErrOptions, err)
	case errors.Is(err, outsafe.ErrExists), errors.Is(err, outsafe.ErrBusy), errors.Is(err, outsafe.ErrNotOutput):
		return fmt.Errorf("%w: %w", ErrExists, err)
	}
	return fmt.Errorf("convert: %w", err)
}

// earlierOutput reports why the directory p is not an earlier output of
// Run (nil when it is, so Force may replace it): it must be a directory
// (not a symlink) that is empty, or holds only regular files Run writes
// (config.json, model.safetensors.index.json, README.md, *.safetensors and
// the copied tokenizer files), among them config.json and a README.md model
// card with "library_name: mlx" (as Run and mlx-lm write it).
func earlierOutput(p string) error {
	st, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return errors.New("it is not a directory")
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	names := map[string]bool{}
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() {
			return fmt.Errorf("it holds %q, which is not a regular file", n)
		}
		if n != "config.json" && n != "model.safetensors.index.json" && n != "README.md" &&
			!strings.HasSuffix(n, ".safetensors") && !source.IsAux(n) {
			return fmt.Errorf("it holds %q, which mlxconv convert does not write", n)
		}
		names[n] = true
	}
	if !names["config.json"] {
		return errors.New("it has no config.json")
	}
	card, err := fsx.ReadFile(filepath.Join(p, "README.md"), 64<<20)
	if err != nil || !strings.Contains(string(card), "\nlibrary_name: mlx\n") {
		return errors.New("it has no MLX model card (README.md with library_name: mlx)")
	}
	return nil
}

// dataOffsets returns each shard's data section offset (8 + header).
func dataOffsets(p *mlxPlan) ([]int64, error) {
	offs := make([]int64, len(p.Shards))
	for i := range p.Shards {
		hdr, err := shardHeader(p, &p.Shards[i])
		if err != nil {
			return nil, err
		}
		offs[i] = 8 + int64(len(hdr))
	}
	return offs, nil
}

// Open implements pipeline.Sink: it creates the shard files and writes
// their headers.
func (s *mlxSink) Open() error {
	p := s.plan
	for i := range p.Shards {
		sh := &p.Shards[i]
		hdr, err := shardHeader(p, sh)
		if err != nil {
			return err
		}
		f, err := s.create(filepath.Join(s.tmp, sh.Name))
		if err != nil {
			return fmt.Errorf("convert: create %s: %w", sh.Name, err)
		}
		s.files = append(s.files, f)
		if osf, ok := f.(*os.File); ok {
			// Reserve the whole shard: a full disk fails here, before any
			// tensor is converted, and the writes get cheaper.
			if err := prealloc.File(osf, 8+int64(len(hdr))+sh.DataSize); err != nil {
				return fmt.Errorf("convert: %s: %w", sh.Name, err)
			}
		}
		buf := make([]byte, 8+len(hdr))
		binary.LittleEndian.PutUint64(buf, uint64(len(hdr)))
		copy(buf[8:], hdr)
		if _, err := f.WriteAt(buf, 0); err != nil {
			return fmt.Errorf("convert: write %s header: %w", sh.Name, err)
		}
	}
	return nil
}

// WriteAt implements pipeline.Sink.
func (s *mlxSink) WriteAt(file int, p []byte, off int64) error {
	_, err := s.files[file].WriteAt(p, off)
	return err
}

// FileName implements pipeline.Sink.
func (s *mlxSink) FileName(file int) string { return s.plan.Shards[file].Name }

// closeShards closes the shard files.
func (s *mlxSink) closeShards() error {
	var errs []error
	for _, f := range s.files {
		if err := f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("convert: close: %w", err))
		}
	}
	s.files = nil
	return errors.Join(errs...)
}

// writeFile writes a small file into the output.
func (s *mlxSink) writeFile(name string, data []byte) error {
	f, err := s.create(filepath.Join(s.tmp, name))
	if err != nil {
		return fmt.Errorf("convert: create %s: %w", name, err)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		_ = f.Close()
		return fmt.Errorf("convert: write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("convert: close %s: %w", name, err)
	}
	return nil
}

// copyFile copies src (following symlinks) into the output as name.
func (s *mlxSink) copyFile(src, name string) error {
	in, err := fsx.OpenRegular(src) // never waits on a FIFO put there since the inventory
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	defer in.Close()
	f, err := s.create(filepath.Join(s.tmp, name))
	if err != nil {
		return fmt.Errorf("convert: create %s: %w", name, err)
	}
	buf := make([]byte, 1<<20)
	var off int64
	for {
		n, rerr := in.Read(buf)
		if n > 0 {
			if _, err := f.WriteAt(buf[:n], off); err != nil {
				_ = f.Close()
				return fmt.Errorf("convert: write %s: %w", name, err)
			}
			off += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			_ = f.Close()
			return fmt.Errorf("convert: read %s: %w", src, rerr)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("convert: close %s: %w", name, err)
	}
	return nil
}

// Commit implements pipeline.Sink: it closes the shards, writes
// config.json, the index, the copied files and the model card, and renames
// the temporary directory to the final path (see outsafe.Target.Commit for
// what it refuses to replace).
func (s *mlxSink) Commit() error {
	if err := s.closeShards(); err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
	}{
		{"config.json", s.plan.Config},
		{"model.safetensors.index.json", s.plan.Index},
	}
	for _, f := range files {
		if err := s.writeFile(f.name, f.data); err != nil {
			return err
		}
	}
	for _, a := range s.plan.Aux {
		if err := s.copyFile(filepath.Join(s.dir, a), a); err != nil {
			return err
		}
	}
	if err := s.writeFile("README.md", s.card); err != nil {
		return err
	}
	return outputError(s.target.Commit())
}

// Abort implements pipeline.Sink: it removes the temporary directory and
// what the reservation created.
func (s *mlxSink) Abort() {
	_ = s.closeShards()
	s.target.Abort()
}

package convert

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlxconv/mlxconv/internal/prealloc"
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

// mlxSink writes an MLX model directory atomically: everything goes into a
// temporary sibling of the final path, renamed into place by commit;
// abort removes it.
type mlxSink struct {
	final  string
	tmp    string
	create createFunc
	files  []outFile
	shards []shardWriter
}

func newSink(final string, create createFunc) (*mlxSink, error) {
	if create == nil {
		create = osCreate
	}
	parent, base := filepath.Split(filepath.Clean(final))
	if parent == "" {
		parent = "."
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".mlxconv-")
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("convert: %w", err)
	}
	return &mlxSink{final: final, tmp: tmp, create: create}, nil
}

// openShards creates the shard files and writes their headers.
func (s *mlxSink) openShards(p *Plan) error {
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
		s.shards = append(s.shards, shardWriter{w: f, dataOff: int64(len(buf))})
	}
	return nil
}

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
	in, err := os.Open(src)
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

// commit renames the temporary directory to the final path, replacing an
// existing one (which Run only allows with Force).
func (s *mlxSink) commit() error {
	if _, err := os.Lstat(s.final); err == nil {
		parent, base := filepath.Split(filepath.Clean(s.final))
		if parent == "" {
			parent = "."
		}
		old, err := os.MkdirTemp(parent, "."+base+".mlxconv-old-")
		if err != nil {
			return fmt.Errorf("convert: %w", err)
		}
		moved := filepath.Join(old, "old")
		if err := os.Rename(s.final, moved); err != nil {
			_ = os.Remove(old)
			return fmt.Errorf("convert: replace %s: %w", s.final, err)
		}
		if err := os.Rename(s.tmp, s.final); err != nil {
			_ = os.Rename(moved, s.final)
			_ = os.Remove(old)
			return fmt.Errorf("convert: %w", err)
		}
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("convert: remove the replaced output: %w", err)
		}
		return nil
	}
	if err := os.Rename(s.tmp, s.final); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	return nil
}

// abort removes the temporary directory.
func (s *mlxSink) abort() {
	_ = s.closeShards()
	_ = os.RemoveAll(s.tmp)
}

// modelCard returns README.md as mlx-lm's create_model_card writes it for
// a local source (hubRepo ""), or with base_model for a Hub source.
func modelCard(hubRepo string) []byte {
	var b strings.Builder
	b.WriteString("---\nlanguage: en\n")
	if hubRepo != "" {
		b.WriteString("base_model: " + yamlScalar(hubRepo) + "\n")
	}
	b.WriteString("library_name: mlx\npipeline_tag: text-generation\ntags:\n- mlx\n---\n")
	return []byte(b.String())
}

// yamlScalar quotes s when YAML would not read it back as a plain string.
func yamlScalar(s string) string {
	plain := s != ""
	for _, r := range s {
		if !(r == '-' || r == '_' || r == '.' || r == '/' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')) {
			plain = false
		}
	}
	if plain && !strings.HasPrefix(s, "-") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

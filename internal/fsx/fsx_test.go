//go:build unix

package fsx

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// special builds one kind of input in dir and returns its path.
type special struct {
	name string
	make func(t *testing.T, dir string) string
	kind string // "" for a regular file
}

func specials() []special {
	return []special{
		{"regular", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "config.json")
			require.NoError(t, os.WriteFile(p, []byte(`{"a":1}`), 0o644))
			return p
		}, ""},
		{"symlink to regular", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "real.json")
			require.NoError(t, os.WriteFile(p, []byte(`{"a":1}`), 0o644))
			l := filepath.Join(dir, "config.json")
			require.NoError(t, os.Symlink(p, l))
			return l
		}, ""},
		{"fifo", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "config.json")
			require.NoError(t, syscall.Mkfifo(p, 0o644))
			return p
		}, "named pipe"},
		{"symlink to fifo", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "pipe")
			require.NoError(t, syscall.Mkfifo(p, 0o644))
			l := filepath.Join(dir, "model.safetensors")
			require.NoError(t, os.Symlink(p, l))
			return l
		}, "named pipe"},
		{"socket", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "s.gguf")
			l, err := net.Listen("unix", p)
			require.NoError(t, err)
			t.Cleanup(func() { l.Close() })
			return p
		}, "socket"},
		{"char device", func(t *testing.T, dir string) string { return "/dev/null" }, "character device"},
		{"symlink to /dev/zero", func(t *testing.T, dir string) string {
			l := filepath.Join(dir, "model.safetensors")
			require.NoError(t, os.Symlink("/dev/zero", l))
			return l
		}, "character device"},
		{"directory", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "tokenizer.json")
			require.NoError(t, os.Mkdir(p, 0o755))
			return p
		}, "directory"},
	}
}

// noHang fails the test when fn takes longer than a few seconds (a FIFO
// open that blocks).
func noHang(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("blocked (open of a special file waited)")
	}
}

func requireNotRegular(t *testing.T, err error, path, kind string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, ErrNotRegular)
	var nr *NotRegularError
	require.ErrorAs(t, err, &nr)
	require.Equal(t, path, nr.Path)
	require.Equal(t, `"`+path+`": not a regular file (`+kind+`)`, err.Error())
}

func TestOpenRegular(t *testing.T) {
	for _, c := range specials() {
		t.Run(c.name, func(t *testing.T) {
			p := c.make(t, t.TempDir())
			noHang(t, func() {
				f, err := OpenRegular(p)
				if c.kind != "" {
					require.Nil(t, f)
					requireNotRegular(t, err, p, c.kind)
					return
				}
				require.NoError(t, err)
				defer f.Close()
				fl, err := fcntlGetfl(f)
				require.NoError(t, err)
				require.Zero(t, fl&syscall.O_NONBLOCK, "O_NONBLOCK still set")
				b := make([]byte, 16)
				n, err := f.Read(b)
				require.NoError(t, err)
				require.Equal(t, `{"a":1}`, string(b[:n]))
			})
		})
	}
}

// TestOpenRegularAfterSwap checks the descriptor check alone (the file was
// a regular one when stat'ed and is a FIFO when opened).
func TestOpenRegularAfterSwap(t *testing.T) {
	for _, c := range specials() {
		if c.kind == "" || c.kind == "socket" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			p := c.make(t, t.TempDir())
			noHang(t, func() {
				_, err := openRegular(p)
				requireNotRegular(t, err, p, c.kind)
			})
		})
	}
	t.Run("socket", func(t *testing.T) {
		p := specials()[4].make(t, t.TempDir())
		_, err := openRegular(p)
		requireNotRegular(t, err, p, "socket")
	})
}

func TestStatRegular(t *testing.T) {
	for _, c := range specials() {
		t.Run(c.name, func(t *testing.T) {
			p := c.make(t, t.TempDir())
			st, err := StatRegular(p)
			if c.kind != "" {
				requireNotRegular(t, err, p, c.kind)
				return
			}
			require.NoError(t, err)
			require.EqualValues(t, 7, st.Size())
		})
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(p, []byte("0123456789"), 0o644))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	tests := []struct {
		name  string
		path  string
		limit int64
		want  string
		err   error
	}{
		{"whole", p, -1, "0123456789", nil},
		{"at limit", p, 10, "0123456789", nil},
		{"over limit", p, 9, "", ErrTooLarge},
		{"empty", empty, 0, "", nil},
		{"missing", filepath.Join(dir, "nope"), -1, "", fs.ErrNotExist},
		{"fifo", fifo, -1, "", ErrNotRegular},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noHang(t, func() {
				b, err := ReadFile(tc.path, tc.limit)
				if tc.err != nil {
					require.ErrorIs(t, err, tc.err)
					require.True(t, strings.Contains(err.Error(), tc.path), err.Error())
					return
				}
				require.NoError(t, err)
				require.Equal(t, tc.want, string(b))
			})
		})
	}
}

func TestKind(t *testing.T) {
	for m, want := range map[fs.FileMode]string{
		0: "regular file", fs.ModeDir: "directory", fs.ModeNamedPipe: "named pipe",
		fs.ModeSocket: "socket", fs.ModeDevice | fs.ModeCharDevice: "character device",
		fs.ModeDevice: "block device", fs.ModeSymlink: "symbolic link", fs.ModeIrregular: "irregular file",
	} {
		require.Equal(t, want, Kind(m), "mode %v", m)
	}
	require.True(t, errors.Is(&NotRegularError{}, ErrNotRegular))
}

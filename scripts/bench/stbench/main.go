// Command stbench writes and reads a large safetensors file with package
// mlx/safetensors, for scripts/bench/safetensors.sh.
//
//	stbench write [-mb 1024] [-sync] FILE   write MB MiB of BF16 tensors (4 MiB each)
//	stbench read [-mode open|pread|mmap] FILE   read every tensor body into a reused buffer
//
// Read modes: open = safetensors.Open + ReadTensor (pread on the File's
// descriptor); pread = NewReader on an os.File + ReadTensor; mmap =
// safetensors.Open + Bytes (zero-copy slice of the mapping) copied into the
// buffer, which pays the page faults of first access.
//
// Each prints "bytes=N seconds=S" for the data section (bodies only).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: stbench write|read [flags] FILE")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "write":
		err = write(os.Args[2:])
	case "read":
		err = read(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stbench:", err)
		os.Exit(1)
	}
}

func write(args []string) error {
	fs := flag.NewFlagSet("write", flag.ExitOnError)
	mb := fs.Int("mb", 1024, "data size in MiB (multiple of 4)")
	sync := fs.Bool("sync", false, "fsync before reporting")
	_ = fs.Parse(args)
	if fs.NArg() != 1 || *mb < 4 {
		return fmt.Errorf("write: want -mb >= 4 and one FILE")
	}
	body := make([]byte, 4<<20)
	for i := range body {
		body[i] = byte(i * 7)
	}
	plan := make([]safetensors.TensorInfo, *mb/4)
	for i := range plan {
		plan[i] = safetensors.TensorInfo{Name: fmt.Sprintf("model.layers.%d.mlp.weight", i),
			DType: mlx.BF16, Shape: []int{1024, 2048}}
	}
	start := time.Now()
	f, err := os.Create(fs.Arg(0))
	if err != nil {
		return err
	}
	w, err := safetensors.NewWriter(f, plan, map[string]string{"format": "mlx"}, safetensors.MLX)
	if err != nil {
		return err
	}
	for _, t := range plan {
		if err := w.WriteTensor(t.Name, body); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if *sync {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("bytes=%d seconds=%.6f\n", w.Size()-w.DataOffset(), time.Since(start).Seconds())
	return nil
}

func read(args []string) error {
	fs := flag.NewFlagSet("read", flag.ExitOnError)
	mode := fs.String("mode", "open", "open, pread or mmap (see the command doc)")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return fmt.Errorf("read: want one FILE")
	}
	path := fs.Arg(0)
	start := time.Now()
	var r *safetensors.Reader
	mapped := false
	switch *mode {
	case "open", "mmap":
		f, err := safetensors.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if *mode == "mmap" && !f.Mapped() {
			return fmt.Errorf("%s: not memory-mapped on this platform", path)
		}
		r = f.Reader
		mapped = *mode == "mmap"
	case "pread":
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if r, err = safetensors.NewReader(f, st.Size(), safetensors.WithName(path)); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown -mode %q", *mode)
	}
	var buf []byte
	var n int64
	var sum byte
	for _, t := range r.Tensors() {
		var err error
		if mapped {
			var b []byte
			if b, err = r.Bytes(t.Name); err != nil {
				return err
			}
			buf = append(buf[:0], b...)
		} else if buf, err = r.ReadTensor(t.Name, buf); err != nil {
			return err
		}
		n += int64(len(buf))
		if len(buf) > 0 {
			sum ^= buf[len(buf)-1]
		}
	}
	fmt.Printf("bytes=%d seconds=%.6f check=%d\n", n, time.Since(start).Seconds(), sum)
	return nil
}

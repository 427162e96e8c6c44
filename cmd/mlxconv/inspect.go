package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/safe"
)

func init() {
	register(command{
		name:    "inspect",
		summary: "print the tensors, dtypes and quantization of a GGUF or safetensors file or a model folder",
		run:     runInspect,
	})
}

const inspectSynopsis = `inspect FILE.gguf|FILE.safetensors|DIR [--json] [--full]

A GGUF file: its header (version, alignment, data offset, counts), its
metadata (arrays and long strings summarised unless --full) and its tensor
table (name, type, shape, offset, bytes).

A safetensors file, or a model folder (MLX or Hugging Face, sharded with
model.safetensors.index.json or not): the files, config.json's model_type,
the quantization (config.json's, its per-module entries, and the quantized
modules found by their .scales/.biases), the dtypes, the parameter count
and bits per weight as mlx-lm counts them, and the tensor table (name,
dtype, shape, bytes, shard). Only headers are read.

A directory with config.json or *.safetensors is a model folder; any other
directory means every *.gguf file in it, in name order.`

func runInspect(ctx context.Context, env *environment, args []string) error {
	var asJSON, full bool
	fs := newFlags(env, "inspect", inspectSynopsis)
	fs.BoolVar(&asJSON, "json", false, "print JSON on stdout")
	fs.BoolVar(&full, "full", false, "print arrays and strings in full")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: want one FILE.gguf or DIR", errUsage)
	}
	if weights, err := isWeights(fs.Arg(0)); err != nil || weights {
		if err != nil {
			return err
		}
		return inspectWeights(env, fs.Arg(0), asJSON, full)
	}
	paths, err := ggufPaths(fs.Arg(0))
	if err != nil {
		return err
	}
	var reports []inspectReport
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := inspectFile(p, full)
		if err != nil {
			return err
		}
		reports = append(reports, r)
	}
	if asJSON {
		if len(reports) == 1 {
			return writeJSON(env.stdout, reports[0])
		}
		return writeJSON(env.stdout, reports)
	}
	for i, r := range reports {
		if i > 0 {
			fmt.Fprintln(env.stdout)
		}
		if err := r.writeText(env.stdout, full); err != nil {
			return err
		}
	}
	return nil
}

// ggufPaths resolves the argument to GGUF files.
func ggufPaths(arg string) ([]string, error) {
	st, err := os.Stat(arg)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{arg}, nil
	}
	entries, err := os.ReadDir(arg)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".gguf") {
			out = append(out, filepath.Join(arg, e.Name()))
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no .gguf files in %q", errUsage, arg)
	}
	return out, nil
}

type inspectKV struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Elem  string `json:"elem_type,omitempty"`
	Len   *int   `json:"len,omitempty"`
	Value any    `json:"value"`
	v     gguf.Value
}

type inspectTensor struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Shape  []uint64 `json:"shape"`
	Offset uint64   `json:"offset"`
	Bytes  uint64   `json:"bytes"`
}

type inspectReport struct {
	File       string          `json:"file"`
	Size       int64           `json:"size"`
	Version    uint32          `json:"version"`
	Alignment  uint64          `json:"alignment"`
	DataOffset int64           `json:"data_offset"`
	KVs        []inspectKV     `json:"metadata"`
	Tensors    []inspectTensor `json:"tensors"`
	Parameters uint64          `json:"parameters"`
}

func inspectFile(path string, full bool) (inspectReport, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return inspectReport{}, err
	}
	defer f.Close()
	r := inspectReport{File: path, Size: f.Size(), Version: f.Version, Alignment: f.Alignment, DataOffset: f.DataOffset}
	for _, kv := range f.KVs() {
		k := inspectKV{Key: kv.Key, Type: kv.Value.Type(), v: kv.Value}
		if kv.Value.IsArray() {
			k.Elem = kv.Value.ElemType()
			n := kv.Value.Len()
			k.Len = &n
			if full {
				k.Value = jsonValue(kv.Value.Any())
			} else {
				var head []any
				for i := 0; i < n && i < 8; i++ {
					head = append(head, jsonValue(kv.Value.Index(i).Any()))
				}
				k.Value = head
			}
		} else {
			k.Value = jsonValue(kv.Value.Any())
		}
		r.KVs = append(r.KVs, k)
	}
	for _, t := range f.Tensors {
		r.Tensors = append(r.Tensors, inspectTensor{Name: t.Name, Type: t.Type.String(), Shape: t.Shape, Offset: t.Offset, Bytes: t.Size})
		r.Parameters += t.NumElements()
	}
	return r, nil
}

// jsonValue makes a GGUF value JSON-safe (non-UTF-8 strings as hex, floats
// that JSON cannot hold as strings).
func jsonValue(v any) any {
	switch x := v.(type) {
	case string:
		if !utf8.ValidString(x) {
			return map[string]string{"hex": fmt.Sprintf("%x", x)}
		}
		return x
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = jsonValue(s)
		}
		return out
	case float32:
		return jsonFloat(float64(x), 32)
	case float64:
		return jsonFloat(x, 64)
	case []float32:
		out := make([]any, len(x))
		for i, f := range x {
			out[i] = jsonFloat(float64(f), 32)
		}
		return out
	case []float64:
		out := make([]any, len(x))
		for i, f := range x {
			out[i] = jsonFloat(f, 64)
		}
		return out
	case []uint8:
		out := make([]uint16, len(x)) // not base64
		for i, b := range x {
			out[i] = uint16(b)
		}
		return out
	}
	return v
}

func jsonFloat(f float64, bits int) any {
	if f != f || f > 1.7e308 || f < -1.7e308 {
		return strconv.FormatFloat(f, 'g', -1, bits)
	}
	n, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', -1, bits), 64)
	return n
}

func (r inspectReport) writeText(w io.Writer, full bool) error {
	fmt.Fprintf(w, "file: %s (%d bytes)\n", safe.Name(r.File), r.Size)
	fmt.Fprintf(w, "GGUF v%d, alignment %d, data offset %d, %d metadata keys, %d tensors, %d parameters\n",
		r.Version, r.Alignment, r.DataOffset, len(r.KVs), len(r.Tensors), r.Parameters)
	fmt.Fprintln(w, "\nmetadata:")
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	for _, kv := range r.KVs {
		typ := kv.Type
		if kv.Elem != "" {
			typ = fmt.Sprintf("%s[%s]", kv.Type, kv.Elem)
		}
		val := kv.v.String()
		if s, ok := kv.v.Any().(string); ok {
			val = strconv.Quote(s)
			if !full && len(s) > 120 {
				val = strconv.Quote(s[:120]) + fmt.Sprintf("… (%d bytes)", len(s))
			}
		} else if kv.v.IsArray() && full {
			b, _ := json.Marshal(kv.Value)
			val = string(safe.JSON(b))
		} else {
			val = safe.Name(val)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", safe.Name(kv.Key), typ, val)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\ntensors:")
	tw = tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tTYPE\tSHAPE\tOFFSET\tBYTES")
	for _, t := range r.Tensors {
		dims := make([]string, len(t.Shape))
		for i, d := range t.Shape {
			dims[i] = strconv.FormatUint(d, 10)
		}
		fmt.Fprintf(tw, "  %s\t%s\t[%s]\t%d\t%d\n", safe.Name(t.Name), t.Type, strings.Join(dims, ", "), t.Offset, t.Bytes)
	}
	return tw.Flush()
}

// writeJSON writes v as indented JSON, with the characters a terminal could
// act on that encoding/json leaves raw (DEL, C1, bidi overrides) escaped.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(safe.JSON(b), '\n'))
	return err
}

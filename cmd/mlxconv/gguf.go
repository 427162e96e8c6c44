package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/ggufexport"
	"github.com/mlxconv/mlxconv/internal/safe"
)

func init() {
	register(command{
		name:    "gguf",
		summary: "export a Hugging Face or MLX model (float or quantized) to GGUF, like convert_hf_to_gguf.py",
		run:     runGGUF,
	})
}

const ggufSynopsis = `gguf --model DIR [--outfile F.gguf] [--outtype TYPE] [--force] [flags]

Exports a Hugging Face or MLX model directory (float, or MLX-quantized) to a
GGUF file llama.cpp loads, with the metadata, tensor names and tokenizer
llama.cpp's convert_hf_to_gguf.py writes. MLX-quantized weights are repacked
without loss where a GGUF type holds them (affine 1/2/3/4-bit -> Q4_1, 4-bit
symmetric -> Q4_0, 5-bit -> Q5_1, mxfp4 -> MXFP4) and dequantized otherwise;
--dry-run lists every tensor as exact or lossy. An existing output file is
refused unless --force (which replaces only earlier GGUF files).`

type ggufFlags struct {
	model, outfile, outtype  string
	revision                 string
	splitMaxSize, pre        string
	splitMaxTensors, workers int
	dryRun, json, quiet      bool
	force, listFamilies      bool
	verbose                  bool
	quant                    ggufexport.QuantOptions
}

func runGGUF(ctx context.Context, env *environment, args []string) error {
	var f ggufFlags
	fs := newFlags(env, "gguf", ggufSynopsis)
	fs.StringVar(&f.model, "model", "", "the model: a local directory (Hugging Face or MLX) or a Hugging Face Hub repo id")
	fs.StringVar(&f.revision, "revision", "", "Hub revision (branch, tag or commit) of --model")
	fs.StringVar(&f.outfile, "outfile", "", "output file (default: <model>/<Name>-<Size>-<TYPE>.gguf; {ftype} is replaced by the type)")
	fs.StringVar(&f.outtype, "outtype", "auto", "tensor type: auto, f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, or a llama-quantize file type (q2_k, q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, q5_k_s, q5_k_m, q6_k, iq4_nl, iq4_xs, tq1_0, tq2_0: the file convert_hf_to_gguf.py --outtype bf16 then llama-quantize make)")
	fs.StringVar(&f.quant.Imatrix, "imatrix", "", "K-quant types: importance matrix file of llama-imatrix (GGUF or legacy .dat)")
	fs.StringArrayVar(&f.quant.TensorTypes, "tensor-type", nil, "K-quant types: PATTERN=TYPE, tensors whose name matches the regexp get the ggml TYPE (repeatable, first match wins)")
	fs.StringVar(&f.quant.OutputTensorType, "output-tensor-type", "", "K-quant types: ggml type of output.weight")
	fs.StringVar(&f.quant.TokenEmbeddingType, "token-embedding-type", "", "K-quant types: ggml type of token_embd.weight")
	fs.BoolVar(&f.quant.LeaveOutputTensor, "leave-output-tensor", false, "K-quant types: keep output.weight in bf16")
	fs.BoolVar(&f.quant.Pure, "pure", false, "K-quant types: no type mixture, every quantized tensor gets the file type's type")
	fs.StringVar(&f.splitMaxSize, "split-max-size", "", "largest shard, N[K|M|G] (decimal units, as convert_hf_to_gguf.py)")
	fs.IntVar(&f.splitMaxTensors, "split-max-tensors", 0, "most tensors per shard")
	fs.StringVar(&f.pre, "pre", "", "name tokenizer.ggml.pre instead of detecting it (for BPE tokenizers llama.cpp does not recognise)")
	fs.BoolVar(&f.force, "force", false, "replace existing output files (earlier GGUF files only) after a successful export")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the plan (every tensor, type, exact or lossy) and write nothing")
	fs.BoolVar(&f.json, "json", false, "print a JSON summary on stdout")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress or summary on stderr")
	fs.BoolVar(&f.verbose, "verbose", false, "list every lossy tensor (largest first) after the summary")
	fs.IntVar(&f.workers, "workers", 0, "parallel work units (default: the number of CPUs)")
	fs.BoolVar(&f.listFamilies, "list-families", false, "print the supported model families (GGUF column: exported by gguf), and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if f.listFamilies {
		return writeFamilies(env.stdout)
	}
	if fs.NArg() == 1 && f.model == "" {
		f.model = fs.Arg(0) // convert_hf_to_gguf.py takes the model positionally
	} else if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if f.model == "" {
		return fmt.Errorf("%w: --model is required", errUsage)
	}
	if f.workers < 0 || f.splitMaxTensors < 0 {
		return fmt.Errorf("%w: --workers and --split-max-tensors must not be negative", errUsage)
	}
	ot, err := ggufexport.ParseOutType(f.outtype)
	if err != nil {
		return badFlag("outtype", f.outtype, err)
	}
	opts := ggufexport.ExportOptions{Model: f.model, Revision: f.revision, OutFile: f.outfile, OutType: ot, SplitMaxTensors: f.splitMaxTensors,
		Pre: f.pre, DryRun: f.dryRun, Workers: f.workers, Force: f.force, Quant: f.quant}
	opts.ResolveHub = ggufHub(env, f.quiet || f.json)
	if f.splitMaxSize != "" {
		n, err := parseSplitSize(f.splitMaxSize)
		if err != nil {
			return fmt.Errorf("%w: --split-max-size: %v", errUsage, err)
		}
		opts.SplitMaxSize = n
	}
	var bar *progressBar
	if !f.quiet && !f.dryRun {
		bar = newProgressBar(env.stderr, env.isTTY)
		opts.Progress = bar.update
		opts.Notice = bar.notice(notice(env))
	}
	sum, err := ggufexport.Export(ctx, opts)
	if bar != nil {
		bar.finish(err == nil)
	}
	if err != nil {
		return cliHint(err)
	}
	if f.json {
		if !f.dryRun && !f.quiet {
			printLossy(env, sum, f.verbose)
		}
		return writeJSON(env.stdout, sum)
	}
	if f.dryRun {
		return sum.WritePlan(env.stdout)
	}
	if !f.quiet {
		for _, w := range sum.Warnings {
			fmt.Fprintf(env.stderr, "mlxconv: warning: %s\n", safe.Name(w))
		}
		printLossy(env, sum, f.verbose)
		fmt.Fprintf(env.stderr, "mlxconv: wrote %s: %d tensors (%d exact, %d lossy), %s, %s, %.1fs\n",
			safe.Name(strings.Join(sum.Files, ", ")), sum.Tensors, sum.Exact, sum.Lossy, sum.FileType, humanBytes(sum.Bytes), sum.Seconds)
	}
	return nil
}

// printLossy sums the lossy tensors of a run up in one line: their count
// per reason (the note, or type and source), most tensors first; with verbose
// every lossy tensor follows (name, GGUF type, size: what
// scripts/oracle/llama/mlx_check.py reads), largest first (the export measures no
// per-tensor error: the largest are the ones the loss touches most).
func printLossy(env *environment, sum *ggufexport.ExportSummary, verbose bool) {
	groups, lossy := lossyGroups(sum.Detail)
	if len(lossy) == 0 {
		return
	}
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = fmt.Sprintf("%d %s", g.n, g.why)
	}
	more := ""
	if !verbose {
		more = "; --verbose lists them"
	}
	fmt.Fprintf(env.stderr, "mlxconv: lossy: %d of %d tensors (%s)%s\n", len(lossy), len(sum.Detail), safe.Name(strings.Join(parts, ", ")), more)
	if verbose {
		for _, t := range lossy {
			fmt.Fprintf(env.stderr, "mlxconv: lossy: %q (%s, %s): %s\n", t.Name, t.Type, humanBytes(int64(t.Bytes)), safe.Name(lossyReason(t)))
		}
	}
}

// lossyGroup is one reason for loss and how many tensors it touches.
type lossyGroup struct {
	why string
	n   int
}

// lossyGroups groups the lossy tensors by reason (most tensors first) and
// returns them largest first.
func lossyGroups(detail []ggufexport.ExportTensor) ([]lossyGroup, []ggufexport.ExportTensor) {
	var lossy []ggufexport.ExportTensor
	idx := map[string]int{}
	var groups []lossyGroup
	for _, t := range detail {
		if t.Exact {
			continue
		}
		lossy = append(lossy, t)
		why := lossyReason(t)
		i, ok := idx[why]
		if !ok {
			i = len(groups)
			idx[why] = i
			groups = append(groups, lossyGroup{why: why})
		}
		groups[i].n++
	}
	sort.SliceStable(groups, func(a, b int) bool { return groups[a].n > groups[b].n })
	sort.SliceStable(lossy, func(a, b int) bool { return lossy[a].Bytes > lossy[b].Bytes })
	return groups, lossy
}

// lossyReason is the tensor's note, or its type and where it was
// converted from.
func lossyReason(t ggufexport.ExportTensor) string {
	if t.Note != "" {
		return t.Note
	}
	return t.Type + " converted from " + t.From
}

// parseSplitSize is convert_hf_to_gguf.py's split_str_to_n_bytes: a number
// of bytes, optionally followed by K, M or G (powers of 1000).
func parseSplitSize(s string) (uint64, error) {
	mult := uint64(1)
	num := s
	switch {
	case strings.HasSuffix(s, "K"):
		mult, num = 1000, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, num = 1000*1000, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		mult, num = 1000*1000*1000, s[:len(s)-1]
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || num == "" || strings.HasPrefix(num, "+") {
		return 0, fmt.Errorf("invalid split size %q: want a number, optionally followed by K, M or G", s)
	}
	if n > math.MaxUint64/mult {
		return 0, fmt.Errorf("split size %q is too large", s)
	}
	return n * mult, nil
}

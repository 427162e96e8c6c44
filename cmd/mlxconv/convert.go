package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mlxconv/mlxconv/convert"
	"github.com/mlxconv/mlxconv/ggufexport"
	"github.com/mlxconv/mlxconv/internal/fsx"
	"github.com/mlxconv/mlxconv/internal/outsafe"
	"github.com/mlxconv/mlxconv/internal/safe"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/mlxbackend"
	"github.com/spf13/pflag"
)

func init() {
	register(command{
		name:    "convert",
		summary: "convert a Hugging Face model to MLX (cast, quantize, dequantize), like mlx_lm.convert",
		run:     runConvert,
	})
}

const convertSynopsis = `convert --hf-path DIR --mlx-path OUT [-q] [flags]

Converts a Hugging Face model directory to an MLX model directory with the
same output as mlx_lm.convert (tensors, config.json, index), streaming in
bounded memory. Every mlx_lm.convert flag works with the same meaning and
defaults; the flags after --trust-remote-code are mlxconv additions.`

// convertHub, when set (by the Hub commands' file), returns the Hub
// resolver and uploader convert uses for a --hf-path that is not a local
// directory and for --upload-repo. Without it those are errors.
var convertHub func(env *environment, quiet bool) (
	resolve func(ctx context.Context, repo, revision string) (string, error),
	upload func(ctx context.Context, dir, repo string) error,
	err error,
)

type convertFlags struct {
	hfPath, mlxPath            string
	quantize, dequantize       bool
	qBits, qGroupSize          int
	qMode, quantPredicate      string
	dtype, uploadRepo          string
	trustRemoteCode            bool
	rules                      []string
	rulesFile, revision        string
	maxShardSize               string
	force, dryRun, json, quiet bool
	workers                    int
	backend                    string
	listFamilies               bool
}

func runConvert(ctx context.Context, env *environment, args []string) error {
	var f convertFlags
	fs := newFlags(env, "convert", convertSynopsis)
	fs.StringVar(&f.hfPath, "hf-path", "", "path to the model: a local directory or a Hugging Face Hub repo id")
	fs.StringVar(&f.hfPath, "model", "", "alias of --hf-path")
	fs.StringVar(&f.mlxPath, "mlx-path", "mlx_model", "path to save the MLX model (must not exist, see --force)")
	fs.BoolVarP(&f.quantize, "quantize", "q", false, "generate a quantized model")
	fs.IntVar(&f.qGroupSize, "q-group-size", 0, "group size for quantization (default: the mode's, 64 for affine)")
	fs.IntVar(&f.qBits, "q-bits", 0, "bits per weight for quantization (default: the mode's, 4 for affine)")
	fs.StringVar(&f.qMode, "q-mode", "affine", "quantization mode: affine, mxfp4, nvfp4 or mxfp8")
	fs.StringVar(&f.quantPredicate, "quant-predicate", "", "mixed-bit quantization recipe: "+joinNames(convert.Recipes))
	fs.StringVar(&f.dtype, "dtype", "", "type of the non-quantized parameters: float16, bfloat16 or float32 (default: config.json's torch_dtype)")
	fs.StringVar(&f.uploadRepo, "upload-repo", "", "the Hugging Face repo to upload the model to")
	fs.BoolVarP(&f.dequantize, "dequantize", "d", false, "dequantize a quantized model")
	fs.BoolVar(&f.trustRemoteCode, "trust-remote-code", false, "accepted for compatibility; no effect (mlxconv runs no Python code)")
	fs.StringArrayVar(&f.rules, "quant-rule", nil, "per-module rule PATTERN=SPEC (repeatable, first match wins); PATTERN is a regexp searched in the module path, SPEC is skip, float16, bfloat16, float32, BITS, BITS/GROUP or BITS/GROUP/MODE")
	fs.StringVar(&f.rulesFile, "quant-rules", "", "file of quant rules, one PATTERN=SPEC per line (# comments), applied after --quant-rule")
	fs.StringVar(&f.revision, "revision", "", "Hub revision (branch, tag or commit) of --hf-path")
	fs.StringVar(&f.maxShardSize, "max-shard-size", "5GiB", "largest output shard (e.g. 5GiB, 2GB, 500MB)")
	fs.BoolVar(&f.force, "force", false, "replace an existing --mlx-path (an earlier MLX output, or an empty directory) after a successful conversion")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the plan (every tensor, action, dtype, shard, totals) and write nothing")
	fs.BoolVar(&f.json, "json", false, "print a JSON summary on stdout")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress or summary on stderr")
	fs.IntVar(&f.workers, "workers", 0, "parallel jobs (default: the number of CPUs)")
	fs.StringVar(&f.backend, "backend", "auto", "compute backend: auto, mlx or native")
	fs.BoolVar(&f.listFamilies, "list-families", false, "print the supported model families and their config.json model types, and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if f.listFamilies {
		return writeFamilies(env.stdout)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	o, err := f.options()
	if err != nil {
		return err
	}
	warnQuantFlags(env, fs, &f)
	opts := o.Options
	opts.Version, opts.Command = versionString(), cardCommand("convert", args)
	if convertHub != nil {
		if opts.ResolveHub, opts.Upload, err = convertHub(env, f.quiet); err != nil {
			return err
		}
	}
	var info mlx.BackendInfo
	if !f.dryRun {
		// One goroutine per backend call: the conversion runs --workers
		// calls in parallel.
		b, bi, err := mlxbackend.Select(o.backend, 1)
		if err != nil {
			return err
		}
		defer b.Close()
		opts.Backend, info = b, bi
	}
	var bar *progressBar
	if !f.quiet && !f.dryRun {
		bar = newProgressBar(env.stderr, env.isTTY)
		opts.Progress = bar.update
		opts.Notice = bar.notice(notice(env))
	}
	sum, err := convert.Run(ctx, opts)
	if bar != nil {
		bar.finish(err == nil)
	}
	if err != nil {
		return cliHint(err)
	}
	if f.dryRun && !f.json {
		return sum.WritePlan(env.stdout)
	}
	if f.json {
		return writeSummaryJSON(env, sum)
	}
	if !f.quiet {
		fmt.Fprintf(env.stderr, "mlxconv: wrote %s: %d tensors in %d shard(s), %s, %.3f bits per weight, %.1fs, %s\n",
			safe.Name(sum.Output), sum.Tensors, sum.Shards, humanBytes(sum.TotalSize), sum.BitsPerWeight, sum.Seconds, backendNote(info))
	}
	return nil
}

// quantFlags only matter with -q (mlx_lm.convert ignores them silently).
var quantFlags = []string{"q-bits", "q-group-size", "q-mode", "quant-predicate"}

// warnQuantFlags warns (unless --quiet) about quantization flags given
// without -q.
func warnQuantFlags(env *environment, fs *pflag.FlagSet, f *convertFlags) {
	if f.quantize || f.quiet {
		return
	}
	var unused []string
	for _, n := range quantFlags {
		if fs.Changed(n) {
			unused = append(unused, "--"+n)
		}
	}
	if len(unused) > 0 {
		fmt.Fprintf(env.stderr, "mlxconv: warning: %s given without -q: the model is not quantized (add -q to quantize)\n", strings.Join(unused, ", "))
	}
}

// convertOptions are the library options and the backend kind the flags
// select.
type convertOptions struct {
	convert.Options
	backend mlx.BackendKind
}

// options maps the flags onto convert.Options; the library's Parse
// functions validate the enumerated values.
func (f *convertFlags) options() (convertOptions, error) {
	o := convertOptions{Options: convert.Options{
		HFPath: f.hfPath, MLXPath: f.mlxPath,
		Quantize: f.quantize, QBits: f.qBits, QGroupSize: f.qGroupSize,
		Dequantize: f.dequantize,
		UploadRepo: f.uploadRepo, Revision: f.revision, TrustRemoteCode: f.trustRemoteCode,
		Force: f.force, DryRun: f.dryRun, Workers: f.workers,
	}}
	if f.hfPath == "" {
		return o, fmt.Errorf("%w: --hf-path (or --model) is required", errUsage)
	}
	if f.qBits < 0 || f.qGroupSize < 0 || f.workers < 0 {
		return o, fmt.Errorf("%w: --q-bits, --q-group-size and --workers must not be negative", errUsage)
	}
	var err error
	if o.QMode, err = mlx.ParseQuantMode(f.qMode); err != nil {
		return o, badFlag("q-mode", f.qMode, err)
	}
	if f.quantPredicate != "" {
		if o.QuantPredicate, err = convert.ParseRecipe(f.quantPredicate); err != nil {
			return o, badFlag("quant-predicate", f.quantPredicate, err)
		}
	}
	if f.dtype != "" {
		if o.DType, err = convert.ParseCastDType(f.dtype); err != nil {
			return o, badFlag("dtype", f.dtype, err)
		}
	}
	if o.backend, err = mlx.ParseBackendKind(f.backend); err != nil {
		return o, badFlag("backend", f.backend, err)
	}
	size, err := convert.ParseSize(f.maxShardSize)
	if err != nil {
		return o, fmt.Errorf("%w: --max-shard-size: %v", errUsage, err)
	}
	o.MaxShardSize = size
	for _, r := range f.rules {
		rule, err := convert.ParseRule(r)
		if err != nil {
			return o, fmt.Errorf("%w: --quant-rule: %v", errUsage, err)
		}
		o.Rules = append(o.Rules, rule)
	}
	if f.rulesFile != "" {
		fh, err := fsx.OpenRegular(f.rulesFile) // a FIFO is refused, not waited on
		if err != nil {
			return o, fmt.Errorf("%w: --quant-rules: %v", errUsage, err)
		}
		rules, err := convert.ParseRules(fh, f.rulesFile)
		fh.Close()
		if err != nil {
			return o, fmt.Errorf("%w: --quant-rules: %v", errUsage, err)
		}
		o.Rules = append(o.Rules, rules...)
	}
	return o, nil
}

// badFlag is the usage error for a flag value the library's parser refused
// (its error says what is accepted).
func badFlag(flag, value string, err error) error {
	return fmt.Errorf("%w: --%s %q: %v", errUsage, flag, value, err)
}

// joinNames joins enum values for help text.
func joinNames[T ~string](values []T) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// cliHint adds to a library error the flag that gets past it: the
// libraries name options, not flags.
func cliHint(err error) error {
	switch {
	case errors.Is(err, outsafe.ErrNotOutput):
		return fmt.Errorf("%w (--force replaces only an earlier output)", err)
	case errors.Is(err, convert.ErrExists), errors.Is(err, outsafe.ErrExists):
		return fmt.Errorf("%w (or use --force)", err)
	case errors.Is(err, convert.ErrUnsupported) && strings.Contains(err.Error(), "supported families"):
		return fmt.Errorf("%w (--list-families shows their model types)", err)
	case errors.Is(err, ggufexport.ErrUnknownPre):
		return fmt.Errorf("%w (name it with --pre, e.g. --pre llama-bpe)", err)
	}
	return err
}

func writeSummaryJSON(env *environment, sum convert.Summary) error {
	return writeJSON(env.stdout, sum)
}

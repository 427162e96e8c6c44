package convert

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model/source"
	"github.com/mlxconv/mlxconv/pipeline"
)

// Options configure Run. The zero value of each field means what
// mlx_lm.convert does by default.
type Options struct {
	// HFPath is the input: a local model directory or a Hub repo id
	// (resolved by ResolveHub).
	HFPath string
	// MLXPath is the output directory ("mlx_model" when empty). It must not
	// exist unless Force is set.
	MLXPath string

	// Quantize (-q) quantizes every quantizable layer.
	Quantize bool
	// QBits and QGroupSize default (0) to the mode's defaults.
	QBits, QGroupSize int
	// QMode is the quantization mode (the zero value is mlx.Affine; see
	// mlx.ParseQuantMode).
	QMode mlx.QuantMode
	// QuantPredicate is a mixed-precision recipe (affine only; "" for
	// none; see ParseRecipe).
	QuantPredicate Recipe
	// Rules are per-module overrides, first match wins (see Rule); they
	// take precedence over recipes and per-model overrides. They need
	// Quantize.
	Rules []Rule
	// DType (mlx.F16, mlx.BF16 or mlx.F32) is the dtype floats
	// are stored in; mlx.Invalid (the zero value) means config.json's
	// torch_dtype (or text_config.dtype).
	DType mlx.DType
	// Dequantize (-d) dequantizes a quantized model.
	Dequantize bool

	// Revision is the Hub revision for ResolveHub.
	Revision string
	// UploadRepo uploads the result to this Hub repo (needs Upload).
	UploadRepo string
	// TrustRemoteCode is accepted for mlx_lm.convert compatibility. It has
	// no effect: mlxconv runs no Python, and models that need custom code
	// are unsupported.
	TrustRemoteCode bool

	// MaxShardSize is the output shard limit in bytes (0: 5 GiB).
	MaxShardSize int64
	// Force replaces an existing MLXPath after a successful conversion,
	// atomically, if it is an earlier output of Run (an empty directory, or
	// one holding only files Run writes and an MLX model card); anything
	// else is refused.
	Force bool
	// DryRun plans without writing anything; Summary.TensorPlan lists the
	// planned tensors and Summary.WritePlan prints them.
	DryRun bool
	// Workers is the number of jobs run in parallel (0: GOMAXPROCS).
	Workers int
	// Backend does casts and (de)quantization (nil: the native backend
	// with MLX's CPU rounding).
	Backend mlx.Backend
	// Progress, if set, is called as the conversion advances, from one
	// goroutine at a time. It must return quickly.
	Progress func(pipeline.Progress)

	// Version is the mlxconv version the model card names ("": the card
	// says "(development)"); Command, if set, is the command line the card
	// shows.
	Version, Command string

	// Notice, if set, receives one-line notes about the output (leftovers
	// of earlier runs that were killed, removed).
	Notice func(msg string)

	// ResolveHub maps a Hub repo id and revision to a local snapshot
	// directory (downloading as needed). nil: a non-local HFPath is an
	// error.
	ResolveHub func(ctx context.Context, repo, revision string) (dir string, err error)
	// Upload uploads the finished output directory to repo. nil: an
	// UploadRepo is an error (raised before any work).
	Upload func(ctx context.Context, dir, repo string) error

	createFile createFunc // test hook: creates output files
	unitBytes  int64      // test hook: work-unit size
}

// Summary describes a finished (or planned) conversion.
type Summary struct {
	Input           string  `json:"input"`
	Output          string  `json:"output"`
	ModelType       string  `json:"model_type"`
	Arch            string  `json:"architecture"`
	DType           string  `json:"dtype,omitempty"`
	Quantization    string  `json:"quantization,omitempty"`
	Dequantized     bool    `json:"dequantized,omitempty"`
	Tensors         int     `json:"tensors"`
	Shards          int     `json:"shards"`
	TotalSize       int64   `json:"total_size"`
	TotalParameters int64   `json:"total_parameters"`
	BitsPerWeight   float64 `json:"bits_per_weight"`
	Backend         string  `json:"backend,omitempty"`
	DryRun          bool    `json:"dry_run,omitempty"`
	Seconds         float64 `json:"seconds"`
	// ShardFiles are the names of the output shards.
	ShardFiles []string `json:"shard_files,omitempty"`
	// TensorPlan lists every output tensor of a dry run, in module order.
	TensorPlan []PlannedTensor `json:"tensor_plan,omitempty"`

	plan *mlxPlan
}

// PlannedTensor is one output tensor of a dry run.
type PlannedTensor struct {
	Name   string `json:"name"`
	DType  string `json:"dtype"` // safetensors name: "BF16", "U32"
	Shape  []int  `json:"shape"`
	Shard  string `json:"shard"`
	Action string `json:"action"` // "cast F32->BF16", "quantize affine 4-bit g64", ...
}

// WritePlan writes the plan that was (or, for a dry run, would be)
// executed as the table mlxconv convert --dry-run prints: the model type,
// dtype and quantization, then every output tensor with its dtype, shape,
// shard and action.
func (s *Summary) WritePlan(w io.Writer) error {
	if s.plan == nil {
		return fmt.Errorf("%w: no plan", ErrOptions)
	}
	return s.plan.WriteText(w)
}

func (o *Options) qMode() string { return o.QMode.String() }

// dtypeName is DType's name, "" for none.
func (o *Options) dtypeName() string {
	if o.DType == mlx.Invalid {
		return ""
	}
	return o.DType.String()
}

// castDTypes are the dtypes Options.DType accepts (besides mlx.Invalid).
var castDTypes = []mlx.DType{mlx.F16, mlx.BF16, mlx.F32}

// ParseCastDType maps "float16", "bfloat16" or "float32" to the DType for
// Options.DType; other names are an error wrapping ErrOptions.
func ParseCastDType(s string) (mlx.DType, error) {
	if d, err := mlx.ParseDType(s); err == nil && slices.Contains(castDTypes, d) {
		return d, nil
	}
	return mlx.Invalid, fmt.Errorf("%w: dtype %q (want float16, bfloat16 or float32)", ErrOptions, s)
}

func (o *Options) mlxPath() string {
	if o.MLXPath == "" {
		return "mlx_model"
	}
	return o.MLXPath
}

// validate checks the options that need no input.
func (o *Options) validate() error {
	if _, err := mlx.ParseQuantMode(o.qMode()); err != nil {
		return fmt.Errorf("%w: QMode: %v", ErrOptions, err)
	}
	if o.DType != mlx.Invalid && !slices.Contains(castDTypes, o.DType) {
		return fmt.Errorf("%w: DType %s (want float16, bfloat16 or float32)", ErrOptions, o.DType)
	}
	if o.QuantPredicate != "" {
		if !o.QuantPredicate.valid() {
			return fmt.Errorf("%w: QuantPredicate %q (want one of %s)", ErrOptions, string(o.QuantPredicate), recipeNames())
		}
		if o.QMode != mlx.Affine {
			return fmt.Errorf("%w: quant predicates only support 'affine' quantization", ErrOptions)
		}
	}
	if o.Quantize && o.Dequantize {
		return fmt.Errorf("%w: choose either quantize or dequantize, not both", ErrOptions)
	}
	if o.QBits < 0 || o.QGroupSize < 0 || o.MaxShardSize < 0 || o.Workers < 0 {
		return fmt.Errorf("%w: negative bits, group size, shard size or worker count", ErrOptions)
	}
	if len(o.Rules) > 0 && !o.Quantize {
		return fmt.Errorf("%w: quantization rules need Quantize", ErrOptions)
	}
	for _, r := range o.Rules {
		if r.Pattern == nil {
			return fmt.Errorf("%w: rule %q has no pattern (use ParseRule)", ErrOptions, r.Text)
		}
	}
	return nil
}

// Run converts the model at opts.HFPath into an MLX model at opts.MLXPath,
// as mlx_lm.convert does: it plans from the config and the safetensors
// headers (an unsupported model fails before any weight is read), then
// streams every tensor through the backend into the output shards. Output
// goes to a temporary sibling directory, renamed into place at the end; on
// any error or when ctx is cancelled the temporary directory is removed and
// nothing is left at MLXPath. The output must not be, contain or be inside
// the input; it is locked for the run (a second run into it fails at once),
// and a path that appears at MLXPath meanwhile is never replaced without
// Force (package internal/outsafe).
func Run(ctx context.Context, opts Options) (Summary, error) {
	start := time.Now()
	var sum Summary
	if err := opts.validate(); err != nil {
		return sum, err
	}
	out := opts.mlxPath()
	sum.Output, sum.Input, sum.DryRun = out, opts.HFPath, opts.DryRun
	if opts.HFPath == "" {
		return sum, fmt.Errorf("%w: no input model (HFPath)", ErrOptions)
	}
	if !opts.DryRun && !opts.Force {
		if _, err := os.Lstat(out); err == nil {
			return sum, fmt.Errorf("%w: cannot save to the path %s as it already exists; delete it or choose another path", ErrExists, out)
		}
	}
	if opts.UploadRepo != "" && opts.Upload == nil && !opts.DryRun {
		return sum, fmt.Errorf("%w: an upload repo needs the Hub upload, which is not available in this build", ErrHub)
	}
	dir, hubRepo, err := resolveInput(ctx, &opts)
	if err != nil {
		return sum, err
	}
	inv, err := source.LoadInventory(dir)
	if err != nil {
		return sum, err
	}
	defer inv.Close()
	plan, err := makePlan(inv, opts)
	if err != nil {
		return sum, err
	}
	fillSummary(&sum, plan)
	if opts.Progress != nil {
		opts.Progress(pipeline.Progress{Stage: pipeline.StagePlan, TensorsTotal: len(plan.Tensors), BytesTotal: plan.TotalSize})
	}
	if opts.DryRun {
		sum.Seconds = time.Since(start).Seconds()
		return sum, nil
	}
	if err := ctx.Err(); err != nil {
		return sum, err
	}

	backend := opts.Backend
	if backend == nil {
		backend = mlx.NewNative(1, mlx.RoundingCPU)
		defer backend.Close()
	}
	sum.Backend = backend.Name()
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if err := write(ctx, &opts, inv, plan, backend, workers, out, hubRepo); err != nil {
		return sum, err
	}
	if opts.UploadRepo != "" {
		if err := opts.Upload(ctx, out, opts.UploadRepo); err != nil {
			return sum, fmt.Errorf("convert: upload to %s: %w", opts.UploadRepo, err)
		}
	}
	sum.Seconds = time.Since(start).Seconds()
	return sum, nil
}

func fillSummary(sum *Summary, plan *mlxPlan) {
	sum.plan = plan
	for _, s := range plan.Shards {
		sum.ShardFiles = append(sum.ShardFiles, s.Name)
	}
	if sum.DryRun {
		for i, t := range plan.Tensors {
			sum.TensorPlan = append(sum.TensorPlan, PlannedTensor{Name: t.Name, DType: t.DType.SafetensorsName(),
				Shape: t.Shape, Shard: plan.Shards[t.Shard].Name, Action: plan.Describe(i)})
		}
	}
	sum.ModelType, sum.Arch = plan.ModelType, plan.Arch
	if plan.DType != mlx.Invalid {
		sum.DType = plan.DType.String()
	}
	if q := plan.Quant; q != nil {
		sum.Quantization = fmt.Sprintf("%s %d-bit, group %d", q.Mode, q.Bits, q.GroupSize)
		if plan.Recipe != "" {
			sum.Quantization += ", recipe " + plan.Recipe
		}
	}
	sum.Dequantized = plan.Dequantize
	sum.Tensors, sum.Shards = len(plan.Tensors), len(plan.Shards)
	sum.TotalSize, sum.TotalParameters = plan.TotalSize, plan.TotalParameters
	sum.BitsPerWeight = plan.BitsPerWeight()
}

// resolveInput returns the local model directory, and the Hub repo id when
// the input came from the Hub.
func resolveInput(ctx context.Context, opts *Options) (dir, repo string, err error) {
	if st, err := os.Stat(opts.HFPath); err == nil {
		if !st.IsDir() {
			return "", "", fmt.Errorf("%w: %q is not a directory", ErrOptions, opts.HFPath)
		}
		return opts.HFPath, "", nil
	}
	if opts.ResolveHub == nil {
		return "", "", fmt.Errorf("%w: %q is not a local directory, and downloading from the Hugging Face Hub needs the hub package, which is not available in this build", ErrHub, opts.HFPath)
	}
	dir, err = opts.ResolveHub(ctx, opts.HFPath, opts.Revision)
	if err != nil {
		if strings.Contains(err.Error(), strconv.Quote(opts.HFPath)) {
			return "", "", fmt.Errorf("convert: %w", err) // it names the input already
		}
		return "", "", fmt.Errorf("convert: %q: %w", opts.HFPath, err)
	}
	return dir, opts.HFPath, nil
}

// write executes the plan into a temporary directory and renames it to out
// (pipeline.Run with the MLX sink).
func write(ctx context.Context, opts *Options, inv *source.Inventory, plan *mlxPlan, backend mlx.Backend, workers int, out, hubRepo string) error {
	dataOff, err := dataOffsets(plan)
	if err != nil {
		return err
	}
	pjobs, err := jobs(plan, backend, dataOff)
	if err != nil {
		return err
	}
	card, err := modelCard(plan, opts, inv.Dir, hubRepo)
	if err != nil {
		return err
	}
	sink, err := newSink(out, inv.Dir, opts.Force, opts.Notice, opts.createFile)
	if err != nil {
		return err
	}
	sink.plan, sink.card = plan, card
	return pipeline.Run(ctx, inv, sink, pjobs, pipeline.Options{Workers: workers, UnitBytes: opts.unitBytes,
		Progress: opts.Progress, Prefix: "convert"})
}

package ggufexport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/ggufexport/quantplan"
	"github.com/mlxconv/mlxconv/internal/outsafe"
	"github.com/mlxconv/mlxconv/internal/prealloc"
	"github.com/mlxconv/mlxconv/internal/safe"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model"
	"github.com/mlxconv/mlxconv/model/family"
	"github.com/mlxconv/mlxconv/model/source"
	"github.com/mlxconv/mlxconv/pipeline"
)

// Export: Hugging Face or MLX model directory → GGUF, as llama.cpp's
// convert_hf_to_gguf.py writes it, through convert's inventory and
// architecture tables and the pipeline executor.

// OutType is the tensor type of an export (convert_hf_to_gguf.py's
// --outtype). The zero value means OutAuto; see ParseOutType.
type OutType string

// Output types. Auto is convert_hf_to_gguf.py's default: bf16 when the first
// tensor with two or more dimensions is bfloat16, else f16; MLX-quantized
// tensors are repacked losslessly where a GGUF type holds them and become
// Q8_0 otherwise.
const (
	OutAuto OutType = "auto"
	OutF32  OutType = "f32"
	OutF16  OutType = "f16"
	OutBF16 OutType = "bf16"
	OutQ8_0 OutType = "q8_0"
	OutQ4_0 OutType = "q4_0"
	OutQ4_1 OutType = "q4_1"
	OutQ5_0 OutType = "q5_0"
	OutQ5_1 OutType = "q5_1"
)

var outTypes = map[OutType]struct {
	t  gguf.Type
	ft gguf.FileType
}{
	OutF32: {gguf.F32, gguf.FileTypeAllF32}, OutF16: {gguf.F16, gguf.FileTypeMostlyF16}, OutBF16: {gguf.BF16, gguf.FileTypeMostlyBF16},
	OutQ8_0: {gguf.Q8_0, gguf.FileTypeMostlyQ8_0}, OutQ4_0: {gguf.Q4_0, gguf.FileTypeMostlyQ4_0}, OutQ4_1: {gguf.Q4_1, gguf.FileTypeMostlyQ4_1},
	OutQ5_0: {gguf.Q5_0, gguf.FileTypeMostlyQ5_0}, OutQ5_1: {gguf.Q5_1, gguf.FileTypeMostlyQ5_1},
}

// outTypeList lists the accepted output types.
var outTypeList = []OutType{OutAuto, OutF32, OutF16, OutBF16, OutQ8_0, OutQ4_0, OutQ4_1, OutQ5_0, OutQ5_1}

// ParseOutType maps an output type name ("q8_0", case-insensitive) to an
// OutType; an unknown name is an error wrapping ErrExport.
func ParseOutType(s string) (OutType, error) {
	if t := OutType(strings.ToLower(s)); slices.Contains(outTypeList, t) {
		return t, nil
	}
	if ft, ok := quantplan.ParseFileType(s); ok {
		return OutType(strings.ToLower(quantplan.Name(ft))), nil
	}
	return "", fmt.Errorf("%w: output type %q (want one of %s)", ErrExport, s, joinOutTypes())
}

// ErrUnsupported is convert.ErrUnsupported (model.ErrUnsupported): a
// model type (or checkpoint feature) neither command handles, or one
// convert handles that has no GGUF export. errors.Is(err, convert.ErrUnsupported) holds for both.
var ErrUnsupported = model.ErrUnsupported

// unsupportedError is a model the exporter refuses: it is both ErrExport
// and ErrUnsupported, and reads as ErrExport's message.
type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string   { return e.msg }
func (e *unsupportedError) Unwrap() []error { return []error{ErrExport, ErrUnsupported} }

// noExport is the error for a model type without a GGUF export.
func noExport(modelType string) error {
	return &unsupportedError{fmt.Sprintf("%v: model type %q has no GGUF export (supported families: %s)", ErrExport, modelType, strings.Join(family.Names(true), ", "))}
}

// ExportOptions configure Export. The zero value of each field means
// convert_hf_to_gguf.py's default.
type ExportOptions struct {
	// Model is the input: a directory (Hugging Face or MLX), or, with
	// ResolveHub, a Hub repo id.
	Model string
	// Revision is the Hub revision for ResolveHub ("" for the default
	// branch); it is an error for a local Model.
	Revision string
	// ResolveHub, if set, maps a Model that does not exist locally (a Hub
	// repo id) and Revision to a local snapshot directory, downloading as
	// needed; pass Preflight as its check before the weights (see
	// hub.Client.Resolve). The repo id then becomes ModelID, and the
	// default OutFile is <name>-{ftype}.gguf in the current directory
	// (never in the Hub cache). nil: a Model that does not exist is an
	// error.
	ResolveHub func(ctx context.Context, repo, revision string) (dir string, err error)
	// ModelID, if set, is the Hub repo id ("org/name") Model was downloaded
	// from: the metadata names (general.name, basename, size label) come
	// from its last component instead of the directory name, which for a
	// Hub cache snapshot is a commit hash.
	ModelID string
	// OutFile is the output path ("" : <Model>/<name>-<size>-<type>.gguf as
	// the converter names it). "{ftype}" / "{FTYPE}" are replaced by the
	// output type. Shards of a split are named <stem>-00001-of-0000N.gguf.
	OutFile string
	// OutType is the tensor type ("" means auto).
	OutType OutType
	// SplitMaxTensors and SplitMaxSize (bytes) split the output as
	// --split-max-tensors / --split-max-size do (0: no limit).
	SplitMaxTensors int
	SplitMaxSize    uint64
	// Pre names tokenizer.ggml.pre for a BPE tokenizer instead of detecting
	// it (required when the pre-tokenizer is not recognised).
	Pre string
	// DryRun plans without writing; ExportSummary.WritePlan prints the
	// plan.
	DryRun bool
	// Force replaces existing output files, if they are GGUF files (an
	// earlier export); without it an existing output is refused.
	Force bool
	// Notice, if set, receives one-line notes about the output (leftovers
	// of earlier runs that were killed, removed).
	Notice func(msg string)
	// Workers is the number of work units run in parallel (0: GOMAXPROCS).
	Workers int
	// Progress, if set, is called as tensors complete, from one goroutine at
	// a time.
	Progress func(pipeline.Progress)
	// Quant are llama-quantize's knobs, for the K-quant output types only.
	Quant QuantOptions

	unitBytes int64 // test hook: executor work-unit size
}

// ExportTensor is one planned GGUF tensor.
type ExportTensor struct {
	Name  string   `json:"name"`
	Type  string   `json:"type"`
	Shape []uint64 `json:"shape"` // ggml order (ne[0] first)
	// Source is the checkpoint tensor it comes from ("" for generated ones).
	Source string `json:"source"`
	// From describes the source data ("bf16", "affine 4-bit g64, bf16
	// scales", "generated").
	From string `json:"from"`
	// Op describes the conversion ("copy", "convert", "repack",
	// "dequantize", plus transforms).
	Op string `json:"op"`
	// Exact reports whether the GGUF values equal the source values
	// (for MLX-quantized sources: MLX's parameters, or MLX's dequantized
	// values). After a run it reflects what was measured while writing.
	Exact bool `json:"exact"`
	// Note explains a lossy or conditional result.
	Note  string `json:"note,omitempty"`
	Bytes uint64 `json:"bytes"`
	Shard int    `json:"shard"`

	op    *tensorOp
	extra []float32
	ins   []*source.Input
	pad   int // rows read; the rest, to the shape, are zeros (0: none)
}

// exportPlan is a complete description of an export, a value: no I/O, no
// counters (what the MLX scales and biases say is read before planning by
// the inspect step; what writing measures comes back separately).
type exportPlan struct {
	Input     string `json:"input"`
	ModelType string `json:"model_type"`
	Arch      string `json:"architecture"`
	OutType   string `json:"outtype"`
	FileType  string `json:"file_type"`
	// Files are the output paths (one, or the shards of a split).
	Files   []string       `json:"files"`
	Tensors []ExportTensor `json:"tensors"`
	// KVs are the metadata of the (first) file.
	KVs        []gguf.KV    `json:"-"`
	Parameters int64        `json:"parameters"`
	Bytes      int64        `json:"bytes"`
	Shards     []gguf.Shard `json:"-"`
	// Warnings are conditions convert_hf_to_gguf.py would log (tokenizer).
	Warnings []string `json:"warnings,omitempty"`

	vocab *ggufVocab
}

// ExportSummary describes a finished (or planned) export.
type ExportSummary struct {
	Input    string   `json:"input"`
	Files    []string `json:"files"`
	Arch     string   `json:"architecture"`
	OutType  string   `json:"outtype"`
	FileType string   `json:"file_type"`
	Tensors  int      `json:"tensors"`
	Bytes    int64    `json:"bytes"`
	Exact    int      `json:"exact"`
	Lossy    int      `json:"lossy"`
	DryRun   bool     `json:"dry_run,omitempty"`
	Seconds  float64  `json:"seconds"`
	// Warnings are the conditions convert_hf_to_gguf.py would log
	// (tokenizer).
	Warnings []string       `json:"-"`
	Detail   []ExportTensor `json:"tensor_list,omitempty"`

	plan *exportPlan
}

// WritePlan writes the plan that was (or, for a dry run, would be)
// executed as the text mlxconv gguf --dry-run prints: the model type and
// architecture, the output type, each file with its tensors, and the
// metadata.
func (s *ExportSummary) WritePlan(w io.Writer) error {
	if s.plan == nil {
		return fmt.Errorf("%w: no plan", ErrExport)
	}
	return s.plan.WriteText(w)
}

// Export converts the model at opts.Model into a GGUF file (or split
// shards): plan from the config, tokenizer files and safetensors headers,
// then stream every tensor through the pipeline executor into a temporary
// file next to the output, renamed into place at the end. On any error or
// cancellation nothing is left behind. Unlike convert_hf_to_gguf.py, an
// existing output file is refused unless Force, and Force replaces only a
// GGUF file; an output that is one of the files the export reads (also
// through a symlink or a hard link) or is inside one of the model's
// subdirectories is refused, and each output is locked for the run
// (package internal/outsafe).
func Export(ctx context.Context, opts ExportOptions) (*ExportSummary, error) {
	start := time.Now()
	if opts.Model == "" {
		return nil, fmt.Errorf("%w: no input model", ErrExport)
	}
	if err := resolveModel(ctx, &opts); err != nil {
		return nil, err
	}
	st, err := os.Stat(opts.Model)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrExport, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: %q is not a directory", ErrExport, opts.Model)
	}
	if err := Preflight(opts.Model); err != nil {
		return nil, err
	}
	inv, err := source.LoadInventory(opts.Model)
	if err != nil {
		return nil, err
	}
	defer inv.Close()
	plan, err := planExport(inv, opts)
	if err != nil {
		return nil, err
	}
	if err := refuseExisting(plan, opts); err != nil {
		return nil, err
	}
	sum := &ExportSummary{Input: opts.Model, Files: plan.Files, Arch: plan.Arch, OutType: plan.OutType,
		FileType: plan.FileType, Tensors: len(plan.Tensors), Bytes: plan.Bytes, DryRun: opts.DryRun, Warnings: plan.Warnings, plan: plan}
	if opts.Progress != nil {
		// The generated tensors are written with the header; the progress
		// counts what the executor streams.
		n, bytes := 0, int64(0)
		for _, t := range plan.Tensors {
			if t.extra == nil {
				n++
				bytes += int64(t.Bytes)
			}
		}
		opts.Progress(pipeline.Progress{Stage: pipeline.StagePlan, TensorsTotal: n, BytesTotal: bytes})
	}
	if !opts.DryRun {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		stats, err := writeExport(ctx, inv, plan, opts)
		if err != nil {
			return nil, err
		}
		plan.finishExactness(stats)
	}
	for _, t := range plan.Tensors {
		if t.Exact {
			sum.Exact++
		} else {
			sum.Lossy++
		}
	}
	sum.Detail = plan.Tensors
	sum.Seconds = time.Since(start).Seconds()
	return sum, nil
}

// finishExactness folds the repack statistics measured while writing
// (stats[i] for tensor i) into the tensors' Exact and Note.
func (p *exportPlan) finishExactness(stats []repackStats) {
	for i := range p.Tensors {
		t := &p.Tensors[i]
		if t.op == nil || t.op.mode != opRepack {
			continue
		}
		n, bad := stats[i].blocks.Load(), stats[i].inexact.Load()
		if bad == 0 {
			t.Exact, t.Note = true, ""
		} else {
			t.Exact = false
			t.Note = fmt.Sprintf("%d of %d blocks: scale/bias rounded to float16", bad, n)
		}
	}
}

// candidate is a checkpoint tensor on its way to the plan.
type candidate struct {
	src   string // MLX/HF parameter name
	name  string // GGUF name
	bid   int
	float *source.Input
	quant *source.Module
	shape []int // numpy order, logical (dequantized) shape
	pos   int64 // emission order key
	sub   int
	first bool              // emitted before the others (a Hub checkpoint's MXFP4 experts)
	rule  *model.TensorRule // the family's modify_tensors step, if any
	rows  []int             // the rule's row gather (nil: every row)
	pad   int               // rows before zero-row padding (0: none)
}

// planExport plans the export of an inventory (which must come from
// source.LoadInventory of opts.Model).
func planExport(inv *source.Inventory, opts ExportOptions) (*exportPlan, error) {
	outType := opts.OutType
	if outType == "" {
		outType = OutAuto
	}
	kq, im, err := kquantSetup(&outType, opts)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(outTypeList, outType) {
		return nil, fmt.Errorf("%w: output type %q (want one of %s)", ErrExport, string(opts.OutType), joinOutTypes())
	}
	if opts.SplitMaxTensors < 0 || opts.Workers < 0 {
		return nil, fmt.Errorf("%w: negative split or worker count", ErrExport)
	}
	model, err := source.LoadModelWith(converterInventory(inv), converterMLX(inv))
	if err != nil {
		return nil, err
	}
	arch := lookupArch(model.ModelType)
	ok := arch != nil
	if !ok {
		return nil, noExport(model.ModelType)
	}
	h := newHParams(inv.Config)
	rope, err := newRopeParams(h)
	if err != nil {
		return nil, err
	}
	blockCount, err := blockCountOf(arch, h)
	if err != nil {
		return nil, err
	}
	vocabSize, err := vocabSizeOf(arch, h)
	if err != nil {
		return nil, err
	}
	vocab, err := loadVocab(inv.Dir, vocabOptions{Arch: arch.Vocab, VocabSize: vocabSize, Pre: opts.Pre})
	if err != nil {
		return nil, err
	}

	pl := &exportPlanner{inv: inv, arch: arch, h: h, outType: outType, vocab: vocab, kq: kq}
	cands, err := pl.candidates(model)
	if err != nil {
		return nil, err
	}
	archName := archNameOf(arch, h)
	plan := &exportPlan{Input: inv.Dir, ModelType: model.ModelType, Arch: archName, OutType: outTypeName(outType, kq), vocab: vocab,
		Warnings: slices.Clone(vocab.Warnings)}
	pl.autoFloat = pl.resolveAuto(outType)
	if pl.facts, err = pl.inspectQuant(cands); err != nil {
		return nil, err
	}

	extras, extraKVs, err := extraTensors(arch, h, rope)
	if err != nil {
		return nil, err
	}
	for _, e := range extras {
		plan.Tensors = append(plan.Tensors, ExportTensor{Name: e.Name, Type: gguf.F32.String(), Shape: []uint64{uint64(len(e.Values))},
			From: "generated", Op: "config", Exact: true, extra: e.Values})
	}
	for i := range cands {
		t, err := pl.planTensor(&cands[i])
		if err != nil {
			return nil, err
		}
		plan.Tensors = append(plan.Tensors, t)
	}

	// Metadata.
	infos := make([]gguf.TensorInfo, len(plan.Tensors))
	for i, t := range plan.Tensors {
		typ, _ := gguf.ParseType(t.Type)
		infos[i] = gguf.TensorInfo{Name: t.Name, Type: typ, Shape: t.Shape}
	}
	ftype := pl.fileType(plan.Tensors)
	plan.FileType = ftype.String()
	counts := countParams(infos)
	plan.Parameters = counts.total
	nameDir := inv.Dir
	if opts.ModelID != "" {
		nameDir = path.Base(opts.ModelID)
	}
	md, err := loadMetadata(inv.Dir, nameDir, inv.Config, inv.GenerationConfig, counts.total)
	if err != nil {
		return nil, err
	}
	if md.sizeLabel == "" && counts.total > 0 {
		md.sizeLabel = sizeLabel(counts)
	}
	var kvs kvList
	kvs.Set("general.architecture", gguf.NewValue(archName))
	for _, kv := range extraKVs {
		kvs.Set(kv.Key, kv.Value)
	}
	kvs.Set("general.type", gguf.NewValue("model"))
	for _, kv := range md.kvs() {
		kvs.Set(kv.Key, kv.Value)
	}
	mw := &metaWriter{Arch: archName, H: h, FileType: ftype, Rope: rope, BlockCount: blockCount, Has: paramSet(model)}
	if err := arch.Params(mw); err != nil {
		return nil, err
	}
	for _, kv := range mw.KVs.List {
		kvs.Set(kv.Key, kv.Value)
	}
	arrayKVs, err := pl.layerArrayKVs(blockCount)
	if err != nil {
		return nil, err
	}
	for _, kv := range arrayKVs {
		kvs.Set(kv.Key, kv.Value)
	}
	kvs.Set("general.quantization_version", gguf.NewValue[uint32](2))
	for _, kv := range vocab.KVs() {
		kvs.Set(kv.Key, kv.Value)
	}
	plan.KVs = kvs.List
	if kq != 0 {
		if infos, err = applyKQuant(plan, kq, opts, im); err != nil {
			return nil, err
		}
	}

	// Output file(s).
	out := opts.OutFile
	encoding := strings.TrimPrefix(strings.TrimPrefix(ftype.String(), "ALL_"), "MOSTLY_")
	if out == "" {
		name := md.basename
		if name == "" {
			name = md.name
		}
		if name == "" {
			name = "ggml-model"
		}
		fn := strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(name), " ", "-"), "/", "-")
		for _, part := range []string{md.sizeLabel, md.finetune, md.version, encoding} {
			if part != "" {
				fn += "-" + strings.ReplaceAll(strings.TrimSpace(part), " ", "-")
			}
		}
		out = filepath.Join(inv.Dir, fn+".gguf")
	} else {
		dir, base := filepath.Split(out)
		r := strings.NewReplacer("{ftype}", strings.ToLower(encoding), "{outtype}", strings.ToLower(encoding),
			"{FTYPE}", strings.ToUpper(encoding), "{OUTTYPE}", strings.ToUpper(encoding))
		out = dir + r.Replace(base)
	}
	shards, err := gguf.PlanSplit(out, plan.KVs, infos, gguf.SplitOptions{MaxTensors: opts.SplitMaxTensors, MaxBytes: opts.SplitMaxSize})
	if err != nil {
		return nil, err
	}
	plan.Shards = shards
	index := map[string]int{}
	for i, t := range plan.Tensors {
		index[t.Name] = i
	}
	for si, sh := range shards {
		plan.Files = append(plan.Files, sh.Path)
		for _, ti := range sh.Plan.Tensors {
			plan.Tensors[index[ti.Name]].Shard = si
			plan.Tensors[index[ti.Name]].Bytes = ti.Size
			plan.Bytes += int64(ti.Size)
		}
	}
	return plan, nil
}

func joinOutTypes() string {
	s := make([]string, len(outTypeList))
	for i, t := range outTypeList {
		s[i] = string(t)
	}
	return strings.Join(s, ", ") + ", " + kquantOutTypes()
}

// exportPlanner carries one planExport.
type exportPlanner struct {
	inv       *source.Inventory
	arch      *archInfo
	h         *hparams
	outType   OutType
	autoFloat gguf.Type // OutAuto's float type
	vocab     *ggufVocab
	facts     map[string]quantFacts // the inspect step's findings
	arrays    []layerScalar         // parameters written as KV arrays
	kq        gguf.FileType         // a K-quant file type (0: none); outType is then bf16
}

// sourcePositions numbers the checkpoint tensors in the order
// convert_hf_to_gguf.py reads them: shard files sorted, names sorted
// within a file.
func (pl *exportPlanner) sourcePositions() map[[2]any]int64 {
	byFile := map[int][]string{}
	for _, t := range pl.inv.Tensors {
		byFile[t.File] = append(byFile[t.File], t.Name)
	}
	pos := map[[2]any]int64{}
	files := make([]int, 0, len(byFile))
	for f := range byFile {
		files = append(files, f)
	}
	sort.Ints(files)
	var n int64
	for _, f := range files {
		names := byFile[f]
		sort.Strings(names)
		for _, nm := range names {
			pos[[2]any{f, nm}] = n
			n++
		}
	}
	return pos
}

// candidates maps the model's parameters to GGUF names and orders them.
func (pl *exportPlanner) candidates(model *source.Model) ([]candidate, error) {
	cl := &candidateList{arch: pl.arch, h: pl.h}
	for i := range model.Modules {
		if err := cl.addModule(&model.Modules[i]); err != nil {
			return nil, err
		}
	}
	if cl.err != nil {
		return nil, cl.err
	}
	if len(cl.unmapped) > 0 {
		return nil, cl.unmappedError()
	}
	if err := cl.finishStacks(); err != nil {
		return nil, err
	}
	// A head the checkpoint has although the config ties it: mlx-lm drops
	// it, convert_hf_to_gguf.py writes it.
	if !cl.haveHead && !pl.arch.DropHead && !pl.dropTiedHead() {
		cl.addCheckpointHead(pl.inv)
	}
	cl.out = fuseCandidates(pl.arch.Fuse, cl.out)
	pl.orderCandidates(cl.out)
	pl.arrays = cl.arrays
	return cl.out, nil
}

// dropTiedHead reports whether the architecture skips a checkpoint head
// that tie_word_embeddings (default false) ties (archInfo.DropTiedHead).
func (pl *exportPlanner) dropTiedHead() bool {
	if !pl.arch.DropTiedHead {
		return false
	}
	tied, _, err := pl.h.FindBool("tie_word_embeddings")
	return err == nil && tied
}

// resolveAuto returns auto's float type as convert_hf_to_gguf.py guesses
// it: bf16 when, in reading order, the first tensor with two or more
// dimensions that is bfloat16 or float16 is bfloat16; f16 otherwise.
func (pl *exportPlanner) resolveAuto(t OutType) gguf.Type {
	if t != OutAuto {
		return outTypes[t].t
	}
	pos := pl.sourcePositions()
	best, bestPos := mlx.Invalid, int64(math.MaxInt64)
	for _, st := range pl.inv.Tensors {
		if len(st.Shape) < 2 {
			continue
		}
		if st.DType != mlx.BF16 && st.DType != mlx.F16 {
			continue
		}
		if p := pos[[2]any{st.File, st.Name}]; p < bestPos {
			best, bestPos = st.DType, p
		}
	}
	if best == mlx.BF16 {
		return gguf.BF16
	}
	return gguf.F16
}

// f32Blk are more block tensors the converter keeps in float32 (Gemma 3n's
// AltUp coefficients).
var f32Blk = map[string]bool{"altup_correct_coef.weight": true, "altup_predict_coef.weight": true}

// forcedF32 is convert_hf_to_gguf.py's rule for tensors kept in float32.
func forcedF32(name string, ndims int) bool {
	if ndims <= 1 || strings.HasSuffix(name, "_norm.weight") || !strings.HasSuffix(name, ".weight") {
		return true
	}
	if name == "position_embd.weight" { // MODEL_TENSOR.POS_EMBD
		return true
	}
	if rest, ok := strings.CutPrefix(name, "blk."); ok {
		if _, tail, ok := strings.Cut(rest, "."); ok {
			return tail == "ffn_gate_inp.weight" || tail == "ffn_gate_inp_shexp.weight" || tail == "ssm_conv1d.weight" ||
				tail == "shortconv.conv.weight" || f32Blk[tail]
		}
	}
	return false
}

// tensorInputs returns a candidate's inputs (weight, scales, biases for a
// quantized one), its logical shape and notes: Gemma 3's token_embd loses
// the rows beyond the tokenizer.
func (pl *exportPlanner) tensorInputs(c *candidate) ([]*source.Input, []int, []string, error) {
	shape := slices.Clone(c.shape)
	var ins []*source.Input
	if c.quant != nil {
		ins = []*source.Input{c.quant.Weight, c.quant.Scales}
		if c.quant.Biases != nil {
			ins = append(ins, c.quant.Biases)
		}
	} else {
		ins = []*source.Input{c.float}
	}
	var notes []string

	// Gemma 3: token_embd loses the rows beyond the tokenizer.
	if pl.arch.TrimEmbd && c.name == "token_embd.weight" && len(pl.vocab.Tokens) < shape[0] {
		n := len(pl.vocab.Tokens)
		trimmed := make([]*source.Input, len(ins))
		for i, in := range ins {
			cp := *in
			cp.Shape = slices.Clone(in.Shape)
			cp.Shape[0] = n
			if in.Op != source.OpDirect {
				return nil, nil, nil, fmt.Errorf("%w: %q: cannot trim a derived tensor", ErrExport, c.src)
			}
			trimmed[i] = &cp
		}
		ins = trimmed
		notes = append(notes, fmt.Sprintf("rows %d -> %d (tokenizer size)", shape[0], n))
		shape[0] = n
	}
	if len(shape) > 0 {
		n, err := pl.padRows(c, shape[0])
		if err != nil {
			return nil, nil, nil, err
		}
		if n > 0 {
			notes = append(notes, fmt.Sprintf("rows %d -> %d (zero rows to vocab_size)", shape[0], n))
			c.pad, shape[0] = shape[0], n
		}
	}
	return ins, shape, notes, nil
}

// planTensor decides one tensor's type and transform.
func (pl *exportPlanner) planTensor(c *candidate) (ExportTensor, error) {
	t := ExportTensor{Name: c.name, Source: c.src}
	ins, shape, notes, err := pl.tensorInputs(c)
	if err != nil {
		return t, err
	}

	op := &tensorOp{ne0: shape[len(shape)-1], oneD: len(shape) == 1}
	if len(shape) == 0 {
		op.ne0 = 1
	}
	// The family's GGUF reshape and value rule (op.ne0 stays the input's
	// row: reshapes move no bytes).
	gshape, transforms, err := pl.tensorRule(c, shape, op)
	if err != nil {
		return t, err
	}

	// Llama Q/K permutation.
	if pl.arch.PermuteQK {
		perm, err := pl.qkPermutation(c, shape, op)
		if err != nil {
			return t, err
		}
		transforms = append(transforms, perm...)
	}
	ndims := len(gshape)

	if c.quant != nil {
		q := *c.quant.Quant
		op.q, op.scaleDType = q, c.quant.Scales.DType
		t.From = describeQuant(q, op.scaleDType)
		if err := pl.planQuant(&t, op, c, ins, ndims); err != nil {
			return t, err
		}
	} else {
		if raw := rawAddOne(ins[0]); raw != nil {
			ins[0], op.normShift = raw, true
			transforms = append(transforms, "+1")
		}
		more, note, err := pl.planFloat(&t, op, c, ins[0], gshape)
		if err != nil {
			return t, err
		}
		transforms = append(transforms, more...)
		notes = append(notes, note...)
	}
	more, err := pl.planRule(&t, c, op)
	if err != nil {
		return t, err
	}
	transforms = append(transforms, more...)
	t.Type = op.out.String()
	if len(transforms) > 0 {
		t.Op += " (" + strings.Join(transforms, ", ") + ")"
	}
	if len(notes) > 0 {
		if t.Note != "" {
			notes = append([]string{t.Note}, notes...)
		}
		t.Note = strings.Join(notes, "; ")
	}
	// ggml order and the block-size check.
	t.Shape = ggmlShape(gshape)
	if err := checkRows(c, t.Shape, op.out); err != nil {
		return t, err
	}
	op.desc = t.Op + " -> " + op.out.String()
	t.op, t.ins, t.pad = op, ins, c.pad
	return t, nil
}

// checkRows checks that a row of the ggml shape fills whole blocks of the
// output type, and that a padded tensor's zero rows can be encoded in it.
func checkRows(c *candidate, shape []uint64, out gguf.Type) error {
	if bs := out.BlockSize(); bs > 1 && shape[0]%bs != 0 {
		return fmt.Errorf("%w: %q: row of %d elements for %s", ErrExport, c.name, shape[0], out)
	}
	if c.pad > 0 {
		if _, err := zeroRow(out, shape[0]); err != nil {
			return fmt.Errorf("%w: %q: zero-row padding: %w", ErrExport, c.name, err)
		}
	}
	return nil
}

// floatType is the output type of a float tensor.
func (pl *exportPlanner) floatType(name string, ndims, ne0 int) gguf.Type {
	if forcedF32(name, ndims) {
		return gguf.F32
	}
	typ := pl.autoFloat
	if bs := typ.BlockSize(); bs > 1 && uint64(ne0)%bs != 0 {
		return gguf.F16 // gguf-py's QuantError fallback
	}
	return typ
}

// planQuant decides an MLX-quantized tensor: repack, or dequantize.
func (pl *exportPlanner) planQuant(t *ExportTensor, op *tensorOp, c *candidate, ins []*source.Input, ndims int) error {
	want := pl.outType
	if forcedF32(c.name, ndims) {
		want = OutF32
	}
	if repack, ok := pl.repackType(op.q, c, want); ok {
		op.mode, op.out = opRepack, repack
		t.Op = "repack"
		t.Exact, t.Note = probeExact(pl.facts[c.src], op)
		return nil
	}
	planDequant(t, op, want)
	return nil
}

// quantFacts is what the inspect step learned from an MLX-quantized
// tensor's scales and biases: the data the planner's repack decisions
// depend on, as a plain value.
type quantFacts struct {
	probed    bool // the scales were read (not derived: an AWQ import)
	groups    int
	symmetric bool // every group: scale float16-exact, bias == -8·scale
	badScale  int  // groups whose scale float16 cannot hold
	badParams int  // groups whose scale or (read) bias float16 cannot hold
}

// inspectQuant is the export's inspect step, run before planning: it reads
// the scales and biases of the MLX-quantized candidates whose repack
// decision depends on them (Q4_0 needs bias == -8·scale; a repack is exact
// where float16 holds the parameters), and returns the facts by source
// name. Planning itself reads no tensor data.
func (pl *exportPlanner) inspectQuant(cands []candidate) (map[string]quantFacts, error) {
	facts := map[string]quantFacts{}
	for i := range cands {
		c := &cands[i]
		if !pl.needsQuantFacts(c) {
			continue
		}
		ins, _, _, err := pl.tensorInputs(c)
		if err != nil {
			return nil, err
		}
		f, err := pl.quantFacts(ins)
		if err != nil {
			return nil, err
		}
		facts[c.src] = f
	}
	return facts, nil
}

// quantFacts reads one quantized tensor's scales and biases.
func (pl *exportPlanner) quantFacts(ins []*source.Input) (quantFacts, error) {
	var f quantFacts
	s, err := pl.readInput(ins[1])
	if err != nil || s == nil {
		return f, err
	}
	var b []byte
	if len(ins) > 2 {
		if b, err = pl.readInput(ins[2]); err != nil {
			return f, err
		}
	}
	dt := ins[1].DType
	f.probed, f.groups = true, len(s)/dt.Size()
	f.symmetric = b != nil && f.groups > 0
	for i := 0; i < f.groups; i++ {
		sc := loadParam(s, dt, i)
		_, sOK := f16Exact(sc)
		bOK := true
		if b != nil {
			bias := loadParam(b, dt, i)
			_, bOK = f16Exact(bias)
			if !sOK || bias != -8*sc {
				f.symmetric = false
			}
		}
		if !sOK {
			f.badScale++
		}
		if !sOK || !bOK {
			f.badParams++
		}
	}
	return f, nil
}

// readInput reads a whole (small) input tensor: scales or biases.
func (pl *exportPlanner) readInput(in *source.Input) ([]byte, error) {
	if in.Op != source.OpDirect && in.Op != source.OpStack {
		return nil, nil // derived (AWQ import): decided while writing
	}
	total := in.NumElements() * int64(in.DType.Size())
	if total > 1<<34 {
		return nil, fmt.Errorf("%w: tensor %q too large to probe", ErrExport, in.Name)
	}
	out := make([]byte, 0, total)
	for _, s := range in.Sources {
		n := int64(1)
		for _, d := range s.Shape {
			n *= int64(d)
		}
		n *= int64(s.DType.Size())
		if int64(len(out))+n > total {
			n = total - int64(len(out))
		}
		buf := make([]byte, n)
		if _, err := pl.inv.ReadSource(s, buf, 0); err != nil && !(errors.Is(err, io.EOF) && n == 0) {
			return nil, fmt.Errorf("gguf: read %q: %w", s.Name, err)
		}
		out = append(out, buf...)
	}
	return out, nil
}

// probeExact predicts whether a repack is exact from the inspected scales
// and biases alone; writing measures it (codes of zero make an inexact
// scale harmless).
func probeExact(f quantFacts, op *tensorOp) (bool, string) {
	if op.q.Mode == mlx.MXFP4 {
		return true, ""
	}
	if op.scaleDType == mlx.F16 && op.out != gguf.Q4_0 {
		return true, ""
	}
	if !f.probed {
		return false, "exactness measured while writing"
	}
	bad := f.badParams
	if op.out == gguf.Q4_0 {
		bad = f.badScale
	}
	if bad == 0 {
		return true, ""
	}
	return false, fmt.Sprintf("%d of %d groups have a scale or bias float16 cannot hold (exact only where their codes are 0; measured while writing)", bad, f.groups)
}

// fileType is general.file_type: the output type's, or for auto the type
// holding most elements of the tensors with two or more dimensions.
func (pl *exportPlanner) fileType(ts []ExportTensor) gguf.FileType {
	if pl.kq != 0 {
		return pl.kq
	}
	if pl.keptMXFP4(ts) {
		return gguf.FileTypeMostlyMXFP4
	}
	if pl.outType != OutAuto {
		return outTypes[pl.outType].ft
	}
	count := map[string]uint64{}
	var order []string
	for _, t := range ts {
		if len(t.Shape) < 2 {
			continue
		}
		n := uint64(1)
		for _, d := range t.Shape {
			n *= d
		}
		if _, ok := count[t.Type]; !ok {
			order = append(order, t.Type)
		}
		count[t.Type] += n
	}
	best := ""
	for _, k := range order {
		if best == "" || count[k] > count[best] {
			best = k
		}
	}
	byType := map[string]gguf.FileType{"F32": gguf.FileTypeAllF32, "F16": gguf.FileTypeMostlyF16, "BF16": gguf.FileTypeMostlyBF16,
		"Q8_0": gguf.FileTypeMostlyQ8_0, "Q4_0": gguf.FileTypeMostlyQ4_0, "Q4_1": gguf.FileTypeMostlyQ4_1, "Q5_0": gguf.FileTypeMostlyQ5_0,
		"Q5_1": gguf.FileTypeMostlyQ5_1, "MXFP4": gguf.FileTypeMostlyMXFP4}
	if ft, ok := byType[best]; ok {
		return ft
	}
	if pl.autoFloat == gguf.BF16 {
		return gguf.FileTypeMostlyBF16
	}
	return gguf.FileTypeMostlyF16
}

// keptMXFP4 reports whether the architecture keeps MXFP4 tensors
// (archInfo.KeepMXFP4), some tensor is MXFP4 and the output type is a
// float one (or auto): the converter's file type is then MOSTLY_MXFP4_MOE.
func (pl *exportPlanner) keptMXFP4(ts []ExportTensor) bool {
	switch {
	case !pl.arch.KeepMXFP4:
		return false
	case pl.outType != OutAuto && pl.outType != OutF32 && pl.outType != OutF16 && pl.outType != OutBF16:
		return false
	}
	for _, t := range ts {
		if t.Type == gguf.MXFP4.String() {
			return true
		}
	}
	return false
}

// WriteText writes the plan as the --dry-run listing: a header, one line
// per tensor and the totals.
func (p *exportPlan) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "model type: %s -> GGUF architecture %s\n", safe.Name(p.ModelType), p.Arch)
	fmt.Fprintf(&b, "outtype: %s (general.file_type %s)\n", p.OutType, p.FileType)
	for i, f := range p.Files {
		n := 0
		for _, t := range p.Tensors {
			if t.Shard == i {
				n++
			}
		}
		fmt.Fprintf(&b, "file: %s (%d tensors, %d bytes)\n", safe.Name(f), n, p.Shards[i].Plan.FileSize)
	}
	fmt.Fprintf(&b, "metadata: %d keys\n", len(p.KVs))
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "TENSOR\tTYPE\tSHAPE\tFROM\tOP\tEXACT\tSOURCE")
	exact := 0
	for _, t := range p.Tensors {
		e := "exact"
		if t.Exact {
			exact++
		} else {
			e = "lossy"
		}
		if t.Note != "" {
			e += ": " + t.Note
		}
		dims := make([]string, len(t.Shape))
		for i, d := range t.Shape {
			dims[i] = strconv.FormatUint(d, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t[%s]\t%s\t%s\t%s\t%s\n", safe.Name(t.Name), t.Type, strings.Join(dims, ", "), t.From, t.Op, safe.Name(e), safe.Name(t.Source))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "total: %d tensors (%d exact, %d lossy), %d parameters, %d bytes of tensor data\n",
		len(p.Tensors), exact, len(p.Tensors)-exact, p.Parameters, p.Bytes)
	return err
}

// writeExport writes the planned files: the plan's tensors lowered to
// pipeline jobs, run into the GGUF sink.
func writeExport(ctx context.Context, inv *source.Inventory, plan *exportPlan, opts ExportOptions) ([]repackStats, error) {
	backend := mlx.NewNative(1, mlx.RoundingCPU) // casts of derived inputs
	defer backend.Close()
	stats := make([]repackStats, len(plan.Tensors))
	byName := make(map[string]int, len(plan.Tensors))
	for i, t := range plan.Tensors {
		byName[t.Name] = i
	}
	var jobs []pipeline.Job
	for si, sh := range plan.Shards {
		for _, ti := range sh.Plan.Tensors {
			i := byName[ti.Name]
			t := &plan.Tensors[i]
			if t.extra != nil {
				continue // written with the header
			}
			op, st, name := t.op, &stats[i], t.Name
			out := pipeline.Output{Name: ti.Name, File: si, Offset: sh.Plan.DataOffset + int64(ti.Offset), Size: t.dataBytes(ti.Size)}
			j, err := source.StreamJob(t.Source, t.ins, false, []pipeline.Output{out}, backend,
				func(u pipeline.Unit, ins [][]byte, rows int64) ([][]byte, error) {
					if op.kquantDirect() {
						q, err := op.kq.apply(ins[0], gguf.BF16, rows, u)
						if err != nil {
							return nil, fmt.Errorf("gguf: tensor %q: %w", name, err)
						}
						return [][]byte{q}, nil
					}
					res, err := op.transform(ins, rows, st)
					if err == nil && op.kq != nil {
						var q []byte
						q, err = op.kq.apply(res[0], op.out, rows, u)
						putBuf(res[0])
						res[0] = q
					}
					if err != nil {
						return nil, fmt.Errorf("gguf: tensor %q: %w", name, err)
					}
					return res, nil
				})
			if err != nil {
				return nil, err
			}
			j.RowGroup, j.Release = op.rowGroup(), release
			j.Whole = j.Whole || op.whole()
			jobs = append(jobs, j)
		}
	}
	unit := opts.unitBytes
	if unit <= 0 {
		// Float conversions hold a unit's input, its float32 widening and
		// the output: 4 MiB units keep a worker near 20 MiB.
		unit = 4 << 20
	}
	sink := &ggufSink{plan: plan, dir: inv.Dir, force: opts.Force, notice: opts.Notice}
	err := pipeline.Run(ctx, inv, sink, jobs, pipeline.Options{Workers: opts.Workers, UnitBytes: unit,
		Progress: opts.Progress, Prefix: "gguf"})
	if err != nil {
		return nil, err
	}
	return stats, nil
}

// ggufSink writes the GGUF file(s) of a plan (one, or the shards of a
// split), each reserved through outsafe: a temporary sibling of the final
// path, renamed into place by Commit. It implements pipeline.Sink.
type ggufSink struct {
	plan    *exportPlan
	dir     string // the model directory
	force   bool
	notice  func(string)
	targets []*outsafe.Target
}

// Open implements pipeline.Sink: it reserves every shard before anything
// is written, preallocates each file and writes its header and generated
// tensors.
func (s *ggufSink) Open() error {
	// The inputs are the model directory's entries (the directory itself
	// may hold the output, as the default --outfile does), *.gguf files
	// aside.
	var inputs []string
	if entries, err := os.ReadDir(s.dir); err == nil {
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".gguf") {
				inputs = append(inputs, filepath.Join(s.dir, e.Name()))
			}
		}
	}
	for _, sh := range s.plan.Shards {
		t, err := outsafe.Reserve(sh.Path, outsafe.Options{Inputs: inputs, Hosts: []string{s.dir}, Force: s.force,
			Replaceable: earlierGGUF, Notice: s.notice})
		if err != nil {
			return outputError(err)
		}
		s.targets = append(s.targets, t)
	}
	byName := make(map[string]int, len(s.plan.Tensors))
	for i, t := range s.plan.Tensors {
		byName[t.Name] = i
	}
	for si, sh := range s.plan.Shards {
		f := s.targets[si].File()
		// Reserve the whole file: a full disk fails here, before any tensor
		// is converted, and the writes get cheaper.
		if err := prealloc.File(f, sh.Plan.FileSize); err != nil {
			return fmt.Errorf("gguf: %s: %w", sh.Path, err)
		}
		if _, err := f.WriteAt(sh.Plan.AppendHeader(nil), 0); err != nil {
			return fmt.Errorf("gguf: %s: write header: %w", sh.Path, err)
		}
		for _, ti := range sh.Plan.Tensors {
			t := &s.plan.Tensors[byName[ti.Name]]
			if err := writePadding(f, t, sh.Plan.DataOffset+int64(ti.Offset), ti.Size); err != nil {
				return fmt.Errorf("gguf: %s: %w", sh.Path, err)
			}
			if t.extra == nil {
				continue
			}
			data, err := gguf.AppendQuantize(nil, gguf.F32, t.extra)
			if err != nil {
				return err
			}
			if _, err := f.WriteAt(data, sh.Plan.DataOffset+int64(ti.Offset)); err != nil {
				return fmt.Errorf("gguf: %s: %w", sh.Path, err)
			}
		}
	}
	return nil
}

// WriteAt implements pipeline.Sink.
func (s *ggufSink) WriteAt(file int, p []byte, off int64) error {
	_, err := s.targets[file].File().WriteAt(p, off)
	return err
}

// FileName implements pipeline.Sink.
func (s *ggufSink) FileName(file int) string { return s.plan.Shards[file].Path }

// Commit implements pipeline.Sink: it closes every file, then renames
// each into place.
func (s *ggufSink) Commit() error {
	for i, t := range s.targets {
		if err := t.File().Close(); err != nil {
			return fmt.Errorf("gguf: close %s: %w", s.plan.Shards[i].Path, err)
		}
	}
	for _, t := range s.targets {
		if err := t.Commit(); err != nil {
			return outputError(err)
		}
	}
	return nil
}

// Abort implements pipeline.Sink: it removes what was reserved and not
// committed.
func (s *ggufSink) Abort() {
	for i := len(s.targets) - 1; i >= 0; i-- {
		s.targets[i].Abort() // no-op once committed
	}
}

// outputError maps an outsafe refusal to ErrExport.
func outputError(err error) error {
	var oe *outsafe.Error
	if errors.As(err, &oe) {
		return fmt.Errorf("%w: %w", ErrExport, err)
	}
	return fmt.Errorf("gguf: %w", err)
}

// earlierGGUF reports why p is not an earlier GGUF export (nil when it is,
// so Force may replace it): it must be a regular file (not a symlink)
// starting with the GGUF magic.
func earlierGGUF(p string) error {
	st, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return errors.New("it is not a regular file")
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != "GGUF" {
		return errors.New("it is not a GGUF file")
	}
	return nil
}

// Package pipeline is the one executor of mlxconv: it streams byte-range
// jobs from source tensors into a Sink, on a bounded pool of workers, and
// finishes the sink atomically.
//
// The stages of a run:
//
//		inspect (optional) → plan (a pure value) → jobs → Run(source, sink, jobs)
//
//	  - A plan is built by the caller's planning rules (package convert for
//	    MLX, package ggufexport for GGUF) from headers and configuration. It
//	    is a value: no I/O, no counters. Anything a plan needs to know about
//	    tensor data (the GGUF exporter's "are these MLX scales float16-exact,
//	    is this 4-bit tensor symmetric") is read by an explicit inspect step
//	    before planning, which yields a plain value the planner consults.
//	  - Jobs are the plan lowered for execution. A job reads source slices (a
//	    named byte range of an input file: one tensor of a safetensors shard,
//	    or one expert of a stack), split into row units of at most
//	    Options.UnitBytes input bytes (at least one row; with a Job.RowGroup,
//	    rounded up to a whole number of row groups), runs its Transform on
//	    each unit and writes the results
//	    at each Output's offset in the sink. Jobs touch disjoint output
//	    ranges and run in any order; memory stays workers × unit size.
//	  - A Sink is where outputs go: Open creates and preallocates its files
//	    and writes what precedes the streamed data (headers, generated
//	    tensors); WriteAt writes a range; Commit finishes and renames into
//	    place; Abort removes everything. Both sinks (the MLX directory in
//	    package convert, the GGUF file(s) in package ggufexport) reserve
//	    their outputs through internal/outsafe.
//	  - Run is the protocol, written once: Open, execute, check for
//	    cancellation, Commit; Abort on any error or cancellation, so nothing
//	    is left behind.
//
// Progress is reported through a callback (one goroutine at a time):
// StageWrite with the totals when streaming starts, after each completed
// job, and StageDone once the sink is committed.
//
// The package knows no model family and no file format.
package pipeline

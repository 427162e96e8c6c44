// Command mlxconv converts Hugging Face models to MLX (cast, quantize,
// dequantize) and exports MLX or HF models to GGUF. It is a thin layer of
// flags over the library packages; run "mlxconv help" for the commands.
//
// Exit codes: 0 success, 1 error, 2 usage error, 130 after SIGINT and 143
// after SIGTERM (128 + the signal number, what a shell reports for a
// process the signal killed). The first SIGINT or SIGTERM cancels the run,
// which removes its temporary files and exits with that code; the handler
// is released at once, so a second signal ends the process immediately.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/mlxconv/mlxconv/internal/safe"
	"github.com/spf13/pflag"
)

// command is one subcommand. run gets the arguments after the command name
// and returns the process exit code's error (nil for success).
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *environment, args []string) error
}

// environment is what commands may touch: streams and the environment
// variables, injectable for tests.
type environment struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	getenv         func(string) string
	isTTY          bool
	// flagSink, if set, receives every flag set newFlags makes (the
	// completion command reads the commands' flags that way).
	flagSink func(*pflag.FlagSet)
}

var commands = map[string]command{}

// register adds a command; each command's file calls it from init.
func register(c command) { commands[c.name] = c }

// errUsage marks a usage error (exit code 2).
var errUsage = errors.New("usage error")

func main() {
	ctx, stop := signalContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := &environment{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, getenv: os.Getenv, isTTY: isTerminal(os.Stderr)}
	code := runMain(ctx, env, os.Args[1:])
	stop()
	os.Exit(code)
}

func runMain(ctx context.Context, env *environment, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "-v" {
		writeVersionLine(env.stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "mlxconv: unknown command %q\n\n", args[0])
		usage(env.stderr)
		return 2
	}
	err := c.run(ctx, env, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, pflag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(env.stderr, "mlxconv: %s (see 'mlxconv %s --help')\n", safe.Name(errorText(err)), c.name)
		return 2
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		// After a signal, whatever error the unwinding produced is the
		// interruption's.
		sig := syscall.SIGINT
		var se *signalError
		if errors.As(context.Cause(ctx), &se) {
			sig = se.sig
		}
		fmt.Fprintf(env.stderr, "mlxconv: %s interrupted by %s\n", c.name, signalName(sig))
		return 128 + int(sig)
	default:
		// Names in errors are quoted where they are made; escaping the
		// whole message as well keeps one a wrapper forgot from reaching
		// the terminal raw (or splitting the one-line error).
		fmt.Fprintf(env.stderr, "mlxconv: %s\n", safe.Name(errorText(err)))
		return 1
	}
}

// packageTags are the package names the libraries' sentinels start with
// ("convert: invalid options"), and the usage marker: the one-line error
// leaves them out, so a message reads "mlxconv: invalid options: …", not
// "mlxconv convert: convert: invalid options: …".
var packageTags = map[string]bool{"convert": true, "gguf": true, "ggufexport": true, "hub": true,
	"mlx": true, "outsafe": true, "bridge": true, "usage error": true}

// errorText is err's message without the package tags: whole
// ": "-separated segments outside double-quoted names (which %q makes).
func errorText(err error) string {
	msg := err.Error()
	var out []string
	for _, seg := range splitOutsideQuotes(msg, ": ") {
		if !packageTags[seg] {
			out = append(out, seg)
		}
	}
	if len(out) == 0 {
		return msg
	}
	return strings.Join(out, ": ")
}

// splitOutsideQuotes splits s at sep where sep is not inside a
// double-quoted, backslash-escaped string.
func splitOutsideQuotes(s, sep string) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch {
		case quoted && s[i] == '\\':
			i++
		case s[i] == '"':
			quoted = !quoted
		case !quoted && strings.HasPrefix(s[i:], sep):
			out = append(out, s[start:i])
			start = i + len(sep)
			i += len(sep) - 1
		}
	}
	return append(out, s[start:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "mlxconv converts Hugging Face models to MLX and exports MLX or HF models to GGUF.")
	fmt.Fprintln(w, "\nUsage: mlxconv <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'mlxconv <command> --help' for a command's flags, 'mlxconv --version' (-v) for the version.")
}

// newFlags returns a pflag set that reports errors instead of exiting.
func newFlags(env *environment, name, synopsis string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.SortFlags = false
	if env.flagSink != nil {
		env.flagSink(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "Usage: mlxconv %s\n\nFlags:\n%s", synopsis, fs.FlagUsages())
	}
	return fs
}

// parseFlags parses args, mapping flag errors to errUsage.
func parseFlags(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

// notice prints a library's one-line note on stderr.
func notice(env *environment) func(string) {
	return func(msg string) { fmt.Fprintf(env.stderr, "mlxconv: note: %s\n", msg) }
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// signalError is the cause of a context cancelled by a signal.
type signalError struct{ sig syscall.Signal }

func (e *signalError) Error() string { return "interrupted by " + signalName(e.sig) }

// signalName returns "SIGINT", "SIGTERM" or the signal's description.
func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// signalContext returns a context cancelled by the first of sigs to
// arrive, with a *signalError as its cause. Unlike signal.NotifyContext it
// stops catching the signals as soon as the first arrives, so a second one
// has its default effect (the process ends at once) even when the
// cancelled run is slow to unwind. stop releases the handler and the
// context; call it once the run is over.
func signalContext(parent context.Context, sigs ...os.Signal) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	go func() {
		select {
		case s := <-ch:
			signal.Stop(ch)
			sig, _ := s.(syscall.Signal)
			if sig == 0 {
				sig = syscall.SIGINT
			}
			cancel(&signalError{sig: sig})
		case <-ctx.Done():
			signal.Stop(ch)
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
	}
}

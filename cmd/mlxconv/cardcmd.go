package main

import (
	"os"
	"path/filepath"
	"strings"
)

// pathFlags are the flags whose value may be a local path: the model
// card shows only its last element (a card is meant to be published, and
// /Users/<name>/… is nobody else's business).
var pathFlags = map[string]bool{"--hf-path": true, "--model": true, "--mlx-path": true, "--quant-rules": true}

// cardCommand is the command line for the model card: "mlxconv NAME
// ARGS…", shell-quoted, local paths reduced to their base name.
func cardCommand(name string, args []string) string {
	out := []string{"mlxconv", name}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if flag, val, ok := strings.Cut(a, "="); ok && pathFlags[flag] {
			out = append(out, flag+"="+shellQuote(cardPath(val)))
			continue
		}
		out = append(out, shellQuote(a))
		if pathFlags[a] && i+1 < len(args) {
			i++
			out = append(out, shellQuote(cardPath(args[i])))
		}
	}
	return strings.Join(out, " ")
}

// cardPath is p's base name if p exists locally, else p (a repo id).
func cardPath(p string) string {
	if _, err := os.Stat(p); err == nil || filepath.IsAbs(p) {
		return filepath.Base(filepath.Clean(p))
	}
	return p
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

package main

import (
	"io"
	"os"
	"strconv"
)

// terminalWidth returns the column count of the terminal w writes to: the
// window size the terminal reports, else $COLUMNS, else 0 (unknown).
func terminalWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if n := windowColumns(f); n > 0 {
			return n
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 0
}

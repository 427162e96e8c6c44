//go:build !linux && !darwin

package main

import "os"

// windowColumns is unknown (0) here: terminalWidth falls back to $COLUMNS.
func windowColumns(*os.File) int { return 0 }

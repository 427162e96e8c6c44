//go:build 386 || amd64

package fparith

// hostRule: x86's default NaN is negative.
var hostRule = X86

//go:build !(386 || amd64)

package fparith

// hostRule: ARM's default NaN is positive (so is the IEEE 754 recommended
// one other architectures use).
var hostRule = ARM

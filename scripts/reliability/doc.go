// Package reliability holds the end-to-end fault tests of the mlxconv
// command (issue "Reliability"): each test builds a fixture for one bad
// input or fault (a FIFO as a weight file, output = input through a symlink
// or a hard link, two runs into one path, kill -9 and rerun, escape
// sequences in names, a truncated libmlxc, ...), runs the real binary, and
// asserts the exit code, the one-line message, that no input byte changed
// and that nothing was left behind.
//
// The binary is built once per test run from ./cmd/mlxconv
// (CGO_ENABLED=0, as shipped). `./build.sh test` runs this package as its
// "reliability" step and prints "reliability: N passed, M failed".
package reliability

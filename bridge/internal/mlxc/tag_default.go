//go:build !nomlx

package mlxc

const disabledByTag = false

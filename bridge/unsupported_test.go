//go:build !((darwin || linux) && !ios && !android && (amd64 || arm64) && !nomlx)

package bridge

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/bridge/bridgetest"
)

// In builds that cannot load libraries, Open fails cleanly with the reason,
// even for a library that exists.
func TestUnsupportedBuild(t *testing.T) {
	err := Available()
	require.ErrorIs(t, err, ErrUnsupported)
	p, berr := bridgetest.Path(bridgetest.ABI6)
	require.NoError(t, berr)
	_, err = Open(p, Options{})
	require.ErrorIs(t, err, ErrUnsupported)
	assert.Regexp(t, `nomlx|not supported by purego`, err.Error())
}

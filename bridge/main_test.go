package bridge

import (
	"os"
	"testing"

	"github.com/mlxconv/mlxconv/bridge/bridgetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	bridgetest.Cleanup()
	os.Exit(code)
}

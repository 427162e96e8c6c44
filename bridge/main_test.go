package bridge

import (
	"os"
	"testing"

	"github.com/mlxconv/mlxconv/bridge/internal/fakelib"
)

func TestMain(m *testing.M) {
	code := m.Run()
	fakelib.Cleanup()
	os.Exit(code)
}

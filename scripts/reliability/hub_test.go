package reliability

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// closedLoopbackPort returns http://127.0.0.1:PORT where nothing listens.
func closedLoopbackPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr
}

// TestHubUnreachableTypo: a --hf-path or --model that is a mistyped local
// path is taken as a repo id; with the network on and a Hub that cannot be
// reached (nothing listens on the loopback endpoint, or the host name does
// not exist) the command fails on the first attempt with one line that
// says so, instead of retrying for ~31 s. The harness timeout catches a
// retry loop.
func TestHubUnreachableTypo(t *testing.T) {
	endpoints := map[string]string{
		"refused":      closedLoopbackPort(t),
		"no such host": "https://nonexistent.invalid",
	}
	for name, ep := range endpoints {
		t.Run(name, func(t *testing.T) {
			env := []string{"HF_HUB_OFFLINE=", "HF_ENDPOINT=" + ep}
			out := filepath.Join(t.TempDir(), "out")
			r := run(t, runOpts{Env: env, Timeout: 20 * time.Second}, "convert", "--hf-path", "some/typo-path", "--mlx-path", out)
			requireOneLineError(t, r, 1, `"some/typo-path"`, "not a local directory and the Hub could not be reached", "cannot reach the Hub")
			require.NotContains(t, r.Stderr, "retrying")
			require.NoDirExists(t, out)

			r = run(t, runOpts{Env: env, Timeout: 20 * time.Second}, "gguf", "--model", "some/typo-path", "--outfile", filepath.Join(t.TempDir(), "o.gguf"))
			requireOneLineError(t, r, 1, `"some/typo-path": not a local directory and the Hub could not be reached`, "cannot reach the Hub")
		})
	}
	t.Run("offline", func(t *testing.T) {
		// HF_HUB_OFFLINE=1 (the harness default) never touches the network.
		r := run(t, runOpts{Env: []string{"HF_ENDPOINT=" + closedLoopbackPort(t)}, Timeout: 20 * time.Second},
			"convert", "--hf-path", "some/typo-path", "--mlx-path", filepath.Join(t.TempDir(), "out"))
		requireOneLineError(t, r, 1, `"some/typo-path"`, "offline")
	})
}

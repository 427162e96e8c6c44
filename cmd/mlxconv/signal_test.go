//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSignalContextHelper is the child process of TestSignalContext: it
// waits for the first signal, reports the context's cause, then sleeps
// without touching the signals again.
func TestSignalContextHelper(t *testing.T) {
	if os.Getenv("MLXCONV_TEST_SIGNAL_CHILD") != "1" {
		t.Skip("child process of TestSignalContext")
	}
	ctx, stop := signalContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Println("ready")
	<-ctx.Done()
	fmt.Println("cancelled:", context.Cause(ctx))
	time.Sleep(time.Minute) // a run slow to unwind; the second signal must end it
	fmt.Println("not killed")
}

// TestSignalContext checks that the first SIGINT or SIGTERM cancels the
// context with the signal as the cause, and that the handler is released
// then: the second signal kills the process (its default action).
func TestSignalContext(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(signalName(sig), func(t *testing.T) {
			cmd := selfCommand("-test.run=^TestSignalContextHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), "MLXCONV_TEST_SIGNAL_CHILD=1")
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			defer func() { _ = cmd.Process.Kill() }()
			lines := make(chan string, 8)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			next := func() string {
				select {
				case l := <-lines:
					return l
				case <-time.After(20 * time.Second):
					t.Fatal("child did not answer")
					return ""
				}
			}
			require.Equal(t, "ready", next())
			require.NoError(t, cmd.Process.Signal(sig))
			require.Equal(t, "cancelled: interrupted by "+signalName(sig), next())
			require.NoError(t, cmd.Process.Signal(sig))
			done := make(chan error, 1)
			go func() {
				for range lines {
				}
				done <- cmd.Wait()
			}()
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("second signal did not end the process (handler not released)")
			}
			var ee *exec.ExitError
			require.True(t, errors.As(err, &ee), "want death by signal, got %v", err)
			ws := ee.Sys().(syscall.WaitStatus)
			require.True(t, ws.Signaled(), "exit status %v: the second signal was caught", ws)
			require.Equal(t, sig, ws.Signal())
		})
	}
}

// TestRunMainInterrupted checks the exit code and message of a run whose
// context a signal cancelled: 130 for SIGINT, 143 for SIGTERM.
func TestRunMainInterrupted(t *testing.T) {
	for _, tc := range []struct {
		cause error
		code  int
		msg   string
	}{
		{&signalError{sig: syscall.SIGINT}, 130, "interrupted by SIGINT"},
		{&signalError{sig: syscall.SIGTERM}, 143, "interrupted by SIGTERM"},
		{nil, 130, "interrupted by SIGINT"}, // cancelled without a signal (library callers)
	} {
		t.Run(tc.msg, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(tc.cause)
			var stdout, stderr bytes.Buffer
			env := &environment{stdout: &stdout, stderr: &stderr, stdin: strings.NewReader(""), getenv: func(string) string { return "" }}
			code := runMain(ctx, env, []string{"convert", "--hf-path", t.TempDir(), "--mlx-path", t.TempDir() + "/out"})
			require.Equal(t, tc.code, code, stderr.String())
			require.Equal(t, "mlxconv: convert "+tc.msg+"\n", stderr.String())
		})
	}
}

//go:build unix

package hub

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// fileLock is an advisory flock(2) lock on path, the same lock
// huggingface_hub's filelock takes on .locks/…/<etag>.lock, so a Python
// process and mlxconv never write the same blob at once.
type fileLock struct{ f *os.File }

// lockFile waits (polling, cancellable) for the lock on path.
func lockFile(ctx context.Context, path string) (*fileLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o664)
	if err != nil {
		return nil, err
	}
	delay := 10 * time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &fileLock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EACCES) {
			// No flock on this file system (some network mounts): go on
			// without it; blob integrity does not depend on the lock.
			f.Close()
			return &fileLock{}, nil
		}
		if err := sleepCtx(ctx, delay); err != nil {
			f.Close()
			return nil, err
		}
		delay = min(delay*2, 500*time.Millisecond)
	}
}

func (l *fileLock) unlock() {
	if l == nil || l.f == nil {
		return
	}
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}

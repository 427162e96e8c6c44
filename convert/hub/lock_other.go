//go:build !unix

package hub

import "context"

// fileLock is a no-op where flock(2) is unavailable; downloads stay
// correct (each blob is verified and renamed into place) but two
// processes may fetch the same blob twice.
type fileLock struct{}

func lockFile(ctx context.Context, path string) (*fileLock, error) { return &fileLock{}, ctx.Err() }

func (l *fileLock) unlock() {}

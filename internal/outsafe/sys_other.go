//go:build !unix

package outsafe

import "os"

// tryLock does not lock outside Unix.
func tryLock(*os.File) (busy bool, err error) { return false, nil }

// pidGone never reports a dead owner outside Unix, so no leftover is
// removed there.
func pidGone(int) bool { return false }

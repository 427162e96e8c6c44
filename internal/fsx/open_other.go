//go:build !unix

package fsx

import "os"

// Without O_NONBLOCK the open itself may wait on a special file that
// replaced the regular one after OpenRegular's stat; the platforms this
// tool ships for are all unix.
const openFlag = 0

func setBlocking(*os.File) error { return nil }

func noDevice(error) bool { return false }

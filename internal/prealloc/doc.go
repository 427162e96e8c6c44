// Package prealloc reserves the disk space of an output file whose final
// size is known before any data is written. On Linux it asks the file
// system for the blocks (fallocate), which turns a full disk into one
// clear error before the first tensor is converted and makes the later
// positioned writes into the page cache cheaper (the file system has no
// delayed allocation to do per write). Elsewhere, and on file systems
// without fallocate, it only sets the file's size.
package prealloc

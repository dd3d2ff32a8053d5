//go:build !linux

package activations

import "os"

// mmapFile returns nil: outside linux the Reader uses ReadAt.
func mmapFile(*os.File, int64) []byte { return nil }

// munmap is never called outside linux.
func munmap([]byte) error { return nil }

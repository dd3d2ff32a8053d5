//go:build linux

package activations

import (
	"os"
	"syscall"
)

// mmapFile maps size bytes of f read-only. It returns nil (and the Reader
// falls back to ReadAt) when the file cannot be mapped.
func mmapFile(f *os.File, size int64) []byte {
	if size <= 0 || int64(int(size)) != size {
		return nil
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil
	}
	return b
}

// munmap releases a mapping made by mmapFile.
func munmap(b []byte) error { return syscall.Munmap(b) }

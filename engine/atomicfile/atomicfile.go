// Package atomicfile writes files so that a reader never sees a partial one.
//
// A File is created as a hidden temporary file in the destination's directory
// (".name.tmp-XXXX"). Commit flushes it to stable storage and renames it over
// the destination; Abort (or a crash before Commit) leaves the destination
// untouched. AbortPending removes the temporary files of every File not yet
// committed or aborted, for a process stopping on a signal. Every output
// file grain writes — activation stores, probes, checkpoints, rankings —
// goes through this package.
package atomicfile

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// pending holds the Files created and not yet committed or aborted.
var pending sync.Map // *File → struct{}

// File is an output file that becomes visible under its final name only when
// Commit succeeds. It buffers writes; use Write, or W for an io.Writer.
type File struct {
	path string
	tmp  *os.File
	W    *bufio.Writer
	done bool
}

// Create opens a temporary file beside path.
func Create(path string) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	f := &File{path: path, tmp: tmp, W: bufio.NewWriterSize(tmp, 1<<20)}
	pending.Store(f, struct{}{})
	return f, nil
}

// AbortPending removes the temporary file of every File not yet committed
// or aborted (or still being committed: a rename that wins the race makes
// the removal a no-op), leaving their destinations untouched. It is meant for a
// process about to exit on a signal: those Files must not be used after.
func AbortPending() {
	pending.Range(func(k, _ any) bool {
		f := k.(*File)
		pending.Delete(f)
		os.Remove(f.tmp.Name())
		return true
	})
}

// Write appends p to the file.
func (f *File) Write(p []byte) (int, error) { return f.W.Write(p) }

// Path is the final destination path.
func (f *File) Path() string { return f.path }

// Commit flushes, syncs and renames the temporary file to its destination.
// After a failed Commit the temporary file is removed and the destination is
// unchanged.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("%s: already committed or aborted", f.path)
	}
	f.done = true
	// f stays pending until renamed (or removed): a signal during the
	// flush, sync or rename must still find its temporary file.
	defer pending.Delete(f)
	err := f.W.Flush()
	if err == nil {
		// CreateTemp makes the file 0600; outputs are ordinary files.
		err = f.tmp.Chmod(0o644)
	}
	if err == nil {
		err = f.tmp.Sync()
	}
	if cerr := f.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.tmp.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.tmp.Name())
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return nil
}

// Abort discards the temporary file. It is safe to call after Commit (it
// does nothing then), so `defer f.Abort()` is the idiom.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.tmp.Close()
	os.Remove(f.tmp.Name())
	pending.Delete(f)
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

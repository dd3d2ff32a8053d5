package corpus

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ModulePath is the Go module path of grain, which SharedDataDir looks for
// in go.mod files.
const ModulePath = "github.com/grainlab/grain"

// SharedDataDir returns the absolute path of grain's shared data folder
// (the corpora described in its README.md). It is $GRAIN_DATA when that is
// set, which must then name a directory. Otherwise SharedDataDir walks up
// from the working directory; in each directory it returns ../shared/data
// if the directory holds the go.mod of module ModulePath and that folder
// exists (a checkout with the shared folder beside it), else shared/data if
// that exists. It returns an error saying what it tried when it finds
// nothing.
func SharedDataDir() (string, error) {
	if dir := os.Getenv("GRAIN_DATA"); dir != "" {
		if !isDir(dir) {
			return "", fmt.Errorf("corpus: GRAIN_DATA=%q is not a directory", dir)
		}
		return filepath.Abs(dir)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("corpus: finding the shared data folder: %w", err)
	}
	for dir := wd; ; {
		if isGrainModule(filepath.Join(dir, "go.mod")) {
			if d := filepath.Join(filepath.Dir(dir), "shared", "data"); isDir(d) {
				return d, nil
			}
		}
		if d := filepath.Join(dir, "shared", "data"); isDir(d) {
			return d, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("corpus: shared data folder not found: GRAIN_DATA is not set, and neither "+
		"../shared/data beside the go.mod of %s nor a shared/data folder is in %s or above it", ModulePath, wd)
}

// SourceDir returns the root of grain's source tree: the nearest directory
// at or above the working directory that holds the go.mod of module
// ModulePath. Shipped files that live in the source tree (such as the
// trained models in nn/models) are found from it.
func SourceDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; {
		if isGrainModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("grain's source tree (the go.mod of %s) is not at or above %s", ModulePath, wd)
		}
		dir = parent
	}
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// isGrainModule reports whether the file at path is a go.mod whose module
// directive names ModulePath.
func isGrainModule(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "//")
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module")
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '\t' && rest[0] != '"') {
			continue
		}
		mod := strings.TrimSpace(rest)
		if unq, err := strconv.Unquote(mod); err == nil {
			mod = unq
		}
		return mod == ModulePath
	}
	return false
}

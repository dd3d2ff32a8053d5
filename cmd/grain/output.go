package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// checkOutputs fails, before any work is done, for each named output file
// that could not be written at the end: its directory is missing or not a
// directory, the path is a directory, or it is also one of the command's
// inputs (another flag's value or an argument of fs naming the same file),
// which writing it would destroy. Empty paths (not asked for) pass.
func checkOutputs(fs *flag.FlagSet, paths ...string) error {
	return checkOutputFiles(fs, 1, paths)
}

// checkDirOutputs is checkOutputs for the files a command writes into an
// output directory (paths joined from --out and fixed names), which no flag
// names itself; the directory, checked by checkOutputDir, may not exist yet.
func checkDirOutputs(fs *flag.FlagSet, paths ...string) error {
	return checkOutputFiles(fs, 0, paths)
}

// checkOutputFiles checks outputs that own of fs's flags and arguments
// name themselves (1: the output flag, whose directory must exist; 0: none,
// a file in an output directory).
func checkOutputFiles(fs *flag.FlagSet, own int, paths []string) error {
	for _, p := range paths {
		if p == "" {
			continue
		}
		st, err := os.Stat(p)
		if err == nil && st.IsDir() {
			return fmt.Errorf("output %s is a directory", p)
		}
		if err == nil {
			if in := sameFileArgs(fs, st); len(in) > own {
				return fmt.Errorf("output %s is also an input (%s): writing it would destroy that input", p, strings.Join(in, ", "))
			}
		}
		if own == 0 {
			continue
		}
		if err := checkDir(filepath.Dir(p), false); err != nil {
			return fmt.Errorf("output %s: %w", p, err)
		}
	}
	return nil
}

// textValue is the flag.Value of a textFlag: a string that is text to
// record, not a path, which sameFileArgs skips.
type textValue string

func (v *textValue) String() string     { return string(*v) }
func (v *textValue) Set(s string) error { *v = textValue(s); return nil }

// textFlag defines a string flag whose value is text, not a file (a name
// to record), so that checkOutputs never mistakes it for an input.
func textFlag(fs *flag.FlagSet, name, value, usage string) *string {
	p := &value
	fs.Var((*textValue)(p), name, usage)
	return p
}

// sameFileArgs lists the flags (as --name) and arguments of fs that name
// the file st describes.
func sameFileArgs(fs *flag.FlagSet, st os.FileInfo) []string {
	var names []string
	same := func(path string) bool {
		other, err := os.Stat(path)
		return path != "" && err == nil && os.SameFile(st, other)
	}
	fs.Visit(func(f *flag.Flag) {
		if _, text := f.Value.(*textValue); !text && same(f.Value.String()) {
			names = append(names, "--"+f.Name)
		}
	})
	for _, a := range fs.Args() {
		if same(a) {
			names = append(names, a)
		}
	}
	return names
}

// checkOutputDir fails, before any work is done, when dir (if given) is a
// file, or would need to be created (create) under something that is not
// a directory.
func checkOutputDir(dir string) error {
	if dir == "" {
		return nil
	}
	if err := checkDir(dir, true); err != nil {
		return fmt.Errorf("output directory %s: %w", dir, err)
	}
	return nil
}

// checkDir checks that dir is a directory; when it does not exist and
// create is set, that its nearest existing ancestor is one.
func checkDir(dir string, create bool) error {
	st, err := os.Stat(dir)
	switch {
	case err == nil && !st.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	case err == nil:
		return nil
	case os.IsNotExist(err) && create && filepath.Dir(dir) != dir:
		return checkDir(filepath.Dir(dir), true)
	case os.IsNotExist(err):
		return fmt.Errorf("directory %s does not exist", dir)
	}
	return err
}

// checkPlot fails, before any work is done, when a plot (if asked for)
// could not be written: an unsupported format or an unwritable path.
func checkPlot(fs *flag.FlagSet, path string) error {
	if path == "" {
		return nil
	}
	if _, err := plotFormat(path); err != nil {
		return err
	}
	return checkOutputs(fs, path)
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints aligned columns.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)}
	t.row(toAny(header)...)
	under := make([]any, len(header))
	for i, h := range header {
		under[i] = strings.Repeat("-", len([]rune(h)))
	}
	t.row(under...)
	return t
}

func toAny(s []string) []any {
	a := make([]any, len(s))
	for i, v := range s {
		a[i] = v
	}
	return a
}

func (t *table) row(cells ...any) {
	s := make([]string, len(cells))
	for i, c := range cells {
		switch v := c.(type) {
		case float64:
			s[i] = fmt.Sprintf("%.4f", v)
		default:
			s[i] = fmt.Sprint(v)
		}
	}
	fmt.Fprintln(t.tw, strings.Join(s, "\t"))
}

func (t *table) flush() { t.tw.Flush() }

// pct formats a fraction as a percentage.
func pct(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) }

// intList formats neuron indices, abbreviated after max entries.
func intList(v []int, max int) string {
	var b strings.Builder
	for i, x := range v {
		if i == max {
			fmt.Fprintf(&b, " … (%d more)", len(v)-max)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, x)
	}
	return b.String()
}

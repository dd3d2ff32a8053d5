// Command cudabuild prepares what building grain's CUDA backend needs on a
// machine without a CUDA installation (see the Makefile's cuda targets):
//
//	cudabuild headers -deb nvidia-cuda-dev_*.deb -out .cuda/include
//	    extracts the .deb's usr/include tree. The headers come first in the
//	    package's data archive (≈13 MB of its ≈2.9 GB), so the extraction
//	    stops reading at the first member after them.
//
//	cudabuild stubs -lib cuda -ret CUresult < cuda.i > stubs.c
//	cudabuild stubs -lib cublas -ret cublasStatus_t -only name,... < cublas.i >> stubs.c
//	    writes run-time-loading trampolines (see engine/cuda/stub/loader.c)
//	    for every function with the given return type declared in a
//	    preprocessed header (gcc -E -P), or only for the listed names.
//
// Nothing this tool writes is committed: it is regenerated from the headers
// on each machine, and NVIDIA's headers are never redistributed.
package main

import (
	"archive/tar"
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cudabuild headers|stubs [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "headers":
		err = headers(os.Args[2:])
	case "stubs":
		err = stubs(os.Args[2:], os.Stdin, os.Stdout)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cudabuild:", err)
		os.Exit(1)
	}
}

// headers extracts ./usr/include/ of a .deb into -out, reading the data
// archive only as far as the include tree goes.
func headers(args []string) error {
	fs := flag.NewFlagSet("headers", flag.ExitOnError)
	deb := fs.String("deb", "", "the nvidia-cuda-dev .deb")
	out := fs.String("out", "", "directory that receives the headers")
	fs.Parse(args)
	if *deb == "" || *out == "" {
		return fmt.Errorf("headers needs -deb and -out")
	}
	cmd := exec.Command("dpkg-deb", "--fsys-tarfile", *deb)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = io.Discard // a broken pipe when we stop early is expected
	if err := cmd.Start(); err != nil {
		return err
	}
	n, err := extractPrefix(tar.NewReader(pipe), "usr/include/", *out)
	pipe.Close()
	cmd.Process.Kill()
	cmd.Wait()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s has no usr/include/", *deb)
	}
	fmt.Fprintf(os.Stderr, "cudabuild: %d headers into %s\n", n, *out)
	return nil
}

// extractPrefix writes the regular files under prefix (a slash-terminated
// path relative to the archive root) into out, and returns after the first
// member past them.
func extractPrefix(tr *tar.Reader, prefix, out string) (int, error) {
	n, inside := 0, false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		name := strings.TrimPrefix(h.Name, "./")
		if !strings.HasPrefix(name, prefix) {
			if inside {
				return n, nil
			}
			continue
		}
		inside = true
		rel := strings.TrimPrefix(name, prefix)
		if rel == "" || strings.Contains(rel, "..") {
			continue
		}
		dst := filepath.Join(out, filepath.FromSlash(rel))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return n, err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return n, err
			}
			f, err := os.Create(dst)
			if err != nil {
				return n, err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return n, err
			}
			n++
		case tar.TypeSymlink:
			os.Remove(dst)
			if err := os.Symlink(h.Linkname, dst); err != nil {
				return n, err
			}
		}
	}
}

// decl matches a function declaration of a preprocessed header: return
// type, name, parameter list (which holds no ';', '{' or '}').
var declRE = regexp.MustCompile(`(?s)\b(CUresult|cublasStatus_t)\s+(\w+)\s*\(([^;{}()]*(?:\([^;{}()]*\)[^;{}()]*)*)\)\s*;`)

// stubs writes one GRAIN_STUB line per declared function of the library.
func stubs(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("stubs", flag.ExitOnError)
	lib := fs.String("lib", "", "cuda or cublas (selects the loader and error codes)")
	ret := fs.String("ret", "", "return type of the functions to wrap")
	only := fs.String("only", "", "comma-separated function names (default: all)")
	skip := fs.String("skip", "", "comma-separated function names written by hand")
	fs.Parse(args)
	if *lib == "" || *ret == "" {
		return fmt.Errorf("stubs needs -lib and -ret")
	}
	src, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	want, skipped := set(*only), set(*skip)
	w := bufio.NewWriter(out)
	seen := map[string]bool{}
	for _, m := range declRE.FindAllStringSubmatch(string(src), -1) {
		typ, name, params := m[1], m[2], strings.TrimSpace(m[3])
		if typ != *ret || seen[name] || skipped[name] || (len(want) > 0 && !want[name]) {
			continue
		}
		seen[name] = true
		names, err := paramNames(params)
		if err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		fmt.Fprintf(w, "GRAIN_STUB(%s, %s, %s, (%s), (%s))\n", *lib, typ, name, oneLine(params), strings.Join(names, ", "))
	}
	for n := range want {
		if !seen[n] {
			return fmt.Errorf("%s is not declared in the header", n)
		}
	}
	if len(seen) == 0 {
		return fmt.Errorf("no %s functions found", *ret)
	}
	return w.Flush()
}

func set(list string) map[string]bool {
	s := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			s[n] = true
		}
	}
	return s
}

var identRE = regexp.MustCompile(`[A-Za-z_]\w*`)

// paramNames returns the parameter names of a C parameter list: the last
// identifier of each parameter, or the one inside (*name) for a function
// pointer.
func paramNames(params string) ([]string, error) {
	if params == "void" || params == "" {
		return nil, nil
	}
	var names []string
	depth, start := 0, 0
	split := func(p string) error {
		p = strings.TrimSpace(p)
		min := 2 // a type and a name
		if i := strings.Index(p, "(*"); i >= 0 {
			p, min = p[i+2:], 1
			if j := strings.Index(p, ")"); j >= 0 {
				p = p[:j]
			}
		} else if i := strings.Index(p, "["); i >= 0 {
			p = p[:i]
		}
		ids := identRE.FindAllString(p, -1)
		if len(ids) < min {
			return fmt.Errorf("unnamed parameter %q", p)
		}
		names = append(names, ids[len(ids)-1])
		return nil
	}
	for i, c := range params {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				if err := split(params[start:i]); err != nil {
					return nil, err
				}
				start = i + 1
			}
		}
	}
	return names, split(params[start:])
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

package main

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStubs(t *testing.T) {
	header := `
typedef int CUresult;
__attribute__((deprecated)) CUresult cuOld(int *pi, unsigned int flags);
CUresult cuLaunchKernel(void *f,
                        unsigned int gridDimX, void **kernelParams);
CUresult cuStreamAddCallback(void *hStream, void (*callback)(void *, int), void *userData);
CUresult cuVoid(void);
CUresult cuInit(unsigned int Flags);
int cuNotWrapped(int x);
struct S { CUresult (*fp)(int); };
`
	var out bytes.Buffer
	if err := stubs([]string{"-lib", "cuda", "-ret", "CUresult", "-skip", "cuInit"}, strings.NewReader(header), &out); err != nil {
		t.Fatal(err)
	}
	want := `GRAIN_STUB(cuda, CUresult, cuOld, (int *pi, unsigned int flags), (pi, flags))
GRAIN_STUB(cuda, CUresult, cuLaunchKernel, (void *f, unsigned int gridDimX, void **kernelParams), (f, gridDimX, kernelParams))
GRAIN_STUB(cuda, CUresult, cuStreamAddCallback, (void *hStream, void (*callback)(void *, int), void *userData), (hStream, callback, userData))
GRAIN_STUB(cuda, CUresult, cuVoid, (void), ())
`
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	if err := stubs([]string{"-lib", "cuda", "-ret", "CUresult", "-only", "cuVoid,cuMissing"}, strings.NewReader(header), &out); err == nil {
		t.Fatal("a missing -only name is not an error")
	}
}

func TestExtractPrefix(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name, body string) {
		typ := byte(tar.TypeReg)
		if strings.HasSuffix(name, "/") {
			typ = tar.TypeDir
		}
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: typ, Size: int64(len(body)), Mode: 0o644})
		tw.Write([]byte(body))
	}
	add("./", "")
	add("./usr/include/", "")
	add("./usr/include/cuda.h", "cuda")
	add("./usr/include/crt/host_defines.h", "crt")
	add("./usr/lib/", "")
	add("./usr/include/late.h", "never reached")
	tw.Close()
	dir := t.TempDir()
	n, err := extractPrefix(tar.NewReader(&buf), "usr/include/", dir)
	if err != nil || n != 2 {
		t.Fatalf("extracted %d files, %v", n, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "crt", "host_defines.h")); string(b) != "crt" {
		t.Fatalf("crt/host_defines.h = %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "late.h")); err == nil {
		t.Fatal("read past the include tree")
	}
}

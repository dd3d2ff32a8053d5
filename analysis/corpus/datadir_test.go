package corpus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mkdirs(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSharedDataDirReal(t *testing.T) {
	t.Setenv("GRAIN_DATA", "")
	dir, err := SharedDataDir()
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(dir) {
		t.Errorf("SharedDataDir() = %q, not absolute", dir)
	}
	for _, f := range []string{"README.md", "SHA256SUMS", "ud_en_ewt", "pmb_semtag"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("SharedDataDir() = %q, which lacks %s: %v", dir, f, err)
		}
	}
}

func TestSharedDataDirEnv(t *testing.T) {
	want := t.TempDir()
	t.Setenv("GRAIN_DATA", want)
	if got, err := SharedDataDir(); err != nil || got != want {
		t.Errorf("with GRAIN_DATA=%s: %q, %v", want, got, err)
	}
	t.Setenv("GRAIN_DATA", filepath.Join(want, "missing"))
	if _, err := SharedDataDir(); err == nil || !strings.Contains(err.Error(), "GRAIN_DATA") {
		t.Errorf("GRAIN_DATA naming no directory: error %v", err)
	}
	file := filepath.Join(want, "file")
	writeFile(t, file, "x")
	t.Setenv("GRAIN_DATA", file)
	if _, err := SharedDataDir(); err == nil {
		t.Error("GRAIN_DATA naming a file: no error")
	}
}

func TestSharedDataDirWalk(t *testing.T) {
	t.Setenv("GRAIN_DATA", "")
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// root/ci/grain (a checkout) beside root/ci/shared/data.
	repo := filepath.Join(root, "ci", "grain")
	deep := filepath.Join(repo, "analysis", "corpus")
	mkdirs(t, deep, filepath.Join(root, "ci", "shared"))
	writeFile(t, filepath.Join(repo, "go.mod"), "// grain\nmodule   "+ModulePath+" // the module\n\ngo 1.26\n")

	t.Chdir(deep)
	if _, err := SharedDataDir(); err == nil || !strings.Contains(err.Error(), deep) {
		t.Errorf("no data anywhere: error %v, want one naming %s", err, deep)
	}

	// shared/data in any ancestor is found, the nearest first.
	mkdirs(t, filepath.Join(root, "shared", "data"))
	if got, err := SharedDataDir(); err != nil || got != filepath.Join(root, "shared", "data") {
		t.Errorf("ancestor shared/data: %q, %v", got, err)
	}
	beside := filepath.Join(root, "ci", "shared", "data")
	mkdirs(t, beside)
	if got, err := SharedDataDir(); err != nil || got != beside {
		t.Errorf("from %s: %q, %v; want %q", deep, got, err, beside)
	}

	// With shared/data inside the checkout too, the one beside grain's
	// go.mod wins, but not beside another module's go.mod.
	inside := filepath.Join(repo, "shared", "data")
	mkdirs(t, inside)
	for _, tc := range []struct{ gomod, want string }{
		{"module " + ModulePath + "\n", beside},
		{"module example.com/other\n", inside},
		{"module \"" + ModulePath + "\"\n", beside},
		{"", inside},
	} {
		writeFile(t, filepath.Join(repo, "go.mod"), tc.gomod)
		for _, wd := range []string{deep, repo} {
			t.Chdir(wd)
			if got, err := SharedDataDir(); err != nil || got != tc.want {
				t.Errorf("go.mod %q, from %s: %q, %v; want %q", tc.gomod, wd, got, err, tc.want)
			}
		}
	}
}

func TestIsGrainModule(t *testing.T) {
	dir := t.TempDir()
	for data, want := range map[string]bool{
		"module " + ModulePath + "\n":                true,
		"module\t" + ModulePath:                      true,
		"// c\nmodule " + ModulePath + " // x\n":     true,
		"module \"" + ModulePath + "\"\n":            true,
		"module " + ModulePath + "/sub\n":            false,
		"modules " + ModulePath + "\n":               false,
		"module example.com/x\nmodule " + ModulePath: false,
		"": false,
	} {
		path := filepath.Join(dir, "go.mod")
		writeFile(t, path, data)
		if got := isGrainModule(path); got != want {
			t.Errorf("isGrainModule(%q) = %v, want %v", data, got, want)
		}
	}
	if isGrainModule(filepath.Join(dir, "missing")) {
		t.Error("isGrainModule on a missing file")
	}
}

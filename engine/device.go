package engine

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Driver opens devices of one kind ("cpu", "cuda").
type Driver interface {
	// Open returns the device with the given ordinal (always 0 for cpu),
	// writing at most one line about degraded operation (e.g. a missing fast
	// library) to notice when it is non-nil.
	Open(ordinal int, notice io.Writer) (Backend, error)
	// Available reports whether at least one device can be opened, and if
	// not, why (e.g. "no NVIDIA driver: libcuda.so.1 not found").
	Available() (bool, string)
}

var (
	driversMu sync.RWMutex
	drivers   = map[string]Driver{}
)

// Register makes a driver available under name. Backends call it from init;
// registering a name twice panics.
func Register(name string, d Driver) {
	driversMu.Lock()
	defer driversMu.Unlock()
	if _, dup := drivers[name]; dup {
		panic("engine: driver registered twice: " + name)
	}
	drivers[name] = d
}

// Drivers lists the registered driver names, sorted.
func Drivers() []string {
	driversMu.RLock()
	defer driversMu.RUnlock()
	var names []string
	for n := range drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func driver(name string) Driver {
	driversMu.RLock()
	defer driversMu.RUnlock()
	return drivers[name]
}

// Open resolves a device string and opens the backend:
//
//	"cpu"        the CPU backend
//	"cuda"       the first CUDA device ("cuda:0")
//	"cuda:N"     CUDA device N
//	"auto" or "" CUDA device 0 when a GPU is usable, else the CPU
//
// For "auto", when no GPU is used, one line saying why and what is used
// instead is written to notice (if non-nil). Unknown devices, and "cuda" in a
// build without the CUDA backend, are errors that say so.
func Open(device string, notice io.Writer) (Backend, error) {
	kind, ordinal, err := ParseDevice(device)
	if err != nil {
		return nil, err
	}
	if kind == "auto" {
		if d := driver("cuda"); d != nil {
			if ok, why := d.Available(); ok {
				if b, err := d.Open(0, notice); err == nil {
					return b, nil
				} else {
					noticef(notice, "grain: CUDA device 0 could not be opened (%v); using the CPU", err)
				}
			} else {
				noticef(notice, "grain: no usable GPU (%s); using the CPU", why)
			}
		} else {
			noticef(notice, "grain: this build has no CUDA backend; using the CPU")
		}
		kind = "cpu"
	}
	d := driver(kind)
	if d == nil {
		if kind == "cuda" {
			return nil, fmt.Errorf("device %q: CUDA is not available in this build (build with `make cuda` for the CUDA backend, or use --device cpu)", device)
		}
		return nil, fmt.Errorf("device %q: no %s backend registered (import grain/engine/cpu)", device, kind)
	}
	if ok, why := d.Available(); !ok {
		return nil, fmt.Errorf("device %q: not available: %s", device, why)
	}
	b, err := d.Open(ordinal, notice)
	if err != nil {
		return nil, fmt.Errorf("device %q: %w", device, err)
	}
	return b, nil
}

// ParseDevice splits a device string into kind ("auto", "cpu", "cuda") and
// ordinal, rejecting anything else with an error that lists the valid forms.
func ParseDevice(device string) (kind string, ordinal int, err error) {
	s := strings.ToLower(strings.TrimSpace(device))
	switch {
	case s == "" || s == "auto":
		return "auto", 0, nil
	case s == "cpu":
		return "cpu", 0, nil
	case s == "cuda" || s == "gpu":
		return "cuda", 0, nil
	case strings.HasPrefix(s, "cuda:"):
		n, err := strconv.Atoi(s[len("cuda:"):])
		if err != nil || n < 0 {
			return "", 0, fmt.Errorf("device %q: bad CUDA ordinal (want cuda:N, N ≥ 0)", device)
		}
		return "cuda", n, nil
	}
	return "", 0, fmt.Errorf("unknown device %q (want auto, cpu, cuda or cuda:N)", device)
}

func noticef(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

package fused

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/cpu"
	"github.com/grainlab/grain/engine/enginetest"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestDeviceValues checks the Env's bookkeeping of host and device data on
// the device path (enginetest.Hostless), with its byte counters: an op's
// value is downloaded only when Host asks, and once; Tensor reads it from
// its buffer; Updated makes Host download again; a value whose buffer was
// taken before it was read is an error; a resident value is uploaded once
// and SyncHost brings back what the device changed; a small value is
// uploaded again only when it changes.
func TestDeviceValues(t *testing.T) {
	dev := enginetest.Hostless(cpu.New())
	env, err := NewEnv(dev)
	if err != nil {
		t.Fatal(err)
	}
	onDevice := func(x *engine.Tensor) []float32 { // not counted
		out := make([]float32, x.Len())
		if err := dev.Download(out, x); err != nil {
			t.Fatal(err)
		}
		dev.Downloaded -= int64(4 * len(out))
		return out
	}
	moved := func(what string, up, down int64, f func()) {
		t.Helper()
		u, d := dev.Uploaded, dev.Downloaded
		f()
		if dev.Uploaded-u != up || dev.Downloaded-d != down {
			t.Fatalf("%s moved %d bytes up and %d down, want %d and %d", what, dev.Uploaded-u, dev.Downloaded-d, up, down)
		}
	}
	x := []float32{1.5, -2, 3.25, 0.5, -7, 11}
	twice := []float32{3, -4, 6.5, 1, -14, 22}

	// An op's output.
	dev.Upload(env.buf("op/y", 2, 3), x)
	v := env.value("op/y", 2, 3)
	moved("Tensor of an op's value", 0, 0, func() {
		if got := onDevice(env.Tensor(v)); !slices.Equal(got, x) {
			t.Fatalf("Tensor of an op's value holds %v, want %v", got, x)
		}
	})
	moved("Host, twice", 0, 24, func() {
		env.Host(v)
		if got := env.Host(v); !slices.Equal(got, x) {
			t.Fatalf("Host: %v, want %v", got, x)
		}
	})
	dev.Scale(env.Tensor(v), 2)
	env.Updated(v)
	if got := env.Host(v); !slices.Equal(got, twice) {
		t.Fatalf("Host after Updated: %v, want %v", got, twice)
	}
	// The buffer taken after the value was read: the host keeps it, and
	// Tensor uploads it.
	dev.Upload(env.buf("op/y", 2, 3), x)
	moved("Tensor of a value whose buffer was taken", 24, 0, func() {
		if got := env.Host(v); !slices.Equal(got, twice) {
			t.Fatalf("Host after the buffer was taken: %v, want %v", got, twice)
		}
		if got := onDevice(env.Tensor(v)); !slices.Equal(got, twice) {
			t.Fatalf("Tensor after the buffer was taken: %v, want %v", got, twice)
		}
	})
	// ... and taken before: an error; so is an earlier run's value of
	// another shape.
	lostRead := func(what, key string, v G.Value) {
		t.Helper()
		defer func() {
			if r, _ := recover().(string); !strings.Contains(r, key+" was overwritten") {
				t.Fatalf("Host of %s: recovered %q", what, r)
			}
		}()
		env.Host(v)
	}
	lost := env.value("op/y", 2, 3)
	env.buf("op/y", 2, 3)
	lostRead("a lost value", "op/y", lost)
	dev.Upload(env.buf("op/z", 2, 3), x)
	older := env.value("op/z", 2, 3)
	env.buf("op/z", 1, 3)
	env.value("op/z", 1, 3)
	lostRead("an earlier run's value of another shape", "op/z", older)

	// A resident value.
	w := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(slices.Clone(x)))
	env.Resident(w)
	moved("Tensor of a resident value, twice", 24, 0, func() {
		env.Tensor(w)
		env.Tensor(w)
	})
	dev.Scale(env.Tensor(w), 2)
	env.Updated(w)
	if !slices.Equal(w.Data().([]float32), x) {
		t.Fatal("Updated changed the host data")
	}
	moved("SyncHost, twice", 0, 24, func() {
		if err := env.SyncHost(w); err != nil {
			t.Fatal(err)
		}
		if err := env.SyncHost(w); err != nil {
			t.Fatal(err)
		}
	})
	if !slices.Equal(w.Data().([]float32), twice) {
		t.Fatalf("SyncHost: %v, want %v", w.Data(), twice)
	}
	before := env.ArenaBytes()
	if err := env.Release(w); err != nil || env.ArenaBytes() != before-24 {
		t.Fatalf("Release: %v, arena %d bytes, was %d", err, env.ArenaBytes(), before)
	}

	// A small value.
	m := tensor.New(tensor.WithShape(1, 3), tensor.WithBacking([]float32{1, 0, 1}))
	moved("Tensor of an unchanged small value, twice", 12, 0, func() {
		env.Tensor(m)
		env.Tensor(m)
	})
	m.Data().([]float32)[1] = 1
	moved("Tensor of a changed small value", 12, 0, func() {
		if got := onDevice(env.Tensor(m)); !slices.Equal(got, []float32{1, 1, 1}) {
			t.Fatalf("Tensor of a changed small value: %v", got)
		}
	})
	negZero := float32(math.Copysign(0, -1))
	zeros := tensor.New(tensor.WithShape(1, 2), tensor.WithBacking([]float32{0, 0}))
	env.Tensor(zeros)
	zeros.Data().([]float32)[1] = negZero // equal to 0, other bits
	moved("Tensor of a small value whose zero changed sign", 8, 0, func() {
		if got := onDevice(env.Tensor(zeros)); math.Float32bits(got[1]) != math.Float32bits(negZero) {
			t.Fatalf("Tensor after a zero changed sign: %v", got)
		}
	})
}

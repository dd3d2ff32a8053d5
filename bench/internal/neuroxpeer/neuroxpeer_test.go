package neuroxpeer

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestResult(t *testing.T) {
	out := "torch 2.1 on cpu\ntorch neurox protocol (10 epochs): 3.66 s, held-out accuracy 0.8193\n" +
		"RESULT probe torch-neurox rows=3000 neurons=64 s=3.656 acc=0.8193\n"
	s, a, err := Result(out)
	if err != nil || s != 3.656 || a != 0.8193 {
		t.Fatalf("Result = %v, %v, %v", s, a, err)
	}
	for _, bad := range []string{"", "RESULT probe torch-neurox rows=1 neurons=2 s=x acc=0.5", "RESULT probe torch-neurox"} {
		if _, _, err := Result(bad); err == nil {
			t.Errorf("Result(%q) gave no error", bad)
		}
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	trainX, testX := []float32{1.5, -2, 3.25}, []float32{0.5}
	trainY, testY := []int32{7, 0, 3}, []int32{-1}
	if err := Write(dir, trainX, trainY, testX, testY); err != nil {
		t.Fatal(err)
	}
	read := func(name string, v any) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := binary.Decode(b, binary.LittleEndian, v); err != nil {
			t.Fatal(err)
		}
	}
	gx, gy := make([]float32, 3), make([]int32, 3)
	tx, ty := make([]float32, 1), make([]int32, 1)
	read("train.x", gx)
	read("train.y", gy)
	read("test.x", tx)
	read("test.y", ty)
	if !slices.Equal(gx, trainX) || !slices.Equal(gy, trainY) || !slices.Equal(tx, testX) || !slices.Equal(ty, testY) {
		t.Fatalf("read back %v %v %v %v", gx, gy, tx, ty)
	}
}

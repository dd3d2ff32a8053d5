package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"unsafe"
)

// writeNpy writes a T×N float32 matrix as a NumPy .npy file (format 1.0,
// little-endian, C order), taking the rows from fill, block by block.
func writeNpy(path string, T, N int, fill func(t0 int, rows []float32)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", T, N)
	pad := 64 - (10+len(dict)+1)%64
	if pad == 64 {
		pad = 0
	}
	hdr := make([]byte, 0, 10+len(dict)+pad+1)
	hdr = append(hdr, "\x93NUMPY\x01\x00"...)
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(len(dict)+pad+1))
	hdr = append(hdr, dict...)
	for range pad {
		hdr = append(hdr, ' ')
	}
	hdr = append(hdr, '\n')
	if _, err := w.Write(hdr); err != nil {
		f.Close()
		return err
	}
	const block = 4096
	buf := make([]float32, block*N)
	for t0 := 0; t0 < T; t0 += block {
		n := min(block, T-t0)
		rows := buf[:n*N]
		fill(t0, rows)
		if _, err := w.Write(unsafe.Slice((*byte)(unsafe.Pointer(&rows[0])), 4*len(rows))); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var shapeRE = regexp.MustCompile(`'shape':\s*\((\d+),\s*(\d+),?\s*\)`)

// npyFile reads a 2-D little-endian float32 .npy file with pread: it
// implements crosscorr.Source.
type npyFile struct {
	f    *os.File
	off  int64
	T, N int
}

func openNpy(path string) (*npyFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	pre := make([]byte, 12)
	if _, err := io.ReadFull(f, pre); err != nil || string(pre[:6]) != "\x93NUMPY" {
		f.Close()
		return nil, fmt.Errorf("%s: not a .npy file", path)
	}
	var hlen, start int
	switch pre[6] {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(pre[8:])), 10
	default:
		hlen, start = int(binary.LittleEndian.Uint32(pre[8:])), 12
	}
	hdr := make([]byte, hlen)
	if _, err := f.ReadAt(hdr, int64(start)); err != nil {
		f.Close()
		return nil, err
	}
	h := string(hdr)
	m := shapeRE.FindStringSubmatch(h)
	if m == nil || !regexp.MustCompile(`'descr':\s*'<f4'`).MatchString(h) || !regexp.MustCompile(`'fortran_order':\s*False`).MatchString(h) {
		f.Close()
		return nil, fmt.Errorf("%s: want a 2-D little-endian float32 C-order array, header %q", path, h)
	}
	T, _ := strconv.Atoi(m[1])
	N, _ := strconv.Atoi(m[2])
	return &npyFile{f: f, off: int64(start + hlen), T: T, N: N}, nil
}

func (n *npyFile) NumTokens() int  { return n.T }
func (n *npyFile) NumNeurons() int { return n.N }

func (n *npyFile) ReadRows(start, rows int, dst []float32) error {
	if len(dst) != rows*n.N || start < 0 || start+rows > n.T {
		return fmt.Errorf("npy: bad read of rows [%d, %d)", start, start+rows)
	}
	if rows == 0 {
		return nil
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst))
	_, err := n.f.ReadAt(b, n.off+int64(start)*int64(n.N)*4)
	return err
}

func (n *npyFile) Close() error { return n.f.Close() }

// npyMapped is an npyFile memory-mapped for zero-copy ViewRows (a
// crosscorr.RowViewer).
type npyMapped struct {
	*npyFile
	mm   []byte
	data []float32
}

func mapNpy(path string) (*npyMapped, error) {
	n, err := openNpy(path)
	if err != nil {
		return nil, err
	}
	size := n.off + int64(n.T)*int64(n.N)*4
	mm, err := syscall.Mmap(int(n.f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		n.Close()
		return nil, err
	}
	data := unsafe.Slice((*float32)(unsafe.Pointer(&mm[n.off])), n.T*n.N)
	return &npyMapped{npyFile: n, mm: mm, data: data}, nil
}

func (m *npyMapped) ViewRows(start, rows int) ([]float32, error) {
	if start < 0 || start+rows > m.T {
		return nil, fmt.Errorf("npy: bad view of rows [%d, %d)", start, start+rows)
	}
	return m.data[start*m.N : (start+rows)*m.N], nil
}

func (m *npyMapped) Close() error {
	syscall.Munmap(m.mm)
	return m.npyFile.Close()
}

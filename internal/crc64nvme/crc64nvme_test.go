package crc64nvme

import (
	"math/rand/v2"
	"testing"
)

// TestVector: the catalogue's check value of CRC-64/NVME, and the empty
// input whose checksum an empty manifest carries.
func TestVector(t *testing.T) {
	if got := Checksum([]byte("123456789")); got != 0xae8b14860a799888 {
		t.Errorf("Checksum(123456789) = %#x, want 0xae8b14860a799888", got)
	}
	if got := Checksum(nil); got != 0 {
		t.Errorf("Checksum(nil) = %#x, want 0", got)
	}
	if got := Encode(0); got != "AAAAAAAAAAA=" {
		t.Errorf("Encode(0) = %q", got)
	}
}

// TestCombine: combining the checksums of consecutive pieces, zero-length
// ones included, gives the checksum of their concatenation.
func TestCombine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 1<<20+17)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	for _, tc := range []struct {
		name string
		cuts []int // lengths of the pieces
	}{
		{"two bytes", []int{1, 1}},
		{"empty first", []int{0, 100}},
		{"empty last", []int{100, 0}},
		{"all empty", []int{0, 0, 0}},
		{"empty between", []int{5, 0, 7}},
		{"odd sizes", []int{3, 4093, 65537, 1}},
		{"large", []int{1 << 19, 1<<19 + 17}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			crc, off := Checksum(nil), 0
			for _, n := range tc.cuts {
				crc = Combine(crc, Checksum(buf[off:off+n]), int64(n))
				off += n
			}
			if want := Checksum(buf[:off]); crc != want {
				t.Errorf("combined %#x, want %#x", crc, want)
			}
		})
	}
}

func TestEncodeDecode(t *testing.T) {
	for _, v := range []uint64{0, 1, 0xae8b14860a799888, ^uint64(0)} {
		got, err := Decode(Encode(v))
		if err != nil || got != v {
			t.Errorf("Decode(Encode(%#x)) = %#x, %v", v, got, err)
		}
	}
	for _, s := range []string{"", "AAAA", "not base64!"} {
		if _, err := Decode(s); err == nil {
			t.Errorf("Decode(%q) succeeded", s)
		}
	}
}

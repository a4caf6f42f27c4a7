// Package crc64nvme is the CRC-64/NVME checksum that S3 keeps for an object
// (x-amz-checksum-crc64nvme): computing it, combining the checksums of
// consecutive pieces into the checksum of their concatenation without the
// bytes, and the base64 form S3 writes it in.
//
// CRC-64/NVME is hash/crc64 with the reflected polynomial 0x9a6c9329ac4bc9b5
// (initial value and final XOR all ones, as hash/crc64 does); the AWS SDK
// computes it the same way. Everything here is safe for concurrent use.
package crc64nvme

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc64"
)

// Poly is the reflected CRC-64/NVME polynomial, as crc64.MakeTable takes it.
const Poly = 0x9a6c9329ac4bc9b5

// Table is the crc64 table of Poly.
var Table = crc64.MakeTable(Poly)

// New returns a running CRC-64/NVME; its state can be saved (it implements
// encoding.BinaryMarshaler and BinaryUnmarshaler).
func New() hash.Hash64 { return crc64.New(Table) }

// Checksum is the CRC-64/NVME of b.
func Checksum(b []byte) uint64 { return crc64.Checksum(b, Table) }

// Update is the CRC-64/NVME of the bytes crc covers followed by b.
func Update(crc uint64, b []byte) uint64 { return crc64.Update(crc, Table, b) }

// Combine is the CRC-64/NVME of a followed by b, given crc1 of a, crc2 of b
// and b's length len2 (zlib's crc32_combine, for 64 bits): it costs
// O(log len2) 64×64 GF(2) matrix products, not a pass over the bytes.
func Combine(crc1, crc2 uint64, len2 int64) uint64 {
	if len2 <= 0 {
		return crc1
	}
	var even, odd [64]uint64 // operators for 2^k zero bits
	odd[0] = Poly            // one zero bit
	row := uint64(1)
	for n := 1; n < 64; n++ {
		odd[n] = row
		row <<= 1
	}
	square(&even, &odd) // two zero bits
	square(&odd, &even) // four zero bits
	// Apply len2 zero bytes to crc1: the first square below makes the
	// operator for one zero byte (eight bits).
	for {
		square(&even, &odd)
		if len2&1 != 0 {
			crc1 = times(&even, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
		square(&odd, &even)
		if len2&1 != 0 {
			crc1 = times(&odd, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}

func times(m *[64]uint64, v uint64) uint64 {
	var sum uint64
	for i := 0; v != 0; i, v = i+1, v>>1 {
		if v&1 != 0 {
			sum ^= m[i]
		}
	}
	return sum
}

func square(sq, m *[64]uint64) {
	for n := range m {
		sq[n] = times(m, m[n])
	}
}

// Encode is crc as S3 writes it: base64 of its 8 big-endian bytes.
func Encode(crc uint64) string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, crc))
}

// Decode reads what Encode writes.
func Decode(s string) (uint64, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return 0, fmt.Errorf("crc64nvme: %q is not base64: %w", s, err)
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("crc64nvme: %q holds %d bytes, not 8", s, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

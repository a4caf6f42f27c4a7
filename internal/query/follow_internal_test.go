package query

import (
	"bytes"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// atoms are pieces of bodies that stress the Follower: quotes, escapes and
// brackets that may fall on either side of a piece's end.
var atoms = []string{`"`, `\`, `\\`, `\"`, `[`, `]`, `{`, `}`, `,`, `:`, ` `, `"Items"`, `"Items":`, `"Items":[`, `"Count":1`, `"LastEvaluatedKey":{`, `"a"`, `1`, `null`, `"x\"]"`, `"\\"`, `\u0041`, `"It\u0065ms":[`, "\n"}

func genBody(r *rand.Rand) []byte {
	var b strings.Builder
	if r.IntN(3) > 0 {
		b.WriteString(`{`)
	}
	n := r.IntN(40)
	for range n {
		b.WriteString(atoms[r.IntN(len(atoms))])
	}
	if r.IntN(2) == 0 {
		b.WriteString(`}`)
	}
	return []byte(b.String())
}

// validBody builds a Query-like body, corrupted at a few bytes now and then.
func validBody(r *rand.Rand) []byte {
	var b strings.Builder
	b.WriteString("{")
	members := 1 + r.IntN(4)
	for m := range members {
		if m > 0 {
			b.WriteString(",")
		}
		switch r.IntN(5) {
		case 0, 1:
			b.WriteString(`"Items":[`)
			for k := range r.IntN(4) {
				if k > 0 {
					b.WriteString(",")
				}
				b.WriteString(`{"a":{"S":"`)
				for range r.IntN(6) {
					b.WriteString([]string{`\\`, `\"`, `]`, `[`, `x`, `\\\"`, `}`, `{`}[r.IntN(8)])
				}
				b.WriteString(`"}}`)
			}
			b.WriteString(`]`)
		case 2:
			b.WriteString(`"Count":3`)
		case 3:
			b.WriteString(`"LastEvaluatedKey":{"k":{"S":"\\\"["}}`)
		case 4:
			b.WriteString(`"x":[[1],{"y":"]\\"}]`)
		}
	}
	b.WriteString("}")
	s := []byte(b.String())
	// random corruption
	for range r.IntN(3) {
		if len(s) > 0 {
			s[r.IntN(len(s))] = `"\[]{}x`[r.IntN(7)]
		}
	}
	return s
}

// chunky reads its bytes in pieces of 0 to 9 bytes, sometimes with the
// last piece's EOF, sometimes with a separate one.
type chunky struct {
	b []byte
	r *rand.Rand
}

func (c *chunky) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), 1+c.r.IntN(9), len(c.b))
	if c.r.IntN(5) == 0 {
		n = 0
	}
	copy(p, c.b[:n])
	c.b = c.b[n:]
	if len(c.b) == 0 && c.r.IntN(2) == 0 {
		return n, io.EOF
	}
	return n, nil
}

func same(t *testing.T, body []byte, got Response, errG error, want Response, errW error) {
	t.Helper()
	if (errW == nil) != (errG == nil) || (errW != nil && errW.Error() != errG.Error()) {
		t.Fatalf("%q: Locate error %v, followed %v", body, errW, errG)
	}
	if !bytes.Equal(got.Items, want.Items) || (got.Items == nil) != (want.Items == nil) ||
		!bytes.Equal(got.LastEvaluatedKey, want.LastEvaluatedKey) || got.Count != want.Count || got.ScannedCount != want.ScannedCount {
		t.Fatalf("%q: followed %+v, Locate %+v", body, got, want)
	}
}

// TestFollowRandom: random and corrupted bodies, followed in pieces of
// varying size by a reused Follower, and read through readAll (buffer
// reused or not, size unknown, right or wrong), give what Locate gives;
// readAll's CRC32 and bytes are the body's. (Written by a review; 2M
// iterations passed there.)
func TestFollowRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var f Follower
	var dst []byte
	iters := 100000
	if testing.Short() {
		iters = 10000
	}
	for iter := 0; iter < iters; iter++ {
		var body []byte
		if iter%2 == 0 {
			body = genBody(r)
		} else {
			body = validBody(r)
		}
		want, errW := Locate(body)
		// variable piece sizes, reused follower
		f.Reset()
		for end := 0; end < len(body); {
			end = min(end+1+r.IntN(7), len(body))
			f.Follow(body[:end])
		}
		got, errG := LocateFollowed(body, &f)
		same(t, body, got, errG, want, errW)
		// through readAll with reallocation and unknown/wrong size
		f.Reset()
		var crc uint32
		size := int64(-1)
		switch r.IntN(3) {
		case 1:
			size = int64(len(body))
		case 2:
			size = int64(r.IntN(len(body) + 1))
		}
		var err error
		if r.IntN(2) == 0 {
			dst = nil
		}
		dst, err = readAll(dst[:0], &chunky{b: body, r: r}, size, func(b []byte, from int) {
			crc = crc32.Update(crc, crc32.IEEETable, b[from:])
			f.Follow(b)
		})
		if err != nil || !bytes.Equal(dst, body) || crc != crc32.ChecksumIEEE(body) {
			t.Fatalf("readAll %v", err)
		}
		got, errG = LocateFollowed(dst, &f)
		want, errW = Locate(dst)
		same(t, body, got, errG, want, errW)
	}
}

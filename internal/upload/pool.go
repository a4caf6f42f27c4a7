package upload

import (
	"fmt"
	"sync"
)

// Pool is a fixed number of part buffers shared by Writers (Options.Pool),
// so that many Writers at once (the range writers of one export) hold at
// most Buffers × Size bytes of part buffers between them, however many
// they are. A buffer is allocated the first time it is needed and reused
// after. A Writer takes one to fill, and each part it sends gives its
// buffer back once sent; a Writer holds at most one buffer being filled,
// so a Writer left idle with a part half full keeps that buffer until its
// Close, Suspend or Abort. Write blocks while the pool is empty, until a
// buffer comes back or its context ends.
//
// A Pool is safe for concurrent use.
type Pool struct {
	size   int64
	tokens chan []byte // one per buffer: nil until it is allocated

	mu        sync.Mutex
	allocated int // buffers made
	out       int // buffers taken and not given back
	maxOut    int
}

// NewPool makes a pool of buffers part buffers of size bytes (a part size,
// MinPartSize to MaxPartSize). It allocates nothing yet.
func NewPool(buffers int, size int64) (*Pool, error) {
	if buffers < 1 {
		return nil, fmt.Errorf("upload: NewPool: %d buffers, want at least 1", buffers)
	}
	if size < MinPartSize || size > MaxPartSize {
		return nil, fmt.Errorf("upload: NewPool: buffer size %d is outside S3's %d to %d bytes", size, MinPartSize, int64(MaxPartSize))
	}
	p := &Pool{size: size, tokens: make(chan []byte, buffers)}
	for range buffers {
		p.tokens <- nil
	}
	return p, nil
}

// Size is the size of each buffer, the part size of the Writers using it.
func (p *Pool) Size() int64 { return p.size }

// taken makes a buffer of a token.
func (p *Pool) taken(b []byte) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b == nil {
		p.allocated++
		b = make([]byte, 0, p.size)
	}
	p.out++
	p.maxOut = max(p.maxOut, p.out)
	return b[:0]
}

// put gives a buffer back.
func (p *Pool) put(b []byte) {
	p.mu.Lock()
	p.out--
	p.mu.Unlock()
	p.tokens <- b[:0]
}

// Stats reports how many buffers the pool has allocated, how many are out
// now, and the most that were ever out at once.
func (p *Pool) Stats() (allocated, out, maxOut int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.allocated, p.out, p.maxOut
}

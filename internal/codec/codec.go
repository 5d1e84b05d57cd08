package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"

	"github.com/klauspost/reedsolomon"
	"github.com/minio/highwayhash"
)

// KeySize is the size of the AES-256 key Encode and NewDecoder take.
const KeySize = 32

// coder holds what every encode and decode with the same Params shares: the
// Reed-Solomon encoder (safe for concurrent use) and pools of block buffers,
// so that steady-state encoding and decoding allocate nothing per block.
type coder struct {
	p     Params
	sfull int // shard-block size of a full block
	rs    reedsolomon.Encoder

	encJobs sync.Pool // *encJob
	slots   sync.Pool // *slot
}

var coders sync.Map // Params -> *coder

// coderFor returns the shared coder for p, which must be valid.
func coderFor(p Params) (*coder, error) {
	if c, ok := coders.Load(p); ok {
		return c.(*coder), nil
	}
	// Blocks are coded in parallel by our own workers, so the encoder
	// itself stays on the calling goroutine.
	rs, err := reedsolomon.New(p.K, p.M, reedsolomon.WithMaxGoroutines(1))
	if err != nil {
		return nil, fmt.Errorf("codec: reed-solomon %d+%d: %w", p.K, p.M, err)
	}
	c, _ := coders.LoadOrStore(p, &coder{p: p, sfull: p.fullShardBlockSize(), rs: rs})
	return c.(*coder), nil
}

// newAEAD returns AES-256-GCM under key.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("codec: key is %d bytes, want %d", len(key), KeySize)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	return cipher.NewGCM(b)
}

// putNonce writes the STREAM nonce of block i: the block index as uint64
// big-endian, three zero bytes, then 1 for the final block and 0 otherwise.
func putNonce(n *[12]byte, i int64, final bool) {
	binary.BigEndian.PutUint64(n[:8], uint64(i))
	n[8], n[9], n[10], n[11] = 0, 0, 0, 0
	if final {
		n[11] = 1
	}
}

// checksum returns the HighwayHash-128 of a shard-block.
func checksum(b []byte) [ChecksumSize]byte { return highwayhash.Sum128(b, checksumKey) }

// workers returns how many blocks to seal or open in parallel.
func workers() int { return max(1, runtime.GOMAXPROCS(0)) }

// window returns how many blocks may be in flight at once.
func window() int { return 2*workers() + 2 }

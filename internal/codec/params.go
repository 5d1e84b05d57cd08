package codec

import (
	"errors"
	"fmt"
)

// Sizes fixed by format version 1.
const (
	// HeaderSize is the size of the header at the start of every shard file.
	HeaderSize = 48
	// ChecksumSize is the size of the HighwayHash-128 checksum in front of
	// every shard-block.
	ChecksumSize = 16
	// Overhead is what sealing adds to a block: the AES-GCM tag.
	Overhead = 16
	// FormatVersion is the shard format this package writes and reads.
	FormatVersion = 1

	// DefaultBlockSize is the block size the store should use unless it has
	// a reason not to.
	DefaultBlockSize = 1 << 20
	// MinBlockSize and MaxBlockSize bound Params.BlockSize.
	MinBlockSize = 4 << 10
	MaxBlockSize = 64 << 20
	// MaxShards bounds K+M.
	MaxShards = 256
)

// ErrInvalidParams is returned by Params.Validate, and by every function
// taking Params, when a value is out of range.
var ErrInvalidParams = errors.New("codec: invalid parameters")

// Params fixes how an object is cut into blocks and shards. All three values
// are recorded in every shard header; the store keeps them in the manifest.
type Params struct {
	K         int // data shards: any K shards rebuild the object
	M         int // parity shards: up to M shards may be lost
	BlockSize int // plaintext bytes per block (the last block may be shorter)
}

// N returns K+M, the number of shards.
func (p Params) N() int { return p.K + p.M }

// Validate reports whether p can be used: 1 <= K <= 255, 0 <= M <= 255,
// K+M <= 256 and MinBlockSize <= BlockSize <= MaxBlockSize.
func (p Params) Validate() error {
	if s := p.problem(); s != "" {
		return fmt.Errorf("%w: %s", ErrInvalidParams, s)
	}
	return nil
}

// problem describes what is wrong with p, or returns "".
func (p Params) problem() string {
	switch {
	case p.K < 1 || p.K > 255:
		return fmt.Sprintf("K = %d, want 1 to 255 data shards", p.K)
	case p.M < 0 || p.M > 255:
		return fmt.Sprintf("M = %d, want 0 to 255 parity shards", p.M)
	case p.K+p.M > MaxShards:
		return fmt.Sprintf("K+M = %d, want at most %d shards", p.K+p.M, MaxShards)
	case p.BlockSize < MinBlockSize || p.BlockSize > MaxBlockSize:
		return fmt.Sprintf("BlockSize = %d, want %d (4 KiB) to %d (64 MiB) bytes", p.BlockSize, MinBlockSize, MaxBlockSize)
	}
	return ""
}

// Blocks returns the number of blocks of an object of size bytes: at least
// one, since an empty object is one empty final block.
func (p Params) Blocks(size int64) int64 {
	if size <= 0 {
		return 1
	}
	bs := int64(p.BlockSize)
	return (size + bs - 1) / bs
}

// ShardFileSize returns the exact size in bytes of each of the N shard files
// of an object of size bytes, header included.
func (p Params) ShardFileSize(size int64) int64 {
	n := p.Blocks(size)
	return p.blockOffset(n-1) + ChecksumSize + int64(p.shardBlockSize(p.blockLen(size, n-1)))
}

// blockLen returns the plaintext length of block i of an object of size bytes.
func (p Params) blockLen(size, i int64) int {
	start := i * int64(p.BlockSize)
	return int(min(size-start, int64(p.BlockSize)))
}

// shardBlockSize returns S, the size of each shard-block of a block holding
// l plaintext bytes: the sealed block (l+Overhead bytes) split in K parts.
func (p Params) shardBlockSize(l int) int {
	return (l + Overhead + p.K - 1) / p.K
}

// fullShardBlockSize returns Sfull, the shard-block size of a full block.
func (p Params) fullShardBlockSize() int { return p.shardBlockSize(p.BlockSize) }

// blockOffset returns the offset of block i (its checksum) in a shard file.
func (p Params) blockOffset(i int64) int64 {
	return HeaderSize + i*int64(ChecksumSize+p.fullShardBlockSize())
}

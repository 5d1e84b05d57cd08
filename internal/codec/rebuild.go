package codec

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/zeebo/blake3"
)

// Rebuild writes the shard files listed in targets, bit for bit as Encode
// wrote them, from the K shard files listed in sources, with Reed-Solomon
// alone: every source block's checksum (and each source header) is
// checked, the missing shard-blocks are computed and written, header and
// checksums included, to w[t]. It neither decrypts nor authenticates, so it
// costs a fraction of decoding and encoding again (about the checksums of
// the bytes read and written).
//
// In exchange, a source whose blocks pass their checksums but hold other
// data (a shard of another version put in its place, checksums and all)
// makes wrong shards. The roots Rebuild returns, of every source read and
// every target written, are what exposes that: the caller compares them
// with the signed roots and, when any differs or Rebuild fails, rebuilds
// from a decode instead (WriteRange into Encode), which authenticates.
//
// size is the object's plaintext size and vid its version ID. open is
// called once per source for the whole file. A source that fails (open,
// read, header, checksum, truncation) fails the call with an error naming
// it and wrapping the cause (ErrChecksum, ErrTruncated, ErrBadHeader,
// ErrHeaderMismatch or the Opener's error); a writer that fails fails it too.
// Either way the writers may have received part of a file.
func Rebuild(ctx context.Context, p Params, size int64, vid [16]byte, open Opener, sources, targets []int, w []io.Writer) (roots [][32]byte, err error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	n := p.N()
	if len(w) != n {
		return nil, fmt.Errorf("codec: Rebuild: have %d writers, want K+M = %d", len(w), n)
	}
	role := make([]byte, n) // 's' source, 't' target
	for _, j := range sources {
		if j < 0 || j >= n || role[j] != 0 {
			return nil, fmt.Errorf("codec: Rebuild: bad source list %v", sources)
		}
		role[j] = 's'
	}
	for _, t := range targets {
		if t < 0 || t >= n || role[t] != 0 || w[t] == nil {
			return nil, fmt.Errorf("codec: Rebuild: bad target list %v (sources %v)", targets, sources)
		}
		role[t] = 't'
	}
	if len(sources) != p.K {
		return nil, fmt.Errorf("%w: Rebuild needs exactly K = %d sources, have %d", ErrTooFewShards, p.K, len(sources))
	}
	c, err := coderFor(p)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Sources: opened whole, headers checked.
	end := p.ShardFileSize(size)
	readers := make([]io.Reader, n)
	for _, j := range slices.Sorted(slices.Values(sources)) {
		rc, err := open(ctx, j, 0, end)
		if err != nil {
			return nil, fmt.Errorf("codec: shard %d: opening: %w", j, err)
		}
		defer rc.Close()
		readers[j] = rc
		var hb [HeaderSize]byte
		if _, err := io.ReadFull(readers[j], hb[:]); err != nil {
			_, err := readError(j, err)
			return nil, fmt.Errorf("%w (header)", err)
		}
		h, err := ParseHeader(hb[:])
		if err != nil {
			return nil, fmt.Errorf("codec: shard %d: %w", j, err)
		}
		if want := (Header{K: p.K, M: p.M, Index: j, BlockSize: p.BlockSize, VersionID: vid}); h != want {
			return nil, fmt.Errorf("codec: shard %d: %w: has %+v, want %+v", j, ErrHeaderMismatch, h, want)
		}
	}
	for _, t := range targets {
		if _, err := w[t].Write(MarshalHeader(Header{K: p.K, M: p.M, Index: t, BlockSize: p.BlockSize, VersionID: vid})); err != nil {
			return nil, fmt.Errorf("codec: shard %d: writing: %w", t, err)
		}
	}

	// One record (checksum and shard-block) per shard involved, reused
	// from block to block and from call to call.
	pool := rebuildBufs(c)
	area := pool.Get().(*[]byte)
	defer pool.Put(area)
	rec := ChecksumSize + c.sfull
	hashes := make([]*blake3.Hasher, n)
	bufs := make([][]byte, n)
	for i := range n {
		if role[i] != 0 {
			hashes[i] = blake3.New()
			bufs[i] = (*area)[i*rec : (i+1)*rec]
		}
	}
	required := make([]bool, n)
	for _, t := range targets {
		required[t] = true
	}
	shards := make([][]byte, n)
	for b := range p.Blocks(size) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		S := p.shardBlockSize(p.blockLen(size, b))
		for i := range shards {
			shards[i] = nil
		}
		for _, j := range sources {
			r := bufs[j][:ChecksumSize+S]
			if _, err := io.ReadFull(readers[j], r); err != nil {
				_, err := readError(j, err)
				return nil, fmt.Errorf("%w (block %d)", err, b)
			}
			if checksum(r[ChecksumSize:]) != [ChecksumSize]byte(r[:ChecksumSize]) {
				return nil, fmt.Errorf("codec: shard %d: block %d: %w", j, b, ErrChecksum)
			}
			hashes[j].Write(r[:ChecksumSize])
			shards[j] = r[ChecksumSize:]
		}
		for _, t := range targets {
			shards[t] = bufs[t][ChecksumSize:ChecksumSize]
		}
		if err := c.rs.ReconstructSome(shards, required); err != nil {
			return nil, fmt.Errorf("codec: block %d: reed-solomon: %w", b, err)
		}
		for _, t := range targets {
			r := bufs[t][:ChecksumSize+S]
			sum := checksum(r[ChecksumSize:])
			copy(r, sum[:])
			hashes[t].Write(sum[:])
			if _, err := w[t].Write(r); err != nil {
				return nil, fmt.Errorf("codec: shard %d: writing: %w", t, err)
			}
		}
	}
	roots = make([][32]byte, n)
	for i, h := range hashes {
		if h != nil {
			h.Sum(roots[i][:0])
		}
	}
	return roots, nil
}

// rebuildPools holds, per coder, the buffers Rebuild reads and writes
// records in: K+M records of a full block each.
var rebuildPools sync.Map // *coder -> *sync.Pool

func rebuildBufs(c *coder) *sync.Pool {
	if p, ok := rebuildPools.Load(c); ok {
		return p.(*sync.Pool)
	}
	size := c.p.N() * (ChecksumSize + c.sfull)
	p, _ := rebuildPools.LoadOrStore(c, &sync.Pool{New: func() any { b := make([]byte, size); return &b }})
	return p.(*sync.Pool)
}

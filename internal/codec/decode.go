package codec

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"time"
)

// Errors of Decoder methods. Per-shard errors in a Report wrap one of
// ErrChecksum, ErrTruncated, ErrInconsistent, ErrBadHeader,
// ErrHeaderMismatch or ErrRootMismatch (the shard is Corrupt), or the
// Opener's or reader's own error (the shard is Unavailable).
var (
	// ErrTampered is returned when a block fails authentication with every
	// set of K readable shards tried: the shards, or the key, additional
	// data or size given to NewDecoder, are not what Encode used.
	ErrTampered = errors.New("codec: tampered")
	// ErrRange is returned by WriteRange for a range outside the object.
	ErrRange = errors.New("codec: range outside object")

	// ErrChecksum means a shard-block does not match its checksum (bit rot).
	ErrChecksum = errors.New("codec: checksum mismatch")
	// ErrTruncated means a shard ended before the block it should hold.
	ErrTruncated = errors.New("codec: shard truncated")
	// ErrInconsistent means a shard-block passes its checksum but disagrees
	// with the authenticated block: it was edited with its checksum
	// recomputed, or comes from another object or version.
	ErrInconsistent = errors.New("codec: shard does not match authenticated data")
	// ErrHeaderMismatch means a shard header is valid but describes another
	// shard, version or coding (Verify).
	ErrHeaderMismatch = errors.New("codec: header mismatch")
	// ErrRootMismatch means the block checksums of a shard do not hash to
	// the root given to Verify.
	ErrRootMismatch = errors.New("codec: root mismatch")
	// ErrSlow means a shard kept a block waiting past its hedge delay and
	// another shard delivered that block first, so its read was cancelled
	// (see WithHedge). Nothing is known to be wrong with its bytes.
	ErrSlow = errors.New("codec: shard too slow")
)

// ShardState says what a decode found out about one shard.
type ShardState uint8

const (
	// ShardUnused: the shard was not read; nothing is known about it.
	ShardUnused ShardState = iota
	// ShardOK: every part read was intact.
	ShardOK
	// ShardUnavailable: opening or reading failed (backend error).
	ShardUnavailable
	// ShardCorrupt: the shard was read but its bytes are wrong: checksum,
	// header, size, root or authenticated content.
	ShardCorrupt
	// ShardSlow: the shard kept a block waiting past its hedge delay and
	// lost the race to another shard; its read was cancelled. Its bytes
	// are not suspect, so a slow shard does not make a read Degraded.
	ShardSlow
)

func (s ShardState) String() string {
	switch s {
	case ShardUnused:
		return "unused"
	case ShardOK:
		return "ok"
	case ShardUnavailable:
		return "unavailable"
	case ShardCorrupt:
		return "corrupt"
	case ShardSlow:
		return "slow"
	}
	return fmt.Sprintf("ShardState(%d)", uint8(s))
}

// Report says what happened to each shard during a WriteRange or Verify.
type Report struct {
	// Degraded is true when any shard is Unavailable or Corrupt: the store
	// should queue the object for repair.
	Degraded bool
	Shards   []ShardState // len K+M
	Errs     []error      // len K+M; why a shard is Unavailable, Corrupt or Slow
	// Hedges counts the shards started because another kept a block
	// waiting past its hedge delay.
	Hedges int
}

// Opener returns a reader over bytes [off, off+length) of shard's file. The
// reader may end early (the decoder then reports the shard Corrupt, as
// truncated) and should return soon after ctx is done. The decoder closes it.
// An Opener is called from several goroutines at once.
type Opener func(ctx context.Context, shard int, off, length int64) (io.ReadCloser, error)

// Decoder reads one encoded object back. It is safe for concurrent use.
type Decoder struct {
	p      Params
	c      *coder
	aead   cipher.AEAD
	aad    []byte
	size   int64
	blocks int64
	open   Opener
	hedge  func(shard int) time.Duration
}

// A DecoderOption tunes a Decoder.
type DecoderOption func(*Decoder)

// WithHedge makes WriteRange hedge slow shards. delay(j) is how long shard
// j may keep the oldest block still being read waiting, since it last
// delivered a block or was given one to read, before the next unused shard
// is started at that block; whichever K shards deliver it first are used
// and the others are cancelled, the slow one reported ShardSlow. When no
// other shard has delivered that block yet (all are slow, or K is 1), the
// wait is three times delay(j). delay is asked at most once per shard and
// WriteRange call; a result <= 0 hedges the shard as soon as it keeps a
// block waiting. Without WithHedge a shard is only replaced when it fails.
//
// Verify reads every shard anyway and never hedges.
func WithHedge(delay func(shard int) time.Duration) DecoderOption {
	return func(d *Decoder) { d.hedge = delay }
}

// NewDecoder returns a Decoder for an object of size plaintext bytes that
// Encode wrote with p, key and aad. open fetches shard bytes.
func NewDecoder(p Params, key, aad []byte, size int64, open Opener, opts ...DecoderOption) (*Decoder, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if size < 0 {
		return nil, fmt.Errorf("codec: size %d, want >= 0", size)
	}
	if open == nil {
		return nil, errors.New("codec: nil Opener")
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	c, err := coderFor(p)
	if err != nil {
		return nil, err
	}
	d := &Decoder{
		p:      p,
		c:      c,
		aead:   aead,
		aad:    append([]byte(nil), aad...),
		size:   size,
		blocks: p.Blocks(size),
		open:   open,
	}
	for _, o := range opts {
		o(d)
	}
	return d, nil
}

// Size returns the plaintext size of the object.
func (d *Decoder) Size() int64 { return d.size }

// WriteRange writes plaintext bytes [off, off+length) to w; length -1 means
// to the end of the object. It reads only the blocks the range covers, from
// the K data shards when they are healthy. A shard that fails (open or read
// error, short read, checksum mismatch) is replaced by the next unused shard
// from the failing block on, and the missing data is reconstructed. A block
// that fails authentication is read from every shard and decoded from other
// K-subsets until one authenticates; shards that disagree with it are
// reported Corrupt. WriteRange never writes bytes that did not authenticate;
// on error, w has received a prefix of the range.
//
// A zero-length range reads nothing, except that a read of a whole empty
// object reads its one block, so that even an empty object authenticates.
//
// With WithHedge, a shard that keeps a block waiting too long is raced by
// another and cancelled if it loses, so one hanging backend does not stall
// the read.
//
// Memory is bounded by a small window of blocks whatever the range. Shards
// are read concurrently, each with a little read-ahead, and blocks are
// decoded in parallel.
func (d *Decoder) WriteRange(ctx context.Context, w io.Writer, off, length int64) (Report, error) {
	if length == -1 && off >= 0 && off <= d.size {
		length = d.size - off
	}
	if off < 0 || length < 0 || off > d.size || length > d.size-off {
		return d.newReport(), fmt.Errorf("%w: offset %d, length %d, object is %d bytes", ErrRange, off, length, d.size)
	}
	if length == 0 && d.size > 0 {
		return d.newReport(), nil
	}
	// An empty object is still read: its one block proves it is empty.
	bs := int64(d.p.BlockSize)
	end := off + length
	out := func(i int64, pt []byte) error {
		start := i * bs
		lo := max(off-start, 0)
		hi := min(end-start, int64(len(pt)))
		if lo >= hi {
			return nil
		}
		if _, err := w.Write(pt[lo:hi]); err != nil {
			return fmt.Errorf("codec: writing plaintext: %w", err)
		}
		return nil
	}
	r := d.newRun(ctx, off/bs, max(end-1, 0)/bs, out, nil)
	return r.run()
}

// Verify reads every block of every shard and checks the shard headers
// against d's parameters and vid, every block checksum, the shard roots (when
// roots is not nil; it then has one root per shard, as in Result.Roots),
// that every block authenticates, and that every shard-block, parity
// included, matches the authenticated block. It writes no plaintext.
//
// The error is nil when the whole object decodes and authenticates; shards
// found damaged on the way are in the Report (Degraded). Bytes past the end
// of a shard file are not read: the caller compares the stored size with
// Params.ShardFileSize.
func (d *Decoder) Verify(ctx context.Context, vid [16]byte, roots [][32]byte) (Report, error) {
	if roots != nil && len(roots) != d.p.N() {
		return d.newReport(), fmt.Errorf("codec: have %d roots, want K+M = %d", len(roots), d.p.N())
	}
	r := d.newRun(ctx, 0, d.blocks-1, nil, &verifyArgs{vid: vid, roots: roots})
	return r.run()
}

func (d *Decoder) newReport() Report {
	return Report{Shards: make([]ShardState, d.p.N()), Errs: make([]error, d.p.N())}
}

package codec

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/zeebo/blake3"
)

// ErrTooFewShards is returned by Encode when fewer than EncodeOptions.MinShards
// shard writers are left, and by Decoder methods when fewer than K shards of
// a block can be read. The error wraps the per-shard errors.
var ErrTooFewShards = errors.New("codec: too few shards")

// EncodeOptions tunes Encode. A nil *EncodeOptions means the defaults.
type EncodeOptions struct {
	// MinShards is how many shard writers must survive to the end for the
	// write to count. 0 means K+1 (or K when M is 0): the object is stored
	// and can still lose one shard. Nil writers count as lost from the
	// start, so a caller passing only some writers (repair) sets MinShards
	// to the number it passes.
	MinShards int

	// Plain, when non-nil, receives every plaintext byte in order, from a
	// separate goroutine while blocks are sealed. An error from it aborts
	// Encode with that error.
	Plain io.Writer
}

// Result describes an encoded object.
type Result struct {
	Size   int64      // plaintext bytes read
	Blocks int64      // blocks written, Params.Blocks(Size)
	Roots  [][32]byte // per shard: BLAKE3-256 of its block checksums in order; len N
	// ShardErrs holds, per shard, the error that made Encode drop its
	// writer, or nil. len N.
	ShardErrs []error
}

// Encode reads plaintext from r until EOF, seals it block by block under key
// with additional data aad, erasure codes every sealed block into K+M
// shard-blocks and writes shard i's file (header with vid first) to w[i]. It
// needs len(w) == K+M; a nil w[i] is skipped. Each writer is written from its
// own goroutine, so one slow backend does not hold up the others beyond the
// blocks in flight.
//
// A writer that returns an error is dropped (the error goes into
// Result.ShardErrs) and encoding goes on with the others; when fewer than
// opts.MinShards writers are left Encode stops with ErrTooFewShards. An error
// from r or opts.Plain, or the end of ctx, aborts Encode with that error.
// Written shards are then incomplete; the caller discards them.
//
// Blocks are sealed and coded by runtime.GOMAXPROCS workers with a bounded
// number of blocks in flight, so memory does not grow with the object size.
//
// Encode is deterministic: the same key, aad, vid, Params and plaintext give
// the same shard bytes, so a lost shard can be rebuilt bit for bit (leave the
// other writers nil). The flip side: a key must never seal two different
// plaintexts, since GCM nonces repeat per block index; the store uses one
// fresh key per object version.
func Encode(ctx context.Context, p Params, key, aad []byte, vid [16]byte, r io.Reader, w []io.Writer, opts *EncodeOptions) (Result, error) {
	if err := p.Validate(); err != nil {
		return Result{}, err
	}
	if len(w) != p.N() {
		return Result{}, fmt.Errorf("codec: have %d shard writers, want K+M = %d", len(w), p.N())
	}
	aead, err := newAEAD(key)
	if err != nil {
		return Result{}, err
	}
	c, err := coderFor(p)
	if err != nil {
		return Result{}, err
	}
	if opts == nil {
		opts = &EncodeOptions{}
	}
	minShards := opts.MinShards
	if minShards == 0 {
		minShards = min(p.K+1, p.N())
	}
	if minShards < 1 || minShards > p.N() {
		return Result{}, fmt.Errorf("codec: MinShards = %d, want 1 to %d (K+M)", minShards, p.N())
	}
	e := &encoder{
		c:         c,
		aead:      aead,
		aad:       aad,
		vid:       vid,
		w:         w,
		plain:     opts.Plain,
		minShards: minShards,
		shardErrs: make([]error, p.N()),
	}
	for _, wi := range w {
		if wi != nil {
			e.live.Add(1)
		}
	}
	res := Result{ShardErrs: e.shardErrs}
	if n := int(e.live.Load()); n < minShards {
		return res, fmt.Errorf("%w: have %d, need %d", ErrTooFewShards, n, minShards)
	}
	err = e.run(ctx, r)
	res.Size, res.Blocks = e.size, e.blocks
	if err != nil {
		return res, err
	}
	res.Roots = e.roots
	return res, nil
}

// encJob is one block on its way through Encode. Its buffers are reused.
type encJob struct {
	index int64
	final bool
	n     int    // plaintext bytes in plain
	plain []byte // BlockSize bytes

	// area holds the K data shard-blocks back to back (the sealed block
	// and its zero padding), then the M parity shard-blocks, each given
	// Sfull bytes.
	area   []byte
	shards [][]byte // N views into area, S bytes each
	sums   [][ChecksumSize]byte
	nonce  [12]byte

	sealed chan struct{} // signalled by the worker that sealed the job
	refs   atomic.Int32  // stages still holding the job
}

type encoder struct {
	c         *coder
	aead      cipher.AEAD
	aad       []byte
	vid       [16]byte
	w         []io.Writer
	plain     io.Writer
	minShards int

	live      atomic.Int32 // writers not dropped
	shardErrs []error      // each written only by its shard's goroutine

	cancel context.CancelCauseFunc
	free   chan *encJob // jobs ready for reuse
	made   int          // jobs taken from the pool

	size, blocks int64
	roots        [][32]byte
}

// errWritersLost is the internal cancel cause when too few writers are left;
// run turns it into ErrTooFewShards with the shard errors once all
// goroutines have stopped.
var errWritersLost = errors.New("codec: writers lost")

func (e *encoder) run(parent context.Context, r io.Reader) error {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	e.cancel = cancel

	p := e.c.p
	win := window()
	e.free = make(chan *encJob, win)
	work := make(chan *encJob, win)
	seq := make(chan *encJob, win)
	var plainCh chan *encJob
	var wg sync.WaitGroup

	for range workers() {
		wg.Go(func() {
			for j := range work {
				e.seal(j)
				j.sealed <- struct{}{}
			}
		})
	}
	if e.plain != nil {
		plainCh = make(chan *encJob, win)
		wg.Go(func() {
			for j := range plainCh {
				if ctx.Err() == nil {
					if _, err := e.plain.Write(j.plain[:j.n]); err != nil {
						cancel(err)
					}
				}
				e.release(j)
			}
		})
	}
	shardChs := make([]chan *encJob, p.N())
	var writers sync.WaitGroup
	nWriters := int32(0)
	for i, w := range e.w {
		if w == nil {
			continue
		}
		nWriters++
		ch := make(chan *encJob, win)
		shardChs[i] = ch
		writers.Go(func() { e.writeShard(ctx, i, w, ch) })
	}
	// The sequencer hands sealed blocks to the shard writers in order and
	// feeds the shard roots.
	hashers := make([]*blake3.Hasher, p.N())
	for i := range hashers {
		hashers[i] = blake3.New()
	}
	wg.Go(func() {
		for j := range seq {
			<-j.sealed
			if ctx.Err() == nil {
				for i, h := range hashers {
					h.Write(j.sums[i][:])
				}
				j.refs.Add(nWriters) // dropped writers release at once
				for _, ch := range shardChs {
					if ch != nil {
						ch <- j
					}
				}
			}
			e.release(j)
		}
		for _, ch := range shardChs {
			if ch != nil {
				close(ch)
			}
		}
	})

	readErr := e.read(ctx, r, work, seq, plainCh)
	close(work)
	close(seq)
	if plainCh != nil {
		close(plainCh)
	}
	wg.Wait()
	writers.Wait()
	e.drain()

	switch {
	case readErr != nil:
		return readErr
	case ctx.Err() != nil:
		cause := context.Cause(ctx)
		if errors.Is(cause, errWritersLost) {
			return fmt.Errorf("%w: have %d, need %d: %w",
				ErrTooFewShards, e.live.Load(), e.minShards, errors.Join(e.shardErrs...))
		}
		return cause
	}
	e.roots = make([][32]byte, p.N())
	for i, h := range hashers {
		h.Sum(e.roots[i][:0])
	}
	return nil
}

// read cuts r into blocks and dispatches them in order. It keeps one block
// of look-ahead to know which block is final. It returns r's error, if any.
func (e *encoder) read(ctx context.Context, r io.Reader, work, seq, plainCh chan *encJob) error {
	dispatch := func(j *encJob, n int, final bool) {
		j.index, j.n, j.final = e.blocks, n, final
		e.blocks++
		e.size += int64(n)
		j.refs.Store(1)
		if plainCh != nil {
			j.refs.Add(1)
			plainCh <- j
		}
		seq <- j
		work <- j
	}
	cur := e.get(ctx)
	if cur == nil {
		return nil
	}
	n, err := io.ReadFull(r, cur.plain)
	for {
		switch err {
		case nil: // a full block: final only if nothing follows
			next := e.get(ctx)
			if next == nil {
				e.free <- cur
				return nil
			}
			n2, err2 := io.ReadFull(r, next.plain)
			if err2 == io.EOF {
				e.free <- next
				dispatch(cur, n, true)
				return nil
			}
			dispatch(cur, n, false)
			cur, n, err = next, n2, err2
		case io.EOF, io.ErrUnexpectedEOF: // EOF only for an empty object
			dispatch(cur, n, true)
			return nil
		default:
			e.free <- cur
			e.cancel(err)
			return err
		}
	}
}

// get returns a job to fill, or nil once ctx is done.
func (e *encoder) get(ctx context.Context) *encJob {
	if ctx.Err() != nil {
		return nil
	}
	select {
	case j := <-e.free:
		return j
	default:
	}
	if e.made < cap(e.free) {
		e.made++
		if j, ok := e.c.encJobs.Get().(*encJob); ok {
			return j
		}
		return e.c.newEncJob()
	}
	select {
	case j := <-e.free:
		return j
	case <-ctx.Done():
		return nil
	}
}

// drain returns all jobs to the shared pool; every goroutine has stopped.
func (e *encoder) drain() {
	for range e.made {
		e.c.encJobs.Put(<-e.free)
	}
}

func (e *encoder) release(j *encJob) {
	if j.refs.Add(-1) == 0 {
		e.free <- j
	}
}

func (c *coder) newEncJob() *encJob {
	p := c.p
	return &encJob{
		plain:  make([]byte, p.BlockSize),
		area:   make([]byte, p.N()*c.sfull),
		shards: make([][]byte, p.N()),
		sums:   make([][ChecksumSize]byte, p.N()),
		sealed: make(chan struct{}, 1),
	}
}

// seal turns j.plain into N checksummed shard-blocks.
func (e *encoder) seal(j *encJob) {
	p, sfull := e.c.p, e.c.sfull
	s := p.shardBlockSize(j.n)
	data := j.area[:p.K*s]
	putNonce(&j.nonce, j.index, j.final)
	e.aead.Seal(data[:0], j.nonce[:], j.plain[:j.n], e.aad)
	clear(data[j.n+Overhead:])
	for i := range p.K {
		j.shards[i] = data[i*s : (i+1)*s]
	}
	for i := range p.M {
		off := (p.K + i) * sfull
		j.shards[p.K+i] = j.area[off : off+s]
	}
	if p.M > 0 {
		if err := e.c.rs.Encode(j.shards); err != nil {
			panic("codec: reed-solomon encode: " + err.Error()) // shapes are ours
		}
	}
	for i, sh := range j.shards {
		j.sums[i] = checksum(sh)
	}
}

// writeShard writes shard i's header and blocks to w until ch is closed.
// After a write error it only releases the jobs it is given.
func (e *encoder) writeShard(ctx context.Context, i int, w io.Writer, ch <-chan *encJob) {
	p := e.c.p
	hdr := MarshalHeader(Header{K: p.K, M: p.M, Index: i, BlockSize: p.BlockSize, VersionID: e.vid})
	dead := false
	fail := func(err error) {
		dead = true
		e.shardErrs[i] = fmt.Errorf("codec: shard %d: %w", i, err)
		if int(e.live.Add(-1)) < e.minShards {
			e.cancel(errWritersLost)
		}
	}
	if _, err := w.Write(hdr); err != nil {
		fail(err)
	}
	for j := range ch {
		if !dead && ctx.Err() == nil {
			_, err := w.Write(j.sums[i][:])
			if err == nil {
				_, err = w.Write(j.shards[i])
			}
			if err != nil {
				fail(err)
			}
		}
		e.release(j)
	}
}

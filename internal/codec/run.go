package codec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/zeebo/blake3"
)

// A run is one WriteRange or Verify. Its state is owned by the goroutine
// executing loop; shard readers and block workers talk to it through events.
//
// Blocks b0..b1 pass through slots, at most win at a time:
//
//	dispatched (read by every active shard) -> all reads reported ->
//	submitted (reconstruct + open by a worker) -> decoded -> written out
//
// with outNext <= decodeNext <= dispatchNext marking the three frontiers.
//
// A shard is active while it is streamed for upcoming blocks. At most K are
// active, except while a hedge races a slow shard (hedge.go); a shard that
// stopped being active without failing may be started again once its
// reader has ended.
type run struct {
	d      *Decoder
	ctx    context.Context
	cancel context.CancelFunc
	b0, b1 int64
	out    func(block int64, pt []byte) error // nil for Verify
	verify *verifyArgs
	win    int

	state   []ShardState // the report
	errs    []error
	active  []bool         // shard is being streamed for upcoming blocks
	nactive int            // active shards
	started []bool         // shard has had a stream reader
	live    []bool         // shard's latest reader has not ended
	readers []*shardReader // by shard
	ring    []*slot        // slot of block b at (b-b0) % win
	free    []*slot        // slots to reuse
	events  chan event     // from readers and workers; never blocks senders
	work    chan *slot     // to workers
	wg      sync.WaitGroup // readers and workers

	dispatchNext, decodeNext, outNext int64

	h *hedging // nil unless hedging
}

type verifyArgs struct {
	vid   [16]byte
	roots [][32]byte
}

type shardReader struct {
	ch     chan *slot
	cancel context.CancelFunc
}

// event reports one shard read of a slot (shard >= 0), a decoded slot
// (shard == -1), or the end of shard's reader (s == nil).
type event struct {
	s     *slot
	shard int
	state ShardState // ShardUnavailable or ShardCorrupt when err != nil
	err   error
}

// readState is the state of one shard's read of one block.
type readState uint8

const (
	rsNone    readState = iota // not asked for
	rsPending                  // asked, not reported
	rsOK                       // read and checksum verified
	rsFailed                   // read failed
	rsDropped                  // shard dropped; any report is ignored
)

// slot holds one block on its way through a run. Buffers are reused.
type slot struct {
	block int64
	l, s  int // plaintext length, shard-block size
	nonce [12]byte

	// area holds the K data shard-blocks back to back (with stride s, so
	// that they form the sealed block) and then the M parity shard-blocks.
	area   []byte
	shards [][]byte // N views into area, s bytes each: read targets
	sums   [][ChecksumSize]byte
	st     []readState
	use    []bool // st == rsOK when submitted; read by the worker
	// outstanding counts reads asked for and not yet reported, including
	// those of dropped shards: their readers may still be filling area.
	outstanding int

	// The worker sets pt, authFailed and bad before its event; the loop
	// sets done when it receives the event.
	done       bool
	pt         []byte // plaintext (WriteRange)
	authFailed bool
	bad        []int // shards that disagree with the authenticated block
}

func (c *coder) getSlot() *slot {
	if s, ok := c.slots.Get().(*slot); ok {
		return s
	}
	n := c.p.N()
	return &slot{
		area:   make([]byte, n*c.sfull),
		shards: make([][]byte, n),
		sums:   make([][ChecksumSize]byte, n),
		st:     make([]readState, n),
		use:    make([]bool, n),
		bad:    make([]int, 0, n),
	}
}

func (d *Decoder) newRun(ctx context.Context, b0, b1 int64, out func(int64, []byte) error, v *verifyArgs) *run {
	n := d.p.N()
	win := int(min(int64(window()), b1-b0+1))
	ctx, cancel := context.WithCancel(ctx)
	r := &run{
		d:       d,
		ctx:     ctx,
		cancel:  cancel,
		b0:      b0,
		b1:      b1,
		out:     out,
		verify:  v,
		win:     win,
		state:   make([]ShardState, n),
		errs:    make([]error, n),
		active:  make([]bool, n),
		started: make([]bool, n),
		live:    make([]bool, n),
		readers: make([]*shardReader, n),
		ring:    make([]*slot, win),
		// Per slot, at most one event per shard and its decode; per shard,
		// one reader end (a shard restarts only after its end is seen).
		events: make(chan event, win*(n+1)+n),
		work:   make(chan *slot, win),

		dispatchNext: b0,
		decodeNext:   b0,
		outNext:      b0,
	}
	if d.hedge != nil && v == nil {
		r.h = newHedging(n)
	}
	return r
}

func (r *run) run() (Report, error) {
	err := r.loop()
	r.shutdown()
	rep := Report{Shards: r.state, Errs: r.errs}
	if r.h != nil {
		rep.Hedges = r.h.count
	}
	for _, st := range r.state {
		if st == ShardUnavailable || st == ShardCorrupt {
			rep.Degraded = true
		}
	}
	return rep, err
}

func (r *run) loop() error {
	p := r.d.p
	nw := min(workers(), r.win)
	for range nw {
		r.wg.Go(r.decodeWorker)
	}
	if r.verify != nil {
		for j := range p.N() {
			r.startReader(j, r.b0)
		}
	} else {
		for j := range p.K {
			r.startReader(j, r.b0)
		}
	}
	for {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		r.fill()
		if err := r.advanceDecode(); err != nil {
			return err
		}
		progressed, err := r.advanceOutput()
		if err != nil {
			return err
		}
		if r.outNext > r.b1 {
			return nil
		}
		if progressed {
			continue
		}
		var wake <-chan time.Time
		if r.h != nil {
			wake = r.checkHedges()
		}
		select {
		case ev := <-r.events:
			r.handle(ev)
		case <-wake:
		case <-r.ctx.Done():
			return r.ctx.Err()
		}
	}
}

// shutdown stops every goroutine of the run and returns its slots.
func (r *run) shutdown() {
	r.cancel()
	if r.h != nil && r.h.timer != nil {
		r.h.timer.Stop()
	}
	for j, sr := range r.readers {
		if sr != nil && r.active[j] {
			r.active[j] = false
			close(sr.ch)
		}
	}
	close(r.work)
	go func() {
		r.wg.Wait()
		close(r.events)
	}()
	for range r.events {
	}
	for _, s := range r.ring {
		if s != nil {
			r.d.c.slots.Put(s)
		}
	}
	for _, s := range r.free {
		r.d.c.slots.Put(s)
	}
}

func (r *run) slot(b int64) *slot { return r.ring[(b-r.b0)%int64(r.win)] }

// fill dispatches blocks while the window has room.
func (r *run) fill() {
	p := r.d.p
	for r.dispatchNext <= r.b1 && r.dispatchNext-r.outNext < int64(r.win) {
		var s *slot
		if n := len(r.free); n > 0 {
			s, r.free = r.free[n-1], r.free[:n-1]
		} else {
			s = r.d.c.getSlot()
		}
		b := r.dispatchNext
		s.block = b
		s.l = p.blockLen(r.d.size, b)
		s.s = p.shardBlockSize(s.l)
		putNonce(&s.nonce, b, b == r.d.blocks-1)
		for k := range p.K {
			s.shards[k] = s.area[k*s.s : (k+1)*s.s]
		}
		for k := range p.M {
			off := (p.K + k) * r.d.c.sfull
			s.shards[p.K+k] = s.area[off : off+s.s]
		}
		clear(s.st)
		s.outstanding = 0
		s.done, s.pt, s.authFailed, s.bad = false, nil, false, s.bad[:0]
		r.ring[(b-r.b0)%int64(r.win)] = s
		r.dispatchNext++
		for j, a := range r.active {
			if a {
				r.assign(s, j)
			}
		}
	}
}

func (r *run) assign(s *slot, j int) {
	s.st[j] = rsPending
	s.outstanding++
	if r.h != nil {
		r.h.assigned(j)
	}
	r.readers[j].ch <- s
}

// startReader streams shard j from block from on, for every block
// dispatched so far and every block dispatched later.
func (r *run) startReader(j int, from int64) {
	ctx, cancel := context.WithCancel(r.ctx)
	sr := &shardReader{ch: make(chan *slot, r.win), cancel: cancel}
	r.readers[j], r.active[j], r.started[j], r.live[j] = sr, true, true, true
	r.nactive++
	if r.h != nil {
		r.h.rival[j] = -1
	}
	r.wg.Go(func() { r.readShard(ctx, j, from, sr.ch) })
	for b := from; b < r.dispatchNext; b++ {
		r.assign(r.slot(b), j)
	}
}

// handle applies one event.
func (r *run) handle(ev event) {
	s := ev.s
	switch {
	case s == nil:
		r.live[ev.shard] = false
		r.refill(r.decodeNext)
		return
	case ev.shard < 0:
		s.done = true
		return
	}
	s.outstanding--
	if r.h != nil {
		r.h.pend[ev.shard]--
	}
	if s.st[ev.shard] != rsPending {
		return // dropped shard
	}
	if ev.err == nil {
		s.st[ev.shard] = rsOK
		if r.state[ev.shard] == ShardUnused {
			r.state[ev.shard] = ShardOK
		}
		if r.h != nil {
			r.h.delivered(ev.shard)
		}
		return
	}
	s.st[ev.shard] = rsFailed
	r.fail(ev.shard, ev.state, ev.err, s.block)
}

// fail records that shard j is Unavailable or Corrupt, stops using it from
// block from on and, when reading a range, starts a spare in its place.
func (r *run) fail(j int, st ShardState, err error, from int64) {
	if !failed(r.state[j]) {
		r.state[j], r.errs[j] = st, err
	}
	if !r.active[j] {
		return
	}
	r.stop(j, from)
	r.refill(max(from, r.decodeNext))
}

func failed(st ShardState) bool { return st == ShardUnavailable || st == ShardCorrupt }

// stop ends shard j's stream and drops its reads from block from on. Its
// reader reports what it was asked for and ends soon after.
func (r *run) stop(j int, from int64) {
	r.active[j] = false
	r.nactive--
	sr := r.readers[j]
	close(sr.ch)
	sr.cancel()
	for b := max(from, r.decodeNext); b < r.dispatchNext; b++ {
		if s := r.slot(b); s.st[j] == rsPending || s.st[j] == rsOK {
			s.st[j] = rsDropped
		}
	}
}

// refill starts spare shards from block from on while fewer than K are
// active, when reading a range (Verify reads every shard already).
func (r *run) refill(from int64) {
	if r.verify != nil {
		return
	}
	for r.nactive < r.d.p.K {
		k := r.spare()
		if k < 0 {
			return
		}
		r.startReader(k, from)
	}
}

// spare returns the shard to start next, or -1: an unread shard, data
// shards first, then parity; else one that stopped without failing and
// whose reader has ended, those found slow last.
func (r *run) spare() int {
	best, rank := -1, 3
	for k := range r.d.p.N() {
		if r.active[k] || r.live[k] || failed(r.state[k]) {
			continue
		}
		rk := 0
		switch {
		case r.state[k] == ShardSlow:
			rk = 2
		case r.started[k]:
			rk = 1
		}
		if rk < rank {
			best, rank = k, rk
		}
	}
	return best
}

// restartable reports whether a shard that stopped without failing is
// still ending: once it has, refill can start it again.
func (r *run) restartable() bool {
	for k := range r.d.p.N() {
		if r.live[k] && !r.active[k] && !failed(r.state[k]) {
			return true
		}
	}
	return false
}

// advanceDecode submits, in order, the blocks whose reads are all reported.
func (r *run) advanceDecode() error {
	p := r.d.p
	for r.decodeNext < r.dispatchNext {
		s := r.slot(r.decodeNext)
		if r.h != nil && r.nactive > p.K {
			r.settle(s)
		}
		if s.outstanding > 0 {
			return nil
		}
		ok := 0
		for j, st := range s.st {
			s.use[j] = st == rsOK
			if s.use[j] {
				ok++
			}
		}
		if ok < p.K {
			if r.restartable() {
				return nil // refill starts it once its reader ends
			}
			return fmt.Errorf("%w: have %d, need %d for block %d: %w",
				ErrTooFewShards, ok, p.K, s.block, errors.Join(r.errs...))
		}
		r.work <- s
		r.decodeNext++
	}
	return nil
}

// advanceOutput writes out, in order, the decoded blocks, recovering those
// that failed authentication. It reports whether it freed a slot.
func (r *run) advanceOutput() (bool, error) {
	progressed := false
	for r.outNext < r.decodeNext {
		s := r.slot(r.outNext)
		if !s.done {
			break
		}
		for _, j := range s.bad {
			r.fail(j, ShardCorrupt, fmt.Errorf("codec: shard %d: block %d: %w", j, s.block, ErrInconsistent), r.decodeNext)
		}
		pt := s.pt
		if s.authFailed {
			var err error
			if pt, err = r.recover(s); err != nil {
				return progressed, err
			}
		}
		if r.out != nil {
			if err := r.out(s.block, pt); err != nil {
				return progressed, err
			}
		}
		r.ring[(s.block-r.b0)%int64(r.win)] = nil
		r.free = append(r.free, s)
		r.outNext++
		progressed = true
	}
	return progressed, nil
}

// readShard streams shard j for the slots it is sent, from block from on,
// and reports each. After a failure it reports the rest as skipped.
func (r *run) readShard(ctx context.Context, j int, from int64, ch <-chan *slot) {
	var (
		rc     io.ReadCloser
		failed bool
		root   *blake3.Hasher
	)
	defer func() {
		if rc != nil {
			rc.Close()
		}
		r.events <- event{shard: j}
	}()
	for s := range ch {
		ev := event{s: s, shard: j}
		switch {
		case failed || ctx.Err() != nil:
			failed = true
			ev.state, ev.err = ShardUnavailable, context.Canceled
		case rc == nil:
			rc, root, ev.state, ev.err = r.openShard(ctx, j, from)
		}
		if ev.err == nil {
			ev.state, ev.err = r.readBlock(rc, j, s, root)
		}
		failed = ev.err != nil
		r.events <- ev
	}
}

// openShard opens shard j at block from up to the end of the run, and in
// Verify checks its header.
func (r *run) openShard(ctx context.Context, j int, from int64) (io.ReadCloser, *blake3.Hasher, ShardState, error) {
	p := r.d.p
	off := p.blockOffset(from)
	if r.verify != nil {
		off = 0
	}
	end := p.blockOffset(r.b1) + ChecksumSize + int64(p.shardBlockSize(p.blockLen(r.d.size, r.b1)))
	rc, err := r.d.open(ctx, j, off, end-off)
	if err != nil {
		return nil, nil, ShardUnavailable, fmt.Errorf("codec: shard %d: opening at byte %d: %w", j, off, err)
	}
	if r.verify == nil {
		return rc, nil, ShardOK, nil
	}
	var b [HeaderSize]byte
	if _, err := io.ReadFull(rc, b[:]); err != nil {
		st, err := readError(j, err)
		return rc, nil, st, fmt.Errorf("%w (header)", err)
	}
	h, err := ParseHeader(b[:])
	if err != nil {
		return rc, nil, ShardCorrupt, fmt.Errorf("codec: shard %d: %w", j, err)
	}
	want := Header{K: p.K, M: p.M, Index: j, BlockSize: p.BlockSize, VersionID: r.verify.vid}
	if h != want {
		return rc, nil, ShardCorrupt, fmt.Errorf("codec: shard %d: %w: has %+v, want %+v", j, ErrHeaderMismatch, h, want)
	}
	var root *blake3.Hasher
	if r.verify.roots != nil {
		root = blake3.New()
	}
	return rc, root, ShardOK, nil
}

// readBlock reads shard j's part of s from rc and checks it.
func (r *run) readBlock(rc io.Reader, j int, s *slot, root *blake3.Hasher) (ShardState, error) {
	sum := &s.sums[j]
	_, err := io.ReadFull(rc, sum[:])
	if err == nil {
		_, err = io.ReadFull(rc, s.shards[j])
	}
	if err != nil {
		st, err := readError(j, err)
		return st, fmt.Errorf("%w (block %d)", err, s.block)
	}
	if checksum(s.shards[j]) != *sum {
		return ShardCorrupt, fmt.Errorf("codec: shard %d: block %d: %w", j, s.block, ErrChecksum)
	}
	if root != nil {
		root.Write(sum[:])
		if s.block == r.d.blocks-1 {
			var got [32]byte
			root.Sum(got[:0])
			if got != r.verify.roots[j] {
				return ShardCorrupt, fmt.Errorf("codec: shard %d: %w: blocks hash to %x, want %x",
					j, ErrRootMismatch, got, r.verify.roots[j])
			}
		}
	}
	return ShardOK, nil
}

// readError classifies a read error: a stream that ends early is Corrupt
// (truncated), anything else is the backend's failure.
func readError(j int, err error) (ShardState, error) {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return ShardCorrupt, fmt.Errorf("codec: shard %d: %w", j, ErrTruncated)
	}
	return ShardUnavailable, fmt.Errorf("codec: shard %d: reading: %w", j, err)
}

// scratch is one worker's reusable memory.
type scratch struct {
	shards [][]byte
	parity []byte // Verify: recomputed parity shard-blocks
	pt     []byte // Verify: plaintext, discarded
}

func (r *run) decodeWorker() {
	p := r.d.p
	ws := &scratch{shards: make([][]byte, p.N())}
	if r.verify != nil {
		ws.parity = make([]byte, p.M*r.d.c.sfull)
		ws.pt = make([]byte, 0, p.BlockSize)
	}
	for s := range r.work {
		r.decode(s, ws)
		r.events <- event{s: s, shard: -1}
	}
}

// decode reconstructs the missing data shard-blocks of s, if any, and
// authenticates and decrypts the block.
func (r *run) decode(s *slot, ws *scratch) {
	p, rs := r.d.p, r.d.c.rs
	S, sealed := s.s, s.l+Overhead
	ct := s.area[:p.K*S]
	shards := ws.shards
	recon := false
	for j := range shards {
		switch {
		case s.use[j]:
			shards[j] = s.shards[j]
		case j < p.K:
			shards[j] = ct[j*S : j*S : (j+1)*S]
			recon = true
		default:
			shards[j] = nil
		}
	}
	if recon {
		if err := rs.ReconstructData(shards); err != nil {
			s.authFailed = true
			return
		}
	}
	// Padding is not authenticated: check it read as written.
	for i := sealed; i < len(ct); i++ {
		if ct[i] != 0 {
			if j := i / S; s.use[j] && !slices.Contains(s.bad, j) {
				s.bad = append(s.bad, j)
			}
		}
	}
	if r.verify == nil {
		pt, err := r.d.aead.Open(ct[:0], s.nonce[:], ct[:sealed], r.d.aad)
		s.pt, s.authFailed = pt, err != nil
		return
	}
	if _, err := r.d.aead.Open(ws.pt[:0], s.nonce[:], ct[:sealed], r.d.aad); err != nil {
		s.authFailed = true
		return
	}
	// The data shard-blocks now hold the authenticated block; recompute
	// the parity and compare it with the parity shards read.
	if p.M == 0 {
		return
	}
	clear(ct[sealed:])
	for k := range p.M {
		shards[p.K+k] = ws.parity[k*S : (k+1)*S]
	}
	for j := range p.K {
		shards[j] = ct[j*S : (j+1)*S]
	}
	if err := rs.Encode(shards); err != nil {
		panic("codec: reed-solomon encode: " + err.Error()) // shapes are ours
	}
	for k := p.K; k < p.N(); k++ {
		if s.use[k] && !bytes.Equal(shards[k], s.shards[k]) {
			s.bad = append(s.bad, k)
		}
	}
}

// maxSubsets bounds the K-subsets recover tries for one block.
const maxSubsets = 1 << 12

// recover decodes a block that failed authentication: it reads the block
// from every shard not known bad (nor found slow: it may hang), tries
// K-subsets of the intact ones until one authenticates, and marks Corrupt
// every shard that disagrees with it.
func (r *run) recover(s *slot) ([]byte, error) {
	p, rs := r.d.p, r.d.c.rs
	S, sealed := s.s, s.l+Overhead
	off := p.blockOffset(s.block)

	bufs := make([][]byte, p.N())
	states := make([]ShardState, p.N())
	errs := make([]error, p.N())
	var wg sync.WaitGroup
	for j := range p.N() {
		if failed(r.state[j]) || r.state[j] == ShardSlow {
			continue
		}
		wg.Go(func() { bufs[j], states[j], errs[j] = r.readOne(j, s.block, off, S) })
	}
	wg.Wait()
	if err := r.ctx.Err(); err != nil {
		return nil, err
	}
	var cand []int
	for j, buf := range bufs {
		switch {
		case errs[j] != nil:
			r.fail(j, states[j], errs[j], r.decodeNext)
		case buf != nil:
			cand = append(cand, j)
		}
	}
	if len(cand) < p.K {
		return nil, fmt.Errorf("%w: block %d fails authentication; %d shards readable, need %d to try others: %w",
			ErrTampered, s.block, len(cand), p.K, errors.Join(r.errs...))
	}

	ct := make([]byte, p.K*S)
	parity := make([]byte, p.M*S)
	pt := make([]byte, 0, s.l)
	shards := make([][]byte, p.N())
	tries := 0
	idx := make([]int, p.K) // positions in cand of the current subset
	for i := range idx {
		idx[i] = i
	}
	for {
		tries++
		clear(shards)
		for _, i := range idx {
			if j := cand[i]; j < p.K {
				copy(ct[j*S:], bufs[j])
				shards[j] = ct[j*S : (j+1)*S]
			} else {
				shards[j] = bufs[j]
			}
		}
		for j := range p.K {
			if shards[j] == nil {
				shards[j] = ct[j*S : j*S : (j+1)*S]
			}
		}
		if rs.ReconstructData(shards) == nil {
			if out, err := r.d.aead.Open(pt, s.nonce[:], ct[:sealed], r.d.aad); err == nil {
				r.judge(s.block, ct, parity, S, sealed, cand, bufs)
				return out, nil
			}
		}
		if tries >= maxSubsets || !nextSubset(idx, len(cand)) {
			break
		}
	}
	return nil, fmt.Errorf("%w: block %d fails authentication with each of %d subsets of %d of the %d intact shards",
		ErrTampered, s.block, tries, p.K, len(cand))
}

// judge compares the shard-blocks read for a block with the ones encoding
// its authenticated sealed form (ct[:sealed]) gives, and marks the
// disagreeing shards Corrupt.
func (r *run) judge(block int64, ct, parity []byte, S, sealed int, cand []int, bufs [][]byte) {
	p := r.d.p
	clear(ct[sealed:])
	want := make([][]byte, p.N())
	for j := range p.K {
		want[j] = ct[j*S : (j+1)*S]
	}
	for k := range p.M {
		want[p.K+k] = parity[k*S : (k+1)*S]
	}
	if p.M > 0 {
		if err := r.d.c.rs.Encode(want); err != nil {
			panic("codec: reed-solomon encode: " + err.Error()) // shapes are ours
		}
	}
	for _, j := range cand {
		if !bytes.Equal(bufs[j], want[j]) {
			r.fail(j, ShardCorrupt, fmt.Errorf("codec: shard %d: block %d: %w", j, block, ErrInconsistent), r.decodeNext)
		} else if r.state[j] == ShardUnused {
			r.state[j] = ShardOK
		}
	}
}

// readOne reads and checks shard j's part of one block on its own.
func (r *run) readOne(j int, block, off int64, S int) ([]byte, ShardState, error) {
	rc, err := r.d.open(r.ctx, j, off, int64(ChecksumSize+S))
	if err != nil {
		return nil, ShardUnavailable, fmt.Errorf("codec: shard %d: opening at byte %d: %w", j, off, err)
	}
	defer rc.Close()
	buf := make([]byte, ChecksumSize+S)
	if _, err := io.ReadFull(rc, buf); err != nil {
		st, err := readError(j, err)
		return nil, st, fmt.Errorf("%w (block %d)", err, block)
	}
	if checksum(buf[ChecksumSize:]) != [ChecksumSize]byte(buf[:ChecksumSize]) {
		return nil, ShardCorrupt, fmt.Errorf("codec: shard %d: block %d: %w", j, block, ErrChecksum)
	}
	return buf[ChecksumSize:], ShardOK, nil
}

// nextSubset advances idx, a strictly increasing K-subset of [0, n), to the
// next one in lexicographic order and reports whether there is one.
func nextSubset(idx []int, n int) bool {
	k := len(idx)
	i := k - 1
	for i >= 0 && idx[i] == n-k+i {
		i--
	}
	if i < 0 {
		return false
	}
	idx[i]++
	for m := i + 1; m < k; m++ {
		idx[m] = idx[m-1] + 1
	}
	return true
}

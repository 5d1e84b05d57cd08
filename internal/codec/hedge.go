package codec

import (
	"fmt"
	"time"
)

// Hedged reads (WithHedge).
//
// Only the oldest block not yet decoded, the head, can hold a read up, so
// only the shards it waits on are watched. A shard is late when it has kept
// the head waiting for its hedge delay since it last delivered a block or
// was given one to read while it had none, which measures a stall rather
// than the shard's throughput. A late shard gets a rival: the best spare
// shard, started at the head. The head is decoded from the first K shards
// that deliver it; an active shard still reading it then loses the race and
// is stopped (cancelled), reported ShardSlow if it was late. If every
// active shard delivered it, the race is over and the surplus streams stop,
// data shards kept first since they need no Reed-Solomon decoding.

// noDelay marks a hedge delay not asked for yet.
const noDelay time.Duration = -1

// hedging is a run's hedge state.
type hedging struct {
	delay []time.Duration // by shard, asked once; noDelay until then
	pend  []int           // reads asked of the shard and not reported
	since []time.Time     // when the shard last delivered a block, or was given one with none pending
	rival []int           // shard started because this one was late, or -1
	timer *time.Timer
	armed time.Time // when timer fires, if it has not
	count int       // rivals started
}

func newHedging(n int) *hedging {
	h := &hedging{
		delay: make([]time.Duration, n),
		pend:  make([]int, n),
		since: make([]time.Time, n),
		rival: make([]int, n),
	}
	for j := range n {
		h.delay[j], h.rival[j] = noDelay, -1
	}
	return h
}

// assigned notes that shard j was given a block to read.
func (h *hedging) assigned(j int) {
	if h.pend[j] == 0 {
		h.since[j] = time.Now()
	}
	h.pend[j]++
}

// delivered notes that shard j delivered a block intact.
func (h *hedging) delivered(j int) { h.since[j] = time.Now() }

// raced reports whether shard j has a rival still reading.
func (r *run) raced(j int) bool {
	k := r.h.rival[j]
	return k >= 0 && r.active[k]
}

// late reports whether shard j has kept a block waiting past its delay.
func (r *run) late(j int) bool {
	return r.h.pend[j] > 0 && time.Since(r.h.since[j]) >= r.hedgeDelay(j)
}

// hedgeDelay returns shard j's hedge delay, asking for it the first time.
func (r *run) hedgeDelay(j int) time.Duration {
	if r.h.delay[j] == noDelay {
		r.h.delay[j] = max(r.d.hedge(j), 0)
	}
	return r.h.delay[j]
}

// checkHedges starts a rival for every late shard of the head block that
// has none, and returns a channel that fires when the next one will be
// late, or nil.
func (r *run) checkHedges() <-chan time.Time {
	h := r.h
	if r.decodeNext >= r.dispatchNext || len(r.events) > 0 {
		return nil // judge on what has arrived, not on what is queued
	}
	s := r.slot(r.decodeNext)
	ahead := false // some shard delivered the head already
	for _, st := range s.st {
		if st == rsOK {
			ahead = true
			break
		}
	}
	now := time.Now()
	var next time.Time
	for j := range r.d.p.N() {
		if !r.active[j] || s.st[j] != rsPending || r.raced(j) {
			continue
		}
		d := r.hedgeDelay(j)
		if !ahead {
			d *= 3
		}
		if due := h.since[j].Add(d); now.Before(due) {
			if next.IsZero() || due.Before(next) {
				next = due
			}
			continue
		}
		k := r.spare()
		if k < 0 {
			continue // none now; a reader that ends wakes the loop
		}
		h.rival[j] = k
		h.count++
		r.startReader(k, r.decodeNext)
	}
	switch {
	case next.IsZero():
		return nil
	case h.timer == nil:
		h.timer = time.NewTimer(next.Sub(now))
	case !next.Equal(h.armed):
		h.timer.Reset(next.Sub(now))
	}
	h.armed = next
	return h.timer.C
}

// settle ends the races on the head block s once K shards delivered it.
func (r *run) settle(s *slot) {
	p := r.d.p
	ok := 0
	for _, st := range s.st {
		if st == rsOK {
			ok++
		}
	}
	if ok < p.K {
		return
	}
	lost := false
	for j := range p.N() {
		if !r.active[j] || s.st[j] != rsPending {
			continue
		}
		// Judge before stopping anyone: stopping j's rival unraces j.
		if r.raced(j) || r.late(j) {
			r.state[j] = ShardSlow
			r.errs[j] = fmt.Errorf("codec: shard %d: %w: block %d kept waiting %v; read from others",
				j, ErrSlow, s.block, time.Since(r.h.since[j]).Round(time.Millisecond))
		}
		lost = true
	}
	if lost {
		for j := range p.N() {
			if r.active[j] && s.st[j] == rsPending {
				r.stop(j, s.block)
			}
		}
		r.refill(s.block) // keeps K streams should a winner have stopped already
		return
	}
	for j := p.N() - 1; j >= 0 && r.nactive > p.K; j-- {
		if r.active[j] {
			r.stop(j, s.block+1)
		}
	}
}

package store

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/backend/observe"
	"github.com/rhizome-data/rhizome/internal/codec"
	"github.com/rhizome-data/rhizome/internal/manifest"
)

// Hedged reads. A shard that keeps a block waiting longer than its hedge
// delay is raced by a spare shard (codec.WithHedge). The delay is
// HedgeFactor times a reference time to first byte, within
// [HedgeFloor, HedgeCap]: the median over backends of each one's recent
// p95 Get time to first byte (backends with at least hedgeMinGets recent
// Gets count). The median follows what a healthy backend does while up to
// half of them are slow, so a slow backend is hedged rather than waited
// for. Until enough Gets were measured the delay is HedgeUnknown. A backend
// that hung or failed on a Get since it last delivered a first byte is down
// (observe.Backend.Down): its shards are hedged at once, racing a spare
// from the start, until it delivers again.
const (
	HedgeFloor   = 20 * time.Millisecond
	HedgeCap     = time.Second
	HedgeUnknown = 100 * time.Millisecond
	HedgeFactor  = 2

	hedgeMinGets = 16
)

// observer returns the observe wrapper of b, looking through wrappers
// that expose Unwrap, or nil.
func observer(b backend.Backend) *observe.Backend {
	for b != nil {
		if o, ok := b.(*observe.Backend); ok {
			return o
		}
		u, ok := b.(interface{ Unwrap() backend.Backend })
		if !ok {
			return nil
		}
		b = u.Unwrap()
	}
	return nil
}

// BackendStats returns what was measured of each configured backend, in
// config order: calls by outcome, bytes, latency quantiles and error rates
// (see observe.Stats). Open measures every backend; a backend given to New
// without an observe.Backend in its wrappers has only its Name.
func (s *Store) BackendStats() []observe.Stats {
	out := make([]observe.Stats, len(s.backends))
	for i, b := range s.backends {
		if o := observer(b); o != nil {
			out[i] = o.Stats()
		}
		out[i].Name = s.pb[i].Name
	}
	return out
}

// HedgeDelay returns the delay after which a shard read kept waiting on
// the named backend is hedged, from the current measurements.
func (s *Store) HedgeDelay(name string) time.Duration {
	return s.hedgeDelays()(name)
}

// hedgeDelays computes the reference delay once and returns the delay for
// a backend by name.
func (s *Store) hedgeDelays() func(name string) time.Duration {
	var p95s []time.Duration
	for _, b := range s.backends {
		if o := observer(b); o != nil {
			if d, n := o.Latency(observe.OpGet, 0.95); n >= hedgeMinGets {
				p95s = append(p95s, d)
			}
		}
	}
	base := HedgeUnknown
	if len(p95s) > 0 {
		slices.Sort(p95s)
		base = min(max(HedgeFactor*p95s[(len(p95s)-1)/2], HedgeFloor), HedgeCap)
	}
	return func(name string) time.Duration {
		if i, ok := s.byName[name]; ok {
			if o := observer(s.backends[i]); o != nil && o.Down() {
				return 0
			}
		}
		return base
	}
}

// hedgeOption makes a decoder of seg hedge with the store's delays,
// computed when the decoder first needs one.
func (s *Store) hedgeOption(seg manifest.Segment) codec.DecoderOption {
	delays := sync.OnceValue(s.hedgeDelays)
	return codec.WithHedge(func(shard int) time.Duration {
		return delays()(seg.Backends[shard])
	})
}

// statusProbe is a blob name that never exists: status asks each backend
// for it to time a round trip.
const statusProbe = "status-probe"

// statusProbeTimeout bounds each probe.
const statusProbeTimeout = 2 * time.Second

// observeStatus times a few round trips to b (a Stat of a missing blob)
// when it is reachable, and fills in what was measured of it.
func (s *Store) observeStatus(ctx context.Context, b backend.Backend, bs *BackendStatus) {
	o := observer(b)
	if o == nil {
		return
	}
	var rtts []time.Duration
	for range 3 {
		if !bs.Reachable {
			break
		}
		pctx, cancel := context.WithTimeout(ctx, statusProbeTimeout)
		start := time.Now()
		_, err := o.Stat(pctx, statusProbe)
		rtt := time.Since(start)
		cancel()
		if err != nil && !errors.Is(err, backend.ErrNotFound) {
			break
		}
		rtts = append(rtts, rtt)
	}
	if len(rtts) > 0 {
		slices.Sort(rtts)
		bs.RoundTrip = rtts[len(rtts)/2]
	}
	st := o.Stats()
	bs.GetP50, bs.GetP99 = st.Get().P50, st.Get().P99
	bs.ErrorRate = st.ErrorRate()
	for _, op := range st.Ops {
		bs.RecentCalls += op.RecentCalls
	}
	bs.Stalled = st.Stalled
	bs.Failing = st.Failing
}

package codec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// forever is how long a stalled shard stalls unless its read is cancelled:
// far longer than any bound a test asserts, so a read that waited for a
// stall instead of hedging it fails the test instead of passing slowly.
const forever = 30 * time.Second

// lagStore serves shards from memory like memStore, with stalls: an open
// that waits, or a stream that stops at some offset, until its context
// ends (or forever passes).
type lagStore struct {
	*memStore
	mu        sync.Mutex
	openWaits map[int][]time.Duration // per shard, for its successive opens
	hangAt    map[int]int64           // the stream stops before this file offset
	cancelled atomic.Int64            // stalls ended by their context
}

func newLagStore(shards [][]byte) *lagStore {
	return &lagStore{memStore: newMemStore(shards), openWaits: map[int][]time.Duration{}, hangAt: map[int]int64{}}
}

// stall waits d, or until ctx ends.
func (l *lagStore) stall(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		l.cancelled.Add(1)
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (l *lagStore) open(ctx context.Context, shard int, off, length int64) (io.ReadCloser, error) {
	l.mu.Lock()
	var wait time.Duration
	if ws := l.openWaits[shard]; len(ws) > 0 {
		wait, l.openWaits[shard] = ws[0], ws[1:]
	}
	at, hangs := l.hangAt[shard]
	l.mu.Unlock()
	if wait > 0 {
		if err := l.stall(ctx, wait); err != nil {
			return nil, fmt.Errorf("shard %d: %w", shard, err)
		}
	}
	rc, err := l.memStore.open(ctx, shard, off, length)
	if err != nil || !hangs || at >= off+length {
		return rc, err
	}
	stop := &stallReader{l: l, ctx: ctx}
	return io.NopCloser(io.MultiReader(io.LimitReader(rc, max(at-off, 0)), stop)), nil
}

type stallReader struct {
	l   *lagStore
	ctx context.Context
}

func (s *stallReader) Read([]byte) (int, error) {
	if err := s.l.stall(s.ctx, forever); err != nil {
		return 0, err
	}
	return 0, errLost
}

// hedgeAfter is a hedge delay function giving d for every shard and
// counting the calls.
func hedgeAfter(d time.Duration, calls *atomic.Int64) func(int) time.Duration {
	return func(int) time.Duration {
		if calls != nil {
			calls.Add(1)
		}
		return d
	}
}

// readHedged reads the whole object through l with hedge delay d and
// returns what it wrote, the report, the time it took and the error.
func readHedged(tb testing.TB, p Params, size int64, l *lagStore, d time.Duration) ([]byte, Report, time.Duration, error) {
	tb.Helper()
	dec, err := NewDecoder(p, testKey, testAAD, size, l.open, WithHedge(hedgeAfter(d, nil)))
	if err != nil {
		tb.Fatalf("NewDecoder: %v", err)
	}
	var out bytes.Buffer
	start := time.Now()
	rep, err := dec.WriteRange(context.Background(), &out, 0, -1)
	return out.Bytes(), rep, time.Since(start), err
}

// TestHedgeStalledShards stalls shards in several ways and checks that the
// read finishes long before the stall would end, with the right bytes, the
// stalled shards reported slow and their reads cancelled.
func TestHedgeStalledShards(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 4096}
	size := int64(12*4096 + 777)
	data := testData(int(size), 21)
	shards, _ := encodeMem(t, p, testKey, testVID, data)
	mid := p.blockOffset(5) + 100 // inside block 5
	for _, tc := range []struct {
		name  string
		setup func(l *lagStore)
		slow  []int
	}{
		{"data shard 0 hangs at open", func(l *lagStore) { l.openWaits[0] = []time.Duration{forever} }, []int{0}},
		{"data shard 3 hangs at open", func(l *lagStore) { l.openWaits[3] = []time.Duration{forever} }, []int{3}},
		{"data shard 1 hangs mid-stream", func(l *lagStore) { l.hangAt[1] = mid }, []int{1}},
		{"data shard 2 hangs in its first block", func(l *lagStore) { l.hangAt[2] = HeaderSize + 5 }, []int{2}},
		{"two data shards hang", func(l *lagStore) {
			l.openWaits[0] = []time.Duration{forever}
			l.hangAt[2] = mid
		}, []int{0, 2}},
		{"data shard and its first rival hang", func(l *lagStore) {
			l.openWaits[1] = []time.Duration{forever}
			l.openWaits[4] = []time.Duration{forever}
		}, []int{1, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLagStore(shards)
			tc.setup(l)
			got, rep, took, err := readHedged(t, p, size, l, 50*time.Millisecond)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("WriteRange = %d bytes, %v; want the %d bytes written", len(got), err, len(data))
			}
			if took > 2*time.Second {
				t.Errorf("WriteRange took %v with a 50ms hedge delay; want well under the %v stall", took, forever)
			}
			slow := make([]bool, p.N())
			for _, j := range tc.slow {
				slow[j] = true
			}
			for j, st := range rep.Shards {
				switch {
				case slow[j] && (st != ShardSlow || !errors.Is(rep.Errs[j], ErrSlow)):
					t.Errorf("Shards[%d] = %v (%v); want slow", j, st, rep.Errs[j])
				case !slow[j] && failed(st):
					// A healthy shard may be late too on a loaded
					// machine (TestHedgeTiming checks exact timing).
					t.Errorf("Shards[%d] = %v (%v); want ok, unused or slow", j, st, rep.Errs[j])
				}
			}
			if rep.Degraded {
				t.Errorf("Degraded = true; slow shards are not damage")
			}
			if rep.Hedges < len(tc.slow) {
				t.Errorf("Hedges = %d; want at least %d", rep.Hedges, len(tc.slow))
			}
			if n := l.cancelled.Load(); n != int64(len(tc.slow)) {
				t.Errorf("%d stalls were cancelled; want %d", n, len(tc.slow))
			}
		})
	}
}

// TestHedgeLosingRivalIsCancelled: a shard that is late but then delivers
// before its rival keeps its place; the rival, hung, is cancelled. With
// no spare left, nothing else is started meanwhile.
func TestHedgeLosingRivalIsCancelled(t *testing.T) {
	p := Params{K: 4, M: 1, BlockSize: 4096}
	size := int64(3 * 4096)
	data := testData(int(size), 22)
	shards, _ := encodeMem(t, p, testKey, testVID, data)
	l := newLagStore(shards)
	l.openWaits[0] = []time.Duration{200 * time.Millisecond}
	l.openWaits[4] = []time.Duration{forever}
	got, rep, took, err := readHedged(t, p, size, l, 50*time.Millisecond)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("WriteRange = %d bytes, %v; want the data", len(got), err)
	}
	if took > 2*time.Second {
		t.Errorf("WriteRange took %v; want about 200ms", took)
	}
	if rep.Shards[0] != ShardOK || rep.Shards[4] != ShardSlow || rep.Hedges != 1 {
		t.Errorf("Shards = %v, Hedges = %d; want shard 0 ok, the hung rival 4 slow, one hedge", rep.Shards, rep.Hedges)
	}
	if n := l.cancelled.Load(); n != 1 {
		t.Errorf("%d stalls were cancelled; want 1 (the rival)", n)
	}
}

// TestHedgeRestartsStoppedShard: with every spare used, a shard stopped
// earlier for being slow is started again when another stalls.
func TestHedgeRestartsStoppedShard(t *testing.T) {
	p := Params{K: 2, M: 1, BlockSize: 4096}
	size := int64(10 * 4096)
	data := testData(int(size), 23)
	shards, _ := encodeMem(t, p, testKey, testVID, data)
	l := newLagStore(shards)
	l.openWaits[0] = []time.Duration{forever} // first open only
	l.hangAt[1] = p.blockOffset(6) + 3
	got, rep, took, err := readHedged(t, p, size, l, 50*time.Millisecond)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("WriteRange = %d bytes, %v; want the data", len(got), err)
	}
	if took > 2*time.Second {
		t.Errorf("WriteRange took %v; want well under the stall", took)
	}
	if rep.Shards[0] != ShardSlow || rep.Shards[1] != ShardSlow || rep.Shards[2] != ShardOK || rep.Hedges != 2 {
		t.Errorf("Shards = %v, Hedges = %d; want 0 and 1 slow, 2 ok, two hedges", rep.Shards, rep.Hedges)
	}
	var reopened bool
	for _, c := range l.calls() {
		if c.shard == 0 && c.off == p.blockOffset(6) {
			reopened = true
		}
	}
	if !reopened {
		t.Errorf("opens = %v; want shard 0 opened again at block 6 (byte %d)", l.calls(), p.blockOffset(6))
	}
}

// TestHedgeNoSpareHonoursContext: with no shard to hedge to, a stalled read
// waits, and ends when its context does.
func TestHedgeNoSpareHonoursContext(t *testing.T) {
	for _, tc := range []struct {
		name  string
		p     Params
		stall []int
	}{
		{"no parity", Params{K: 2, M: 0, BlockSize: 4096}, []int{1}},
		{"spare stalls too", Params{K: 2, M: 1, BlockSize: 4096}, []int{0, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shards, _ := encodeMem(t, tc.p, testKey, testVID, testData(20000, 24))
			l := newLagStore(shards)
			for _, j := range tc.stall {
				l.openWaits[j] = []time.Duration{forever}
			}
			d, _ := NewDecoder(tc.p, testKey, testAAD, 20000, l.open, WithHedge(hedgeAfter(5*time.Millisecond, nil)))
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := d.WriteRange(ctx, io.Discard, 0, -1)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("WriteRange = %v; want context.DeadlineExceeded", err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("WriteRange took %v after its context ended at 200ms", took)
			}
		})
	}
}

// TestHedgeTiming checks when hedges start, on a fake clock: shards that
// are not stalled deliver at once, so the read takes exactly as long as
// the hedge waited.
func TestHedgeTiming(t *testing.T) {
	for _, tc := range []struct {
		name  string
		p     Params
		delay time.Duration
		setup func(l *lagStore)
		want  time.Duration
	}{
		{"stall at open", Params{K: 4, M: 2, BlockSize: 4096}, 40 * time.Millisecond,
			func(l *lagStore) { l.openWaits[2] = []time.Duration{forever} }, 40 * time.Millisecond},
		{"zero delay hedges at once", Params{K: 4, M: 2, BlockSize: 4096}, 0,
			func(l *lagStore) { l.openWaits[2] = []time.Duration{forever} }, 0},
		{"nobody ahead waits three delays", Params{K: 1, M: 1, BlockSize: 4096}, 40 * time.Millisecond,
			func(l *lagStore) { l.openWaits[0] = []time.Duration{forever} }, 120 * time.Millisecond},
		{"late by less than the delay", Params{K: 4, M: 2, BlockSize: 4096}, 40 * time.Millisecond,
			func(l *lagStore) { l.openWaits[2] = []time.Duration{30 * time.Millisecond} }, 30 * time.Millisecond},
		{"rival stalls too", Params{K: 4, M: 2, BlockSize: 4096}, 40 * time.Millisecond,
			func(l *lagStore) {
				l.openWaits[2] = []time.Duration{forever}
				l.openWaits[4] = []time.Duration{forever}
			}, 80 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size := int64(5*4096 + 1)
			data := testData(int(size), 25)
			shards, _ := encodeMem(t, tc.p, testKey, testVID, data)
			synctest.Test(t, func(t *testing.T) {
				l := newLagStore(shards)
				tc.setup(l)
				var calls atomic.Int64
				d, _ := NewDecoder(tc.p, testKey, testAAD, size, l.open, WithHedge(hedgeAfter(tc.delay, &calls)))
				var out bytes.Buffer
				start := time.Now()
				if _, err := d.WriteRange(context.Background(), &out, 0, -1); err != nil || !bytes.Equal(out.Bytes(), data) {
					t.Fatalf("WriteRange = %d bytes, %v; want the data", out.Len(), err)
				}
				if took := time.Since(start); took != tc.want {
					t.Errorf("WriteRange took %v; want %v", took, tc.want)
				}
				if n := calls.Load(); n > int64(tc.p.N()) {
					t.Errorf("hedge delay asked %d times; want at most once per shard (%d)", n, tc.p.N())
				}
			})
		})
	}
}

// TestHedgeQuietWhenHealthy: shards that deliver in time are never hedged,
// even when every block takes a while, and the read touches only data
// shards, as without hedging.
func TestHedgeQuietWhenHealthy(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 4096}
	size := int64(8*4096 + 5)
	data := testData(int(size), 26)
	shards, _ := encodeMem(t, p, testKey, testVID, data)
	synctest.Test(t, func(t *testing.T) {
		l := newLagStore(shards)
		for j := range p.K {
			l.openWaits[j] = []time.Duration{time.Duration(j+1) * 10 * time.Millisecond}
		}
		d, _ := NewDecoder(p, testKey, testAAD, size, l.open, WithHedge(hedgeAfter(50*time.Millisecond, nil)))
		var out bytes.Buffer
		rep, err := d.WriteRange(context.Background(), &out, 0, -1)
		if err != nil || !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("WriteRange = %d bytes, %v; want the data", out.Len(), err)
		}
		if rep.Hedges != 0 || rep.Degraded {
			t.Errorf("Hedges = %d, Degraded = %v; want no hedge", rep.Hedges, rep.Degraded)
		}
		for _, c := range l.calls() {
			if c.shard >= p.K {
				t.Errorf("opened parity shard %d of a healthy object", c.shard)
			}
		}
	})
}

// TestHedgeNoGoroutineLeak checks that hedged reads, finished or failed,
// leave no goroutine behind once they return.
func TestHedgeNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	p := Params{K: 3, M: 2, BlockSize: 4096}
	size := int64(9*4096 + 3)
	shards, _ := encodeMem(t, p, testKey, testVID, testData(int(size), 27))
	for _, stall := range [][]int{{0}, {0, 1}, {0, 1, 2}, {0, 3}} {
		l := newLagStore(shards)
		for _, j := range stall {
			l.hangAt[j] = p.blockOffset(int64(j))
		}
		d, _ := NewDecoder(p, testKey, testAAD, size, l.open, WithHedge(hedgeAfter(time.Millisecond, nil)))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		d.WriteRange(ctx, io.Discard, 0, -1)
		d.WriteRange(ctx, &failingWriter{after: 5000, err: errLost}, 0, -1)
		cancel()
	}
	for range 100 {
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d goroutines before, %d after", before, runtime.NumGoroutine())
}

package store

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/backend/faulty"
	"github.com/rhizome-data/rhizome/internal/backend/mem"
	"github.com/rhizome-data/rhizome/internal/backend/observe"
	"github.com/rhizome-data/rhizome/internal/config"
	"github.com/rhizome-data/rhizome/internal/index/sqlite"
)

// observedStore is a 4+2 store opened with Open over six filesystem
// backends, each wrapped (through Options.Wrap) for fault injection.
type observedStore struct {
	*Store
	faults map[string]*faulty.Backend
}

func newObservedStore(t *testing.T) *observedStore {
	t.Helper()
	cfg := config.Default(t.TempDir())
	cfg.BlockSize = 256 << 10
	for i := range cfg.Backends {
		cfg.Backends[i].NoSync = true
		if err := os.MkdirAll(cfg.Resolve(cfg.Backends[i].Path), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	o := &observedStore{faults: map[string]*faulty.Backend{}}
	var mu sync.Mutex
	s, err := Open(context.Background(), cfg, &Options{Wrap: func(name string, b backend.Backend) backend.Backend {
		f := faulty.New(b)
		mu.Lock()
		o.faults[name] = f
		mu.Unlock()
		return f
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CreateBucket(context.Background(), "lake"); err != nil {
		t.Fatal(err)
	}
	o.Store = s
	return o
}

// put stores n random bytes under key and returns them with the version.
func (o *observedStore) put(t *testing.T, key string, n int) ([]byte, *ObjectInfo) {
	t.Helper()
	data := random(n)
	if _, err := o.Put(context.Background(), "lake", key, bytes.NewReader(data), &PutOptions{Size: int64(n), SizeKnown: true}); err != nil {
		t.Fatal(err)
	}
	info, err := o.Stat(context.Background(), "lake", key, StatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return data, info
}

// dataBackends returns the backends holding info's data shards, in shard
// order.
func (o *observedStore) dataBackends(info *ObjectInfo) []string {
	var out []string
	for _, sh := range o.Shards(info) {
		if !sh.Parity {
			out = append(out, sh.Backend)
		}
	}
	return out
}

// timedRead reads info whole, with a generous deadline so a read that
// waits for a hang fails instead of blocking the test run.
func (o *observedStore) timedRead(t *testing.T, info *ObjectInfo) ([]byte, ReadReport, time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var buf bytes.Buffer
	start := time.Now()
	rep, err := o.Read(ctx, info, &buf, 0, -1)
	return buf.Bytes(), rep, time.Since(start), err
}

func (o *observedStore) stats(name string) observe.Stats {
	for _, st := range o.BackendStats() {
		if st.Name == name {
			return st
		}
	}
	return observe.Stats{}
}

// TestHedgedReadHangingBackends hangs the Gets of backends holding data
// shards: reads finish long before the 30s deadline, byte for byte, and
// the hung backends are measured as stalled and then hedged at once.
func TestHedgedReadHangingBackends(t *testing.T) {
	for _, tc := range []struct {
		name string
		hang func(f *faulty.Backend)
		n    int // data shards' backends affected
	}{
		{"one backend hangs", func(f *faulty.Backend) { f.Hang(faulty.OpGet) }, 1},
		{"two backends hang", func(f *faulty.Backend) { f.Hang(faulty.OpGet) }, 2},
		{"one backend takes 20s", func(f *faulty.Backend) { f.SetDelay(faulty.OpGet, 20*time.Second) }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newObservedStore(t)
			data, info := o.put(t, "k", 1<<20+99)
			slow := o.dataBackends(info)[:tc.n]
			for _, name := range slow {
				tc.hang(o.faults[name])
			}
			for i := range 3 {
				got, rep, took, err := o.timedRead(t, info)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("read %d: %d bytes, %v; want the %d bytes written", i, len(got), err, len(data))
				}
				if took > 2*time.Second {
					t.Errorf("read %d took %v; want well under the hang", i, took)
				}
				if rep.Degraded {
					t.Errorf("read %d: Degraded with problems %v; a slow backend is not damage", i, rep.Problems)
				}
			}
			for _, name := range slow {
				st := o.stats(name)
				if !st.Stalled || st.Get().Outcomes[observe.Canceled] == 0 || st.ErrorRate() != 0 {
					t.Errorf("%s: stalled %v, get outcomes %v, error rate %v; want stalled, cancelled gets, no errors",
						name, st.Stalled, st.Get().Outcomes, st.ErrorRate())
				}
				if d := o.HedgeDelay(name); d != 0 {
					t.Errorf("HedgeDelay(%s) = %v; want 0 for a stalled backend", name, d)
				}
			}
		})
	}
}

// TestHedgedReadDownBackend: a backend that refuses is replaced at once
// and counted as failing, not stalled.
func TestHedgedReadDownBackend(t *testing.T) {
	o := newObservedStore(t)
	data, info := o.put(t, "k", 600<<10)
	down := o.dataBackends(info)[1]
	o.faults[down].SetDown(true)
	got, rep, _, err := o.timedRead(t, info)
	if err != nil || !bytes.Equal(got, data) || !rep.Degraded {
		t.Fatalf("read = %d bytes, %v, degraded %v; want the data, degraded", len(got), err, rep.Degraded)
	}
	st := o.stats(down)
	if !st.Failing || st.Stalled || st.Get().ErrorRate() != 1 || !strings.Contains(st.LastError, "down") {
		t.Errorf("%s: failing %v, stalled %v, get error rate %v, last error %q; want failing, all gets failed",
			down, st.Failing, st.Stalled, st.Get().ErrorRate(), st.LastError)
	}
}

// TestStatusLatencyAndErrors checks the per-backend figures of Status.
func TestStatusLatencyAndErrors(t *testing.T) {
	o := newObservedStore(t)
	data, info := o.put(t, "k", 300<<10)
	if got, _, _, err := o.timedRead(t, info); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read: %v", err)
	}
	read := o.dataBackends(info)
	names := o.Backends()
	down, slow := names[0].Name, names[1].Name
	o.faults[down].SetDown(true)
	o.faults[slow].SetDelay(faulty.OpStat, 30*time.Millisecond)
	st, err := o.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range st.Backends {
		switch b.Name {
		case down:
			// The list of Status failed (and no probe was tried); the
			// put and read before went through.
			if failed := math.Round(b.ErrorRate * float64(b.RecentCalls)); b.Reachable || failed != 1 || b.ErrorRate <= 0 {
				t.Errorf("%s (down): reachable %v, error rate %v over %d calls; want unreachable, 1 call failed", b.Name, b.Reachable, b.ErrorRate, b.RecentCalls)
			}
		case slow:
			if b.RoundTrip < 30*time.Millisecond || b.ErrorRate != 0 {
				t.Errorf("%s (slow stats): round trip %v, error rate %v; want at least 30ms, no errors", b.Name, b.RoundTrip, b.ErrorRate)
			}
		default:
			if !b.Reachable || b.ErrorRate != 0 || b.RoundTrip <= 0 || b.RoundTrip > time.Second {
				t.Errorf("%s: reachable %v, error rate %v, round trip %v; want reachable, no errors, a round trip", b.Name, b.Reachable, b.ErrorRate, b.RoundTrip)
			}
		}
		if b.Name != down && slices.Contains(read, b.Name) && (b.GetP50 <= 0 || b.GetP99 < b.GetP50) {
			t.Errorf("%s: get p50 %v, p99 %v; want the reads measured", b.Name, b.GetP50, b.GetP99)
		}
	}
}

// stepClock is a clock that moves step forward each time it is read, so a
// Get measured with it takes exactly step to its first byte.
func stepClock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	t := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(step)
		return t
	}
}

// TestHedgeDelay checks the delay the store derives from measured latency.
func TestHedgeDelay(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name  string
		ttfb  []time.Duration // per backend; 0: no Gets measured
		gets  int
		want  time.Duration // for every backend; within a histogram bucket
		exact bool
	}{
		{"nothing measured", []time.Duration{0, 0, 0, 0, 0, 0}, 0, HedgeUnknown, true},
		{"too few gets", []time.Duration{5 * ms, 5 * ms, 5 * ms, 5 * ms, 5 * ms, 5 * ms}, hedgeMinGets - 1, HedgeUnknown, true},
		{"fast backends: the floor", []time.Duration{ms, 2 * ms, 3 * ms, 4 * ms, 5 * ms, 6 * ms}, hedgeMinGets, HedgeFloor, true},
		{"median of six", []time.Duration{30 * ms, 30 * ms, 40 * ms, 50 * ms, 400 * ms, 900 * ms}, hedgeMinGets, 2 * 40 * ms, false},
		{"slow minority ignored", []time.Duration{50 * ms, 50 * ms, 50 * ms, 2000 * ms, 2000 * ms, 0}, hedgeMinGets, 2 * 50 * ms, false},
		{"the cap", []time.Duration{ms * 900, ms * 900, ms * 900, ms * 900, ms * 900, ms * 900}, hedgeMinGets, HedgeCap, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := config.Default(t.TempDir())
			bs := make([]backend.Backend, len(cfg.Backends))
			for i := range bs {
				m := mem.New()
				m.Put(ctx, "x", strings.NewReader("x"), 1)
				// Each Get reads the clock twice: at the call, at the first byte.
				o := observe.New(cfg.Backends[i].Name, m, &observe.Options{Now: stepClock(tc.ttfb[i])})
				for range tc.gets {
					if tc.ttfb[i] > 0 {
						rc, _ := o.Get(ctx, "x", 0, -1)
						io.ReadAll(rc)
						rc.Close()
					}
				}
				bs[i] = o
			}
			s := newStoreFrom(t, cfg, bs)
			for _, b := range cfg.Backends {
				got := s.HedgeDelay(b.Name)
				if tc.exact && got != tc.want || !tc.exact && (got < tc.want || got > tc.want*6/5) {
					t.Errorf("HedgeDelay(%s) = %v; want %v", b.Name, got, tc.want)
				}
			}
		})
	}
}

// newStoreFrom assembles a store over already opened backends.
func newStoreFrom(t *testing.T, cfg *config.Config, bs []backend.Backend) *Store {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	idx, err := sqlite.Open(filepath.Join(t.TempDir(), "index.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, bs, idx, priv, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestBackendStatsWithoutObserver: a store assembled from bare backends
// still names them, and reads hedge with the default delay.
func TestBackendStatsWithoutObserver(t *testing.T) {
	ts := newTestStore(t)
	for i, st := range ts.BackendStats() {
		if st.Name != ts.Backends()[i].Name || st.Get().Calls != 0 {
			t.Errorf("BackendStats()[%d] = %+v; want only the name %s", i, st, ts.Backends()[i].Name)
		}
	}
	if d := ts.HedgeDelay(ts.Backends()[0].Name); d != HedgeUnknown {
		t.Errorf("HedgeDelay = %v; want %v", d, HedgeUnknown)
	}
	data := random(200 << 10)
	if _, err := ts.Put(context.Background(), "lake", "k", bytes.NewReader(data), &PutOptions{Size: int64(len(data)), SizeKnown: true}); err != nil {
		t.Fatal(err)
	}
	info, _ := ts.Stat(context.Background(), "lake", "k", StatOptions{})
	for _, sh := range ts.Shards(info) {
		if sh.Index == 0 {
			for i, b := range ts.Backends() {
				if b.Name == sh.Backend {
					ts.faults[i].Hang(faulty.OpGet)
				}
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var buf bytes.Buffer
	start := time.Now()
	if _, err := ts.Read(ctx, info, &buf, 0, -1); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("read = %d bytes, %v; want the data", buf.Len(), err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("read took %v; want about %v", took, HedgeUnknown)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("read ran into its deadline")
	}
}

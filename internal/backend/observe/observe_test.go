package observe_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/backend/backendtest"
	"github.com/rhizome-data/rhizome/internal/backend/faulty"
	"github.com/rhizome-data/rhizome/internal/backend/mem"
	"github.com/rhizome-data/rhizome/internal/backend/observe"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return observe.New("mem", mem.New(), nil) })
}

// get reads a whole blob through b and closes it.
func get(tb testing.TB, ctx context.Context, b backend.Backend, name string) ([]byte, error) {
	tb.Helper()
	rc, err := b.Get(ctx, name, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// TestLatency checks, on a fake clock, that Get latency is the time to the
// first byte and that the quantiles follow the delays.
func TestLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := faulty.New(mem.New())
		b := observe.New("b", f, nil)
		if err := b.Put(ctx, "x", strings.NewReader("hello"), 5); err != nil {
			t.Fatal(err)
		}
		// 73 instant reads, 25 taking 10ms, two 300ms.
		for i := range 100 {
			f.SetDelay(faulty.OpGet, 0)
			if i >= 98 {
				f.SetDelay(faulty.OpGet, 300*time.Millisecond)
			} else if i%4 == 0 {
				f.SetDelay(faulty.OpGet, 10*time.Millisecond)
			}
			if got, err := get(t, ctx, b, "x"); err != nil || string(got) != "hello" {
				t.Fatalf("Get = %q, %v", got, err)
			}
		}
		g := b.Stats().Get()
		if g.Calls != 100 || g.Outcomes[observe.OK] != 100 || g.Bytes != 500 || g.RecentCalls != 100 {
			t.Errorf("Get stats = %+v; want 100 calls, all ok, 500 bytes", g)
		}
		// Quantiles are bucket tops: exact to within 19% above.
		for _, q := range []struct {
			name      string
			got, want time.Duration
		}{
			{"p50", g.P50, 0}, {"p95", g.P95, 10 * time.Millisecond}, {"p99", g.P99, 300 * time.Millisecond},
		} {
			if q.got < q.want || q.got > q.want*6/5+16*time.Microsecond {
				t.Errorf("Get %s = %v; want %v (+19%%)", q.name, q.got, q.want)
			}
		}
		if want := (25*10*time.Millisecond + 2*300*time.Millisecond).Seconds(); g.Seconds < want*0.999 || g.Seconds > want*1.001 {
			t.Errorf("Get seconds = %v; want %v", g.Seconds, want)
		}
		if p := b.Stats().Ops[observe.OpPut]; p.Calls != 1 || p.Bytes != 5 {
			t.Errorf("Put stats = %+v; want 1 call, 5 bytes", p)
		}
	})
}

// TestOutcomes checks how calls are classified and what counts as an error.
func TestOutcomes(t *testing.T) {
	ctx := context.Background()
	f := faulty.New(mem.New())
	b := observe.New("b", f, nil)
	b.Put(ctx, "x", strings.NewReader("hello"), 5)

	b.Stat(ctx, "missing") // not found: an answer
	f.SetDown(true)
	b.Stat(ctx, "x") // unavailable
	b.Delete(ctx, "x")
	f.SetDown(false)
	f.FailGetAfter(2)
	if _, err := get(t, ctx, b, "x"); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("Get with a broken stream = %v; want unavailable", err)
	}
	f.Reset()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	b.Stat(cctx, "x") // given up on: mem ignores ctx, the caller did not
	rc, err := b.Get(ctx, "x", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close() // before the first byte: given up on

	s := b.Stats()
	st := s.Ops[observe.OpStat]
	if st.Outcomes[observe.NotFound] != 1 || st.Outcomes[observe.Unavailable] != 1 || st.Outcomes[observe.Canceled] != 1 || st.RecentErrors != 1 {
		t.Errorf("Stat outcomes = %v, errors %d; want 1 not_found, 1 unavailable, 1 canceled, 1 error", st.Outcomes, st.RecentErrors)
	}
	g := s.Get()
	if g.Outcomes[observe.Unavailable] != 1 || g.Outcomes[observe.Canceled] != 1 || g.Bytes != 2 {
		t.Errorf("Get outcomes = %v, bytes %d; want 1 unavailable, 1 canceled, 2 bytes", g.Outcomes, g.Bytes)
	}
	if got, want := s.ErrorRate(), 3.0/7; got != want {
		t.Errorf("ErrorRate = %v; want %v (3 failures in 7 calls)", got, want)
	}
	if !strings.Contains(s.LastError, "stream broken") {
		t.Errorf("LastError = %q; want the broken stream", s.LastError)
	}
	if s.InFlight != 0 {
		t.Errorf("InFlight = %d; want 0", s.InFlight)
	}

	// A Get that fails before its first byte: failing, until one delivers.
	f.SetDown(true)
	b.Get(ctx, "x", 0, -1)
	if s := b.Stats(); !s.Failing || s.Stalled || !b.Down() {
		t.Errorf("after a failed Get: failing %v, stalled %v, down %v; want failing and down", s.Failing, s.Stalled, b.Down())
	}
	f.SetDown(false)
	if _, err := get(t, ctx, b, "x"); err != nil {
		t.Fatal(err)
	}
	if s := b.Stats(); s.Failing || b.Down() {
		t.Errorf("after a Get delivered: failing %v, down %v; want neither", s.Failing, b.Down())
	}
}

// TestHangingGet: a Get that hangs is in flight, then given up on when its
// context ends, with the time it took as a lower bound of its latency.
func TestHangingGet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := faulty.New(mem.New())
		b := observe.New("b", f, nil)
		b.Put(context.Background(), "x", strings.NewReader("hello"), 5)
		f.Hang(faulty.OpGet)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		done := make(chan error)
		go func() {
			_, err := b.Get(ctx, "x", 0, -1)
			done <- err
		}()
		time.Sleep(400 * time.Millisecond)
		synctest.Wait()
		if s := b.Stats(); s.InFlight != 1 || s.OldestInFlight != 400*time.Millisecond {
			t.Errorf("InFlight = %d, oldest %v; want 1, 400ms", s.InFlight, s.OldestInFlight)
		}
		if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Get = %v; want the context's deadline", err)
		}
		s := b.Stats()
		g := s.Get()
		if g.Outcomes[observe.Canceled] != 1 || g.RecentErrors != 0 || !s.Stalled || s.InFlight != 0 {
			t.Errorf("Get = %+v, stalled %v, in flight %d; want 1 canceled, no error, stalled, none in flight", g, s.Stalled, s.InFlight)
		}
		if g.P50 != 0 {
			t.Errorf("Get p50 = %v; want 0: no first byte came", g.P50)
		}

		// A Get that delivers ends the stall; one given up on at once (a
		// hedge that lost its race) does not start one.
		f.Reset()
		if _, err := get(t, context.Background(), b, "x"); err != nil {
			t.Fatal(err)
		}
		rc, err := b.Get(context.Background(), "x", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
		if s := b.Stats(); s.Stalled {
			t.Errorf("Stalled after a Get delivered and one was closed at once; want false")
		}
	})
}

// TestWindow checks that rates and quantiles forget calls older than the
// window, and totals do not.
func TestWindow(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	f := faulty.New(mem.New())
	b := observe.New("b", f, &observe.Options{Window: time.Minute, Now: clock})
	ctx := context.Background()
	f.SetDown(true)
	for range 4 {
		b.Stat(ctx, "x")
	}
	f.SetDown(false)
	now = now.Add(40 * time.Second) // next half window: errors still recent
	b.Stat(ctx, "x")
	if r := b.Stats().ErrorRate(); r != 0.8 {
		t.Errorf("ErrorRate after 40s = %v; want 0.8", r)
	}
	now = now.Add(40 * time.Second) // the failures are over a window old
	b.Stat(ctx, "x")
	s := b.Stats().Ops[observe.OpStat]
	if s.ErrorRate() != 0 || s.RecentCalls != 2 || s.Calls != 6 || s.Outcomes[observe.Unavailable] != 4 {
		t.Errorf("after 80s: %+v; want rate 0 over 2 recent calls, 6 calls and 4 failures in total", s)
	}
	now = now.Add(5 * time.Minute)
	if s := b.Stats().Ops[observe.OpStat]; s.RecentCalls != 0 || s.P99 != 0 {
		t.Errorf("after 6 quiet minutes: %+v; want nothing recent", s)
	}
}

// TestListStoppedByCaller: a listing the caller stops is not a failure.
func TestListStoppedByCaller(t *testing.T) {
	ctx := context.Background()
	b := observe.New("b", mem.New(), nil)
	for _, n := range []string{"a", "b", "c"} {
		b.Put(ctx, n, bytes.NewReader(nil), 0)
	}
	stop := errors.New("enough")
	if err := b.List(ctx, "", func(backend.Info) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("List = %v; want %v", err, stop)
	}
	if l := b.Stats().Ops[observe.OpList]; l.Outcomes[observe.OK] != 1 || l.RecentErrors != 0 {
		t.Errorf("List outcomes = %v; want 1 ok", l.Outcomes)
	}
}

func Example() {
	ctx := context.Background()
	b := observe.New("region-a-1", mem.New(), nil)
	b.Put(ctx, "shard", strings.NewReader("hello"), 5)
	rc, _ := b.Get(ctx, "shard", 0, -1)
	io.Copy(io.Discard, rc)
	rc.Close()
	b.Stat(ctx, "missing")

	s := b.Stats()
	g := s.Get()
	fmt.Println(s.Name, g.Calls, g.Bytes, g.Outcomes[observe.OK], s.ErrorRate())
	// Output:
	// region-a-1 1 5 1 0
}

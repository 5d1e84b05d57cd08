package faulty_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/backend/backendtest"
	"github.com/rhizome-data/rhizome/internal/backend/faulty"
	"github.com/rhizome-data/rhizome/internal/backend/mem"
)

// With no faults set, a faulty Backend is a conforming Backend.
func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return faulty.New(mem.New()) })
}

func payload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i/256)
	}
	return p
}

func setup(t *testing.T) (*faulty.Backend, []byte) {
	t.Helper()
	b := faulty.New(mem.New())
	p := payload(5000)
	if err := b.Put(context.Background(), "blob", bytes.NewReader(p), int64(len(p))); err != nil {
		t.Fatal(err)
	}
	return b, p
}

func readAll(b backend.Backend, name string, off, length int64) ([]byte, error) {
	rc, err := b.Get(context.Background(), name, off, length)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestDown(t *testing.T) {
	b, p := setup(t)
	ctx := context.Background()
	b.SetDown(true)
	errs := map[string]error{
		"Put":    b.Put(ctx, "new", bytes.NewReader(p), int64(len(p))),
		"Delete": b.Delete(ctx, "blob"),
		"List":   b.List(ctx, "", func(backend.Info) error { return nil }),
	}
	_, errs["Get"] = b.Get(ctx, "blob", 0, -1)
	_, errs["Stat"] = b.Stat(ctx, "blob")
	for op, err := range errs {
		if !errors.Is(err, backend.ErrUnavailable) {
			t.Errorf("%s while down = %v; want ErrUnavailable", op, err)
		}
	}
	if _, err := b.Unwrap().Stat(ctx, "blob"); err != nil {
		t.Errorf("Delete while down reached the wrapped backend: Stat = %v", err)
	}
	if _, err := b.Unwrap().Stat(ctx, "new"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Put while down reached the wrapped backend: Stat = %v", err)
	}

	b.SetDown(false)
	if got, err := readAll(b, "blob", 0, -1); err != nil || !bytes.Equal(got, p) {
		t.Errorf("Get after coming back = %d bytes, %v; want %d bytes", len(got), err, len(p))
	}
	if got := b.Calls(faulty.OpAll); got != 7 { // setup's Put, 5 calls while down, 1 Get
		t.Errorf("Calls(OpAll) = %d; want 7", got)
	}
	if got := b.Calls(faulty.OpGet | faulty.OpStat); got != 3 {
		t.Errorf("Calls(OpGet|OpStat) = %d; want 3", got)
	}
}

func TestDownBreaksOpenStream(t *testing.T) {
	b, _ := setup(t)
	rc, err := b.Get(context.Background(), "blob", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	b.SetDown(true)
	if _, err := io.ReadAll(rc); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("reading after the backend went down = %v; want ErrUnavailable", err)
	}
}

func TestFailPutAfter(t *testing.T) {
	b, old := setup(t)
	ctx := context.Background()
	b.FailPutAfter(1000)
	for _, size := range []int64{5000, -1} {
		err := b.Put(ctx, "blob", bytes.NewReader(payload(3000)), size)
		if !errors.Is(err, backend.ErrUnavailable) {
			t.Errorf("Put(size %d) failing after 1000 bytes = %v; want ErrUnavailable", size, err)
		}
	}
	if got, err := readAll(b, "blob", 0, -1); err != nil || !bytes.Equal(got, old) {
		t.Errorf("Get after failed Puts = %d bytes, %v; want the previous %d bytes", len(got), err, len(old))
	}
	for _, n := range []int64{999, 1000} {
		if err := b.Put(ctx, "small", bytes.NewReader(payload(int(n))), n); err != nil {
			t.Errorf("Put of %d bytes with FailPutAfter(1000) = %v", n, err)
		}
	}
	b.FailPutAfter(-1)
	if err := b.Put(ctx, "blob", bytes.NewReader(payload(3000)), 3000); err != nil {
		t.Errorf("Put after FailPutAfter(-1) = %v", err)
	}
}

func TestFailGetAfter(t *testing.T) {
	b, p := setup(t)
	b.FailGetAfter(100)
	for _, off := range []int64{0, 1000} {
		got, err := readAll(b, "blob", off, -1)
		if !errors.Is(err, backend.ErrUnavailable) {
			t.Errorf("Get(off %d) failing after 100 bytes: error = %v; want ErrUnavailable", off, err)
		}
		if !bytes.Equal(got, p[off:off+100]) {
			t.Errorf("Get(off %d) failing after 100 bytes returned %d bytes; want the first 100", off, len(got))
		}
	}
	if got, err := readAll(b, "blob", 0, 100); err != nil || !bytes.Equal(got, p[:100]) {
		t.Errorf("Get of exactly 100 bytes = %d bytes, %v; want 100 bytes", len(got), err)
	}
	b.Reset()
	if got, err := readAll(b, "blob", 0, -1); err != nil || !bytes.Equal(got, p) {
		t.Errorf("Get after Reset = %d bytes, %v", len(got), err)
	}
}

func TestFlipBit(t *testing.T) {
	b, p := setup(t)
	b.FlipBit(10, 3)
	b.FlipBit(4000, 7)
	want := bytes.Clone(p)
	want[10] ^= 1 << 3
	want[4000] ^= 1 << 7
	tests := []struct{ off, length int64 }{{0, -1}, {5, 10}, {11, 100}, {3999, 2}, {4001, -1}}
	for _, tt := range tests {
		got, err := readAll(b, "blob", tt.off, tt.length)
		end := int64(len(p))
		if tt.length >= 0 {
			end = tt.off + tt.length
		}
		if err != nil || !bytes.Equal(got, want[tt.off:end]) {
			t.Errorf("Get(%d, %d) = %d bytes, %v; want bytes %d-%d with bits flipped", tt.off, tt.length, len(got), err, tt.off, end)
		}
	}
	if got, err := readAll(b.Unwrap(), "blob", 0, -1); err != nil || !bytes.Equal(got, p) {
		t.Errorf("the stored blob changed: %v", err)
	}
	b.FlipBit(10, 3) // flipping again restores the bit
	if got, _ := readAll(b, "blob", 0, 20); !bytes.Equal(got, p[:20]) {
		t.Errorf("Get after flipping bit 3 of byte 10 back: %x; want %x", got, p[:20])
	}
}

func TestDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, _ := setup(t)
		b.SetDelay(faulty.OpStat|faulty.OpList, 50*time.Millisecond)
		ctx := context.Background()

		start := time.Now()
		if _, err := b.Stat(ctx, "blob"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Errorf("delayed Stat took %v; want 50ms", d)
		}
		start = time.Now()
		if _, err := readAll(b, "blob", 0, -1); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("Get, which has no delay, took %v", d)
		}

		ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		err := b.List(ctx, "", func(backend.Info) error { return nil })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("List delayed past its deadline = %v; want context.DeadlineExceeded", err)
		}
	})
}

func TestHang(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, p := setup(t)
		b.Hang(faulty.OpGet | faulty.OpPut)
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		start := time.Now()
		_, err := b.Get(ctx, "blob", 0, -1)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Hour {
			t.Errorf("hung Get = %v after %v; want context.DeadlineExceeded after 1h", err, time.Since(start))
		}

		ctx, cancel = context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- b.Put(ctx, "blob", bytes.NewReader(p), int64(len(p))) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("hung Put returned %v before its context was canceled", err)
		default:
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("hung Put after cancel = %v; want context.Canceled", err)
		}
		if _, err := b.Stat(context.Background(), "blob"); err != nil {
			t.Errorf("Stat, which does not hang, = %v", err)
		}
	})
}

// TestConcurrentSwitching changes faults while calls run; run with -race.
func TestConcurrentSwitching(t *testing.T) {
	b, p := setup(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := b.Put(ctx, "blob", bytes.NewReader(p), int64(len(p)))
				if err != nil && !errors.Is(err, backend.ErrUnavailable) {
					t.Errorf("Put = %v; want nil or ErrUnavailable", err)
				}
				if _, err := readAll(b, "blob", 0, -1); err != nil && !errors.Is(err, backend.ErrUnavailable) {
					t.Errorf("Get = %v; want nil or ErrUnavailable", err)
				}
			}
		})
	}
	for i := range 200 {
		b.SetDown(i%3 == 0)
		b.FailPutAfter(int64(i * 10))
		b.FailGetAfter(int64(i * 20))
		b.FlipBit(int64(i), uint(i))
		b.SetDelay(faulty.OpStat, time.Duration(i))
		b.Reset()
	}
	close(stop)
	wg.Wait()
	if got, err := readAll(b, "blob", 0, -1); err != nil || !bytes.Equal(got, p) {
		t.Errorf("Get after switching = %d bytes, %v; want the %d bytes written", len(got), err, len(p))
	}
}

func TestOpString(t *testing.T) {
	tests := []struct {
		op   faulty.Op
		want string
	}{
		{faulty.OpPut, "put"},
		{faulty.OpGet | faulty.OpList, "get|list"},
		{faulty.OpAll, "put|get|stat|delete|list"},
		{0, "none"},
	}
	for _, tt := range tests {
		if got := tt.op.String(); got != tt.want {
			t.Errorf("Op(%d).String() = %q; want %q", uint8(tt.op), got, tt.want)
		}
	}
}

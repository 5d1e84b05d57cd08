// Package faulty wraps a backend.Backend and injects failures, for tests of
// the code above backends: a backend that is down, streams that break
// mid-way, calls that stall until their context ends, and data that rots.
//
// Faults are switched at run time and apply to calls made after the switch;
// being down also breaks streams already open. With no faults set, a
// Backend behaves exactly like the one it wraps.
package faulty

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
)

var _ backend.Backend = (*Backend)(nil)

// Op is a set of Backend operations.
type Op uint8

// Operations, to combine with |.
const (
	OpPut Op = 1 << iota
	OpGet
	OpStat
	OpDelete
	OpList

	OpAll = OpPut | OpGet | OpStat | OpDelete | OpList
)

const numOps = 5

var opNames = [numOps]string{"put", "get", "stat", "delete", "list"}

func (o Op) String() string {
	var s []string
	for i, n := range opNames {
		if o&(1<<i) != 0 {
			s = append(s, n)
		}
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, "|")
}

// hang is the delay that waits for the context to end.
const hang time.Duration = -1

// Backend injects faults into the calls it passes to the Backend it wraps.
// It is safe for concurrent use, including changing faults while calls run.
type Backend struct {
	inner backend.Backend
	down  atomic.Bool
	calls [numOps]atomic.Int64

	mu           sync.Mutex
	delays       [numOps]time.Duration // 0: none; hang: until ctx done
	putFailAfter int64                 // -1: never
	getFailAfter int64                 // -1: never
	flips        map[int64]byte        // blob offset -> xor mask
}

// New returns a Backend that passes calls to inner, with no faults set.
func New(inner backend.Backend) *Backend {
	b := &Backend{inner: inner}
	b.Reset()
	return b
}

// Unwrap returns the wrapped Backend, to inspect or change what is stored
// without faults.
func (b *Backend) Unwrap() backend.Backend { return b.inner }

// Reset clears every fault. Call counts are kept.
func (b *Backend) Reset() {
	b.down.Store(false)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.delays = [numOps]time.Duration{}
	b.putFailAfter, b.getFailAfter = -1, -1
	b.flips = nil
}

// SetDown makes every call, and every read of a stream already open, fail
// with backend.ErrUnavailable while down is true.
func (b *Backend) SetDown(down bool) { b.down.Store(down) }

// FailPutAfter makes the reader a Put hands to the wrapped Backend fail
// with backend.ErrUnavailable after n bytes (unless it ends there), as a connection dropped
// mid-upload would. The wrapped Backend then decides what survives, so this
// exercises its atomicity. n < 0 turns the fault off.
func (b *Backend) FailPutAfter(n int64) {
	b.mu.Lock()
	b.putFailAfter = max(n, -1)
	b.mu.Unlock()
}

// FailGetAfter makes readers returned by Get fail with
// backend.ErrUnavailable after n bytes, unless the data ends there. n < 0 turns the fault off.
func (b *Backend) FailGetAfter(n int64) {
	b.mu.Lock()
	b.getFailAfter = max(n, -1)
	b.mu.Unlock()
}

// SetDelay makes calls of ops wait d before they start, or until their
// context ends. d <= 0 removes the delay.
func (b *Backend) SetDelay(ops Op, d time.Duration) {
	b.setDelay(ops, max(d, 0))
}

// Hang makes calls of ops block until their context ends, then fail with
// the context's error.
func (b *Backend) Hang(ops Op) { b.setDelay(ops, hang) }

func (b *Backend) setDelay(ops Op, d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range numOps {
		if ops&(1<<i) != 0 {
			b.delays[i] = d
		}
	}
}

// FlipBit makes Get return the byte at offset off of every blob with bit
// (0-7) inverted, as silent corruption on disk would. Ranged Gets covering
// off see it too. The stored data is unchanged. Flips accumulate until
// Reset; flipping the same bit twice cancels out.
func (b *Backend) FlipBit(off int64, bit uint) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.flips == nil {
		b.flips = make(map[int64]byte)
	}
	b.flips[off] ^= 1 << (bit % 8)
	if b.flips[off] == 0 {
		delete(b.flips, off)
	}
}

// Calls returns how many calls of ops were made, failed ones included.
func (b *Backend) Calls(ops Op) int64 {
	var n int64
	for i := range numOps {
		if ops&(1<<i) != 0 {
			n += b.calls[i].Load()
		}
	}
	return n
}

func index(op Op) int {
	for i := range numOps {
		if op == 1<<i {
			return i
		}
	}
	panic("faulty: not a single operation: " + op.String())
}

// start counts a call of op, waits for its delay and reports whether the
// backend is down.
func (b *Backend) start(ctx context.Context, op Op, name string) error {
	i := index(op)
	b.calls[i].Add(1)
	b.mu.Lock()
	d := b.delays[i]
	b.mu.Unlock()
	if d != 0 {
		var wake <-chan time.Time
		if d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			wake = t.C
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("faulty: %s %s: %w", op, name, ctx.Err())
		case <-wake:
		}
	}
	if b.down.Load() {
		return fmt.Errorf("faulty: %s %s: backend is down: %w", op, name, backend.ErrUnavailable)
	}
	return nil
}

// Put implements backend.Backend.
func (b *Backend) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := b.start(ctx, OpPut, name); err != nil {
		return err
	}
	b.mu.Lock()
	failAfter := b.putFailAfter
	b.mu.Unlock()
	return b.inner.Put(ctx, name, &stream{b: b, op: OpPut, name: name, r: r, failAfter: failAfter}, size)
}

// Get implements backend.Backend.
func (b *Backend) Get(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if err := b.start(ctx, OpGet, name); err != nil {
		return nil, err
	}
	rc, err := b.inner.Get(ctx, name, off, length)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	s := &stream{b: b, op: OpGet, name: name, r: rc, failAfter: b.getFailAfter, off: off}
	for o, mask := range b.flips {
		s.flips = append(s.flips, flip{o, mask})
	}
	b.mu.Unlock()
	return struct {
		io.Reader
		io.Closer
	}{s, rc}, nil
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, name string) (backend.Info, error) {
	if err := b.start(ctx, OpStat, name); err != nil {
		return backend.Info{}, err
	}
	return b.inner.Stat(ctx, name)
}

// Delete implements backend.Backend.
func (b *Backend) Delete(ctx context.Context, name string) error {
	if err := b.start(ctx, OpDelete, name); err != nil {
		return err
	}
	return b.inner.Delete(ctx, name)
}

// List implements backend.Backend.
func (b *Backend) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	if err := b.start(ctx, OpList, fmt.Sprintf("%q", prefix)); err != nil {
		return err
	}
	return b.inner.List(ctx, prefix, fn)
}

type flip struct {
	off  int64
	mask byte
}

// stream is the reader of a Put or Get with faults applied.
type stream struct {
	b         *Backend
	op        Op
	name      string
	r         io.Reader
	failAfter int64 // bytes left before failing; -1: never
	off       int64 // blob offset of the next byte
	flips     []flip
}

func (s *stream) Read(p []byte) (int, error) {
	if s.b.down.Load() {
		return 0, fmt.Errorf("faulty: %s %s: backend went down: %w", s.op, s.name, backend.ErrUnavailable)
	}
	if s.failAfter == 0 {
		// A stream that ends exactly here is complete: the break is only
		// seen by a reader that wants more.
		var b [1]byte
		if n, err := s.r.Read(b[:]); n == 0 && err == io.EOF {
			return 0, io.EOF
		}
		return 0, fmt.Errorf("faulty: %s %s: stream broken at offset %d: %w", s.op, s.name, s.off, backend.ErrUnavailable)
	}
	if s.failAfter > 0 && int64(len(p)) > s.failAfter {
		p = p[:s.failAfter]
	}
	n, err := s.r.Read(p)
	for _, f := range s.flips {
		if f.off >= s.off && f.off < s.off+int64(n) {
			p[f.off-s.off] ^= f.mask
		}
	}
	s.off += int64(n)
	if s.failAfter > 0 {
		s.failAfter -= int64(n)
	}
	return n, err
}

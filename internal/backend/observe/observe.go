// Package observe wraps a backend.Backend and measures what it does: per
// operation, how many calls, how they ended (by error kind), bytes moved
// and latency quantiles over a recent window. For Get the latency is the
// time to first byte, which is what a reader waits for before a shard
// starts streaming.
//
// The store wraps every backend it opens, derives its hedge delays from
// these figures, and reports them in status; a server exports them as
// metrics. Stats returns a snapshot. Its totals only grow and map onto
// Prometheus directly: OpStats.Outcomes as a counter labelled by op and
// outcome, Bytes as a counter, Seconds and Calls as a summary's _sum and
// _count with P50, P95 and P99 as its quantiles; ErrorRate, InFlight,
// Stalled and Failing are gauges. Quantiles and rates cover the last
// Window.
package observe

import (
	"context"
	"errors"
	"io"
	"math"
	"sync"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
)

var _ backend.Backend = (*Backend)(nil)

// Op is a Backend operation.
type Op uint8

// Operations, in the order of Stats.Ops.
const (
	OpGet Op = iota
	OpPut
	OpStat
	OpDelete
	OpList
	NumOps
)

var opNames = [NumOps]string{"get", "put", "stat", "delete", "list"}

func (o Op) String() string {
	if o < NumOps {
		return opNames[o]
	}
	return "op?"
}

// Outcome is how a call ended.
type Outcome uint8

// Outcomes, in the order of OpStats.Outcomes.
const (
	// OK: the call succeeded (for Get: its stream was read without error).
	OK Outcome = iota
	// NotFound: the blob does not exist; an answer, not a failure.
	NotFound
	// Unavailable: the backend could not be reached or failed transiently.
	Unavailable
	// Forbidden: the backend refused the credentials.
	Forbidden
	// Canceled: the caller gave up first (its context ended, or it closed a
	// Get stream before the first byte came): a hedged read that lost, or
	// a backend that hangs.
	Canceled
	// Failed: any other error.
	Failed
	NumOutcomes
)

var outcomeNames = [NumOutcomes]string{"ok", "not_found", "unavailable", "forbidden", "canceled", "error"}

func (o Outcome) String() string {
	if o < NumOutcomes {
		return outcomeNames[o]
	}
	return "outcome?"
}

// isError reports whether o counts towards the error rate: the backend
// failed, as opposed to answering "not found" or being given up on.
func (o Outcome) isError() bool { return o == Unavailable || o == Forbidden || o == Failed }

// DefaultWindow is how far back quantiles and rates look by default.
const DefaultWindow = 5 * time.Minute

// Options tune New. A nil *Options means defaults.
type Options struct {
	// Window is how far back quantiles and error rates look: they cover
	// the calls that ended in the last Window to Window/2. Default
	// DefaultWindow.
	Window time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Backend passes calls to the Backend it wraps and measures them. It is
// safe for concurrent use.
type Backend struct {
	name  string
	inner backend.Backend
	now   func() time.Time
	half  time.Duration // the window is two halves: cur and prev

	mu       sync.Mutex
	totals   [NumOps]totals
	cur      [NumOps]recent
	prev     [NumOps]recent
	curStart time.Time
	inFlight int64
	oldest   map[*call]struct{} // calls in flight, to find the oldest
	lastErr  string
	lastAt   time.Time
	// Stalled and Failing compare these with the latest first byte.
	lastFirstByte, lastStall, lastFail time.Time
}

type totals struct {
	calls    int64
	outcomes [NumOutcomes]int64
	bytes    int64
	seconds  float64
}

type recent struct {
	calls, errors int64
	hist          histogram
}

// New returns a Backend that measures the calls it passes to inner. name
// is reported in Stats.
func New(name string, inner backend.Backend, opts *Options) *Backend {
	if opts == nil {
		opts = &Options{}
	}
	b := &Backend{name: name, inner: inner, now: opts.Now, half: opts.Window / 2, oldest: map[*call]struct{}{}}
	if b.now == nil {
		b.now = time.Now
	}
	if b.half <= 0 {
		b.half = DefaultWindow / 2
	}
	b.curStart = b.now()
	return b
}

// Unwrap returns the wrapped Backend.
func (b *Backend) Unwrap() backend.Backend { return b.inner }

// Name returns the name given to New.
func (b *Backend) Name() string { return b.name }

// call is one call in flight.
type call struct {
	op    Op
	start time.Time
}

func (b *Backend) begin(op Op) *call {
	c := &call{op: op, start: b.now()}
	b.mu.Lock()
	b.inFlight++
	b.oldest[c] = struct{}{}
	b.mu.Unlock()
	return c
}

// end records a finished call: its latency (for Get, to the first byte,
// given as ttfb; negative when it never came) and outcome.
func (b *Backend) end(c *call, ctx context.Context, err error, bytes int64, ttfb time.Duration) {
	now := b.now()
	o := classify(ctx, err)
	lat := now.Sub(c.start)
	if c.op == OpGet && ttfb >= 0 {
		lat = ttfb
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inFlight--
	delete(b.oldest, c)
	b.rotate(now)
	t := &b.totals[c.op]
	t.calls++
	t.outcomes[o]++
	t.bytes += bytes
	t.seconds += lat.Seconds()
	r := &b.cur[c.op]
	r.calls++
	if o.isError() {
		r.errors++
		b.lastErr, b.lastAt = err.Error(), now
		if c.op == OpGet && ttfb < 0 {
			b.lastFail = now
		}
	}
	if o != Canceled {
		r.hist.add(lat)
		return
	}
	// A Get given up on before its first byte, well after one usually
	// comes, finds the backend stalled; one cancelled sooner (a hedge that
	// lost its race) does not.
	if c.op == OpGet && ttfb < 0 {
		h := b.cur[OpGet].hist
		h.merge(&b.prev[OpGet].hist)
		if lat > 2*h.quantile(0.5) {
			b.lastStall = now
		}
	}
}

// firstByte notes that a Get's first byte came.
func (b *Backend) firstByte(now time.Time) {
	b.mu.Lock()
	if now.After(b.lastFirstByte) {
		b.lastFirstByte = now
	}
	b.mu.Unlock()
}

// rotate starts a new half window when the current one is over. b.mu is
// held.
func (b *Backend) rotate(now time.Time) {
	age := now.Sub(b.curStart)
	if age < b.half {
		return
	}
	if age < 2*b.half {
		b.prev = b.cur
	} else {
		b.prev = [NumOps]recent{}
	}
	b.cur = [NumOps]recent{}
	b.curStart = now
}

// classify maps a call's error to an outcome. A call whose context ended
// was given up on, whatever the error says.
func classify(ctx context.Context, err error) Outcome {
	switch {
	case err == nil:
		return OK
	case ctx.Err() != nil, errors.Is(err, context.Canceled), errors.Is(err, errGaveUp):
		return Canceled
	case errors.Is(err, backend.ErrNotFound):
		return NotFound
	case errors.Is(err, backend.ErrForbidden):
		return Forbidden
	case errors.Is(err, backend.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return Unavailable
	}
	return Failed
}

// errGaveUp stands for a Get stream closed before its first byte.
var errGaveUp = errors.New("observe: closed before the first byte")

// Put implements backend.Backend.
func (b *Backend) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	c := b.begin(OpPut)
	cr := &countReader{r: r}
	var src io.Reader = cr
	if wt, ok := r.(io.WriterTo); ok {
		// Keep the source's zero-copy path visible to the driver.
		src = &countWriterTo{countReader: cr, wt: wt}
	}
	err := b.inner.Put(ctx, name, src, size)
	var n int64
	if err == nil {
		n = cr.n
	}
	b.end(c, ctx, err, n, -1)
	return err
}

// Get implements backend.Backend. The call is measured until the returned
// reader is closed or fails; its latency is the time to the first byte.
func (b *Backend) Get(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	c := b.begin(OpGet)
	rc, err := b.inner.Get(ctx, name, off, length)
	if err != nil {
		b.end(c, ctx, err, 0, -1)
		return nil, err
	}
	return &getReader{b: b, c: c, ctx: ctx, rc: rc, ttfb: -1}, nil
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, name string) (backend.Info, error) {
	c := b.begin(OpStat)
	in, err := b.inner.Stat(ctx, name)
	b.end(c, ctx, err, 0, -1)
	return in, err
}

// Delete implements backend.Backend.
func (b *Backend) Delete(ctx context.Context, name string) error {
	c := b.begin(OpDelete)
	err := b.inner.Delete(ctx, name)
	b.end(c, ctx, err, 0, -1)
	return err
}

// List implements backend.Backend.
func (b *Backend) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	c := b.begin(OpList)
	var fnErr error
	err := b.inner.List(ctx, prefix, func(in backend.Info) error {
		fnErr = fn(in)
		return fnErr
	})
	if err != nil && fnErr != nil && errors.Is(err, fnErr) {
		b.end(c, ctx, nil, 0, -1) // the caller stopped the listing
	} else {
		b.end(c, ctx, err, 0, -1)
	}
	return err
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// countWriterTo is a countReader for sources that implement io.WriterTo.
type countWriterTo struct {
	*countReader
	wt io.WriterTo
}

func (c *countWriterTo) WriteTo(w io.Writer) (int64, error) {
	n, err := c.wt.WriteTo(w)
	c.n += n
	return n, err
}

// getReader measures one Get stream. It is used by one goroutine at a
// time, as any reader.
type getReader struct {
	b    *Backend
	c    *call
	ctx  context.Context
	rc   io.ReadCloser
	ttfb time.Duration // -1 until the first byte
	n    int64
	done bool
}

func (g *getReader) Read(p []byte) (int, error) {
	n, err := g.rc.Read(p)
	g.n += int64(n)
	if g.ttfb < 0 && (n > 0 || err == io.EOF) {
		now := g.b.now()
		g.ttfb = now.Sub(g.c.start)
		g.b.firstByte(now)
	}
	if err != nil && !g.done {
		g.done = true
		if err == io.EOF {
			g.b.end(g.c, g.ctx, nil, g.n, g.ttfb)
		} else {
			g.b.end(g.c, g.ctx, err, g.n, g.ttfb)
		}
	}
	return n, err
}

func (g *getReader) Close() error {
	err := g.rc.Close()
	if !g.done {
		g.done = true
		var why error
		if g.ttfb < 0 {
			why = errGaveUp
		}
		g.b.end(g.c, g.ctx, why, g.n, g.ttfb)
	}
	return err
}

// Stats is a snapshot of what a Backend measured.
type Stats struct {
	Name string
	// Ops by Op (OpGet, OpPut, ...).
	Ops [NumOps]OpStats
	// InFlight is how many calls have started and not ended (a Get ends
	// when its stream is closed); OldestInFlight is the age of the oldest.
	InFlight       int64
	OldestInFlight time.Duration
	// Stalled is true when a Get was given up on before its first byte,
	// after waiting more than twice the recent median time to first byte,
	// and no Get has had a first byte since: the backend answers nothing
	// now.
	Stalled bool
	// Failing is true when a Get failed (an error counted in the error
	// rate) before its first byte and no Get has had a first byte since.
	Failing bool
	// LastError is the latest error counted in the error rate, and when.
	LastError     string    `json:",omitempty"`
	LastErrorTime time.Time `json:",omitzero"`
}

// OpStats is what was measured for one operation.
type OpStats struct {
	// Since New: calls ended, by outcome; bytes read (Get) or written
	// (Put); the sum of latencies (Get: to the first byte) in seconds.
	Calls    int64
	Outcomes [NumOutcomes]int64
	Bytes    int64
	Seconds  float64
	// Over the recent window: calls ended and errors among them (outcomes
	// Unavailable, Forbidden, Failed), and the latency quantiles of the
	// calls that were not given up on (zero without any).
	RecentCalls, RecentErrors int64
	P50, P95, P99             time.Duration
}

// ErrorRate is the share of recent calls that failed, 0 to 1.
func (o OpStats) ErrorRate() float64 {
	if o.RecentCalls == 0 {
		return 0
	}
	return float64(o.RecentErrors) / float64(o.RecentCalls)
}

// Get returns the figures for Get.
func (s Stats) Get() OpStats { return s.Ops[OpGet] }

// ErrorRate is the share of recent calls of any operation that failed.
func (s Stats) ErrorRate() float64 {
	var calls, errs int64
	for _, o := range s.Ops {
		calls += o.RecentCalls
		errs += o.RecentErrors
	}
	if calls == 0 {
		return 0
	}
	return float64(errs) / float64(calls)
}

// Stats returns what b has measured so far.
func (b *Backend) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.rotate(now)
	s := Stats{
		Name:          b.name,
		InFlight:      b.inFlight,
		Stalled:       b.lastStall.After(b.lastFirstByte),
		Failing:       b.lastFail.After(b.lastFirstByte),
		LastError:     b.lastErr,
		LastErrorTime: b.lastAt,
	}
	for c := range b.oldest {
		s.OldestInFlight = max(s.OldestInFlight, now.Sub(c.start))
	}
	for op := range NumOps {
		t := b.totals[op]
		h := b.cur[op].hist
		h.merge(&b.prev[op].hist)
		s.Ops[op] = OpStats{
			Calls:        t.calls,
			Outcomes:     t.outcomes,
			Bytes:        t.bytes,
			Seconds:      t.seconds,
			RecentCalls:  b.cur[op].calls + b.prev[op].calls,
			RecentErrors: b.cur[op].errors + b.prev[op].errors,
			P50:          h.quantile(0.50),
			P95:          h.quantile(0.95),
			P99:          h.quantile(0.99),
		}
	}
	return s
}

// Latency returns the q-quantile (0 to 1) of op's recent latencies (Get:
// time to first byte) and how many calls it is over. It is Stats cut down
// to one figure, cheap enough to ask on every read.
func (b *Backend) Latency(op Op, q float64) (time.Duration, int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rotate(b.now())
	h := b.cur[op].hist
	h.merge(&b.prev[op].hist)
	return h.quantile(q), h.n
}

// Down reports whether Stats() would say Stalled or Failing: the latest
// Gets got no first byte, and at least one hung or failed.
func (b *Backend) Down() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastStall.After(b.lastFirstByte) || b.lastFail.After(b.lastFirstByte)
}

// histogram counts latencies in buckets growing by 2^(1/4) (19%) from
// histMin, so a quantile is exact to within one bucket.
type histogram struct {
	n      int64
	counts [histBuckets]uint32
}

const (
	histMin     = 16 * time.Microsecond
	histPerOct  = 4
	histBuckets = 100 // up to histMin * 2^(99/4), about 450 s
)

func bucketOf(d time.Duration) int {
	if d <= histMin {
		return 0
	}
	i := int(math.Ceil(histPerOct * math.Log2(float64(d)/float64(histMin))))
	return min(i, histBuckets-1)
}

// bucketTop is the largest latency bucket i holds.
func bucketTop(i int) time.Duration {
	return time.Duration(float64(histMin) * math.Exp2(float64(i)/histPerOct))
}

func (h *histogram) add(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the top of the bucket holding the q-quantile, 0 if
// empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		seen += int64(c)
		if seen >= max(rank, 1) {
			return bucketTop(i)
		}
	}
	return bucketTop(histBuckets - 1)
}

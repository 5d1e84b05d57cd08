package store

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend/observe"
	"github.com/rhizome-data/rhizome/internal/config"
	"github.com/rhizome-data/rhizome/internal/testenv"
)

// openMinIOStore opens, through Open, a 4+2 store over the six MinIO servers
// ms: backend i is ms[i], two per region, each with its own credentials
// file. The bucket "lake" exists.
func openMinIOStore(tb testing.TB, ms []*testenv.MinIO) *Store {
	tb.Helper()
	dir := tb.TempDir()
	cfg := config.Generate(dir, len(ms), 3, 4, 2)
	for i, m := range ms {
		creds := filepath.Join(dir, fmt.Sprintf("credentials-%d", i))
		ini := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", m.AccessKey(), m.SecretKey())
		if err := os.WriteFile(creds, []byte(ini), 0o600); err != nil {
			tb.Fatal(err)
		}
		b := &cfg.Backends[i]
		b.Type, b.Path = "s3", ""
		b.Endpoint, b.Bucket, b.PathStyle = m.Endpoint(), m.Bucket(), true
		b.CredentialsFile, b.Timeout = creds, "10s"
	}
	s, err := Open(context.Background(), cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.CreateBucket(context.Background(), "lake"); err != nil {
		tb.Fatal(err)
	}
	return s
}

// benchObject is one object put by putBenchObjects.
type benchObject struct {
	data []byte
	info *ObjectInfo
}

// putBenchObjects stores n objects of size random bytes.
func putBenchObjects(tb testing.TB, s *Store, n, size int) []benchObject {
	tb.Helper()
	objs := make([]benchObject, n)
	for i := range objs {
		objs[i] = putBenchObject(tb, s, fmt.Sprintf("obj-%d", i), random(size))
	}
	return objs
}

// putBenchObject stores data under key in bucket lake.
func putBenchObject(tb testing.TB, s *Store, key string, data []byte) benchObject {
	tb.Helper()
	ctx := context.Background()
	if _, err := s.Put(ctx, "lake", key, bytes.NewReader(data), &PutOptions{Size: int64(len(data)), SizeKnown: true}); err != nil {
		tb.Fatal(err)
	}
	info, err := s.Stat(ctx, "lake", key, StatOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return benchObject{data: data, info: info}
}

// readBenchObject reads o whole and checks the bytes; it returns how long the
// read took.
func readBenchObject(tb testing.TB, s *Store, o benchObject, timeout time.Duration) time.Duration {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var buf bytes.Buffer
	buf.Grow(len(o.data))
	start := time.Now()
	_, err := s.Read(ctx, o.info, &buf, 0, -1)
	took := time.Since(start)
	if err != nil || !bytes.Equal(buf.Bytes(), o.data) {
		tb.Fatalf("read %s/%s after %v: %d bytes, %v; want the %d bytes written", o.info.Manifest.Bucket, o.info.Manifest.Key, took, buf.Len(), err, len(o.data))
	}
	return took
}

// holdsData reports whether backend name holds a data shard of o.
func holdsData(s *Store, o benchObject, name string) bool {
	for _, sh := range s.Shards(o.info) {
		if sh.Backend == name && !sh.Parity {
			return true
		}
	}
	return false
}

// TestMinIOPausedBackend pauses (SIGSTOP) one of six real MinIO servers:
// 1 MiB reads still return the bytes written, each far sooner than the
// 10s the S3 driver would wait, and the backend is measured as stalled.
// Then two servers are stopped: reads still return the bytes written.
func TestMinIOPausedBackend(t *testing.T) {
	ms := testenv.StartMinIOs(t, 6)
	s := openMinIOStore(t, ms)
	objs := putBenchObjects(t, s, 8, 1<<20)
	for _, o := range objs {
		readBenchObject(t, s, o, 30*time.Second)
	}
	paused := s.Backends()[0].Name
	if !slices.ContainsFunc(objs, func(o benchObject) bool { return holdsData(s, o, paused) }) {
		t.Fatalf("no object has a data shard on %s; the test would not test hedging", paused)
	}

	ms[0].Pause()
	for _, o := range objs {
		if took := readBenchObject(t, s, o, 30*time.Second); took > 2*time.Second {
			t.Errorf("read with %s paused took %v; want well under 2s", paused, took)
		}
	}
	if st := s.BackendStats()[0]; !st.Stalled || st.Get().Outcomes[observe.Canceled] == 0 {
		t.Errorf("BackendStats of paused %s: %+v; want stalled, with Gets given up on", paused, st)
	}
	ms[0].Resume()
	for _, o := range objs {
		readBenchObject(t, s, o, 30*time.Second)
	}

	ms[1].Stop()
	ms[4].Stop()
	for _, o := range objs {
		readBenchObject(t, s, o, 60*time.Second)
	}
}

// minioPair is two stores of six MinIO servers each, holding the same
// objects: one stays healthy, the other is made to misbehave. Benchmarks
// alternate between them, so both see the same load from whatever else
// runs on the machine.
type minioPair struct {
	healthy, degraded *Store
	servers           []*testenv.MinIO // the degraded store's
	objs              [2][]benchObject // healthy's, degraded's
}

func newMinIOPair(b *testing.B, n, size int) *minioPair {
	b.Helper()
	hs, ds := testenv.StartMinIOs(b, 6), testenv.StartMinIOs(b, 6)
	p := &minioPair{healthy: openMinIOStore(b, hs), degraded: openMinIOStore(b, ds), servers: ds}
	p.objs[0] = putBenchObjects(b, p.healthy, n, size)
	p.objs[1] = make([]benchObject, n)
	for i, o := range p.objs[0] {
		p.objs[1][i] = putBenchObject(b, p.degraded, o.info.Manifest.Key, o.data)
	}
	for range 2 { // warm connections and latency figures
		for i := range n {
			readBenchObject(b, p.healthy, p.objs[0][i], time.Minute)
			readBenchObject(b, p.degraded, p.objs[1][i], time.Minute)
		}
	}
	return p
}

// read reads object i from the healthy (side 0) or degraded (side 1)
// store and returns how long it took.
func (p *minioPair) read(b *testing.B, side, i int) time.Duration {
	s := p.healthy
	if side == 1 {
		s = p.degraded
	}
	objs := p.objs[side]
	return readBenchObject(b, s, objs[i%len(objs)], time.Minute)
}

// BenchmarkMinIOGetLatency measures sequential 1 MiB GETs on two stores of
// six MinIO servers, one healthy and one with a server paused (SIGSTOP),
// alternating b.N reads on each. It reports the p50 and p99 latency of
// each and the ratio of the p99s (the target is at most 2). Each read is
// one sample: run it with -benchtime=500x or so.
func BenchmarkMinIOGetLatency(b *testing.B) {
	p := newMinIOPair(b, 32, 1<<20)
	p.servers[0].Pause()
	defer p.servers[0].Resume()
	var lat [2][]time.Duration
	b.ResetTimer()
	for n := range b.N {
		first := n % 2 // alternate which side goes first
		for k := range 2 {
			side := first ^ k
			lat[side] = append(lat[side], p.read(b, side, n))
		}
	}
	b.StopTimer()
	slices.Sort(lat[0])
	slices.Sort(lat[1])
	b.ReportMetric(millis(nearestRank(lat[0], 0.50)), "healthy-p50-ms")
	b.ReportMetric(millis(nearestRank(lat[0], 0.99)), "healthy-p99-ms")
	b.ReportMetric(millis(nearestRank(lat[1], 0.50)), "paused-p50-ms")
	b.ReportMetric(millis(nearestRank(lat[1], 0.99)), "paused-p99-ms")
	b.ReportMetric(millis(lat[1][len(lat[1])-1]), "paused-max-ms")
	b.ReportMetric(float64(nearestRank(lat[1], 0.99))/float64(nearestRank(lat[0], 0.99)), "p99-ratio")
}

// BenchmarkMinIOGetThroughput measures GET throughput on two stores of six
// MinIO servers, one healthy and one with two servers stopped, for two
// workloads: sequential reads of a 64 MiB object, and 1 MiB objects read
// by 8 readers at once. Each side reads b.N objects, in alternating rounds
// of 8 reads. It reports MB/s of each side and their ratio (the target is
// at least 0.8). Run it with -benchtime=Nx.
func BenchmarkMinIOGetThroughput(b *testing.B) {
	for _, w := range []struct {
		name          string
		size, objects int
		readers       int
	}{
		{"64MiB", 64 << 20, 1, 1},
		{"1MiBx8", 1 << 20, 32, 8},
	} {
		b.Run(w.name, func(b *testing.B) {
			p := newMinIOPair(b, w.objects, w.size)
			p.servers[1].Stop()
			p.servers[4].Stop()
			// Reads objects [from, to) of side with w.readers readers.
			round := func(side, from, to int) time.Duration {
				start := time.Now()
				next := make(chan int)
				var wg sync.WaitGroup
				for range w.readers {
					wg.Go(func() {
						for i := range next {
							p.read(b, side, i)
						}
					})
				}
				for i := from; i < to; i++ {
					next <- i
				}
				close(next)
				wg.Wait()
				return time.Since(start)
			}
			var took [2]time.Duration
			b.ResetTimer()
			for from := 0; from < b.N; from += 8 {
				to := min(from+8, b.N)
				first := (from / 8) % 2
				for k := range 2 {
					side := first ^ k
					took[side] += round(side, from, to)
				}
			}
			b.StopTimer()
			rate := func(side int) float64 { return float64(b.N*w.size) / took[side].Seconds() / 1e6 }
			b.ReportMetric(rate(0), "healthy-MB/s")
			b.ReportMetric(rate(1), "two-down-MB/s")
			b.ReportMetric(rate(1)/rate(0), "ratio")
		})
	}
}

// nearestRank returns the q-nearestRank of sorted samples (nearest rank).
func nearestRank(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

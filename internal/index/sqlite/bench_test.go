package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/index"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bigDir != "" {
		os.RemoveAll(bigDir)
	}
	os.Exit(code)
}

// benchVersion returns version i of a benchmark key with a manifest of a
// realistic size (about 1 KiB).
func benchVersion(key string, i int) index.Version {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Microsecond)
	return index.Version{
		Bucket: "b", Key: key, ID: fmt.Sprintf("%016x%016x", at.UnixNano(), i),
		Time: at, Size: int64(i), ETag: fmt.Sprintf("%032x", i), Shards: 6,
		Manifest: manifest1K,
	}
}

var manifest1K = make([]byte, 1024)

// benchDirs are where PutVersion is measured: the disk (every commit waits
// for fsync) and, where there is one, RAM (the CPU cost alone).
func benchDirs(b *testing.B) map[string]string {
	dirs := map[string]string{"disk": b.TempDir()}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "rhizome-index-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(d) })
		dirs["shm"] = d
	}
	return dirs
}

func BenchmarkPutVersion(b *testing.B) {
	benchmarkPuts(b, []int{1, 16, 64}, func(ix *Index, ctx context.Context, v index.Version) error {
		return ix.PutVersion(ctx, v)
	})
}

// BenchmarkPutVersionIf is BenchmarkPutVersion for conditional writes of
// new keys (If-None-Match: *, and every store commit, which checks its
// chain link): the extra cost is one lookup of the key's current version
// inside the write transaction.
func BenchmarkPutVersionIf(b *testing.B) {
	absent := func(cur *index.Version) error {
		if cur != nil && !cur.DeleteMarker {
			return fmt.Errorf("%s exists", cur.Key)
		}
		return nil
	}
	benchmarkPuts(b, []int{1, 16}, func(ix *Index, ctx context.Context, v index.Version) error {
		return ix.PutVersionIf(ctx, v, absent)
	})
}

// benchmarkPuts records new versions of distinct keys from each number of
// concurrent writers, on disk and in memory.
func benchmarkPuts(b *testing.B, writerCounts []int, put func(*Index, context.Context, index.Version) error) {
	for _, where := range []string{"disk", "shm"} {
		for _, writers := range writerCounts {
			b.Run(fmt.Sprintf("%s/writers=%d", where, writers), func(b *testing.B) {
				dir, ok := benchDirs(b)[where]
				if !ok {
					b.Skip("no " + where)
				}
				ix := openPath(b, filepath.Join(dir, "index.db"))
				ctx := context.Background()
				if err := ix.CreateBucket(ctx, "b", time.Now()); err != nil {
					b.Fatal(err)
				}
				var next atomic.Int64
				b.ReportAllocs()
				b.ResetTimer()
				var wg sync.WaitGroup
				for range writers {
					wg.Go(func() {
						for {
							i := int(next.Add(1))
							if i > b.N {
								return
							}
							if err := put(ix, ctx, benchVersion(fmt.Sprintf("dir%03d/file%06d", i%1000, i), i)); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
			})
		}
	}
}

// The listing fixture: bigKeys keys in 1,000 directories of 100, written
// once per test binary run and shared by the listing benchmarks. One key in
// eight has a second, newer version; one in twenty is deleted.
const bigKeys = 100_000

var (
	bigOnce sync.Once
	bigDir  string
	bigErr  error
)

func bigIndex(b *testing.B) *Index {
	b.Helper()
	bigOnce.Do(func() {
		bigDir, bigErr = os.MkdirTemp("", "rhizome-index-bench-")
		if bigErr != nil {
			return
		}
		start := time.Now()
		bigErr = buildBig(filepath.Join(bigDir, "index.db"))
		b.Logf("wrote the %d-key fixture in %v", bigKeys, time.Since(start).Round(time.Millisecond))
	})
	if bigErr != nil {
		b.Fatal(bigErr)
	}
	return openPath(b, filepath.Join(bigDir, "index.db"))
}

func buildBig(path string) error {
	ix, err := Open(path, nil)
	if err != nil {
		return err
	}
	defer ix.Close()
	ctx := context.Background()
	if err := ix.CreateBucket(ctx, "b", time.Now()); err != nil {
		return err
	}
	var vs []index.Version
	for i := range bigKeys {
		key := fmt.Sprintf("dir%03d/file%05d", i%1000, i)
		vs = append(vs, benchVersion(key, 2*i))
		switch {
		case i%20 == 0:
			m := benchVersion(key, 2*i+1)
			m.DeleteMarker, m.Size, m.Manifest = true, 0, []byte("marker")
			vs = append(vs, m)
		case i%8 == 0:
			vs = append(vs, benchVersion(key, 2*i+1))
		}
	}
	// Written through PutVersion from many goroutines: group commit makes
	// this a few hundred transactions.
	ch := make(chan index.Version)
	errs := make(chan error, 128)
	var wg sync.WaitGroup
	for range 128 {
		wg.Go(func() {
			for v := range ch {
				if err := ix.PutVersion(ctx, v); err != nil {
					errs <- err
					for range ch {
					}
					return
				}
			}
		})
	}
	for _, v := range vs {
		ch <- v
	}
	close(ch)
	wg.Wait()
	close(errs)
	return <-errs
}

func BenchmarkList(b *testing.B) {
	asOf := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(bigKeys * time.Microsecond) // half the history
	cases := []struct {
		name string
		o    index.ListOptions
	}{
		{"keys", index.ListOptions{}},
		{"prefix", index.ListOptions{Prefix: "dir5"}},
		{"delimiter", index.ListOptions{Delimiter: "/"}}, // 1,000 common prefixes, each skipped whole
		{"asof", index.ListOptions{AsOf: asOf}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ix := bigIndex(b)
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(1, 2))
			entries := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				o := c.o
				o.Bucket, o.Limit = "b", 1000
				switch {
				case c.o.Prefix != "":
					o.StartAfter = fmt.Sprintf("%s%02d/", c.o.Prefix, rng.IntN(90))
				case c.o.Delimiter == "":
					o.StartAfter = fmt.Sprintf("dir%03d/", rng.IntN(990))
				}
				res, err := ix.List(ctx, o)
				if err != nil {
					b.Fatal(err)
				}
				if n := len(res.Versions) + len(res.CommonPrefixes); n < 100 {
					b.Fatalf("page of %d entries", n)
				}
				entries += len(res.Versions) + len(res.CommonPrefixes)
			}
			b.ReportMetric(float64(entries)/float64(b.N), "entries/op")
		})
	}
}

func BenchmarkListVersions(b *testing.B) {
	ix := bigIndex(b)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := ix.ListVersions(ctx, index.ListVersionsOptions{Bucket: "b", KeyMarker: fmt.Sprintf("dir%03d/", rng.IntN(990)), Limit: 1000})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Versions) != 1000 {
			b.Fatalf("page of %d versions", len(res.Versions))
		}
	}
}

func BenchmarkLatest(b *testing.B) {
	ix := bigIndex(b)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		i := rng.IntN(bigKeys)
		if _, err := ix.Latest(ctx, "b", fmt.Sprintf("dir%03d/file%05d", i%1000, i), time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMassChange is what the guard adds to an overwrite or delete:
// recording the change and counting the identity's changes in the window,
// with `window` changes of that identity already in it (the tally stops at
// 2,001 keys, as the store asks with the default MassShare).
func BenchmarkMassChange(b *testing.B) {
	for _, tc := range []struct {
		where  string
		window int
	}{{"disk", 10}, {"shm", 10}, {"shm", 1000}, {"shm", 20000}} {
		where, window := tc.where, tc.window
		b.Run(fmt.Sprintf("%s/window=%d", where, window), func(b *testing.B) {
			dir, ok := benchDirs(b)[where]
			if !ok {
				b.Skip("no " + where)
			}
			ix := openPath(b, filepath.Join(dir, "index.db"))
			ctx := context.Background()
			t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			change := func(i int) index.MassChange {
				return index.MassChange{Policy: "lake/", Prefix: "lake/t/", Identity: "etl", Key: fmt.Sprintf("t/part-%07d.csv", i),
					Time: t0.Add(time.Duration(i) * time.Millisecond), Size: 50000}
			}
			for i := range window {
				if err := ix.PutMassChange(ctx, change(i)); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				c := change(window + i)
				if err := ix.PutMassChange(ctx, c); err != nil {
					b.Fatal(err)
				}
				if _, err := ix.MassTally(ctx, c.Policy, c.Prefix, c.Identity, c.Time.Add(-time.Hour), 2001); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

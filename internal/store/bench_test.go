package store

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	"github.com/rhizome-data/rhizome/internal/config"
)

// benchStore opens a default 4+2 store on fs backends under
// $RHIZOME_BENCH_DIR (default: a temp dir; use /dev/shm to measure CPU).
func benchStore(b *testing.B) *Store {
	b.Helper()
	parent := os.Getenv("RHIZOME_BENCH_DIR")
	dir, err := os.MkdirTemp(parent, "rhizome-bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	cfg := config.Default(dir)
	for i := range cfg.Backends {
		cfg.Backends[i].NoSync = parent == "/dev/shm"
		os.MkdirAll(cfg.Resolve(cfg.Backends[i].Path), 0o755)
	}
	s, err := Open(context.Background(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.CreateBucket(context.Background(), "bench"); err != nil {
		b.Fatal(err)
	}
	return s
}

func benchmarkPutGet(b *testing.B, size int) {
	s := benchStore(b)
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	b.Run("put", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.Put(ctx, "bench", "k", bytes.NewReader(data), &PutOptions{Size: int64(size), SizeKnown: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		info, err := s.Stat(ctx, "bench", "k", StatOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(size))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.Read(ctx, info, io.Discard, 0, -1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPutGet64MiB(b *testing.B)  { benchmarkPutGet(b, 64<<20) }
func BenchmarkPutGet256MiB(b *testing.B) { benchmarkPutGet(b, 256<<20) }

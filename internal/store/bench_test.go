package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/rhizome-data/rhizome/internal/config"
)

// benchStore opens a default 4+2 store on fs backends under
// $RHIZOME_BENCH_DIR (default: a temp dir; use /dev/shm to measure CPU).
func benchStore(b *testing.B) *Store { return benchStoreGuard(b, true) }

func benchStoreGuard(b *testing.B, guardOn bool) *Store {
	b.Helper()
	parent := os.Getenv("RHIZOME_BENCH_DIR")
	dir, err := os.MkdirTemp(parent, "rhizome-bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	cfg := config.Default(dir)
	cfg.Guard.Off = !guardOn
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

// BenchmarkPutGuard measures PUT with the guard off and on, side by side,
// for binary, CSV and Parquet objects (the guard's cost target: at most 15%
// for 64 MiB binary objects, 35% for CSV and Parquet).
func BenchmarkPutGuard(b *testing.B) {
	inputs := []struct {
		name, key string
		data      func() []byte
	}{
		{"binary64MiB", "bin/x.bin", func() []byte {
			d := make([]byte, 64<<20)
			rand.Read(d)
			return d
		}},
		{"csv64MiB", "tab/x.csv", func() []byte { return benchCSV(64 << 20) }},
		{"parquet", "tab/x.parquet", benchParquet},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			data := in.data()
			runtime.GC()
			for _, on := range []bool{false, true} {
				benchmarkPutGuard(b, on, in.key, data)
			}
		})
	}
}

func benchmarkPutGuard(b *testing.B, on bool, key string, data []byte) {
	name := "guard=off"
	if on {
		name = "guard=on"
	}
	b.Run(name, func(b *testing.B) {
		s := benchStoreGuard(b, on)
		ctx := context.Background()
		// Each PUT is a new partition of one table, as a lake grows: the
		// guard judges it against its siblings, and once there are
		// enough of them (written first, untimed) it profiles with the
		// relation model fitted on them.
		part := func(i int) string {
			return fmt.Sprintf("%s/part-%05d%s", path.Dir(key), i, path.Ext(key))
		}
		put := func(i int) {
			if _, err := s.Put(ctx, "bench", part(i), bytes.NewReader(data), &PutOptions{Size: int64(len(data)), SizeKnown: true}); err != nil {
				b.Fatal(err)
			}
		}
		for i := range 6 {
			put(-1 - i)
		}
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			put(i)
		}
	})
}

func benchCSV(size int) []byte {
	var buf bytes.Buffer
	buf.WriteString("id,carat,cut,color,price,x,y,z\n")
	cuts := []string{"Ideal", "Premium", "Good", "Very Good", "Fair"}
	for i := 0; buf.Len() < size; i++ {
		fmt.Fprintf(&buf, "%d,%.2f,%s,%c,%d,%.2f,%.2f,%.2f\n", i, 0.2+float64(i%300)/100, cuts[i%5], 'D'+rune(i%7), 300+i%18000, 3+float64(i%500)/100, 3+float64(i%480)/100, 2+float64(i%300)/100)
	}
	return buf.Bytes()
}

type benchRow struct {
	ID    int64   `parquet:"id"`
	Carat float64 `parquet:"carat"`
	Cut   string  `parquet:"cut"`
	Price int64   `parquet:"price"`
}

func benchParquet() []byte {
	rows := make([]benchRow, 1_000_000)
	cuts := []string{"Ideal", "Premium", "Good", "Very Good", "Fair"}
	for i := range rows {
		rows[i] = benchRow{int64(i), 0.2 + float64(i%300)/100, cuts[i%5], int64(300 + i%18000)}
	}
	var buf bytes.Buffer
	if err := parquet.Write(&buf, rows); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// BenchmarkPutSmall measures 4 KiB PUTs from 32 goroutines at once, the
// small-object load of the S3 benchmark without HTTP: per-object costs
// (placement, manifest, pieces, index commit).
func BenchmarkPutSmall(b *testing.B) {
	s := benchStoreGuard(b, false)
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 256)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.SetParallelism(16) // 32 goroutines on 2 cores
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := fmt.Sprintf("small/%08d", n.Add(1))
			if _, err := s.Put(ctx, "bench", key, bytes.NewReader(data), &PutOptions{Size: int64(len(data)), SizeKnown: true}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

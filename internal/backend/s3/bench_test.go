//go:build unix

package s3

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/testenv"
)

// BenchmarkPutGet measures the CPU this process spends per GiB moved
// through the driver: shard-sized blobs put from a plain stream (as the
// store's encoder hands them over) and read back whole into 256 KiB
// buffers (as the codec reads), with the default connection buffers and
// with net/http's 4 KiB ones. MinIO runs in other processes and is not
// counted.
//
//	go test -run x -bench PutGet -benchtime 20x ./internal/backend/s3
func BenchmarkPutGet(b *testing.B) {
	m := testenv.StartMinIO(b, nil)
	const size = 2 << 20
	data := make([]byte, size)
	rand.Read(data)
	for _, tc := range []struct {
		name        string
		write, read int
	}{{"4KiB-buffers", 4 << 10, 4 << 10}, {"default", connWriteBuffer, connReadBuffer}} {
		b.Run(tc.name, func(b *testing.B) {
			defer func(w, r int) { connWriteBuffer, connReadBuffer = w, r }(connWriteBuffer, connReadBuffer)
			connWriteBuffer, connReadBuffer = tc.write, tc.read
			cfg := testConfig(m)
			cfg.PartSize = DefaultPartSize
			be := newBackend(b, cfg)
			ctx := context.Background()
			buf := make([]byte, 256<<10)
			u0, s0 := cpuTime()
			b.SetBytes(2 * size)
			b.ResetTimer()
			for i := range b.N {
				name := fmt.Sprintf("d/00/bench.%d", i%4)
				if err := be.Put(ctx, name, &stream{data: data}, size); err != nil {
					b.Fatal(err)
				}
				rc, err := be.Get(ctx, name, 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := io.ReadFull(rc, buf); err != nil {
						break
					}
				}
				rc.Close()
			}
			b.StopTimer()
			u1, s1 := cpuTime()
			gib := float64(2*size*b.N) / (1 << 30)
			b.ReportMetric((u1-u0+s1-s0).Seconds()/gib, "cpu-s/GiB")
			b.ReportMetric((s1-s0).Seconds()/gib, "sys-s/GiB")
		})
	}
}

// stream yields data through Read only, like a pipe.
type stream struct {
	data []byte
	off  int
}

func (s *stream) Read(p []byte) (int, error) {
	if s.off == len(s.data) {
		return 0, io.EOF
	}
	n := copy(p, s.data[s.off:])
	s.off += n
	return n, nil
}

func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

package codec

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"
)

// benchParams and benchSize are the shape of every codec benchmark: 4+2 with
// 1 MiB blocks over a 256 MiB object.
var (
	benchParams       = Params{K: 4, M: 2, BlockSize: 1 << 20}
	benchSize   int64 = 256 << 20
)

// benchShards encodes the benchmark object once, in memory.
var benchShards = sync.OnceValue(func() [][]byte {
	n := benchParams.N()
	bufs := make([]*bytes.Buffer, n)
	ws := make([]io.Writer, n)
	for i := range bufs {
		bufs[i] = bytes.NewBuffer(make([]byte, 0, benchParams.ShardFileSize(benchSize)))
		ws[i] = bufs[i]
	}
	_, err := Encode(context.Background(), benchParams, testKey, testAAD, testVID, newPattern(benchSize, 1), ws, nil)
	if err != nil {
		panic(err)
	}
	out := make([][]byte, n)
	for i, b := range bufs {
		out[i] = b.Bytes()
	}
	return out
})

// benchmarkCodec runs op, which handles benchSize plaintext bytes, b.N times.
// Besides MB/s it reports the CPU time per byte (cpu-ns/B, all cores), which
// is steadier than wall time on a shared machine: 2/cpu-ns/B is the GB/s two
// otherwise idle cores would give.
func benchmarkCodec(b *testing.B, op func() error) {
	b.Helper()
	b.SetBytes(benchSize)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(int64(b.N)*benchSize), "cpu-ns/B")
	}
}

func BenchmarkEncode(b *testing.B) {
	ws := make([]io.Writer, benchParams.N())
	for i := range ws {
		ws[i] = io.Discard
	}
	benchmarkCodec(b, func() error {
		_, err := Encode(context.Background(), benchParams, testKey, testAAD, testVID, newPattern(benchSize, 1), ws, nil)
		return err
	})
}

// benchmarkDecode reads the benchmark object with the lost shards failing
// to open and the stalled ones hanging at open until cancelled, passing
// opts to NewDecoder.
func benchmarkDecode(b *testing.B, lost, stalled []int, opts ...DecoderOption) {
	shards := benchShards()
	open := func(ctx context.Context, shard int, off, length int64) (io.ReadCloser, error) {
		if slices.Contains(lost, shard) {
			return nil, errors.New("lost")
		}
		if slices.Contains(stalled, shard) {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return io.NopCloser(bytes.NewReader(shards[shard][off : off+length])), nil
	}
	d, err := NewDecoder(benchParams, testKey, testAAD, benchSize, open, opts...)
	if err != nil {
		b.Fatal(err)
	}
	benchmarkCodec(b, func() error {
		_, err := d.WriteRange(context.Background(), io.Discard, 0, -1)
		return err
	})
}

// benchHedge hedges after 20ms, the store's floor.
var benchHedge = WithHedge(func(int) time.Duration { return 20 * time.Millisecond })

func BenchmarkDecodeHealthy(b *testing.B)       { benchmarkDecode(b, nil, nil) }
func BenchmarkDecodeTwoDataLost(b *testing.B)   { benchmarkDecode(b, []int{0, 1}, nil) }
func BenchmarkDecodeHedgedHealthy(b *testing.B) { benchmarkDecode(b, nil, nil, benchHedge) }
func BenchmarkDecodeHedgedTwoStalled(b *testing.B) {
	benchmarkDecode(b, nil, []int{0, 1}, benchHedge)
}

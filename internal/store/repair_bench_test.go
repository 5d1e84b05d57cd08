//go:build unix

package store

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/config"
	"github.com/rhizome-data/rhizome/internal/testenv"
)

// Repair rate for a lost backend: one backend of six loses everything and
// Repair (quick scan, then rebuild) writes every shard and manifest piece
// back. Reported: GB/s of shards rebuilt (wall time of the whole repair),
// the CPU seconds this process spent per GiB rebuilt (getrusage, user
// plus system; MinIO servers are other processes and not counted) and
// cpu-util, this process's CPU seconds per wall second of the repair: near
// the number of cores, Rhizome's CPU is the limit; well below, the
// backends are.
//
//	RHIZOME_BENCH_DIR=/dev/shm go test -run x -bench RepairLostBackend -benchtime 3x ./internal/store
//
// RHIZOME_BENCH_MIB sets the logical data stored first (default 512);
// RHIZOME_BENCH_REPAIR_PROFILE=file writes a CPU profile of the repairs
// alone (run one sub-benchmark with it).

func benchData(b *testing.B, s *Store) {
	b.Helper()
	mib := 512
	if v, err := strconv.Atoi(os.Getenv("RHIZOME_BENCH_MIB")); err == nil && v > 0 {
		mib = v
	}
	ctx := context.Background()
	if err := s.EnsureBucket(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	data := random(8 << 20)
	for i := range mib / 8 {
		data[0], data[1] = byte(i), byte(i>>8) // distinct objects
		if _, err := s.Put(ctx, "bench", fmt.Sprintf("obj-%04d", i), bytes.NewReader(data), &PutOptions{Size: int64(len(data)), SizeKnown: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuTime returns the user and system CPU time of this process so far.
func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// benchmarkRepairLost stores the data, then measures repairs with the
// Reed-Solomon-only rebuild ("rs", the default) and with decoding and
// encoding again ("decode", the fallback), each confirming written shards
// with a Stat (the default) or by reading them back whole ("-readback").
func benchmarkRepairLost(b *testing.B, s *Store, lose func()) {
	benchData(b, s)
	for _, path := range []string{"rs", "rs-readback", "decode", "decode-readback"} {
		b.Run(path, func(b *testing.B) {
			noFastRebuild = strings.HasPrefix(path, "decode")
			defer func() { noFastRebuild = false }()
			benchmarkRepairOnce(b, s, lose, &RepairOptions{ReadBack: strings.HasSuffix(path, "-readback")})
		})
	}
}

func benchmarkRepairOnce(b *testing.B, s *Store, lose func(), o *RepairOptions) {
	ctx := context.Background()
	var rebuilt int64
	var wall, scan, user, sys time.Duration
	b.ReportAllocs()
	if path := os.Getenv("RHIZOME_BENCH_REPAIR_PROFILE"); path != "" {
		// The CPU profile of the repairs alone, without storing the data.
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		lose()
		runtime.GC() // not the garbage of what ran before
		b.StartTimer()
		u0, s0 := cpuTime()
		t0 := time.Now()
		st, err := s.Repair(ctx, o, nil)
		wall += time.Since(t0)
		u1, s1 := cpuTime()
		user, sys = user+u1-u0, sys+s1-s0
		if err != nil || st.Shards == 0 || st.Deferred != 0 {
			b.Fatalf("Repair = %+v, %v", st, err)
		}
		scan += st.Scan.Finished.Sub(st.Scan.Started)
		rebuilt += st.Bytes
	}
	gib := float64(rebuilt) / (1 << 30)
	b.SetBytes(rebuilt / int64(b.N))
	b.ReportMetric(float64(rebuilt)/wall.Seconds()/1e9, "GB/s")
	b.ReportMetric(float64(rebuilt)/(wall-scan).Seconds()/1e9, "GB/s-rebuild")
	b.ReportMetric((user+sys).Seconds()/gib, "cpu-s/GiB")
	b.ReportMetric(user.Seconds()/gib, "user-s/GiB")
	b.ReportMetric(sys.Seconds()/gib, "sys-s/GiB")
	b.ReportMetric((user+sys).Seconds()/wall.Seconds(), "cpu-util")
}

func BenchmarkRepairLostBackendFS(b *testing.B) {
	s := benchStoreGuard(b, false)
	if err := s.DeleteBucket(context.Background(), "bench"); err != nil {
		b.Fatal(err)
	}
	dir := s.cfg.Resolve(s.cfg.Backends[1].Path)
	benchmarkRepairLost(b, s, func() {
		for _, sub := range []string{"d", "m"} {
			if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRepairLostBackendMinIO(b *testing.B) {
	servers := testenv.StartMinIOs(b, 6)
	cfg := faultConfig(b, b.TempDir(), servers)
	cfg.Guard.Off = true
	cfg.BlockSize = config.Size(1 << 20)
	s, err := Open(context.Background(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	lost := servers[2]
	benchmarkRepairLost(b, s, func() {
		lost.Wipe()
		if err := lost.CreateBucket(context.Background(), lost.Bucket()); err != nil {
			b.Fatal(err)
		}
	})
}

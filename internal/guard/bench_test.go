package guard

import (
	"crypto/rand"
	"runtime"
	"syscall"
	"testing"
)

// benchSize is the object size of the profiler benchmarks, the size the
// PUT-throughput budget is stated for.
const benchSize = 64 << 20

// benchmarkProfile profiles data b.N times in 1 MiB writes, as the store
// streams an object. Besides wall time it reports the process's CPU time
// per byte (cpu-ns/B), which other work on a shared machine inflates much
// less than wall time.
func benchmarkProfile(b *testing.B, key string, data []byte, opts *ProfileOptions) {
	b.Helper()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		p := NewProfiler(key, opts)
		for i := 0; i < len(data); i += 1 << 20 {
			p.Write(data[i:min(len(data), i+1<<20)])
		}
		p.Profile()
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/float64(len(data)), "cpu-ns/B")
}

// cpuTime is the process's user and system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkCopy64MiB is the yardstick: copying the object once.
func BenchmarkCopy64MiB(b *testing.B) {
	src := make([]byte, benchSize)
	dst := make([]byte, benchSize)
	b.SetBytes(benchSize)
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		copy(dst, src)
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/benchSize, "cpu-ns/B")
}

func BenchmarkProfileBinary64MiB(b *testing.B) {
	data := make([]byte, benchSize)
	rand.Read(data)
	benchmarkProfile(b, "lake/blob.bin", data, &ProfileOptions{Size: benchSize})
}

func csvBenchData(b *testing.B) []byte {
	benchCSVOnce.Do(func() {
		header, rows := records(b, readGz(b, "diamonds.csv.gz"))
		one := renderCSV(nil, rows)
		data := renderCSV(header, nil)
		for len(data) < benchSize {
			data = append(data, one...)
		}
		benchCSVData = data
	})
	return benchCSVData
}

// BenchmarkProfileCSV profiles 64 MiB of diamonds records with the size
// known, as for a PUT with a Content-Length.
func BenchmarkProfileCSV(b *testing.B) {
	data := csvBenchData(b)
	benchmarkProfile(b, "lake/diamonds.csv", data, &ProfileOptions{Size: int64(len(data))})
}

// BenchmarkProfileCSVSizeUnknown profiles the same stream without its size
// (a chunked upload): the first FullRows records, then a stride sample.
func BenchmarkProfileCSVSizeUnknown(b *testing.B) {
	benchmarkProfile(b, "lake/diamonds.csv", csvBenchData(b), nil)
}

// BenchmarkProfileCSVSmall profiles one 5000-record partition in full.
func BenchmarkProfileCSVSmall(b *testing.B) {
	data := csvBenchData(b)
	end := 0
	for n := 0; n < 5001; end++ {
		if data[end] == '\n' {
			n++
		}
	}
	benchmarkProfile(b, "lake/diamonds.csv", data[:end], &ProfileOptions{Size: int64(end)})
}

// BenchmarkProfileParquet profiles a 64 MiB Parquet file of diamonds
// records.
func BenchmarkProfileParquet(b *testing.B) {
	benchParquetOnce.Do(func() { benchParquetData = diamondsParquet(b, benchSize) })
	data := benchParquetData
	benchmarkProfile(b, "lake/diamonds.parquet", data, &ProfileOptions{Size: int64(len(data))})
}

// diamondsModel is the model fitted on ten diamonds partitions, as the
// store gives the profiler of a PUT into their prefix. The garbage of
// fitting it is collected before the benchmark's CPU time is measured.
func diamondsModel(b *testing.B) *Model {
	sib, _, _, _ := lake(b, "diamonds.csv.gz", 10, 5000, 1)
	m := NewModel(sib, Thresholds{})
	if m == nil {
		b.Fatal("no model")
	}
	runtime.GC()
	return m
}

// BenchmarkProfileCSVModel is BenchmarkProfileCSV with a model: every
// profiled record's residuals are counted too.
func BenchmarkProfileCSVModel(b *testing.B) {
	data := csvBenchData(b)
	benchmarkProfile(b, "lake/diamonds.csv", data, &ProfileOptions{Size: int64(len(data)), Model: diamondsModel(b)})
}

// BenchmarkProfileParquetModel is BenchmarkProfileParquet with a model.
func BenchmarkProfileParquetModel(b *testing.B) {
	benchParquetOnce.Do(func() { benchParquetData = diamondsParquet(b, benchSize) })
	data := benchParquetData
	benchmarkProfile(b, "lake/diamonds.parquet", data, &ProfileOptions{Size: int64(len(data)), Model: diamondsModel(b)})
}

// BenchmarkNewModel fits the model on 30 siblings, as the store does when
// a PUT starts.
func BenchmarkNewModel(b *testing.B) {
	sib, _, _, _ := lake(b, "diamonds.csv.gz", 30, 5000, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if NewModel(sib, Thresholds{}) == nil {
			b.Fatal("no model")
		}
	}
}

// BenchmarkCheck judges a diamonds partition against 30 siblings, as the
// store does on every write.
func BenchmarkCheck(b *testing.B) {
	sib, header, rows, rng := lake(b, "diamonds.csv.gz", 31, 5000, 1)
	p := profileRows(b, "d.csv", header, sample(rng, rows, 5000))
	base := Baseline{Siblings: sib[1:], Previous: sib[0]}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		Check(p, base, Thresholds{})
	}
}

// BenchmarkProfileCSVGzip profiles the 64 MiB of diamonds records gzipped
// (default level, about 13 MiB): every byte is decompressed (the default
// MaxDecompressed is 64 MiB) and profiled as for a size-unknown CSV. MB/s
// is of the compressed object.
func BenchmarkProfileCSVGzip(b *testing.B) {
	gz := gzipBytes(b, csvBenchData(b))
	benchmarkProfile(b, "lake/diamonds.csv.gz", gz, &ProfileOptions{Size: int64(len(gz))})
}

package guard

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// sharedData is the read-only data directory of the project's real-world
// datasets; tests that need more than testdata holds skip without it.
const sharedData = "/work/shared/data"

// readGz reads a gzipped file from testdata.
func readGz(tb testing.TB, name string) []byte {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// records parses a CSV file into its header and records.
func records(tb testing.TB, b []byte) ([]string, [][]string) {
	tb.Helper()
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	return recs[0], recs[1:]
}

// renderCSV writes a header (if any) and records as CSV.
func renderCSV(header []string, rows [][]string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if header != nil {
		w.Write(header)
	}
	w.WriteAll(rows)
	return b.Bytes()
}

// profileBytes profiles b in writes of chunk bytes (all at once for 0).
func profileBytes(tb testing.TB, key string, b []byte, chunk int, opts *ProfileOptions) *Profile {
	tb.Helper()
	p := NewProfiler(key, opts)
	if chunk <= 0 {
		chunk = len(b) + 1
	}
	for i := 0; i < len(b); i += chunk {
		if n, err := p.Write(b[i:min(len(b), i+chunk)]); err != nil || n != min(len(b), i+chunk)-i {
			tb.Fatalf("Write = %d, %v", n, err)
		}
	}
	return p.Profile()
}

// sample draws n distinct records with rng.
func sample(rng *rand.Rand, rows [][]string, n int) [][]string {
	idx := rng.Perm(len(rows))[:min(n, len(rows))]
	out := make([][]string, len(idx))
	for i, j := range idx {
		out[i] = rows[j]
	}
	return out
}

// lake returns n profiles of random subsets of size records of a dataset,
// and the data to make more.
func lake(tb testing.TB, file string, n, size int, seed uint64) ([]*Profile, []string, [][]string, *rand.Rand) {
	tb.Helper()
	header, rows := records(tb, readGz(tb, file))
	rng := rand.New(rand.NewPCG(seed, 7))
	var out []*Profile
	for range n {
		b := renderCSV(header, sample(rng, rows, size))
		out = append(out, profileBytes(tb, "lake/part.csv", b, 0, &ProfileOptions{Size: int64(len(b))}))
	}
	return out, header, rows, rng
}

// diamond is one diamonds record as a Parquet row.
type diamond struct {
	Carat   float64 `parquet:"carat"`
	Cut     string  `parquet:"cut,dict"`
	Color   string  `parquet:"color,dict"`
	Clarity string  `parquet:"clarity,dict"`
	Depth   float64 `parquet:"depth"`
	Table   float64 `parquet:"table"`
	Price   int64   `parquet:"price"`
	X       float64 `parquet:"x"`
	Y       float64 `parquet:"y"`
	Z       float64 `parquet:"z"`
}

// diamondsParquet writes diamonds records, drawn at random, as a Parquet
// file of at least size bytes.
func diamondsParquet(tb testing.TB, size int) []byte {
	tb.Helper()
	_, rows := records(tb, readGz(tb, "diamonds.csv.gz"))
	var ds []diamond
	f := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
	for _, r := range rows {
		price, _ := strconv.ParseInt(r[6], 10, 64)
		ds = append(ds, diamond{f(r[0]), r[1], r[2], r[3], f(r[4]), f(r[5]), price, f(r[7]), f(r[8]), f(r[9])})
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var b bytes.Buffer
	w := parquet.NewGenericWriter[diamond](&b, parquet.MaxRowsPerRowGroup(1<<17))
	// about 57 bytes a record once encoded: write enough, in row groups
	// of 128Ki records, as writers do
	batch := make([]diamond, 4096)
	for n := 0; n < size/57; n += len(batch) {
		for i := range batch {
			batch[i] = ds[rng.IntN(len(ds))]
		}
		if _, err := w.Write(batch); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

var (
	benchCSVOnce     sync.Once
	benchCSVData     []byte
	benchParquetOnce sync.Once
	benchParquetData []byte
)

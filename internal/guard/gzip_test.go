package guard

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// gzipLevel compresses data at a gzip level.
func gzipLevel(tb testing.TB, data []byte, level int) []byte {
	tb.Helper()
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, level)
	if err != nil {
		tb.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// tableFields is what a compressed table's profile must share with the
// plain table's.
func tableFields(p *Profile) []any {
	return []any{p.Format, p.Parseable, p.ParseError, p.Rows, p.ProfiledRows, p.Sampling, p.BadRows,
		p.DistinctRows, p.ColumnsTotal, p.Schema, p.Columns, p.Groups}
}

// A .csv.gz profiles as its CSV, whatever the write sizes.
func TestGzipTableProfile(t *testing.T) {
	for _, file := range []string{"penguins.csv.gz", "taxis.csv.gz", "diamonds.csv.gz"} {
		plain := readGz(t, file)
		want := profileBytes(t, "t.csv", plain, 0, nil)
		gz := gzipBytes(t, plain)
		for _, chunk := range []int{0, 1 << 20, 1 << 16, 1000, 7} {
			if chunk == 7 && len(gz) > 200<<10 {
				continue // byte-sized writes of the large file take long
			}
			name := fmt.Sprintf("%s in writes of %d", file, chunk)
			p := profileBytes(t, "lake/t/"+file, gz, chunk, &ProfileOptions{Size: int64(len(gz))})
			if p.Compression != FormatGzip || p.Decompressed != int64(len(plain)) || p.Truncated || p.Size != int64(len(gz)) {
				t.Errorf("%s: compression %q, decompressed %d of %d, truncated %v, size %d; want gzip, all, false, %d",
					name, p.Compression, p.Decompressed, len(plain), p.Truncated, p.Size, len(gz))
			}
			if !reflect.DeepEqual(tableFields(p), tableFields(want)) {
				t.Errorf("%s: table profile differs from the plain CSV's:\n got %+v\nwant %+v", name, tableFields(p)[:9], tableFields(want)[:9])
			}
			if p.Entropy < 7.5 {
				t.Errorf("%s: entropy %.2f; want the compressed bytes' (~8)", name, p.Entropy)
			}
		}
	}
}

func TestGzipFormats(t *testing.T) {
	penguins := readGz(t, "penguins.csv.gz")
	gz := gzipBytes(t, penguins)
	flipped := bytes.Clone(gz)
	flipped[len(flipped)/2] ^= 0x55
	badCRC := bytes.Clone(gz)
	badCRC[len(badCRC)-6] ^= 1
	tsv := []byte(strings.ReplaceAll(string(penguins), ",", "\t"))
	jsonl := []byte("{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}\n{\"a\":3,\"b\":\"y\"}\n")
	twoMembers := append(gzipBytes(t, penguins[:len(penguins)/2]), gzipBytes(t, penguins[len(penguins)/2:])...)
	for _, tc := range []struct {
		name, key string
		data      []byte
		format    string
		parseable bool
		errPart   string // in ParseError
		claimed   string
	}{
		{"csv.gz", "x.csv.gz", gz, FormatCSV, true, "", ""},
		{"csv sniffed in a .gz", "part-0000.gz", gz, FormatCSV, true, "", ""},
		{"tsv.gz", "x.tsv.gz", gzipBytes(t, tsv), FormatTSV, true, "", ""},
		{"jsonl.gz", "x.jsonl.gz", gzipBytes(t, jsonl), FormatJSONL, true, "", ""},
		{"ndjson.gz", "x.ndjson.gz", gzipBytes(t, jsonl), FormatJSONL, true, "", ""},
		{"two members", "x.csv.gz", twoMembers, FormatCSV, true, "", ""},
		{"trailing zeros", "x.csv.gz", append(bytes.Clone(gz), make([]byte, 512)...), FormatCSV, true, "", ""},
		{"json.gz", "x.json.gz", gzipBytes(t, []byte(`[{"a":1},{"a":2}]`)), FormatJSON, true, "", ""},
		{"log.gz stays gzip", "x.log.gz", gzipBytes(t, []byte("started\nstopped\n")), FormatGzip, true, "", ""},
		{"random in a .gz", "x.gz", gzipBytes(t, randomBytes(20000)), FormatGzip, true, "", ""},
		{"random in a .csv.gz", "x.csv.gz", gzipBytes(t, randomBytes(20000)), FormatGzip, true, "", FormatCSV},
		{"truncated", "x.csv.gz", gz[:len(gz)/2], FormatCSV, false, "gzip: unexpected EOF after", ""},
		{"flipped byte", "x.csv.gz", flipped, FormatCSV, false, "gzip: ", ""},
		{"bad checksum", "x.csv.gz", badCRC, FormatCSV, false, "gzip: invalid checksum", ""},
		{"bad header", "x.csv.gz", append([]byte{0x1f, 0x8b, 9}, gz[3:]...), FormatGzip, false, "gzip: invalid header", ""},
		{"random bytes named csv.gz", "x.csv.gz", randomBytes(4096), FormatBinary, false, "", FormatGzip},
	} {
		for _, chunk := range []int{0, 1000} {
			p := profileBytes(t, tc.key, tc.data, chunk, nil)
			if p.Format != tc.format || p.Parseable != tc.parseable || !strings.Contains(p.ParseError, tc.errPart) || p.Claimed != tc.claimed {
				t.Errorf("%s (writes of %d): format %q parseable %v (%q) claimed %q; want %q %v (%q) %q",
					tc.name, chunk, p.Format, p.Parseable, p.ParseError, p.Claimed, tc.format, tc.parseable, tc.errPart, tc.claimed)
			}
		}
	}
}

// An encrypted file inside a gzip stream shows its marker.
func TestGzipEncryptedInside(t *testing.T) {
	age := append([]byte("age-encryption.org/v1\n-> X25519 abc\n"), randomBytes(5000)...)
	p := profileBytes(t, "x.csv.gz", gzipBytes(t, age), 0, nil)
	if p.EncryptedMagic != "age-encryption.org/v1" {
		t.Errorf("EncryptedMagic = %q; want the age marker of the content", p.EncryptedMagic)
	}
	prev := profileBytes(t, "x.csv.gz", gzipBytes(t, readGz(t, "penguins.csv.gz")), 0, nil)
	if sig := Check(p, Baseline{Previous: prev}, Thresholds{}); !has(sig, SignalRansomware, "") {
		t.Errorf("gzipped age file replacing a csv.gz: %s; want ransomware", names(sig))
	}
}

// A deflate stream that consumes more than the buffered input without
// producing anything is not parseable; it does not hang or fail the write.
func TestGzipStarved(t *testing.T) {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte("a,b\n1,2\n"))
	for range 70000 { // 5-byte empty stored blocks: 350 KB without output
		w.Flush()
	}
	w.Write([]byte("3,4\n"))
	w.Close()
	p := profileBytes(t, "x.csv.gz", b.Bytes(), 1<<16, nil)
	if p.Parseable || !strings.Contains(p.ParseError, "without output") {
		t.Errorf("starved stream: parseable %v (%q); want not parseable, without output", p.Parseable, p.ParseError)
	}
}

// bomb returns a gzip stream of n copies of one member holding rows,
// without compressing more than rows once.
func bomb(tb testing.TB, rows []byte, n int) []byte {
	member := gzipLevel(tb, rows, gzip.BestCompression)
	return bytes.Repeat(member, n)
}

func TestGzipTruncated(t *testing.T) {
	rows := []byte(strings.Repeat("7,2.5,abc\n", 100000)) // 1 MB
	data := append([]byte("id,x,s\n"), rows...)
	gz := append(gzipBytes(t, data), bomb(t, rows, 9)...) // 10 MB
	p := profileBytes(t, "x.csv.gz", gz, 1<<16, &ProfileOptions{MaxDecompressed: 1 << 20})
	if !p.Truncated || !p.Parseable || p.Format != FormatCSV || p.Compression != FormatGzip {
		t.Fatalf("profile of a 10 MB csv.gz cut at 1 MiB: truncated %v parseable %v (%q) format %q compression %q; want a truncated, parseable csv",
			p.Truncated, p.Parseable, p.ParseError, p.Format, p.Compression)
	}
	// cut at the last line break before 1 MiB: the header and 100,000
	// records of the first member, 4,856 of the second
	if p.Decompressed != 1048567 || p.Rows != 104856 || p.BadRows != 0 {
		t.Errorf("decompressed %d, rows %d, bad %d; want 1048567, 104856, 0", p.Decompressed, p.Rows, p.BadRows)
	}
	if !strings.Contains(p.Sampling, "first 1048567 decompressed bytes") {
		t.Errorf("sampling %q; want it to say the profile is of the first bytes only", p.Sampling)
	}
	// A JSON document cut short would not parse: it stays a gzip.
	doc := []byte("[" + strings.Repeat(`{"a":1,"b":"xyz"},`, 100000) + `{"a":2}]`)
	if j := profileBytes(t, "x.json.gz", gzipBytes(t, doc), 1<<16, &ProfileOptions{MaxDecompressed: 1 << 20}); j.Format != FormatGzip || !j.Parseable {
		t.Errorf("json.gz cut at 1 MiB: format %q parseable %v (%q); want a parseable gzip", j.Format, j.Parseable, j.ParseError)
	}
	if off := profileBytes(t, "x.csv.gz", gz, 1<<16, &ProfileOptions{MaxDecompressed: -1}); off.Format != FormatGzip || !off.Parseable || off.Decompressed != 0 {
		t.Errorf("decompression off: %+v; want a gzip profile", off)
	}
}

// A gzip bomb (2 GiB of CSV, or of zeros, in a few MB) costs bounded time
// and memory: at most MaxDecompressed (64 MiB) is decompressed.
func TestGzipBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("decompresses 64 MiB")
	}
	rows := []byte(strings.Repeat("1,2,3\n", 1<<20/6)) // ~1 MiB
	csvBomb := append(gzipBytes(t, []byte("a,b,c\n")), bomb(t, rows, 2048)...)
	zeros := bomb(t, make([]byte, 1<<20), 2048)
	for _, tc := range []struct {
		name, key string
		data      []byte
		format    string
	}{
		{"csv", "x.csv.gz", csvBomb, FormatCSV},
		{"zeros", "x.gz", zeros, FormatGzip},
	} {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		p := profileBytes(t, tc.key, tc.data, 1<<20, nil)
		elapsed := time.Since(start)
		runtime.ReadMemStats(&after)
		t.Logf("%s bomb: %d bytes compressed, %d decompressed, %s, %d MiB allocated", tc.name, len(tc.data), p.Decompressed, elapsed, (after.TotalAlloc-before.TotalAlloc)>>20)
		if p.Format != tc.format || !p.Parseable {
			t.Errorf("%s bomb: format %q parseable %v (%q); want %q, parseable", tc.name, p.Format, p.Parseable, p.ParseError, tc.format)
		}
		if p.Decompressed > 64<<20 || tc.format == FormatCSV && !p.Truncated {
			t.Errorf("%s bomb: decompressed %d, truncated %v; want at most 64 MiB", tc.name, p.Decompressed, p.Truncated)
		}
		if a := after.TotalAlloc - before.TotalAlloc; a > 64<<20 {
			t.Errorf("%s bomb: %d MiB allocated; want under 64", tc.name, a>>20)
		}
		if elapsed > 20*time.Second {
			t.Errorf("%s bomb took %s", tc.name, elapsed)
		}
	}
}

// The checks see through the compression: the lake's partitions are
// .csv.gz files of diamonds records.
func TestGzipChecks(t *testing.T) {
	_, header, rows, rng := lake(t, "diamonds.csv.gz", 0, 0, 11)
	gzProfile := func(header []string, rows [][]string, level int) *Profile {
		t.Helper()
		gz := gzipLevel(t, renderCSV(header, rows), level)
		return profileBytes(t, "lake/d/part.csv.gz", gz, 1<<16, &ProfileOptions{Size: int64(len(gz))})
	}
	var siblings []*Profile
	for range 20 {
		siblings = append(siblings, gzProfile(header, sample(rng, rows, 3000), gzip.DefaultCompression))
	}
	for i, level := range []int{1, 9, 5, 2, 7} {
		// benign: a new partition, compressed at another level
		p := gzProfile(header, sample(rng, rows, 3000), level)
		if sig := Check(p, Baseline{Siblings: siblings}, Thresholds{}); len(sig) > 0 {
			t.Errorf("benign partition %d compressed at level %d: %s", i, level, names(sig))
		}
		// and a rewrite of a partition, recompressed
		if sig := Check(gzProfile(header, sample(rng, rows, 3000), level), Baseline{Previous: p, Siblings: siblings}, Thresholds{}); len(sig) > 0 {
			t.Errorf("benign rewrite %d compressed at level %d: %s", i, level, names(sig))
		}
	}
	price, depth := col(header, "price"), col(header, "depth")
	dropDepth := func(r []string) []string { return slices.Delete(slices.Clone(r), depth, depth+1) }
	var dropped [][]string
	for _, r := range sample(rng, rows, 3000) {
		dropped = append(dropped, dropDepth(r))
	}
	whole := gzipBytes(t, renderCSV(header, sample(rng, rows, 3000)))
	for _, tc := range []struct {
		name, signal string
		p            *Profile
	}{
		{"column dropped", SignalSchema, gzProfile(dropDepth(header), dropped, 6)},
		{"price +4000 in 25% of records", SignalDrift, gzProfile(header, mutate(sample(rng, rows, 3000), func(i int, r []string) {
			if i%4 == 0 {
				v, _ := strconv.Atoi(r[price])
				r[price] = strconv.Itoa(v + 4000)
			}
		}), 6)},
		{"replaced by random bytes", SignalRansomware, profileBytes(t, "lake/d/part.csv.gz", randomBytes(len(whole)), 0, nil)},
		{"cut short", SignalSchema, profileBytes(t, "lake/d/part.csv.gz", whole[:len(whole)-100], 0, nil)},
	} {
		sig := Check(tc.p, Baseline{Previous: siblings[0], Siblings: siblings[1:]}, Thresholds{})
		if !has(sig, tc.signal, "") {
			t.Errorf("%s: %s; want %s", tc.name, names(sig), tc.signal)
		}
	}
}

// A truncated profile's record count is a lower bound: too few records
// is not a signal, too many still is; truncated siblings are no reference.
func TestGzipTruncatedRowCount(t *testing.T) {
	sib, header, rows, rng := lake(t, "diamonds.csv.gz", 10, 3000, 5)
	base := Baseline{Siblings: sib}
	cut := func(n int, max int64) *Profile {
		gz := gzipBytes(t, renderCSV(header, sample(rng, rows, n)))
		return profileBytes(t, "lake/d.csv.gz", gz, 1<<16, &ProfileOptions{MaxDecompressed: max})
	}
	if p := cut(3000, 40<<10); !p.Truncated || p.Rows > 1000 {
		t.Fatalf("3000 records cut at 40 KiB: truncated %v, %d rows; want a truncated profile of < 1000 rows", p.Truncated, p.Rows)
	} else if sig := Check(p, base, Thresholds{}); has(sig, SignalRowCount, "") {
		t.Errorf("a truncated profile of %d rows vs siblings of 3000: %s; want no row_count", p.Rows, names(sig))
	}
	if p := cut(40000, 1<<20); !p.Truncated || p.Rows < 10000 {
		t.Fatalf("40000 records cut at 1 MiB: truncated %v, %d rows", p.Truncated, p.Rows)
	} else if sig := Check(p, base, Thresholds{}); !has(sig, SignalRowCount, "") {
		t.Errorf("a truncated profile of %d rows vs siblings of 3000: %s; want row_count", p.Rows, names(sig))
	}
	// Truncated siblings are not a reference for the record count.
	var small []*Profile
	for range 10 {
		small = append(small, cut(3000, 40<<10))
	}
	if sig := Check(sib[0], Baseline{Siblings: small}, Thresholds{}); has(sig, SignalRowCount, "") {
		t.Errorf("3000 records vs truncated siblings: %s; want no row_count", names(sig))
	}
}

package guard

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func testImage() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), uint8(x ^ y), 255})
		}
	}
	return img
}

func pngBytes(tb testing.TB) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, testImage()); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func jpegBytes(tb testing.TB) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testImage(), nil); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func gzipBytes(tb testing.TB, data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

func zipBytes(tb testing.TB) []byte {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	f, err := w.Create("a.txt")
	if err != nil {
		tb.Fatal(err)
	}
	f.Write([]byte("hello"))
	w.Close()
	return b.Bytes()
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestDetectFormats(t *testing.T) {
	penguins := readGz(t, "penguins.csv.gz")
	tsv := []byte("a\tb\tc\n1\t2\tx\n3\t4\ty\n")
	jsonl := []byte("{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}\n")
	for _, tc := range []struct {
		name, key string
		data      []byte
		format    string
		parseable bool
		claimed   string
	}{
		{"csv by name", "x.csv", penguins, FormatCSV, true, ""},
		{"csv sniffed", "penguins", penguins, FormatCSV, true, ""},
		{"tsv", "x.tsv", tsv, FormatTSV, true, ""},
		{"tsv sniffed", "x", tsv, FormatTSV, true, ""},
		{"jsonl", "x.jsonl", jsonl, FormatJSONL, true, ""},
		{"jsonl named json", "x.json", jsonl, FormatJSONL, true, ""},
		{"json array", "x.json", []byte(`[{"a":1},{"a":2,"b":"z"}]`), FormatJSON, true, ""},
		{"json invalid", "x.json", []byte(`[{"a":1},{"a":`), FormatJSON, false, ""},
		{"text", "notes.md", []byte("# Notes\n\nSome words here.\n"), FormatText, true, ""},
		{"png", "x.png", pngBytes(t), FormatPNG, true, ""},
		{"png truncated", "x.png", pngBytes(t)[:200], FormatPNG, false, ""},
		{"jpeg", "x.jpg", jpegBytes(t), FormatJPEG, true, ""},
		{"jpeg truncated", "x.jpg", jpegBytes(t)[:300], FormatJPEG, false, ""},
		{"csv.gz", "x.csv.gz", gzipBytes(t, penguins), FormatCSV, true, ""},
		{"gzip", "x.gz", gzipBytes(t, randomBytes(5000)), FormatGzip, true, ""},
		{"zip", "x.zip", zipBytes(t), FormatZip, true, ""},
		{"zip truncated", "x.zip", zipBytes(t)[:40], FormatZip, false, ""},
		{"random named csv", "x.csv", randomBytes(4096), FormatBinary, false, FormatCSV},
		{"random", "blob", randomBytes(4096), FormatBinary, false, ""},
		{"empty", "x.csv", nil, FormatUnknown, false, FormatCSV},
		{"age", "x.csv", append([]byte("age-encryption.org/v1\n-> X25519 abc\n"), randomBytes(500)...), FormatEncrypted, false, FormatCSV},
		{"openssl", "x.csv", append([]byte("Salted__"), randomBytes(500)...), FormatEncrypted, false, FormatCSV},
		{"pgp armored", "x.txt", []byte("\n-----BEGIN PGP MESSAGE-----\n\nhQEMA...\n"), FormatEncrypted, false, FormatText},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := profileBytes(t, tc.key, tc.data, 1000, nil)
			if p.Format != tc.format || p.Parseable != tc.parseable || p.Claimed != tc.claimed {
				t.Errorf("Profile(%s) = format %q parseable %v claimed %q (%s); want %q %v %q",
					tc.name, p.Format, p.Parseable, p.Claimed, p.ParseError, tc.format, tc.parseable, tc.claimed)
			}
		})
	}
}

func TestEncryptedMarkers(t *testing.T) {
	for _, m := range encryptedMarkers {
		p := profileBytes(t, "x.bin", append([]byte(m.prefix), randomBytes(300)...), 0, nil)
		if p.EncryptedMagic != m.name {
			t.Errorf("EncryptedMagic for %q = %q; want %q", m.prefix, p.EncryptedMagic, m.name)
		}
	}
	if p := profileBytes(t, "x.txt", []byte("notes on age-encryption.org/v1 and Salted__ files\n"), 0, nil); p.EncryptedMagic != "" {
		t.Errorf("EncryptedMagic of a text mentioning markers = %q; want none", p.EncryptedMagic)
	}
}

func TestRealFiles(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(sharedData, "*", "*"))
	if len(files) == 0 {
		t.Skip("no shared data directory")
	}
	want := map[string]string{".csv": FormatCSV, ".png": FormatPNG, ".parquet": FormatParquet, ".txt": FormatText}
	for _, f := range files {
		ext := filepath.Ext(f)
		if want[ext] == "" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p := profileBytes(t, f, data, 64<<10, nil)
		if p.Format != want[ext] || !p.Parseable {
			t.Errorf("%s: format %q parseable %v (%s); want %q parseable", filepath.Base(f), p.Format, p.Parseable, p.ParseError, want[ext])
		}
	}
}

// parquetBad lists why each malformed file in testdata/parquet/bad is
// malformed, and whether the profiler must reject it.
var parquetBad = map[string]bool{
	"ARROW-GH-41317.parquet":              true, // column chunks of different sizes
	"ARROW-GH-41321.parquet":              true, // fewer levels than values
	"ARROW-GH-45185.parquet":              true, // repetition levels start at 1
	"ARROW-GH-47662.parquet":              true, // nulls in a required column
	"ARROW-RS-GH-6229-DICTHEADER.parquet": true, // chunks beyond the end of the file
	"ARROW-RS-GH-6229-LEVELS.parquet":     true, // too few repetition levels
	"PARQUET-1481.parquet":                true, // invalid physical type in the schema
	// A dictionary page of one value with indices of bit width 0: it
	// crashed a reader, but parquet-mr writes exactly this for a
	// one-value dictionary, so the data is valid and reads back.
	"ARROW-GH-43605.parquet": false,
}

func TestParquetBadFiles(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "parquet", "bad", "*.parquet"))
	if len(files) != len(parquetBad) {
		t.Fatalf("%d bad files in testdata; want %d", len(files), len(parquetBad))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, chunk := range []int{0, 7, 4096} {
			p := profileBytes(t, f, data, chunk, nil)
			reject, known := parquetBad[filepath.Base(f)]
			if !known {
				t.Fatalf("unexpected file %s", f)
			}
			if p.Format != FormatParquet || p.Parseable == reject {
				t.Errorf("%s (writes of %d): format %q parseable %v (%s); want parseable %v",
					filepath.Base(f), chunk, p.Format, p.Parseable, p.ParseError, !reject)
			}
			if reject && !strings.HasPrefix(p.ParseError, "parquet: ") {
				t.Errorf("%s: ParseError %q does not say why", filepath.Base(f), p.ParseError)
			}
			if _, err := json.Marshal(p); err != nil {
				t.Errorf("%s: profile does not encode: %v", filepath.Base(f), err)
			}
		}
	}
}

func TestParquetGoodFiles(t *testing.T) {
	for _, tc := range []struct {
		file    string
		rows    int64
		columns int
	}{
		{"alltypes_plain.parquet", 8, 11},
		{"byte_stream_split.zstd.parquet", 300, 2},
		{"nullable.impala.parquet", 7, 13},
		{"delta_binary_packed.parquet", 200, 64},
		{"nested_structs.rust.parquet", 1, 64},
	} {
		data, err := os.ReadFile(filepath.Join("testdata", "parquet", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		p := profileBytes(t, tc.file, data, 1000, nil)
		if !p.Parseable || p.Rows != tc.rows || len(p.Columns) != tc.columns {
			t.Errorf("%s: parseable %v (%s), %d rows, %d columns; want %d rows, %d columns",
				tc.file, p.Parseable, p.ParseError, p.Rows, len(p.Columns), tc.rows, tc.columns)
		}
	}
}

func TestParquetTypes(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "parquet", "alltypes_plain.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	p := profileBytes(t, "x.parquet", data, 0, nil)
	want := map[string]string{"id": TypeInt, "bool_col": TypeBool, "float_col": TypeFloat,
		"double_col": TypeFloat, "string_col": TypeString, "timestamp_col": TypeTimestamp}
	for name, typ := range want {
		c := p.Column(name)
		if c == nil || c.Type != typ {
			t.Errorf("column %q = %+v; want type %s", name, c, typ)
		}
	}
	// 2009-01-01..2009-04-01 in Impala's INT96 timestamps
	if c := p.Column("timestamp_col"); c.Min < 1230768000 || c.Max > 1238544000+86400 {
		t.Errorf("timestamp_col range [%v, %v]; want early 2009", c.Min, c.Max)
	}
}

func TestParquetRoundTrip(t *testing.T) {
	data := diamondsParquet(t, 2<<20)
	p := profileBytes(t, "x.parquet", data, 1<<16, &ProfileOptions{Size: int64(len(data))})
	if !p.Parseable || len(p.Columns) != 10 {
		t.Fatalf("profile: parseable %v (%s), %d columns", p.Parseable, p.ParseError, len(p.Columns))
	}
	if p.Sampling == "" || p.ProfiledRows > int64(4096+parquetRun) || p.ProfiledRows < 4000 {
		t.Errorf("sampling %q over %d of %d records; want runs of about 4096", p.Sampling, p.ProfiledRows, p.Rows)
	}
	price := p.Column("price")
	if price.Type != TypeInt || math.Abs(price.Mean-3933) > 150 {
		t.Errorf("price = %s mean %.0f; want int near 3933", price.Type, price.Mean)
	}
	cut := p.Column("cut")
	if cut.Type != TypeString || len(cut.Top) != 5 || cut.Top[0].Value != "Ideal" {
		t.Errorf("cut = %+v; want 5 values, Ideal first", cut)
	}
	if len(p.Groups) == 0 || p.Groups[0].By != "cut" {
		t.Errorf("groups = %+v; want by cut", p.Groups)
	}
}

func TestParquetLargerThanBuffer(t *testing.T) {
	data := diamondsParquet(t, 6<<20)
	p := profileBytes(t, "x.parquet", data, 1<<16, &ProfileOptions{MaxBuffer: 1 << 20})
	if !p.Parseable || p.Rows == 0 || len(p.Columns) != 10 || !strings.Contains(p.Sampling, "footer") {
		t.Errorf("profile = parseable %v (%s), %d rows, %d columns, sampling %q; want the footer's schema and count",
			p.Parseable, p.ParseError, p.Rows, len(p.Columns), p.Sampling)
	}
	if c := p.Column("price"); c == nil || c.Type != TypeInt || c.Count != p.Rows {
		t.Errorf("price = %+v; want int over all records", c)
	}
}

func TestCSVProfile(t *testing.T) {
	data := readGz(t, "penguins.csv.gz")
	header, rows := records(t, data)
	p := profileBytes(t, "penguins.csv", data, 0, nil)
	if p.Rows != int64(len(rows)) || p.ProfiledRows != p.Rows || p.Sampling != "" || len(p.Columns) != len(header) {
		t.Fatalf("rows %d profiled %d sampling %q columns %d; want %d, all, none, %d",
			p.Rows, p.ProfiledRows, p.Sampling, len(p.Columns), len(rows), len(header))
	}
	for i, name := range header {
		c := p.Columns[i]
		if c.Name != name {
			t.Errorf("column %d = %q; want %q", i, c.Name, name)
		}
		var sum float64
		var n, nulls int64
		numeric := true
		for _, r := range rows {
			if r[i] == "" || r[i] == "NA" {
				nulls++
				continue
			}
			x, err := strconv.ParseFloat(r[i], 64)
			if err != nil {
				numeric = false
				continue
			}
			sum += x
			n++
		}
		if c.Nulls != nulls || c.Count != int64(len(rows)) {
			t.Errorf("%s: nulls %d of %d; want %d of %d", name, c.Nulls, c.Count, nulls, len(rows))
		}
		if numeric != c.Numeric() {
			t.Errorf("%s: type %s; numeric %v", name, c.Type, numeric)
		}
		if numeric && math.Abs(c.Mean-sum/float64(n)) > 1e-3*math.Abs(sum/float64(n)) {
			t.Errorf("%s: mean %v; want %v", name, c.Mean, sum/float64(n))
		}
	}
	species := p.Column("species")
	want := []ValueCount{{"Adelie", 152}, {"Gentoo", 124}, {"Chinstrap", 68}}
	if !reflect.DeepEqual(species.Top, want) || species.Distinct != 3 {
		t.Errorf("species top %v distinct %v; want %v, 3", species.Top, species.Distinct, want)
	}
	if len(p.Groups) != 2 || p.Groups[0].By != "species" || p.Groups[1].By != "island" {
		t.Errorf("groups by %v; want species, island", p.Groups)
	}
}

// TestStreamingIsChunkIndependent checks that the profile does not depend
// on how the bytes are cut into writes.
func TestStreamingIsChunkIndependent(t *testing.T) {
	taxis := readGz(t, "taxis.csv.gz")
	quoted := []byte("id,note,n\n1,\"line one\nline two\",3\n2,\"say \"\"hi\"\"\",4\n3,plain,5\n")
	jsonl := []byte("{\"a\":1,\"b\":\"x\",\"c\":{\"d\":[1,2]}}\n{\"a\":2.5,\"b\":null}\n{\"a\":3,\"b\":\"\\u00e9t\\u00e9\",\"e\":true}\n")
	for _, tc := range []struct {
		name, key string
		data      []byte
		opts      *ProfileOptions
	}{
		{"taxis", "taxis.csv", taxis, nil},
		{"taxis sampled", "taxis.csv", taxis, &ProfileOptions{FullRows: 500}},
		{"taxis sized", "taxis.csv", taxis, &ProfileOptions{Size: int64(len(taxis)), FullRows: 700}},
		{"quoted", "q.csv", quoted, nil},
		{"jsonl", "j.jsonl", jsonl, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			whole := profileBytes(t, tc.key, tc.data, 0, tc.opts)
			for _, chunk := range []int{1, 7, 1000, 65536} {
				if chunk == 1 && len(tc.data) > 100000 {
					continue
				}
				got := profileBytes(t, tc.key, tc.data, chunk, tc.opts)
				if !reflect.DeepEqual(got, whole) {
					a, _ := json.Marshal(whole)
					b, _ := json.Marshal(got)
					t.Errorf("writes of %d bytes give a different profile:\n%s\nvs\n%s", chunk, b, a)
				}
			}
		})
	}
}

func TestCSVQuotedLineBreaks(t *testing.T) {
	data := []byte("id,note,n\n1,\"line one\nline two\",3\n2,\"say \"\"hi\"\"\",4\n3,plain,5\n")
	p := profileBytes(t, "q.csv", data, 3, nil)
	if !p.Parseable || p.Rows != 3 || p.BadRows != 0 {
		t.Fatalf("parseable %v rows %d bad %d; want 3 good records", p.Parseable, p.Rows, p.BadRows)
	}
	note := p.Column("note")
	if len(note.Top) != 3 || note.Type != TypeString {
		t.Errorf("note = %+v", note)
	}
	found := false
	for _, v := range note.Top {
		found = found || v.Value == `say "hi"`
	}
	if !found {
		t.Errorf("note values %v; want the unescaped quote", note.Top)
	}
}

func TestCSVMalformed(t *testing.T) {
	good := readGz(t, "penguins.csv.gz")
	var ragged bytes.Buffer
	for i, line := range strings.Split(string(good), "\n") {
		if i > 0 && i%3 == 0 {
			line += ",extra"
		}
		ragged.WriteString(line + "\n")
	}
	p := profileBytes(t, "x.csv", ragged.Bytes(), 100, nil)
	if p.Parseable || p.BadRows == 0 {
		t.Errorf("ragged CSV: parseable %v bad %d; want unparseable", p.Parseable, p.BadRows)
	}
	p = profileBytes(t, "x.csv", []byte("a,b\n1,\"open\n"), 0, nil)
	if p.Parseable {
		t.Error("unterminated quote parses")
	}
}

func TestTypeInference(t *testing.T) {
	data := []byte("i,f,b,s,t,n,mixed\n" +
		"1,1.5,true,x,2024-03-01,,1\n" +
		"-2,2,false,y,2024-03-02T10:00:00Z,NA,2\n" +
		"3,1e3,TRUE,z,2024-03-03 10:00:00.5+01:00,null,x\n")
	p := profileBytes(t, "x.csv", data, 0, nil)
	want := []string{TypeInt, TypeFloat, TypeBool, TypeString, TypeTimestamp, TypeNull, TypeString}
	for i, w := range want {
		if got := p.Columns[i].Type; got != w {
			t.Errorf("column %s type %q; want %q", p.Columns[i].Name, got, w)
		}
	}
	ts := p.Column("t")
	// 2024-03-03 10:00:00.5 at +01:00 is 09:00:00.5 UTC
	if ts.Min != 1709251200 || ts.Max != 1709456400.5 {
		t.Errorf("timestamps [%v, %v]; want [1709251200, 1709456400.5]", ts.Min, ts.Max)
	}
}

func TestParseNumber(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  float64
		isInt bool
		ok    bool
	}{
		{"0", 0, true, true}, {"-12", -12, true, true}, {"+7", 7, true, true},
		{"3.25", 3.25, false, true}, {"0.1", 0.1, false, true}, {"-0.000123", -0.000123, false, true},
		{"1e3", 1000, false, true}, {"12345678901234567", 12345678901234567, true, true},
		{"1.", 1, false, true}, {".5", 0.5, false, true},
		{"", 0, false, false}, {"-", 0, false, false}, {"1,5", 0, false, false}, {"inf", 0, false, false},
		{"NaN", 0, false, false}, {"0x10", 0, false, false}, {"1e999", 0, false, false}, {"12a", 0, false, false},
	} {
		f, isInt, ok := parseNumber([]byte(tc.in))
		if ok != tc.ok || ok && (f != tc.want || isInt != tc.isInt) {
			t.Errorf("parseNumber(%q) = %v, %v, %v; want %v, %v, %v", tc.in, f, isInt, ok, tc.want, tc.isInt, tc.ok)
		}
	}
}

func TestJSONLProfile(t *testing.T) {
	var b bytes.Buffer
	for i := range 1000 {
		fmt.Fprintf(&b, `{"id":%d,"label":%q,"score":%g,"ok":%v`, i, []string{"cat", "dog"}[i%2], float64(i)/10, i%3 == 0)
		if i%4 == 0 {
			b.WriteString(`,"opt":"here"`)
		}
		b.WriteString("}\n")
	}
	b.WriteString("not json\n")
	p := profileBytes(t, "x.jsonl", b.Bytes(), 777, nil)
	if !p.Parseable || p.Rows != 1001 || p.BadRows != 1 || len(p.Columns) != 5 {
		t.Fatalf("parseable %v rows %d bad %d columns %d", p.Parseable, p.Rows, p.BadRows, len(p.Columns))
	}
	if c := p.Column("opt"); c.Count != 1000 || c.Nulls != 750 {
		t.Errorf("opt: %d nulls of %d; want 750 of 1000", c.Nulls, c.Count)
	}
	if c := p.Column("ok"); c.Type != TypeBool {
		t.Errorf("ok type %s; want bool", c.Type)
	}
	if c := p.Column("score"); c.Type != TypeFloat || math.Abs(c.Mean-49.95) > 1e-9 {
		t.Errorf("score %s mean %v; want float 49.95", c.Type, c.Mean)
	}
}

func TestSampledCSV(t *testing.T) {
	header, rows := records(t, readGz(t, "diamonds.csv.gz"))
	data := renderCSV(header, rows)
	for _, opts := range []*ProfileOptions{{FullRows: 2000}, {FullRows: 2000, Size: int64(len(data))}} {
		p := profileBytes(t, "d.csv", data, 1<<16, opts)
		if p.Rows != int64(len(rows)) {
			t.Errorf("size %d: rows %d; want %d (exact while sampling)", opts.Size, p.Rows, len(rows))
		}
		if p.Sampling == "" || p.ProfiledRows < 1500 || p.ProfiledRows > 6000 {
			t.Errorf("size %d: profiled %d records, sampling %q", opts.Size, p.ProfiledRows, p.Sampling)
		}
		// With the size known, the sample spreads over the file and still
		// describes it (price mean 3932.8; the file is sorted in runs of
		// rising price, so a sample of its start would not).
		if c := p.Column("price"); opts.Size > 0 && math.Abs(c.Mean-3932.8) > 200 {
			t.Errorf("size %d: sampled price mean %.0f; want about 3933", opts.Size, c.Mean)
		}
	}
}

// TestMemoryBounded profiles a 512 MiB CSV stream and a Parquet stream far
// larger than its buffer and checks the heap stays small.
func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	header, rows := records(t, readGz(t, "taxis.csv.gz"))
	chunk := renderCSV(nil, rows)
	measure := func(name string, key string, head []byte, body func(i int) []byte, n int, opts *ProfileOptions, limit uint64) *Profile {
		runtime.GC()
		var before, peak runtime.MemStats
		runtime.ReadMemStats(&before)
		p := NewProfiler(key, opts)
		p.Write(head)
		for i := range n {
			p.Write(body(i))
			if i%64 == 0 {
				runtime.GC() // count what the profiler holds, not garbage
				runtime.ReadMemStats(&peak)
				if grown := int64(peak.HeapAlloc) - int64(before.HeapAlloc); grown > int64(limit) {
					t.Fatalf("%s: heap grew by %d MiB after %d writes; want under %d MiB", name, grown>>20, i, limit>>20)
				}
			}
		}
		return p.Profile()
	}
	n := (512 << 20) / len(chunk)
	p := measure("csv", "big.csv", renderCSV(header, nil), func(int) []byte { return chunk }, n, nil, 32<<20)
	if p.Rows != int64(n*len(rows)) || !p.Parseable {
		t.Errorf("csv: rows %d parseable %v; want %d", p.Rows, p.Parseable, n*len(rows))
	}
	noise := randomBytes(1 << 20)
	p = measure("parquet", "big.parquet", []byte("PAR1"), func(int) []byte { return noise }, 256, &ProfileOptions{MaxBuffer: 16 << 20}, 64<<20)
	if p.Parseable || p.Size != 4+256<<20 {
		t.Errorf("parquet: parseable %v size %d; want unparseable", p.Parseable, p.Size)
	}
}

func TestProfileJSONRoundTrip(t *testing.T) {
	for _, f := range []string{"diamonds.csv.gz", "taxis.csv.gz", "penguins.csv.gz"} {
		data := readGz(t, f)
		p := profileBytes(t, strings.TrimSuffix(f, ".gz"), data, 1<<16, &ProfileOptions{Size: int64(len(data))})
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 12<<10 {
			t.Errorf("%s: profile is %d bytes; want at most 12 KiB", f, len(b))
		}
		var back Profile
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&back, p) {
			t.Errorf("%s: profile changes through JSON", f)
		}
		if !strings.HasPrefix(string(b), `{"v":1,`) {
			t.Errorf("%s: profile JSON %.20s does not start with its version", f, b)
		}
	}
	// the widest table: 200+ columns, profiles stay bounded
	data, err := os.ReadFile(filepath.Join("testdata", "parquet", "nested_structs.rust.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	p := profileBytes(t, "wide.parquet", data, 0, nil)
	b, _ := json.Marshal(p)
	if len(b) > 16<<10 || p.ColumnsTotal <= len(p.Columns) || p.Schema == "" {
		t.Errorf("wide table: %d bytes, %d of %d columns, schema %q; want at most 16 KiB and a schema hash",
			len(b), len(p.Columns), p.ColumnsTotal, p.Schema)
	}
}

func TestWriteAfterProfile(t *testing.T) {
	p := NewProfiler("x.csv", nil)
	p.Write([]byte("a,b\n1,2\n"))
	first := p.Profile()
	if _, err := p.Write([]byte("3,4\n")); err != ErrProfiled {
		t.Errorf("Write after Profile = %v; want ErrProfiled", err)
	}
	if p.Profile() != first {
		t.Error("Profile is not idempotent")
	}
}

func TestJSONArray(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	for i := range 100 {
		if i > 0 {
			b.WriteString(",")
		}
		if i%10 == 9 {
			b.WriteString(`"not an object"`)
			continue
		}
		fmt.Fprintf(&b, `{"i":%d,"s":"v%d"}`, i, i%3)
	}
	b.WriteString("]")
	p := profileBytes(t, "x.json", []byte(b.String()), 10, &ProfileOptions{FullRows: 40})
	if !p.Parseable || p.Rows != 100 || p.BadRows == 0 || p.Sampling == "" {
		t.Errorf("json array: parseable %v rows %d bad %d sampling %q; want 100 elements, some bad, sampled",
			p.Parseable, p.Rows, p.BadRows, p.Sampling)
	}
}

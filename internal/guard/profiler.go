package guard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// ProfileOptions tune the profiler; nil or zero fields mean the defaults.
type ProfileOptions struct {
	// Size is the object's size when the caller knows it (the store does
	// for most writes), else 0. It lets the profiler spread its sample
	// evenly over a large object from the start.
	Size int64
	// FullRows is the number of records of a text table (CSV, TSV, JSON
	// Lines, JSON) that are profiled (default 8192); the others are only
	// counted. When Size is known, one record is profiled per
	// Size/FullRows bytes, which is every record of a small object and an
	// even sample of a large one. Otherwise the first FullRows records are
	// profiled, then one per SampleBytes.
	FullRows int
	// ParquetRows is the number of records read from a Parquet file with
	// more (default 4096), in runs of 500 spread over its row groups:
	// Parquet records cost more to assemble than text lines to split.
	ParquetRows int
	// SampleBytes is the sampling stride in bytes after the first FullRows
	// records when Size is unknown (default 16 KiB).
	SampleBytes int64
	// MaxColumns is the number of columns profiled (default 64); the rest
	// are counted in Profile.ColumnsTotal and named in Profile.Schema.
	MaxColumns int
	// TopK is the number of most frequent values kept per column (default 20).
	TopK int
	// MaxBuffer is the most a Parquet file or a JSON document is held in
	// memory for parsing (default 256 MiB). A larger Parquet file is
	// profiled from its footer, a larger JSON document not parsed.
	MaxBuffer int64
	// Labels names the categorical columns whose values group the numeric
	// columns' statistics (Profile.Groups). By default the first MaxGroups
	// columns with 2 to 12 distinct text values are used.
	Labels []string
	// MaxGroups is the number of label columns picked by default (default 2).
	MaxGroups int
	// MaxDecompressed is the most decompressed bytes of a gzip object
	// that are profiled (default 64 MiB); a negative value turns
	// decompression off. It bounds the CPU a compressed table costs (and
	// a gzip bomb); a longer table is profiled from its start, with
	// Profile.Truncated set.
	MaxDecompressed int64
	// Model, when set (NewModel on the baseline's siblings), makes the
	// profiler count the records that do not fit the relationships between
	// columns the siblings show (Profile.Residuals), for Check to compare
	// with the siblings' counts.
	Model *Model
}

func (o *ProfileOptions) withDefaults() ProfileOptions {
	var r ProfileOptions
	if o != nil {
		r = *o
	}
	if r.FullRows <= 0 {
		r.FullRows = 8192
	}
	if r.ParquetRows <= 0 {
		r.ParquetRows = 4096
	}
	if r.SampleBytes <= 0 {
		r.SampleBytes = 16 << 10
	}
	if r.MaxColumns <= 0 {
		r.MaxColumns = 64
	}
	if r.TopK <= 0 {
		r.TopK = 20
	}
	r.TopK = min(r.TopK, topCapacity)
	if r.MaxBuffer <= 0 {
		r.MaxBuffer = 256 << 20
	}
	if r.MaxGroups <= 0 {
		r.MaxGroups = 2
	}
	if r.MaxDecompressed == 0 {
		r.MaxDecompressed = 64 << 20
	}
	return r
}

// ErrProfiled is returned by Profiler.Write after Profile was called.
var ErrProfiled = errors.New("guard: write after Profile")

// parser profiles the content of one format.
type parser interface {
	write(b []byte)
	finish(p *Profile)
}

// Profiler profiles an object's plaintext as it streams through Write and
// gives its Profile at the end. It never fails on bad data: content that
// does not parse profiles as not Parseable. Memory stays bounded whatever
// the object's size (Parquet files and JSON documents up to
// ProfileOptions.MaxBuffer are held in memory). A Profiler is not safe for
// concurrent use.
type Profiler struct {
	key     string
	opts    ProfileOptions
	size    int64
	head    []byte
	decided bool
	format  string
	claimed string
	ent     byteHist
	parser  parser
	failure string // an internal error stopped the parser
	done    *Profile
}

// NewProfiler returns a profiler for the object named key; the name's
// extension helps to tell formats apart (".csv", ".parquet", ...), but the
// content decides.
func NewProfiler(key string, opts *ProfileOptions) *Profiler {
	return &Profiler{key: key, opts: opts.withDefaults(), head: make([]byte, 0, headSize)}
}

// Write profiles the next bytes of the object. It only fails after Profile.
func (p *Profiler) Write(b []byte) (n int, err error) {
	if p.done != nil {
		return 0, ErrProfiled
	}
	n = len(b)
	p.size += int64(n)
	p.ent.write(b)
	if !p.decided {
		need := headSize - len(p.head)
		if len(b) < need {
			p.head = append(p.head, b...)
			return n, nil
		}
		p.head = append(p.head, b[:need]...)
		b = b[need:]
		p.decide(false)
		p.feed(p.head)
	}
	if len(b) > 0 {
		p.feed(b)
	}
	return n, nil
}

// feed passes bytes to the format's parser. A panic there is a bug, but
// the write path must not die of it: the profile then says so.
func (p *Profiler) feed(b []byte) {
	if p.parser == nil {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			p.parser = nil
			p.failure = fmt.Sprintf("profiler failed: %v", v)
		}
	}()
	p.parser.write(b)
}

func (p *Profiler) decide(complete bool) {
	p.decided = true
	p.format, p.claimed = detect(p.key, p.head, complete)
	t := newTable(&p.opts)
	switch p.format {
	case FormatCSV:
		p.parser = newCSVParser(t, &p.opts, ',')
	case FormatTSV:
		p.parser = newCSVParser(t, &p.opts, '\t')
	case FormatJSONL:
		p.parser = newJSONLParser(t, &p.opts)
	case FormatJSON:
		p.parser = &jsonParser{t: t, opts: &p.opts}
	case FormatParquet:
		p.parser = newParquetParser(t, &p.opts)
	case FormatGzip:
		p.parser = newGzipParser(p.key, &p.opts)
	case FormatPNG, FormatJPEG, FormatGIF, FormatPDF, FormatZip,
		FormatZstd, FormatBzip2, FormatXZ, Format7z:
		p.parser = newMagicParser(p.format)
	}
}

// Profile finishes profiling and returns the profile; later calls return
// the same profile.
func (p *Profiler) Profile() *Profile {
	if p.done != nil {
		return p.done
	}
	if !p.decided {
		p.decide(true)
		p.feed(p.head)
	}
	prof := &Profile{
		V:              Version,
		Size:           p.size,
		Format:         p.format,
		Claimed:        p.claimed,
		Entropy:        round(p.ent.entropy(), 4),
		EncryptedMagic: findEncryptedMarker(p.head),
	}
	switch p.format {
	case FormatText:
		prof.Parseable = true
	case FormatEncrypted:
		prof.ParseError = "encrypted content"
	case FormatUnknown:
		prof.ParseError = "empty object"
	case FormatBinary:
		prof.ParseError = "no known format"
	}
	if p.parser != nil {
		func() {
			defer func() {
				if v := recover(); v != nil {
					p.failure = fmt.Sprintf("profiler failed: %v", v)
				}
			}()
			p.parser.finish(prof)
		}()
	}
	if p.failure != "" {
		*prof = Profile{V: Version, Size: p.size, Format: p.format, Claimed: p.claimed,
			Entropy: prof.Entropy, EncryptedMagic: prof.EncryptedMagic, ParseError: p.failure}
	}
	sanitize(prof)
	p.done = prof
	return prof
}

// sanitize makes every number of the profile finite, so that it always
// encodes as JSON.
func sanitize(p *Profile) {
	// empty lists are nil, as they read back from JSON
	if len(p.Columns) == 0 {
		p.Columns = nil
	}
	if len(p.Groups) == 0 {
		p.Groups = nil
	}
	p.Entropy = finite(p.Entropy)
	p.DistinctRows = finite(p.DistinctRows)
	for i := range p.Columns {
		c := &p.Columns[i]
		if len(c.Top) == 0 {
			c.Top = nil
		}
		if len(c.Quantiles) == 0 {
			c.Quantiles = nil
		}
		if len(c.Hist) == 0 {
			c.Hist = nil
		}
		c.Distinct = finite(c.Distinct)
		c.Mean, c.Std, c.Min, c.Max = finite(c.Mean), finite(c.Std), finite(c.Min), finite(c.Max)
		for j := range c.Quantiles {
			c.Quantiles[j] = finite(c.Quantiles[j])
		}
		for j := range c.Hist {
			c.Hist[j] = finite(c.Hist[j])
		}
	}
	for i := range p.Groups {
		for j := range p.Groups[i].Columns {
			gc := &p.Groups[i].Columns[j]
			for k := range gc.Mean {
				gc.Mean[k] = finite(gc.Mean[k])
			}
			for k := range gc.Std {
				gc.Std[k] = finite(gc.Std[k])
			}
		}
	}
}

// magicTail is how much of the end of a file the format checks keep: the
// largest is ZIP's end of central directory (22 bytes plus a comment of up
// to 64 KiB).
const magicTail = 22 + 64<<10

// magicParser checks the header (and, where the format has one, the end
// marker) of images, documents and archives.
type magicParser struct {
	format string
	head   []byte
	tail   []byte
	size   int64
}

func newMagicParser(format string) *magicParser { return &magicParser{format: format} }

func (m *magicParser) write(b []byte) {
	m.size += int64(len(b))
	if need := 64 - len(m.head); need > 0 {
		m.head = append(m.head, b[:min(need, len(b))]...)
	}
	if len(b) >= magicTail {
		m.tail = append(m.tail[:0], b[len(b)-magicTail:]...)
		return
	}
	m.tail = append(m.tail, b...)
	if len(m.tail) > 2*magicTail {
		m.tail = append(m.tail[:0], m.tail[len(m.tail)-magicTail:]...)
	}
}

var (
	pngIHDR = []byte("\x00\x00\x00\x0dIHDR")
	pngIEND = []byte("\x00\x00\x00\x00IEND\xae\x42\x60\x82")
)

func (m *magicParser) finish(p *Profile) {
	h, t := m.head, m.tail
	switch m.format {
	case FormatPNG:
		switch {
		case len(h) < 33 || !bytes.Equal(h[8:16], pngIHDR):
			p.ParseError = "png: no IHDR chunk"
		case crc32.ChecksumIEEE(h[12:29]) != binary.BigEndian.Uint32(h[29:33]):
			p.ParseError = "png: IHDR checksum mismatch"
		case !bytes.HasSuffix(t, pngIEND):
			p.ParseError = "png: no IEND chunk at the end"
		}
	case FormatJPEG:
		t = bytes.TrimRight(t, "\x00\r\n")
		switch {
		case len(h) < 4 || !jpegMarker(h[3]):
			p.ParseError = "jpeg: no valid segment after SOI"
		case !bytes.HasSuffix(t, []byte{0xff, 0xd9}):
			p.ParseError = "jpeg: no end-of-image marker"
		}
	case FormatGzip:
		if len(h) < 10 || h[2] != 8 || h[3]&0xe0 != 0 {
			p.ParseError = "gzip: invalid header"
		}
	case FormatZip:
		switch {
		case bytes.LastIndex(t, []byte("PK\x05\x06")) < 0:
			p.ParseError = "zip: no end of central directory"
		case len(h) >= 8 && string(h[:4]) == "PK\x03\x04" && binary.LittleEndian.Uint16(h[6:8])&1 == 1:
			p.EncryptedMagic = "zip (encrypted entries)"
		}
	case Format7z:
		if len(h) < 32 || crc32.ChecksumIEEE(h[12:32]) != binary.LittleEndian.Uint32(h[8:12]) {
			p.ParseError = "7z: start header checksum mismatch"
		}
	case FormatPDF:
		if bytes.LastIndex(t[max(0, len(t)-2048):], []byte("%%EOF")) < 0 {
			p.ParseError = "pdf: no %%EOF at the end"
		}
	}
	p.Parseable = p.ParseError == ""
}

// jpegMarker reports whether c can be the marker of the first segment
// after SOI: APPn, DQT, DHT, SOFn, DRI, COM.
func jpegMarker(c byte) bool {
	return c >= 0xe0 && c <= 0xef || c == 0xdb || c == 0xc4 || c >= 0xc0 && c <= 0xcf || c == 0xdd || c == 0xfe
}

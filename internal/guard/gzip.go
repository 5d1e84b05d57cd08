package guard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// Compressed tables. A gzip object is decompressed as it streams and the
// decompressed bytes go through a second Profiler, named after the object
// without its ".gz": when that content is a text table (CSV, TSV, JSON
// Lines, JSON), the object is profiled as that table (Profile.Compression
// says "gzip"), so schema, drift and label checks apply to .csv.gz files as
// to .csv ones. Other gzip content (a tar archive, a log) is decompressed
// only until its format is known, and the object stays a gzip.
//
// The decompressor pulls its input; the profiler is pushed to. Rather than
// a goroutine (which would leak when a write is abandoned before Profile),
// the parser keeps at least gzipLowWater bytes of compressed input buffered
// while the object streams, and only decompresses while it has them: one
// Read of a well-formed deflate stream consumes at most about 64 KiB (a
// stored block, or a 32 KiB window of Huffman codes), so the decompressor
// never reaches the end of the buffer before the end of the object. A
// stream that does (hundreds of KiB of empty blocks) is reported as not
// parseable.

// gzipLowWater is how much compressed input stays buffered while more is
// to come.
const gzipLowWater = 256 << 10

// gzipChunk is the most compressed input buffered beyond gzipLowWater, and
// the size of the decompression buffer.
const gzipChunk = 64 << 10

// errGzipStarved is reported when the decompressor consumed gzipLowWater
// bytes of input without producing output.
var errGzipStarved = errors.New("more than 256 KiB of deflate data without output")

// Decompression states.
const (
	gzRunning   = iota
	gzDone      // the whole stream was decompressed
	gzStopped   // the content is not a table: decompression stopped
	gzTruncated // MaxDecompressed reached
	gzFailed    // the stream is corrupt
)

type gzipParser struct {
	magic *magicParser // the header check every gzip gets
	opts  *ProfileOptions
	inner *Profiler
	in    bytes.Buffer // compressed input not yet decompressed
	zr    *gzip.Reader
	reset bool // a member ended: the next one starts at in
	out   []byte
	n     int64 // decompressed bytes profiled
	state int
	err   error
	idle  int // reads in a row that produced nothing
}

func newGzipParser(key string, opts *ProfileOptions) *gzipParser {
	g := &gzipParser{magic: newMagicParser(FormatGzip), opts: opts}
	if opts.MaxDecompressed < 0 {
		g.state = gzStopped
		return g
	}
	o := *opts
	o.Size = 0 // the decompressed size is not known
	g.inner = NewProfiler(innerName(key), &o)
	return g
}

// innerName is the name of a compressed object's content: "t.csv.gz" ->
// "t.csv", "t.tgz" -> "t.tar".
func innerName(key string) string {
	switch strings.ToLower(path.Ext(key)) {
	case ".gz", ".gzip":
		return key[:len(key)-len(path.Ext(key))]
	case ".tgz":
		return key[:len(key)-len(".tgz")] + ".tar"
	}
	return key
}

// decompressedTable reports whether a format found inside a gzip stream is
// worth decompressing the whole stream for.
func decompressedTable(format string) bool {
	switch format {
	case FormatCSV, FormatTSV, FormatJSONL, FormatJSON:
		return true
	}
	return false
}

func (g *gzipParser) write(b []byte) {
	g.magic.write(b)
	for len(b) > 0 && g.state == gzRunning {
		n := min(len(b), gzipChunk)
		g.in.Write(b[:n])
		b = b[n:]
		g.pump(false)
	}
}

// pump decompresses what the buffered input allows: while more input is
// to come, only as long as gzipLowWater bytes of it are buffered.
func (g *gzipParser) pump(final bool) {
	for g.state == gzRunning {
		if !final && g.in.Len() < gzipLowWater {
			return
		}
		if g.zr == nil || g.reset {
			if g.zr != nil && g.in.Len() == 0 {
				g.stop(gzDone)
				return
			}
			if !g.open() {
				return
			}
		}
		want := min(int64(gzipChunk), g.opts.MaxDecompressed-g.n)
		if want <= 0 {
			g.stop(gzTruncated)
			return
		}
		if g.out == nil {
			g.out = make([]byte, gzipChunk)
		}
		n, err := g.zr.Read(g.out[:want])
		if n > 0 {
			b := g.out[:n]
			cut := err == nil && g.n+int64(n) >= g.opts.MaxDecompressed
			if cut {
				// The last bytes profiled: end them at a line break, so
				// that no cut record is counted as bad.
				if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
					b = b[:i+1]
				}
			}
			g.inner.Write(b)
			g.n += int64(len(b))
			g.idle = 0
			if cut {
				g.stop(gzTruncated)
				return
			}
		} else if g.idle++; g.idle > 1000 && err == nil {
			err = errors.New("no progress")
		}
		if g.inner.decided && !decompressedTable(g.inner.format) {
			g.stop(gzStopped)
			return
		}
		switch {
		case err == io.EOF:
			g.reset = true // the member ended, with a valid checksum
		case errors.Is(err, io.ErrUnexpectedEOF) && !final:
			g.fail(errGzipStarved)
		case err != nil:
			g.fail(err)
		}
	}
}

// open starts the first member, or the next one after a member ended.
// Bytes after the last member that are not a gzip header are ignored, as
// gzip -d does.
func (g *gzipParser) open() bool {
	var err error
	if g.zr == nil {
		g.zr, err = gzip.NewReader(&g.in)
	} else {
		err = g.zr.Reset(&g.in)
	}
	if err == nil {
		g.zr.Multistream(false)
		g.reset = false
		return true
	}
	if g.reset {
		g.stop(gzDone) // trailing bytes
		return false
	}
	g.fail(err)
	return false
}

func (g *gzipParser) fail(err error) {
	g.err = err
	g.stop(gzFailed)
}

// stop ends decompression and frees its buffers.
func (g *gzipParser) stop(state int) {
	g.state = state
	g.in = bytes.Buffer{}
	g.zr, g.out = nil, nil
}

func (g *gzipParser) finish(p *Profile) {
	g.magic.finish(p)
	if !p.Parseable || g.inner == nil {
		return // an invalid header, or decompression turned off
	}
	g.pump(true)
	ip := g.inner.Profile()
	if p.EncryptedMagic == "" {
		p.EncryptedMagic = ip.EncryptedMagic
	}
	var gzErr string
	if g.state == gzFailed {
		gzErr = fmt.Sprintf("gzip: %v after %d decompressed bytes", g.err, g.n)
	}
	if !ip.Tabular() || g.state == gzTruncated && ip.Format == FormatJSON { // a JSON document cut short does not parse
		if ip.Claimed != "" && ip.Claimed != ip.Format {
			p.Claimed = ip.Claimed
		}
		if gzErr != "" {
			p.Parseable, p.ParseError = false, gzErr
		}
		return
	}
	p.Format, p.Compression, p.Decompressed = ip.Format, FormatGzip, g.n
	p.Parseable, p.ParseError = ip.Parseable, ip.ParseError
	p.Rows, p.ProfiledRows, p.Sampling, p.BadRows = ip.Rows, ip.ProfiledRows, ip.Sampling, ip.BadRows
	p.DistinctRows, p.ColumnsTotal, p.Schema = ip.DistinctRows, ip.ColumnsTotal, ip.Schema
	p.Columns, p.Groups = ip.Columns, ip.Groups
	switch g.state {
	case gzFailed:
		p.Parseable, p.ParseError = false, gzErr
	case gzTruncated:
		p.Truncated = true
		note := fmt.Sprintf("the first %d decompressed bytes only (ProfileOptions.MaxDecompressed)", g.n)
		if p.Sampling != "" {
			note = p.Sampling + "; " + note
		}
		p.Sampling = note
	}
}

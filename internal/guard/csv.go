package guard

import (
	"bytes"
	"fmt"
)

// maxRecord is the longest record (bytes) the CSV and JSON Lines parsers
// hold; a longer one is counted as bad and skipped.
const maxRecord = 1 << 20

// csvParser profiles CSV (RFC 4180 quoting) and TSV (no quoting) as the
// bytes stream in. The first line is the header. When the object's size is
// known, the first record that starts at or after each multiple of
// size/FullRows bytes is profiled: a systematic sample of about FullRows
// records spread over the object (every record of a small one). Otherwise
// every record is profiled up to FullRows, then one per SampleBytes. The
// other records are only counted: with bytes.Count over the skipped bytes
// when no quoted field has held a line break so far, else record by record.
type csvParser struct {
	t      *table
	opts   *ProfileOptions
	delim  byte
	quotes bool
	jsonl  bool // JSON Lines: no header, each line one object

	off       int64  // stream offset of the next byte
	pending   []byte // a record cut by the end of a write
	recStart  int64  // stream offset where the pending record started
	inQuote   bool   // inside a quoted field at the end of pending
	dropping  bool   // pending grew past maxRecord: skipping to its end
	header    bool   // the header has been read
	ncols     int
	multiline bool // a quoted field held a line break

	rows        int64 // records
	stride      int64 // bytes between sample points
	sampling    bool  // past FullRows, or the size is known
	skipped     bool  // some record was not profiled
	nextSample  int64 // stream offset from which the next sample is taken
	atLineStart bool  // fast sampling: the next byte starts a line
	tailOpen    bool  // fast sampling: the last skipped byte was not a line break

	fields  [][]byte
	scratch []byte
}

func newCSVParser(t *table, opts *ProfileOptions, delim byte) *csvParser {
	p := &csvParser{t: t, opts: opts, delim: delim, quotes: delim == ',', atLineStart: true}
	p.start()
	return p
}

// start sets the sampling up: with a known size it is on from the start.
func (p *csvParser) start() {
	if p.opts.Size > 0 {
		p.stride = p.opts.Size / int64(p.opts.FullRows)
		p.sampling = p.stride > 0
	} else {
		p.stride = p.opts.SampleBytes
	}
}

// newJSONLParser returns a parser for JSON Lines, which the CSV machinery
// reads as unquoted lines without a header.
func newJSONLParser(t *table, opts *ProfileOptions) *csvParser {
	p := &csvParser{t: t, opts: opts, jsonl: true, header: true, atLineStart: true}
	p.start()
	return p
}

func (p *csvParser) write(b []byte) {
	if p.off == 0 && len(p.pending) == 0 {
		if n := len(utf8BOM); len(b) >= n && string(b[:n]) == utf8BOM {
			b = b[n:]
			p.off += int64(n)
		}
	}
	for len(b) > 0 {
		if len(p.pending) == 0 && !p.dropping && p.sampling && !p.multiline {
			b = p.skipFast(b)
			if len(b) == 0 {
				return
			}
		}
		if len(p.pending) == 0 && !p.dropping {
			p.recStart = p.off
		}
		end := p.recordEnd(b)
		if end < 0 {
			p.off += int64(len(b))
			if p.dropping {
				return
			}
			if len(p.pending)+len(b) > maxRecord {
				p.pending = p.pending[:0]
				p.dropping = true
				p.t.bad++
				return
			}
			p.pending = append(p.pending, b...)
			return
		}
		rec := b[:end]
		b = b[end+1:]
		p.off += int64(end + 1)
		p.inQuote = false
		if p.dropping {
			p.dropping = false
			continue
		}
		if len(p.pending) > 0 {
			p.pending = append(p.pending, rec...)
			rec = p.pending
		}
		p.record(rec, p.recStart)
		p.pending = p.pending[:0]
		p.atLineStart = true
	}
}

const utf8BOM = "\xef\xbb\xbf"

// skipFast skips and counts the records before the next sample point, then
// moves to the start of the next line. It returns the bytes from there, or
// nothing when b ran out first.
func (p *csvParser) skipFast(b []byte) []byte {
	for len(b) > 0 {
		if p.off >= p.nextSample && p.atLineStart {
			return b
		}
		if p.off < p.nextSample {
			n := int(min(int64(len(b)), p.nextSample-p.off))
			nl := bytes.Count(b[:n], []byte{'\n'})
			p.rows += int64(nl)
			if nl > 0 {
				p.skipped = true
			}
			p.atLineStart = b[n-1] == '\n'
			p.tailOpen = !p.atLineStart
			b = b[n:]
			p.off += int64(n)
			continue
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.off += int64(len(b))
			p.tailOpen = true
			return nil
		}
		p.rows++
		p.skipped = true
		b = b[i+1:]
		p.off += int64(i + 1)
		p.atLineStart, p.tailOpen = true, false
	}
	return b
}

// recordEnd returns the index in b of the line break that ends the current
// record, or -1. With quoting, a line break inside a quoted field does not
// end it: the number of quotes since the record started must be even.
func (p *csvParser) recordEnd(b []byte) int {
	if !p.quotes {
		return bytes.IndexByte(b, '\n')
	}
	start := 0
	for {
		i := bytes.IndexByte(b[start:], '\n')
		if i < 0 {
			if bytes.Count(b[start:], []byte{'"'})%2 == 1 {
				p.inQuote = !p.inQuote
			}
			return -1
		}
		if bytes.Count(b[start:start+i], []byte{'"'})%2 == 1 {
			p.inQuote = !p.inQuote
		}
		if !p.inQuote {
			return start + i
		}
		p.multiline = true
		start += i + 1
	}
}

// record handles one complete record that started at stream offset start.
func (p *csvParser) record(rec []byte, start int64) {
	if n := len(rec); n > 0 && rec[n-1] == '\r' {
		rec = rec[:n-1]
	}
	if !p.header {
		p.header = true
		p.fields, p.scratch, _ = splitRecord(rec, p.delim, p.quotes, p.fields, p.scratch)
		names := make([]string, len(p.fields))
		for i, f := range p.fields {
			names[i] = string(f)
		}
		p.ncols = len(names)
		p.t.setHeader(names)
		return
	}
	if len(rec) == 0 || p.jsonl && len(bytes.TrimSpace(rec)) == 0 {
		return
	}
	p.rows++
	if p.sampling {
		if start < p.nextSample {
			p.skipped = true
			return
		}
		p.nextSample = start + p.stride
	}
	p.profile(rec)
	if !p.sampling && p.t.rows+p.t.bad >= int64(p.opts.FullRows) {
		p.sampling = true
		p.nextSample = p.off + p.stride
	}
}

func (p *csvParser) profile(rec []byte) {
	if p.jsonl {
		p.t.profileJSON(rec)
		return
	}
	var ok bool
	p.fields, p.scratch, ok = splitRecord(rec, p.delim, p.quotes, p.fields, p.scratch)
	if !ok || len(p.fields) != p.ncols {
		p.t.bad++
		return
	}
	t := p.t
	t.beginRow()
	for i, f := range p.fields[:min(len(p.fields), len(t.cols))] {
		t.cols[i].add(f, kindText)
	}
	t.endRow(hashBytes(rec))
}

func (p *csvParser) finish(prof *Profile) {
	if len(p.pending) > 0 && !p.dropping {
		p.record(p.pending, p.recStart)
		p.pending = nil
	} else if p.tailOpen && p.sampling {
		p.rows++
	}
	p.t.finish(prof)
	prof.Rows = p.rows
	if p.skipped {
		if p.opts.Size > 0 {
			prof.Sampling = fmt.Sprintf("one record per %d bytes", p.stride)
		} else {
			prof.Sampling = fmt.Sprintf("first %d records, then one record per %d bytes", p.opts.FullRows, p.stride)
		}
	}
	switch {
	case p.jsonl:
		if p.t.bad*10 > p.t.rows+p.t.bad || p.rows == 0 && p.t.bad > 0 {
			prof.ParseError = fmt.Sprintf("%d of %d profiled lines are not JSON objects", p.t.bad, p.t.rows+p.t.bad)
		}
	case !p.header:
		prof.ParseError = "no header line"
	case p.dropping || p.inQuote:
		prof.ParseError = "unterminated quoted field at end of file"
	case p.t.bad*10 > p.t.rows+p.t.bad:
		prof.ParseError = fmt.Sprintf("%d of %d profiled records do not have the header's %d fields", p.t.bad, p.t.rows+p.t.bad, p.ncols)
	case p.ncols < 1:
		prof.ParseError = "empty header"
	}
	prof.Parseable = prof.ParseError == ""
}

// splitRecord splits one record into fields. With quotes, a field that
// starts with a double quote runs to the matching quote and "" inside it is
// one quote (RFC 4180). The fields point into rec, or into scratch when a
// field had to be unescaped. ok is false for malformed quoting.
func splitRecord(rec []byte, delim byte, quotes bool, fields [][]byte, scratch []byte) ([][]byte, []byte, bool) {
	fields = fields[:0]
	scratch = scratch[:0]
	ok := true
	for {
		if quotes && len(rec) > 0 && rec[0] == '"' {
			rec = rec[1:]
			start, escaped := len(scratch), false
			var field []byte
			for {
				i := bytes.IndexByte(rec, '"')
				if i < 0 {
					ok = false
					field, rec = rec, nil
					break
				}
				if i+1 < len(rec) && rec[i+1] == '"' {
					scratch = append(scratch, rec[:i+1]...)
					rec = rec[i+2:]
					escaped = true
					continue
				}
				if escaped {
					scratch = append(scratch, rec[:i]...)
					field = scratch[start:]
				} else {
					field = rec[:i]
				}
				rec = rec[i+1:]
				break
			}
			fields = append(fields, field)
			if len(rec) == 0 {
				return fields, scratch, ok
			}
			if rec[0] != delim {
				ok = false
				j := bytes.IndexByte(rec, delim)
				if j < 0 {
					return fields, scratch, ok
				}
				rec = rec[j:]
			}
			rec = rec[1:]
			continue
		}
		i := bytes.IndexByte(rec, delim)
		if i < 0 {
			return append(fields, rec), scratch, ok
		}
		fields = append(fields, rec[:i])
		rec = rec[i+1:]
	}
}

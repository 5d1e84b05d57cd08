package guard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// parquetChunk is the size of the buffers a Parquet object is kept in.
const parquetChunk = 1 << 20

// parquetTail is how much of the end of a Parquet object larger than
// ProfileOptions.MaxBuffer is kept: the footer (schema, row groups,
// statistics) is almost always much smaller.
const parquetTail = 8 << 20

// parquetRun is the number of consecutive records read at each sample
// position of a large Parquet object.
const parquetRun = 500

// parquetParser keeps a Parquet object in memory (its footer is at the end)
// up to ProfileOptions.MaxBuffer, then reads it with parquet-go: schema and
// record count from the footer, values from all records or, for large
// files, from runs of records spread over the row groups (ParquetRows in
// all). Larger objects are
// profiled from their footer alone.
type parquetParser struct {
	t      *table
	opts   *ProfileOptions
	chunks [][]byte
	size   int64
	over   bool   // larger than MaxBuffer: only the tail is kept
	tail   []byte // the last bytes, when over
	num    []byte // scratch for numbers' text
}

func newParquetParser(t *table, opts *ProfileOptions) *parquetParser {
	return &parquetParser{t: t, opts: opts}
}

func (p *parquetParser) write(b []byte) {
	p.size += int64(len(b))
	if p.over {
		p.keepTail(b)
		return
	}
	if p.size > p.opts.MaxBuffer {
		p.over = true
		prev := chunkReader{chunks: p.chunks, size: p.size - int64(len(b))}
		keep := min(prev.size, parquetTail)
		p.tail = make([]byte, keep)
		prev.ReadAt(p.tail, prev.size-keep)
		p.release()
		p.keepTail(b)
		return
	}
	for len(b) > 0 {
		if n := len(p.chunks); n == 0 || len(p.chunks[n-1]) == cap(p.chunks[n-1]) {
			p.chunks = append(p.chunks, (*chunkPool.Get().(*[]byte))[:0])
		}
		c := &p.chunks[len(p.chunks)-1]
		k := min(len(b), cap(*c)-len(*c))
		*c = append(*c, b[:k]...)
		b = b[k:]
	}
}

// keepTail appends b to the kept end of the file, holding between
// parquetTail and twice that.
func (p *parquetParser) keepTail(b []byte) {
	if len(b) >= parquetTail {
		p.tail = append(p.tail[:0], b[len(b)-parquetTail:]...)
		return
	}
	p.tail = append(p.tail, b...)
	if len(p.tail) > 2*parquetTail {
		p.tail = append(p.tail[:0], p.tail[len(p.tail)-parquetTail:]...)
	}
}

// chunkPool recycles the buffers of Parquet objects: the store profiles
// one object after another, and fresh memory costs more than the copy.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, parquetChunk); return &b }}

// release returns the buffers to the pool.
func (p *parquetParser) release() {
	for i := range p.chunks {
		c := p.chunks[i][:0]
		chunkPool.Put(&c)
	}
	p.chunks = nil
}

// chunkReader reads a byte stream kept in equal-sized chunks.
type chunkReader struct {
	chunks [][]byte
	size   int64
}

func (r chunkReader) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("guard: negative offset")
	}
	n := 0
	for len(b) > 0 {
		if off >= r.size {
			return n, io.EOF
		}
		c := r.chunks[off/parquetChunk]
		k := copy(b, c[off%parquetChunk:])
		b = b[k:]
		off += int64(k)
		n += k
	}
	return n, nil
}

// tailReader serves the last bytes of an object of the given size.
type tailReader struct {
	tail []byte
	size int64
}

var errOutsideTail = errors.New("guard: read outside the kept end of a large parquet file")

func (r tailReader) ReadAt(b []byte, off int64) (int, error) {
	base := r.size - int64(len(r.tail))
	if off < base {
		return 0, errOutsideTail
	}
	if off >= r.size {
		return 0, io.EOF
	}
	n := copy(b, r.tail[off-base:])
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func (p *parquetParser) finish(prof *Profile) {
	var r io.ReaderAt = chunkReader{chunks: p.chunks, size: p.size}
	if p.over {
		r = tailReader{tail: p.tail, size: p.size}
		prof.Sampling = fmt.Sprintf("larger than %d bytes: schema, record count and footer statistics only", p.opts.MaxBuffer)
	}
	err := p.read(r, prof)
	p.release()
	if err != nil {
		prof.Parseable = false
		prof.ParseError = "parquet: " + err.Error()
		prof.Columns, prof.Groups = nil, nil
		return
	}
	prof.Parseable = true
}

// read profiles the file; parquet-go panics on some malformed files, which
// is an error like any other here.
func (p *parquetParser) read(r io.ReaderAt, prof *Profile) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("reader panicked: %v", v)
		}
	}()
	if p.size < 12 {
		return errors.New("too short")
	}
	var foot [8]byte
	if _, err := r.ReadAt(foot[:], p.size-8); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if string(foot[4:]) != "PAR1" {
		return fmt.Errorf("no footer magic (ends with %q)", foot[4:])
	}
	if footLen := int64(binary.LittleEndian.Uint32(foot[:4])); footLen+12 > p.size {
		return fmt.Errorf("footer length %d exceeds the file", footLen)
	} else if p.over && footLen+8 > int64(len(p.tail)) {
		return fmt.Errorf("footer of %d bytes is larger than the kept end of the file", footLen)
	}
	f, err := parquet.OpenFile(r, p.size, parquet.SkipBloomFilters(true))
	if err != nil {
		return err
	}
	md := f.Metadata()
	leaves, err := parquetLeaves(md)
	if err != nil {
		return err
	}
	if err := checkParquetMetadata(md, leaves, p.size); err != nil {
		return err
	}
	prof.Rows = md.NumRows
	for i := range leaves {
		leaves[i].col = p.t.column(leaves[i].name)
	}
	if p.over {
		p.footerOnly(md, leaves, prof)
		return nil
	}
	if err := p.readRows(f, leaves, prof); err != nil {
		return err
	}
	p.t.finish(prof)
	return nil
}

// pqKind is how a leaf column's values are read.
type pqKind uint8

const (
	pqInt pqKind = iota
	pqFloat
	pqBool
	pqString
	pqTime  // int32/int64 in units of pqLeaf.unit seconds
	pqInt96 // legacy Impala/Spark timestamp
	pqDecimal
)

type pqLeaf struct {
	name     string
	phys     format.Type
	kind     pqKind
	unit     float64 // seconds per stored unit (pqTime)
	scale    float64 // divisor (pqDecimal)
	required bool
	maxRep   bool
	col      int // table column, or -1
}

// parquetLeaves lists the leaf columns of the schema in column chunk order,
// named by their dotted path, and checks the schema's shape.
func parquetLeaves(md *format.FileMetaData) ([]pqLeaf, error) {
	s := md.Schema
	if len(s) == 0 {
		return nil, errors.New("empty schema")
	}
	var leaves []pqLeaf
	// required: the leaf and all its ancestors are required, so the leaf
	// can hold no nulls at all (its maximum definition level is 0).
	var walk func(i, depth int, prefix string, repeated, required bool) (int, error)
	walk = func(i, depth int, prefix string, repeated, required bool) (int, error) {
		if i >= len(s) {
			return i, errors.New("schema ends inside a group")
		}
		if depth > 64 {
			return i, errors.New("schema nested deeper than 64 levels")
		}
		e := &s[i]
		name := prefix + e.Name
		rep, _ := e.RepetitionType.Get()
		repeated = repeated || rep == format.Repeated
		required = required && rep == format.Required
		if n, ok := e.NumChildren.Get(); ok && n > 0 {
			if int(n) > len(s) {
				return i, fmt.Errorf("group %q claims %d children", name, n)
			}
			j := i + 1
			for range n {
				var err error
				if j, err = walk(j, depth+1, name+".", repeated, required); err != nil {
					return j, err
				}
			}
			return j, nil
		}
		t, ok := e.Type.Get()
		if !ok || t < format.Boolean || t > format.FixedLenByteArray {
			return i, fmt.Errorf("column %q has an invalid physical type %d", name, int32(t))
		}
		leaf := pqLeaf{name: name, phys: t, required: required, maxRep: repeated}
		leaf.kind, leaf.unit, leaf.scale = parquetKind(e, t)
		leaves = append(leaves, leaf)
		return i + 1, nil
	}
	n, _ := s[0].NumChildren.Get()
	i := 1
	for range n {
		var err error
		if i, err = walk(i, 1, "", false, true); err != nil {
			return nil, err
		}
	}
	if i != len(s) {
		return nil, fmt.Errorf("schema has %d elements, the tree uses %d", len(s), i)
	}
	return leaves, nil
}

func parquetKind(e *format.SchemaElement, t format.Type) (pqKind, float64, float64) {
	ct, hasCT := e.ConvertedType.Get()
	lt := e.LogicalType.Value
	switch t {
	case format.Boolean:
		return pqBool, 0, 0
	case format.Float, format.Double:
		return pqFloat, 0, 0
	case format.Int96:
		return pqInt96, 0, 0
	case format.Int32, format.Int64:
		switch v := lt.(type) {
		case *format.DateType:
			return pqTime, 86400, 0
		case *format.TimestampType:
			if v.Unit.Value != nil {
				return pqTime, v.Unit.Value.Duration().Seconds(), 0
			}
		case *format.DecimalType:
			return pqDecimal, 0, math.Pow10(int(v.Scale))
		}
		if hasCT {
			switch ct {
			case deprecated.Date:
				return pqTime, 86400, 0
			case deprecated.TimestampMillis:
				return pqTime, 1e-3, 0
			case deprecated.TimestampMicros:
				return pqTime, 1e-6, 0
			case deprecated.Decimal:
				sc, _ := e.Scale.Get()
				return pqDecimal, 0, math.Pow10(int(sc))
			}
		}
		return pqInt, 0, 0
	}
	return pqString, 0, 0
}

// checkParquetMetadata checks what parquet-go does not: every row group
// has one chunk per leaf, of the leaf's type, inside the file; record
// counts add up; a required column has no nulls in its statistics.
func checkParquetMetadata(md *format.FileMetaData, leaves []pqLeaf, size int64) error {
	var rows int64
	for g, rg := range md.RowGroups {
		if rg.NumRows < 0 {
			return fmt.Errorf("row group %d has %d records", g, rg.NumRows)
		}
		rows += rg.NumRows
		if len(rg.Columns) != len(leaves) {
			return fmt.Errorf("row group %d has %d column chunks for %d columns", g, len(rg.Columns), len(leaves))
		}
		for c := range rg.Columns {
			m := &rg.Columns[c].MetaData
			l := &leaves[c]
			if m.Type != l.phys {
				return fmt.Errorf("column %q is %v in the schema but %v in row group %d", l.name, l.phys, m.Type, g)
			}
			start := m.DataPageOffset
			if d := m.DictionaryPageOffset; d > 0 && d < start {
				start = d
			}
			if m.TotalCompressedSize < 0 || start < 0 || start+m.TotalCompressedSize > size {
				return fmt.Errorf("column %q chunk in row group %d lies outside the file", l.name, g)
			}
			if l.required && m.Statistics.NullCount > 0 {
				return fmt.Errorf("required column %q has %d nulls in row group %d", l.name, m.Statistics.NullCount, g)
			}
			if !l.maxRep && m.NumValues != rg.NumRows {
				return fmt.Errorf("column %q has %d values for %d records in row group %d", l.name, m.NumValues, rg.NumRows, g)
			}
		}
	}
	if rows != md.NumRows {
		return fmt.Errorf("row groups hold %d records, the footer says %d", rows, md.NumRows)
	}
	return nil
}

// footerOnly profiles a file from its footer: names, types and, from the
// chunk statistics, null counts.
func (p *parquetParser) footerOnly(md *format.FileMetaData, leaves []pqLeaf, prof *Profile) {
	p.t.finish(prof)
	for i, l := range leaves {
		if l.col < 0 {
			continue
		}
		c := &prof.Columns[l.col]
		c.Type = leafType(l.kind)
		c.Count = md.NumRows
		for _, rg := range md.RowGroups {
			if i < len(rg.Columns) {
				c.Nulls += rg.Columns[i].MetaData.Statistics.NullCount
			}
		}
	}
	prof.ProfiledRows = 0
}

func leafType(k pqKind) string {
	switch k {
	case pqInt:
		return TypeInt
	case pqFloat, pqDecimal:
		return TypeFloat
	case pqBool:
		return TypeBool
	case pqTime, pqInt96:
		return TypeTimestamp
	}
	return TypeString
}

// readRows profiles all records, or runs of parquetRun records spread
// evenly over the file when there are more than FullRows.
func (p *parquetParser) readRows(f *parquet.File, leaves []pqLeaf, prof *Profile) error {
	total := f.NumRows()
	budget := int64(p.opts.ParquetRows)
	sampled := total > budget
	rowGroups := f.RowGroups()
	buf := make([]parquet.Row, 64)
	var scratch []byte
	// Sampled, the budget is cut into runs, shared among the row groups by
	// their sizes (largest remainders), each group's runs evenly spaced.
	var share []int64
	if sampled {
		share = shareRuns((budget+parquetRun-1)/parquetRun, rowGroups, total)
	}
	for g, rg := range rowGroups {
		if err := checkFirstPages(rg, leaves, g); err != nil {
			return err
		}
		n := rg.NumRows()
		type run struct{ at, len int64 }
		var runs []run
		if !sampled {
			runs = []run{{0, n}}
		} else {
			k := share[g]
			for i := range k {
				at := (2*i + 1) * n / (2 * k)
				at = max(0, min(at-parquetRun/2, n-parquetRun))
				runs = append(runs, run{at, min(parquetRun, n)})
			}
		}
		if len(runs) == 0 {
			continue
		}
		rows := rg.Rows()
		for _, ru := range runs {
			if ru.at > 0 {
				if err := rows.SeekToRow(ru.at); err != nil {
					rows.Close()
					return fmt.Errorf("row group %d: seek to record %d: %w", g, ru.at, err)
				}
			}
			left := ru.len
			for left > 0 {
				k, err := rows.ReadRows(buf[:min(int64(len(buf)), left)])
				for _, row := range buf[:k] {
					scratch = p.row(row, leaves, scratch)
				}
				left -= int64(k)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					rows.Close()
					return fmt.Errorf("row group %d: %w", g, err)
				}
				if k == 0 {
					break
				}
			}
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("row group %d: %w", g, err)
		}
	}
	if p.t.rows != total && !sampled {
		return fmt.Errorf("read %d records, the footer says %d", p.t.rows, total)
	}
	if sampled {
		prof.Sampling = fmt.Sprintf("runs of %d records spread evenly over the row groups", parquetRun)
	}
	return nil
}

// shareRuns divides k runs among the row groups in proportion to their
// records, by largest remainders.
func shareRuns(k int64, groups []parquet.RowGroup, total int64) []int64 {
	share := make([]int64, len(groups))
	rem := make([]float64, len(groups))
	var given int64
	for g, rg := range groups {
		exact := float64(k) * float64(rg.NumRows()) / float64(total)
		share[g] = int64(exact)
		rem[g] = exact - float64(share[g])
		given += share[g]
	}
	for ; given < k; given++ {
		best := 0
		for g := range rem {
			if rem[g] > rem[best] {
				best = g
			}
		}
		share[best]++
		rem[best] = -1
	}
	return share
}

// checkFirstPages reads the first page of each repeated column's chunk:
// its first value must start a record. (Reading the records does not
// check that; flat columns have no repetition levels.)
func checkFirstPages(rg parquet.RowGroup, leaves []pqLeaf, g int) error {
	for c, cc := range rg.ColumnChunks() {
		if c >= len(leaves) {
			break
		}
		if !leaves[c].maxRep {
			continue
		}
		pages := cc.Pages()
		pg, err := pages.ReadPage()
		if err != nil && !errors.Is(err, io.EOF) {
			pages.Close()
			return fmt.Errorf("column %q in row group %d: %w", leaves[c].name, g, err)
		}
		if err == nil {
			if rl := pg.RepetitionLevels(); len(rl) > 0 && rl[0] != 0 {
				parquet.Release(pg)
				pages.Close()
				return fmt.Errorf("column %q in row group %d starts in the middle of a record (repetition level %d)", leaves[c].name, g, rl[0])
			}
			if leaves[c].required && pg.NumNulls() > 0 {
				parquet.Release(pg)
				pages.Close()
				return fmt.Errorf("required column %q has nulls in row group %d", leaves[c].name, g)
			}
			parquet.Release(pg)
		}
		pages.Close()
	}
	return nil
}

// row profiles one record. The values' text goes into buf, which is only
// reset per record, because the label statistics read the categorical
// values at the end of the record.
func (p *parquetParser) row(row parquet.Row, leaves []pqLeaf, buf []byte) []byte {
	buf = buf[:0]
	t := p.t
	t.beginRow()
	h := uint64(hashSeed)
	for _, v := range row {
		ci := v.Column()
		if ci < 0 || ci >= len(leaves) {
			continue
		}
		l := &leaves[ci]
		if l.col < 0 {
			continue
		}
		c := t.cols[l.col]
		if v.IsNull() {
			c.add(nil, kindNull)
			h = mix(h^uint64(ci)<<32, hashK2)
			continue
		}
		var hv uint64
		switch l.kind {
		case pqBool:
			start := len(buf)
			buf = strconv.AppendBool(buf, v.Boolean())
			c.add(buf[start:], kindBool)
			hv = hashBytes(buf[start:])
		case pqInt, pqDecimal, pqTime:
			x := v.Int64()
			if v.Kind() == parquet.Int32 {
				x = int64(v.Int32())
			}
			switch l.kind {
			case pqInt:
				p.num = c.addFloat(float64(x), true, p.num)
			case pqDecimal:
				p.num = c.addFloat(float64(x)/l.scale, false, p.num)
			default:
				p.num = c.addTime(float64(x)*l.unit, p.num)
			}
			hv = hashUint64(uint64(x))
		case pqFloat:
			f := v.Double()
			if v.Kind() == parquet.Float {
				f = float64(v.Float())
			}
			p.num = c.addFloat(f, false, p.num)
			hv = hashUint64(math.Float64bits(f))
		case pqInt96:
			i96 := v.Int96()
			nanos := uint64(i96[0]) | uint64(i96[1])<<32
			sec := (float64(i96[2])-2440588)*86400 + float64(nanos)/1e9
			p.num = c.addTime(sec, p.num)
			hv = hashUint64(math.Float64bits(sec))
		default:
			start := len(buf)
			buf = append(buf, v.ByteArray()...)
			c.add(buf[start:], kindString)
			hv = hashBytes(buf[start:])
		}
		h = mix(h^hv^uint64(ci)<<32, hashK2)
	}
	t.endRow(fmix(h))
	return buf
}

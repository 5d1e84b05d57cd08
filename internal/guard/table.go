package guard

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Sketch sizes and limits of the table profiler.
const (
	colHLLBits      = 10  // 1024 one-byte registers per column: ~3% error
	rowHLLBits      = 14  // 16 KiB for record hashes: ~0.8%, exact-ish below 40k
	topCapacity     = 100 // space-saving counters per column
	topMinValues    = 2000
	maxGroupValues  = 16 // a categorical column with more values is not a label
	maxGroupOut     = 12 // values kept in a profile's Group
	maxGroupTargets = 32 // numeric columns followed per label value
	maxCandidates   = 8  // categorical columns followed as possible labels
	detailColumns   = 32 // columns after these get no quantiles, histogram or top values
	maxColumnNames  = 1 << 16
)

// valueKind is what a parser knows about a value before the table looks at it.
type valueKind uint8

const (
	kindText   valueKind = iota // untyped text (CSV, TSV): classified by content
	kindString                  // a string (JSON, Parquet): may still be a timestamp
	kindNumber                  // a number literal
	kindBool
	kindNull
	kindNested // a JSON object or array
)

// colAcc accumulates one column.
type colAcc struct {
	name                               string
	count, nulls                       int64
	nInt, nFloat, nBool, nTime, nOther int64
	num                                moments
	min, max                           float64
	quant                              *kll
	distinct                           *hll
	top                                *topK // nil when dropped: too many distinct values

	// per-record scratch for the label statistics
	rowNum   float64
	rowNumOK bool
	rowCat   []byte
	seen     bool // JSON: the record had this field
}

func newColAcc(name string) *colAcc {
	return &colAcc{
		name:     name,
		quant:    newKLL(),
		distinct: newHLL(colHLLBits),
		top:      newTopK(topCapacity),
		min:      math.Inf(1),
		max:      math.Inf(-1),
	}
}

// isNullToken reports whether b is one of the usual spellings of a missing
// value in text tables.
func isNullToken(b []byte) bool {
	if len(b) > 0 {
		if c := b[0] | 0x20; c != 'n' && c != 'i' && c != '#' && c != '-' && c != '+' {
			return false
		}
	}
	switch len(b) {
	case 0:
		return true
	case 2:
		return bytes.EqualFold(b, []byte("na"))
	case 3:
		return bytes.EqualFold(b, []byte("nan")) || bytes.EqualFold(b, []byte("n/a")) ||
			bytes.EqualFold(b, []byte("nil")) || bytes.EqualFold(b, []byte("inf"))
	case 4:
		return bytes.EqualFold(b, []byte("null")) || bytes.EqualFold(b, []byte("none")) ||
			bytes.EqualFold(b, []byte("#n/a")) || bytes.EqualFold(b, []byte("-inf")) ||
			bytes.EqualFold(b, []byte("+inf"))
	case 8:
		return bytes.EqualFold(b, []byte("infinity"))
	}
	return false
}

// add profiles one value of kind k.
func (c *colAcc) add(b []byte, k valueKind) {
	c.count++
	if k == kindText {
		b = bytes.TrimSpace(b)
		if isNullToken(b) {
			c.nulls++
			return
		}
	}
	switch k {
	case kindNull:
		c.nulls++
		return
	case kindString:
		if len(b) == 0 {
			c.nulls++
			return
		}
	}
	c.distinct.add(hashBytes(b))
	c.addTop(b)
	if c.nOther > 0 {
		c.nOther++ // already a string column: no need to parse
		c.rowCat = b
		return
	}
	switch k {
	case kindText, kindNumber:
		if f, isInt, ok := parseNumber(b); ok {
			if isInt {
				c.nInt++
			} else {
				c.nFloat++
			}
			c.addNum(f)
			return
		}
		if k == kindNumber {
			c.nOther++
			return
		}
		if isBool(b) {
			c.nBool++
			c.rowCat = b
			return
		}
		if t, ok := parseTimestamp(b); ok {
			c.nTime++
			c.addNum(t)
			return
		}
	case kindString:
		if t, ok := parseTimestamp(b); ok {
			c.nTime++
			c.addNum(t)
			return
		}
	case kindBool:
		c.nBool++
		c.rowCat = b
		return
	}
	c.nOther++
	c.rowCat = b
}

// addFloat profiles a value that is already a number (Parquet). Its text
// is only needed while the column lists its values; the distinct count
// hashes the number itself.
func (c *colAcc) addFloat(f float64, isInt bool, scratch []byte) []byte {
	c.count++
	if math.IsNaN(f) || math.IsInf(f, 0) {
		c.nulls++
		return scratch
	}
	c.distinct.add(hashUint64(math.Float64bits(f)))
	if c.top != nil {
		if isInt {
			scratch = strconv.AppendInt(scratch[:0], int64(f), 10)
		} else {
			scratch = strconv.AppendFloat(scratch[:0], f, 'g', -1, 64)
		}
		c.addTop(scratch)
	}
	if isInt {
		c.nInt++
	} else {
		c.nFloat++
	}
	c.addNum(f)
	return scratch
}

// addTime profiles a timestamp given in Unix seconds (Parquet).
func (c *colAcc) addTime(sec float64, scratch []byte) []byte {
	c.count++
	c.distinct.add(hashUint64(math.Float64bits(sec)))
	if c.top != nil {
		scratch = strconv.AppendFloat(scratch[:0], sec, 'f', -1, 64)
		c.addTop(scratch)
	}
	c.nTime++
	c.addNum(sec)
	return scratch
}

// addTop counts b in the column's top values. A numeric column only lists
// its values when it has few, so its sketch goes at the first eviction; a
// text column's goes when nearly every value is new (identifiers, free
// text), as there are no heavy hitters to follow.
func (c *colAcc) addTop(b []byte) {
	if c.top == nil {
		return
	}
	c.top.add(b)
	if !c.top.full {
		return
	}
	nn := c.count - c.nulls
	if c.nOther == 0 && c.nBool == 0 || nn >= topMinValues && c.top.evict*4 > nn*3 {
		c.top = nil
	}
}

func (c *colAcc) addNum(f float64) {
	c.num.add(f)
	c.quant.add(f)
	c.min = math.Min(c.min, f)
	c.max = math.Max(c.max, f)
	c.rowNum, c.rowNumOK = f, true
}

func isBool(b []byte) bool {
	return bytes.EqualFold(b, []byte("true")) || bytes.EqualFold(b, []byte("false"))
}

// typ is the column's type from what its values looked like.
func (c *colAcc) typ() string {
	nums := c.nInt + c.nFloat
	switch {
	case c.count == c.nulls:
		return TypeNull
	case c.nOther > 0, nums > 0 && (c.nBool > 0 || c.nTime > 0), c.nBool > 0 && c.nTime > 0:
		return TypeString
	case c.nTime > 0:
		return TypeTimestamp
	case c.nBool > 0:
		return TypeBool
	case c.nFloat > 0:
		return TypeFloat
	}
	return TypeInt
}

// column finalises the column profile.
func (c *colAcc) column(topK int) Column {
	col := Column{Name: validUTF8(c.name), Type: c.typ(), Nulls: c.nulls, Count: c.count}
	if col.Type == TypeNull {
		return col
	}
	col.Distinct = math.Round(c.distinct.estimate())
	if nn := float64(c.count - c.nulls); col.Distinct > nn {
		col.Distinct = nn
	}
	numeric := col.Type == TypeInt || col.Type == TypeFloat || col.Type == TypeTimestamp
	// A numeric column lists its values only when it has few (all of them,
	// exact); otherwise its distribution is in the quantiles.
	if c.top != nil && (!numeric || len(c.top.items) <= topK) {
		col.Top = c.top.top(topK)
		for i := range col.Top {
			col.Top[i].Value = validUTF8(col.Top[i].Value)
		}
	}
	if !numeric || c.num.n == 0 {
		return col
	}
	// Location statistics keep five digits of the column's range (a
	// timestamp column spanning a month keeps 10 s), not of their magnitude.
	e := -6
	if span := c.max - c.min; span > 0 && !math.IsInf(span, 0) {
		e = int(math.Floor(math.Log10(span))) - 5
	}
	col.Mean = roundExp(c.num.mean(), e)
	col.Std = round(c.num.std(), 5)
	col.Min, col.Max = finite(c.min), finite(c.max)
	q := c.quant.quantiles(QuantileRanks)
	if len(q) > 0 {
		q[0], q[len(q)-1] = c.min, c.max
		col.Quantiles = make([]float64, len(q))
		for i, v := range q {
			col.Quantiles[i] = roundExp(v, e)
		}
	}
	col.HistStart, col.HistWidth, col.Hist = histogram(c.quant)
	return col
}

// maxHistBins bounds the number of histogram bins between the 1st and
// 99th percentiles.
const maxHistBins = 24

// histogram bins the sketch's values on a grid whose width is a power of
// two and whose edges are multiples of it, from the 1st to the 99th
// percentile, with one more bin each side for the tails. Grids of two
// profiles then nest, so Check can compare them exactly on the coarser.
func histogram(s *kll) (start, width float64, masses []float64) {
	q := s.quantiles([]float64{0.01, 0.99, 0, 1})
	if len(q) < 4 {
		return 0, 0, nil
	}
	lo, hi := q[0], q[1]
	if hi <= lo {
		lo, hi = q[2], q[3]
	}
	if hi <= lo || math.IsInf(hi-lo, 0) {
		return 0, 0, nil
	}
	width = math.Pow(2, math.Ceil(math.Log2((hi-lo)/maxHistBins)))
	start = math.Floor(lo/width) * width
	end := math.Floor(hi/width)*width + width
	n := int(math.Round((end - start) / width))
	if n <= 0 || n > 4*maxHistBins || math.IsInf(width, 0) || width == 0 {
		return 0, 0, nil
	}
	edges := make([]float64, n+1)
	for i := range edges {
		edges[i] = start + float64(i)*width
	}
	f := s.cdfLess(edges)
	masses = make([]float64, n+2)
	masses[0] = round(f[0], 3)
	for i := 1; i <= n; i++ {
		masses[i] = round(f[i]-f[i-1], 3)
	}
	masses[n+1] = round(1-f[n], 3)
	return start, width, masses
}

// groupAcc follows the numeric columns within each value of one
// categorical column.
type groupAcc struct {
	col    int
	values []string
	index  map[string]int
	counts []int64
	stats  [][]moments // [value][column]
	dead   bool
}

// table accumulates the records of a tabular object.
type table struct {
	opts      *ProfileOptions
	cols      []*colAcc
	byName    map[string]int
	total     int // columns seen, including those over the limit
	groups    []*groupAcc
	isCand    []bool
	rows      int64 // profiled records
	bad       int64
	rowHashes *hll
	kv        []jsonField // scratch for JSON records
	mom       *momAcc
	res       *resAcc // nil without a model
}

func newTable(opts *ProfileOptions) *table {
	t := &table{opts: opts, byName: make(map[string]int), rowHashes: newHLL(rowHLLBits), mom: newMomAcc()}
	if opts.Model != nil {
		t.res = newResAcc(opts.Model)
	}
	return t
}

// column returns the index of the column named name, adding it when there
// is room, or -1.
func (t *table) column(name string) int {
	if i, ok := t.byName[name]; ok {
		return i
	}
	if len(t.byName) >= maxColumnNames {
		return -1
	}
	t.total++
	if len(t.cols) >= t.opts.MaxColumns {
		t.byName[name] = -1
		return -1
	}
	t.byName[name] = len(t.cols)
	t.cols = append(t.cols, newColAcc(name))
	t.isCand = append(t.isCand, false)
	return len(t.cols) - 1
}

// schemaHash identifies the set of all column names, profiled or not.
func (t *table) schemaHash() string {
	names := make([]string, 0, len(t.byName))
	for n := range t.byName {
		names = append(names, n)
	}
	slices.Sort(names)
	h := uint64(hashSeed)
	for _, n := range names {
		h = mix(h^hashBytes([]byte(n)), hashK2)
	}
	return strconv.FormatUint(fmix(h), 16)
}

// setHeader names the columns of a CSV or TSV file; empty and repeated names
// get a position suffix.
func (t *table) setHeader(names []string) {
	for i, n := range names {
		n = string(bytes.TrimSpace([]byte(n)))
		if n == "" {
			n = "col_" + strconv.Itoa(i+1)
		}
		if _, dup := t.byName[n]; dup {
			n = n + "_" + strconv.Itoa(i+1)
		}
		t.column(n)
	}
}

func (t *table) beginRow() {
	for _, c := range t.cols {
		c.rowNumOK = false
		c.rowCat = nil
		c.seen = false
	}
}

// endRow closes a profiled record: the label statistics and the record hash.
func (t *table) endRow(rowHash uint64) {
	t.rows++
	t.rowHashes.add(rowHash)
	for i, c := range t.cols {
		if c.rowCat != nil && !t.isCand[i] && len(t.groups) < maxCandidates && c.num.n == 0 &&
			(len(t.opts.Labels) == 0 || slices.Contains(t.opts.Labels, c.name)) {
			t.isCand[i] = true
			t.groups = append(t.groups, &groupAcc{col: i, index: make(map[string]int)})
		}
	}
	for _, g := range t.groups {
		if g.dead {
			continue
		}
		cat := t.cols[g.col].rowCat
		if cat == nil {
			continue
		}
		v, ok := g.index[string(cat)]
		if !ok {
			if len(g.values) == maxGroupValues {
				g.dead, g.values, g.index, g.counts, g.stats = true, nil, nil, nil, nil
				continue
			}
			v = len(g.values)
			g.values = append(g.values, string(cat))
			g.index[g.values[v]] = v
			g.counts = append(g.counts, 0)
			g.stats = append(g.stats, nil)
		}
		g.counts[v]++
		n := min(len(t.cols), maxGroupTargets)
		if len(g.stats[v]) < n {
			g.stats[v] = append(g.stats[v], make([]moments, n-len(g.stats[v]))...)
		}
		st := g.stats[v]
		for j, c := range t.cols[:n] {
			if c.rowNumOK {
				st[j].add(c.rowNum)
			}
		}
	}
	if t.res != nil {
		t.res.row(t)
	}
	t.mom.row(t.cols) // last: it may rewrite the columns' record scratch
}

// finish writes the table's part of the profile.
func (t *table) finish(p *Profile) {
	p.ProfiledRows = t.rows
	p.BadRows = t.bad
	if t.rows > 0 {
		p.DistinctRows = math.Min(math.Round(t.rowHashes.estimate()), float64(t.rows))
	}
	if t.total > len(t.cols) {
		p.ColumnsTotal = t.total
	}
	p.Columns = make([]Column, len(t.cols))
	for i, c := range t.cols {
		p.Columns[i] = c.column(t.opts.TopK)
		if i >= detailColumns {
			p.Columns[i].Top, p.Columns[i].Quantiles, p.Columns[i].Hist = nil, nil, nil
		}
	}
	if t.total > len(t.cols) {
		p.Schema = t.schemaHash()
	}
	p.Groups = t.finishGroups(p.Columns)
	p.Moments = t.mom.moments(t.cols)
	if t.res != nil {
		p.Residuals = t.res.residuals()
	}
}

func (t *table) finishGroups(cols []Column) []Group {
	var out []Group
	groups := slices.Clone(t.groups)
	slices.SortFunc(groups, func(a, b *groupAcc) int { return a.col - b.col })
	for _, g := range groups {
		if g.dead || len(g.values) < 2 || len(g.values) > maxGroupOut {
			continue
		}
		by := cols[g.col]
		if by.Type != TypeString && by.Type != TypeBool {
			continue
		}
		if len(t.opts.Labels) > 0 {
			if !slices.Contains(t.opts.Labels, by.Name) {
				continue
			}
		} else if len(out) >= t.opts.MaxGroups {
			break
		}
		order := make([]int, len(g.values))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case g.counts[a] > g.counts[b]:
				return -1
			case g.counts[a] < g.counts[b]:
				return 1
			}
			return 0
		})
		grp := Group{By: by.Name}
		for _, v := range order {
			grp.Values = append(grp.Values, validUTF8(g.values[v]))
			grp.Counts = append(grp.Counts, g.counts[v])
		}
		for j := range min(len(cols), maxGroupTargets) {
			if j == g.col || !cols[j].Numeric() {
				continue
			}
			gc := GroupColumn{Name: cols[j].Name, Mean: make([]float64, len(order)), Std: make([]float64, len(order))}
			any := false
			for k, v := range order {
				if j < len(g.stats[v]) && g.stats[v][j].n > 0 {
					w := g.stats[v][j]
					gc.Mean[k] = round(w.mean(), 5)
					gc.Std[k] = round(w.std(), 5)
					any = true
				}
			}
			if any {
				grp.Columns = append(grp.Columns, gc)
			}
		}
		if len(grp.Columns) > 0 {
			out = append(out, grp)
		}
	}
	return out
}

// validUTF8 replaces invalid UTF-8 so that a profile reads back from JSON
// exactly as it was written.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseNumber parses a decimal number. Plain decimals of up to 15
// significant digits take a fast exact path (the mantissa and the power of
// ten are both exact in float64, so one division rounds correctly); others
// go to strconv. Non-finite results are not numbers.
func parseNumber(b []byte) (f float64, isInt, ok bool) {
	if len(b) == 0 {
		return 0, false, false
	}
	i, neg := 0, false
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		i++
	}
	var mant uint64
	nd, fracDigits, digits := 0, 0, 0
	dot := false
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
			if dot {
				fracDigits++
			}
			if mant == 0 && c == '0' {
				continue
			}
			nd++
			if nd > 15 {
				return parseNumberSlow(b)
			}
			mant = mant*10 + uint64(c-'0')
		case c == '.' && !dot:
			dot = true
		default:
			return parseNumberSlow(b)
		}
	}
	if digits == 0 || fracDigits >= len(pow10) {
		return parseNumberSlow(b)
	}
	f = float64(mant) / pow10[fracDigits]
	if neg {
		f = -f
	}
	return f, !dot, true
}

func parseNumberSlow(b []byte) (float64, bool, bool) {
	if len(b) == 0 {
		return 0, false, false
	}
	// strconv accepts "inf", "nan", hex floats and underscores; a table
	// column with those is better read as text.
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E') {
			return 0, false, false
		}
	}
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		return float64(n), true, true
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false, false
	}
	return f, false, true
}

// parseTimestamp reads an ISO 8601 date or date-time (YYYY-MM-DD, then
// optionally T or space, hh:mm[:ss[.frac]], then optionally Z or a
// ±hh[:mm] offset) as Unix seconds.
func parseTimestamp(b []byte) (float64, bool) {
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return 0, false
	}
	y, ok1 := digitsN(b[0:4])
	mo, ok2 := digitsN(b[5:7])
	d, ok3 := digitsN(b[8:10])
	if !ok1 || !ok2 || !ok3 || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return 0, false
	}
	sec := float64(daysFromCivil(y, mo, d)) * 86400
	rest := b[10:]
	if len(rest) == 0 {
		return sec, true
	}
	if rest[0] != 'T' && rest[0] != ' ' || len(rest) < 6 || rest[3] != ':' {
		return 0, false
	}
	hh, ok1 := digitsN(rest[1:3])
	mm, ok2 := digitsN(rest[4:6])
	if !ok1 || !ok2 || hh > 23 || mm > 59 {
		return 0, false
	}
	sec += float64(hh*3600 + mm*60)
	rest = rest[6:]
	if len(rest) >= 3 && rest[0] == ':' {
		ss, ok := digitsN(rest[1:3])
		if !ok || ss > 60 {
			return 0, false
		}
		sec += float64(ss)
		rest = rest[3:]
		if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
			j := 1
			scale := 0.1
			for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
				sec += float64(rest[j]-'0') * scale
				scale /= 10
				j++
			}
			if j == 1 {
				return 0, false
			}
			rest = rest[j:]
		}
	}
	switch {
	case len(rest) == 0:
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case rest[0] == '+' || rest[0] == '-':
		off := rest[1:]
		if len(off) == 5 && off[2] == ':' {
			off = append(off[:2:2], off[3:]...)
		}
		if len(off) != 2 && len(off) != 4 {
			return 0, false
		}
		oh, ok := digitsN(off[:2])
		om := 0
		if len(off) == 4 {
			om, ok2 = digitsN(off[2:])
			ok = ok && ok2
		}
		if !ok || oh > 23 || om > 59 {
			return 0, false
		}
		o := float64(oh*3600 + om*60)
		if rest[0] == '+' {
			o = -o
		}
		sec += o
	default:
		return 0, false
	}
	return sec, true
}

func digitsN(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// daysFromCivil is the number of days from 1970-01-01 to y-m-d in the
// proleptic Gregorian calendar (H. Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

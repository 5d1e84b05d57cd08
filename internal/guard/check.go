package guard

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Signal names.
const (
	SignalRansomware     = "ransomware"
	SignalSchema         = "schema_change"
	SignalDrift          = "drift"
	SignalRowCount       = "row_count"
	SignalNullRate       = "null_rate"
	SignalCardinality    = "cardinality"
	SignalDuplicates     = "duplicates"
	SignalHistoryRewrite = "history_rewrite"
	SignalMassChange     = "mass_change"
	SignalRelation       = "relation"
)

// Signal is one reason to distrust a write. Every signal returned has
// fired: its Score is beyond its Threshold.
type Signal struct {
	Name      string  `json:"name"`
	Score     float64 `json:"score"`
	Threshold float64 `json:"threshold"`
	Column    string  `json:"column,omitempty"`
	Reason    string  `json:"reason"`
}

// Baseline is what a new version is judged against.
type Baseline struct {
	// Previous is the profile of the previous version of the same key, or
	// nil for a new key.
	Previous *Profile
	// Siblings are profiles of recent objects under the same prefix, most
	// recent first (at most 64 are used). Objects of other formats are
	// ignored.
	Siblings []*Profile
}

// Thresholds tune the checks. A zero field means its default (see
// DefaultThresholds); a negative one turns its check off.
type Thresholds struct {
	// Entropy (bits/byte) above which unparseable content counts as
	// encrypted. Default 7.5: compressed and encrypted data measure 7.9 to
	// 8, text 4 to 5.5, columnar files 5 to 7.9.
	Entropy float64
	// DriftSigma is how far beyond the siblings' natural variation a
	// calibrated statistic must lie, as a normal-equivalent z: a
	// chi-squared statistic fires at the same tail probability, about
	// 6e-5 for the default 4. It governs drift, mean shift, label
	// statistics and the significance of null-rate, cardinality,
	// row-count and duplicate changes.
	DriftSigma float64
	// MinPSI is the least population stability index a calibrated drift
	// signal needs, however significant (default 0.01): very large
	// objects make tiny shifts significant.
	MinPSI float64
	// DriftPSI is the PSI above which a column drifted when there are too
	// few siblings to calibrate (default 0.25, the usual "major shift").
	DriftPSI float64
	// MeanShift is, without calibration, the least change of a column's
	// mean in its standard deviations (default 0.5).
	MeanShift float64
	// NullRate is the least absolute change of a column's null share
	// (default 0.1).
	NullRate float64
	// Cardinality is the least factor by which a column's distinct count
	// (or, for identifiers, distinct share) changes (default 2).
	Cardinality float64
	// RowCount is the least factor by which the record count differs from
	// the siblings' median (default 2).
	RowCount float64
	// Duplicates is the least increase of the duplicate-record share over
	// the siblings' median (default 0.05).
	Duplicates float64
	// Residual is how far, in residual standard deviations, a record's
	// numeric value must lie from what its other columns predict (by the
	// regressions the siblings' Moments give) to count as not fitting them
	// (default 2.5). The relation check compares the share of such records
	// with the siblings' shares; it needs a Model at profiling time.
	Residual float64
	// MinSiblings is how many comparable profiles calibration needs
	// (default 5); with fewer, the uncalibrated thresholds apply.
	MinSiblings int
	// HistoryAge: overwriting or deleting a version older than this is a
	// history rewrite (default 7 days).
	HistoryAge time.Duration
	// MassShare is the share of a prefix's objects that one identity may
	// overwrite or delete within MassWindow before it is a mass change
	// (default 0.2).
	MassShare float64
	// MassWindow is the sliding window of MassShare (default 1 hour).
	MassWindow time.Duration
	// MassMinObjects is the least number of objects a mass change touches
	// (default 5), so that small prefixes do not fire on every delete.
	MassMinObjects int
}

// DefaultThresholds returns the defaults documented on Thresholds.
func DefaultThresholds() Thresholds {
	return Thresholds{
		Entropy:        7.5,
		DriftSigma:     4,
		MinPSI:         0.01,
		DriftPSI:       0.25,
		MeanShift:      0.5,
		NullRate:       0.1,
		Cardinality:    2,
		RowCount:       2,
		Duplicates:     0.05,
		Residual:       DefaultResidualZ,
		MinSiblings:    5,
		HistoryAge:     7 * 24 * time.Hour,
		MassShare:      0.2,
		MassWindow:     time.Hour,
		MassMinObjects: 5,
	}
}

// withDefaults fills zero fields with the defaults.
func (t Thresholds) withDefaults() Thresholds {
	d := DefaultThresholds()
	f := func(v *float64, def float64) {
		if *v == 0 {
			*v = def
		}
	}
	f(&t.Entropy, d.Entropy)
	f(&t.DriftSigma, d.DriftSigma)
	f(&t.MinPSI, d.MinPSI)
	f(&t.DriftPSI, d.DriftPSI)
	f(&t.MeanShift, d.MeanShift)
	f(&t.NullRate, d.NullRate)
	f(&t.Cardinality, d.Cardinality)
	f(&t.RowCount, d.RowCount)
	f(&t.Duplicates, d.Duplicates)
	f(&t.Residual, d.Residual)
	f(&t.MassShare, d.MassShare)
	if t.MinSiblings == 0 {
		t.MinSiblings = d.MinSiblings
	}
	if t.HistoryAge == 0 {
		t.HistoryAge = d.HistoryAge
	}
	if t.MassWindow == 0 {
		t.MassWindow = d.MassWindow
	}
	if t.MassMinObjects == 0 {
		t.MassMinObjects = d.MassMinObjects
	}
	return t
}

// maxPool is the most reference profiles a check uses.
const maxPool = 64

// minEntropySize is the least size at which entropy says anything.
const minEntropySize = 256

// Check judges a new version's profile against its baseline and returns
// the content signals that fired: ransomware-like encryption, schema
// changes, and for tables, record-count, duplicate, null-rate,
// cardinality, distribution and label-statistics changes. With at least
// Thresholds.MinSiblings comparable profiles, every statistic is
// calibrated: it is measured for each of them against the others, and the
// new version fires only beyond that natural variation.
func Check(p *Profile, b Baseline, th Thresholds) []Signal {
	if p == nil {
		return nil
	}
	th = th.withDefaults()
	if s := checkRansomware(p, b, th); s != nil {
		return []Signal{*s} // nothing else means anything then
	}
	pool := referencePool(p, b)
	var out []Signal
	if s := checkSchema(p, b, pool); s != nil {
		out = append(out, *s)
	}
	if !p.Tabular() || !p.Parseable || len(pool) == 0 {
		return out
	}
	c := &checker{p: p, pool: pool, th: th}
	out = append(out, c.rowCount()...)
	out = append(out, c.duplicates()...)
	for i := range p.Columns {
		out = append(out, c.column(&p.Columns[i])...)
	}
	for i := range p.Groups {
		out = append(out, c.group(&p.Groups[i])...)
	}
	out = append(out, c.relations()...)
	return out
}

// referencePool returns the comparable profiles: parseable tables of the
// new profile's format.
func referencePool(p *Profile, b Baseline) []*Profile {
	var pool []*Profile
	add := func(q *Profile) {
		if q != nil && q != p && q.Format == p.Format && q.Parseable && q.Tabular() && len(pool) < maxPool {
			pool = append(pool, q)
		}
	}
	for _, s := range b.Siblings {
		add(s)
	}
	add(b.Previous)
	return pool
}

// refSummary is what the baseline looked like, for the ransomware check.
type refSummary struct {
	ok        bool
	from      string
	format    string
	parseable bool
	entropy   float64
	magic     string
}

func summarize(b Baseline) refSummary {
	if q := b.Previous; q != nil {
		return refSummary{true, "the previous version", q.Format, q.Parseable, q.Entropy, q.EncryptedMagic}
	}
	formats := map[string]int{}
	n := 0
	for _, s := range b.Siblings {
		if s != nil {
			formats[s.Format]++
			n++
		}
	}
	best, bestN := "", 0
	for f, k := range formats {
		if k > bestN || k == bestN && f < best {
			best, bestN = f, k
		}
	}
	if n == 0 || bestN*2 < n {
		return refSummary{}
	}
	var ents []float64
	parse, magic := 0, 0
	var marker string
	for _, s := range b.Siblings {
		if s == nil || s.Format != best {
			continue
		}
		ents = append(ents, s.Entropy)
		if s.Parseable {
			parse++
		}
		if s.EncryptedMagic != "" {
			magic++
			marker = s.EncryptedMagic
		}
	}
	r := refSummary{ok: true, from: fmt.Sprintf("%d siblings", bestN), format: best,
		parseable: parse*2 > bestN, entropy: median(ents)}
	if magic*2 > bestN {
		r.magic = marker
	}
	return r
}

func checkRansomware(p *Profile, b Baseline, th Thresholds) *Signal {
	if th.Entropy < 0 {
		return nil
	}
	ref := summarize(b)
	if p.EncryptedMagic != "" && !(ref.ok && ref.magic == p.EncryptedMagic) {
		return &Signal{Name: SignalRansomware, Score: 1, Threshold: 1,
			Reason: fmt.Sprintf("content starts with the encrypted-file marker %q", p.EncryptedMagic)}
	}
	opaque := !p.Parseable || p.Format == FormatBinary || p.Format == FormatUnknown || p.Format == FormatEncrypted
	if p.Compression != "" {
		// Its entropy is the compressed bytes' (always high), and it
		// decompressed into a table: a broken stream is a schema change.
		opaque = false
	}
	if !opaque || p.Entropy < th.Entropy || p.Size < minEntropySize {
		return nil
	}
	s := &Signal{Name: SignalRansomware, Score: p.Entropy, Threshold: th.Entropy}
	switch {
	case ref.ok && (ref.parseable && ref.format != FormatBinary || ref.entropy < th.Entropy-0.5):
		was := ref.format
		if !ref.parseable {
			was = "unparseable " + was
		}
		s.Reason = fmt.Sprintf("%s was %s at %.2f bits/byte; this is %s at %.2f", ref.from, was, ref.entropy, describe(p), p.Entropy)
	case !ref.ok && p.Claimed != "":
		s.Reason = fmt.Sprintf("named as %s but the content is %s at %.2f bits/byte", p.Claimed, describe(p), p.Entropy)
	default:
		return nil
	}
	return s
}

func describe(p *Profile) string {
	if p.Format == FormatBinary || p.Parseable {
		return p.Format + " data"
	}
	return "unparseable " + p.Format
}

// typeClass groups column types that can change into each other without a
// schema change: int and float are both numbers.
func typeClass(t string) string {
	switch t {
	case TypeInt, TypeFloat:
		return "number"
	case TypeNull:
		return ""
	}
	return t
}

// refColumn is a column as the reference profiles have it.
type refColumn struct {
	name     string
	presence float64 // share of reference profiles with it
	pos      float64 // median position
	class    string  // most common type class
	agree    float64 // share of the typed occurrences with that class
}

func checkSchema(p *Profile, b Baseline, pool []*Profile) *Signal {
	refs := pool
	from := fmt.Sprintf("%d siblings", len(pool))
	if q := b.Previous; q != nil && q.Tabular() && q.Parseable {
		refs, from = []*Profile{q}, "the previous version"
	}
	if q := b.Previous; q != nil && q.Tabular() && q.Parseable && !p.Tabular() {
		return &Signal{Name: SignalSchema, Score: 1, Threshold: 1,
			Reason: fmt.Sprintf("the previous version was a %s table; this is %s", q.Format, describe(p))}
	}
	if len(refs) == 0 || !p.Tabular() {
		return nil
	}
	if !p.Parseable {
		return &Signal{Name: SignalSchema, Score: 1, Threshold: 1,
			Reason: fmt.Sprintf("no longer parses as %s (%s was parseable): %s", p.Format, from, p.ParseError)}
	}
	cols := referenceColumns(refs)
	byName := make(map[string]*refColumn, len(cols))
	for i := range cols {
		byName[cols[i].name] = &cols[i]
	}
	type change struct {
		col, what string
		pos       int
	}
	var dropped, added, changes []change
	have := make(map[string]int, len(p.Columns))
	for i, c := range p.Columns {
		have[c.Name] = i
		r := byName[c.Name]
		if r == nil {
			added = append(added, change{c.Name, "added", i})
			continue
		}
		if nc := typeClass(c.Type); nc != "" && r.class != "" && r.agree >= 0.9 && nc != r.class {
			changes = append(changes, change{c.Name, fmt.Sprintf("%q retyped %s -> %s", c.Name, r.class, nc), i})
		}
	}
	for _, r := range cols {
		if _, ok := have[r.name]; ok || r.presence < 0.9 {
			continue
		}
		if p.ColumnsTotal > len(p.Columns) && int(r.pos) >= len(p.Columns) {
			continue // beyond the profiled columns: the schema hash covers it
		}
		dropped = append(dropped, change{r.name, "dropped", int(math.Round(r.pos))})
	}
	for _, d := range dropped {
		if j := slices.IndexFunc(added, func(a change) bool { return a.pos == d.pos }); j >= 0 {
			changes = append(changes, change{d.col, fmt.Sprintf("%q renamed to %q", d.col, added[j].col), d.pos})
			added = slices.Delete(added, j, j+1)
			continue
		}
		changes = append(changes, change{d.col, fmt.Sprintf("%q dropped", d.col), d.pos})
	}
	for _, a := range added {
		changes = append(changes, change{a.col, fmt.Sprintf("%q added", a.col), a.pos})
	}
	if p.Schema != "" {
		same := 0
		for _, q := range refs {
			if q.Schema == p.Schema {
				same++
			}
		}
		if same*2 < len(refs) {
			changes = append(changes, change{"", fmt.Sprintf("columns beyond the first %d changed", len(p.Columns)), len(p.Columns)})
		}
	}
	if len(changes) == 0 {
		return nil
	}
	slices.SortStableFunc(changes, func(a, b change) int { return a.pos - b.pos })
	var parts []string
	for i, c := range changes {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(changes)-5))
			break
		}
		parts = append(parts, c.what)
	}
	return &Signal{Name: SignalSchema, Score: float64(len(changes)), Threshold: 1, Column: changes[0].col,
		Reason: fmt.Sprintf("%s vs %s", strings.Join(parts, ", "), from)}
}

// referenceColumns returns the columns of the reference profiles in
// their usual order.
func referenceColumns(refs []*Profile) []refColumn {
	type acc struct {
		n       int
		pos     []float64
		classes map[string]int
	}
	accs := map[string]*acc{}
	var order []string
	for _, q := range refs {
		for i, c := range q.Columns {
			a := accs[c.Name]
			if a == nil {
				a = &acc{classes: map[string]int{}}
				accs[c.Name] = a
				order = append(order, c.Name)
			}
			a.n++
			a.pos = append(a.pos, float64(i))
			if cl := typeClass(c.Type); cl != "" {
				a.classes[cl]++
			}
		}
	}
	out := make([]refColumn, 0, len(order))
	for _, name := range order {
		a := accs[name]
		r := refColumn{name: name, presence: float64(a.n) / float64(len(refs)), pos: median(a.pos)}
		total, best := 0, 0
		for cl, k := range a.classes {
			total += k
			if k > best || k == best && cl < r.class {
				r.class, best = cl, k
			}
		}
		if total > 0 {
			r.agree = float64(best) / float64(total)
		}
		out = append(out, r)
	}
	slices.SortStableFunc(out, func(a, b refColumn) int {
		switch {
		case a.pos < b.pos:
			return -1
		case a.pos > b.pos:
			return 1
		}
		return 0
	})
	return out
}

// checker holds what the table checks share.
type checker struct {
	p    *Profile
	pool []*Profile
	th   Thresholds
}

func (c *checker) calibrated(n int) bool { return n >= c.th.MinSiblings }

func (c *checker) rowCount() []Signal {
	th := c.th
	if th.RowCount < 0 {
		return nil
	}
	var lr []float64
	for _, q := range c.pool {
		if q.Rows > 0 && !q.Truncated { // a truncated profile's Rows is a lower bound
			lr = append(lr, math.Log(float64(q.Rows)))
		}
	}
	if len(lr) == 0 {
		return nil
	}
	m := median(lr)
	ref := math.Exp(m)
	ratio := float64(c.p.Rows) / ref
	if ratio < th.RowCount && (ratio > 1/th.RowCount || c.p.Truncated) {
		return nil
	}
	if c.calibrated(len(lr)) {
		s := math.Max(mad(lr, m), 0.01)
		if math.Abs(math.Log(math.Max(float64(c.p.Rows), 1))-m) < th.DriftSigma*s {
			return nil
		}
	}
	bar := th.RowCount
	if ratio < 1 {
		bar = 1 / th.RowCount
	}
	return []Signal{{Name: SignalRowCount, Score: round(ratio, 4), Threshold: round(bar, 4),
		Reason: fmt.Sprintf("%d records vs a median of %.0f in %d siblings", c.p.Rows, ref, len(lr))}}
}

func (c *checker) duplicates() []Signal {
	th := c.th
	if th.Duplicates < 0 || c.p.ProfiledRows == 0 {
		return nil
	}
	var ds []float64
	for _, q := range c.pool {
		if q.ProfiledRows > 0 {
			ds = append(ds, q.DuplicateShare())
		}
	}
	if len(ds) == 0 {
		return nil
	}
	m := median(ds)
	margin := th.Duplicates
	if c.calibrated(len(ds)) {
		margin = math.Max(margin, th.DriftSigma*mad(ds, m))
	}
	d := c.p.DuplicateShare()
	if d <= m+margin {
		return nil
	}
	return []Signal{{Name: SignalDuplicates, Score: round(d, 4), Threshold: round(m+margin, 4),
		Reason: fmt.Sprintf("%.1f%% of records repeat another vs %.1f%% in %d siblings", 100*d, 100*m, len(ds))}}
}

// column runs the per-column checks against the reference columns of the
// same name and type class.
func (c *checker) column(col *Column) []Signal {
	var refs []*Column
	for _, q := range c.pool {
		if rc := q.Column(col.Name); rc != nil && typeClass(rc.Type) == typeClass(col.Type) {
			refs = append(refs, rc)
		} else if rc != nil && col.Type == TypeNull {
			refs = append(refs, rc)
		}
	}
	if len(refs) == 0 {
		return nil
	}
	var out []Signal
	out = append(out, c.nullRate(col, refs)...)
	if col.Type == TypeNull {
		return out
	}
	out = append(out, c.cardinality(col, refs)...)
	if c.th.DriftSigma < 0 {
		return out
	}
	if categorical(col, refs) {
		out = append(out, c.categoricalDrift(col, refs)...)
	} else if len(col.Quantiles) > 0 && (col.Numeric() || col.Type == TypeTimestamp) {
		out = append(out, c.numericDrift(col, refs)...)
	}
	return out
}

func (c *checker) nullRate(col *Column, refs []*Column) []Signal {
	th := c.th
	if th.NullRate < 0 || col.Count == 0 {
		return nil
	}
	var n, k float64
	for _, r := range refs {
		n += float64(r.Count)
		k += float64(r.Nulls)
	}
	if n == 0 {
		return nil
	}
	q, ref := col.NullRate(), k/n
	if math.Abs(q-ref) < th.NullRate {
		return nil
	}
	z := func(k1, n1, k2, n2 float64) float64 {
		pb := (k1 + k2) / (n1 + n2)
		se := math.Sqrt(pb * (1 - pb) * (1/n1 + 1/n2))
		if se == 0 {
			return 0
		}
		return (k1/n1 - k2/n2) / se
	}
	zn := z(float64(col.Nulls), float64(col.Count), k, n)
	phi := 1.0
	if c.calibrated(len(refs)) {
		var zs []float64
		for _, r := range refs {
			if r.Count > 0 && n > float64(r.Count) {
				v := z(float64(r.Nulls), float64(r.Count), k-float64(r.Nulls), n-float64(r.Count))
				zs = append(zs, v*v)
			}
		}
		phi = noiseScale(zs, 1)
	}
	if math.Abs(zn)/math.Sqrt(phi) < th.DriftSigma {
		return nil
	}
	return []Signal{{Name: SignalNullRate, Score: round(q, 4), Threshold: round(ref+math.Copysign(th.NullRate, q-ref), 4), Column: col.Name,
		Reason: fmt.Sprintf("column %q: %.1f%% nulls vs %.1f%% in %d siblings", col.Name, 100*q, 100*ref, len(refs))}}
}

func (c *checker) cardinality(col *Column, refs []*Column) []Signal {
	th := c.th
	if th.Cardinality < 0 || col.Distinct <= 0 {
		return nil
	}
	var ds []float64
	for _, r := range refs {
		ds = append(ds, r.Distinct)
	}
	if median(ds) <= maxCategories {
		return nil // a few values: their shares are compared instead
	}
	nonNull := func(x *Column) float64 { return float64(x.Count - x.Nulls) }
	var uniq []float64
	for _, r := range refs {
		if nn := nonNull(r); nn > 0 && r.Distinct > 0 {
			uniq = append(uniq, r.Distinct/nn)
		}
	}
	if len(uniq) == 0 || nonNull(col) <= 0 {
		return nil
	}
	// Identifier-like columns have as many distinct values as rows: their
	// distinct share is what should stay put.
	idLike := median(uniq) > 0.5
	metric := func(x *Column) float64 {
		if idLike {
			return x.Distinct / nonNull(x)
		}
		return x.Distinct
	}
	var ls []float64
	for _, r := range refs {
		if nonNull(r) > 0 && r.Distinct > 0 {
			ls = append(ls, math.Log(metric(r)))
		}
	}
	m := median(ls)
	ratio := metric(col) / math.Exp(m)
	if ratio < th.Cardinality && ratio > 1/th.Cardinality {
		return nil
	}
	if c.calibrated(len(ls)) {
		s := math.Max(mad(ls, m), 0.05)
		if math.Abs(math.Log(metric(col))-m) < th.DriftSigma*s {
			return nil
		}
	}
	what := "distinct values"
	if idLike {
		what = "distinct share"
	}
	return []Signal{{Name: SignalCardinality, Score: round(ratio, 4), Threshold: th.Cardinality, Column: col.Name,
		Reason: fmt.Sprintf("column %q: %s %.3g vs %.3g in %d siblings", col.Name, what, metric(col), math.Exp(m), len(ls))}}
}

// complete reports whether the column's top values hold all its values.
func complete(c *Column) bool {
	if len(c.Top) == 0 {
		return false
	}
	var s int64
	for _, t := range c.Top {
		s += t.Count
	}
	return s == c.Count-c.Nulls
}

// categorical reports whether a column compares by its values: text and
// booleans, and numbers with few distinct values.
func categorical(col *Column, refs []*Column) bool {
	if len(col.Top) == 0 {
		return false
	}
	if col.Type == TypeString || col.Type == TypeBool {
		return true
	}
	if !col.Numeric() || !complete(col) {
		return false
	}
	k := 0
	for _, r := range refs {
		if complete(r) {
			k++
		}
	}
	return k*10 >= len(refs)*9
}

// psiTest compares the new bin masses with the reference profiles' pooled
// masses. Calibrated, the noise scale phi is the median over the
// references of PSI times effective sample size against the others,
// relative to the chi-squared median; the new PSI fires above phi times
// the chi-squared critical value over its effective size (and MinPSI).
// Uncalibrated, it must also exceed DriftPSI.
func (c *checker) psiTest(newM []float64, newN float64, refM [][]float64, refN []float64) (value, threshold float64, fired bool) {
	bins := len(newM)
	df := float64(bins - 1)
	if df < 1 || newN <= 0 {
		return 0, 0, false
	}
	sum := make([]float64, bins)
	var total float64
	for i, m := range refM {
		for j := range bins {
			sum[j] += refN[i] * m[j]
		}
		total += refN[i]
	}
	if total <= 0 {
		return 0, 0, false
	}
	ref := make([]float64, bins)
	for j := range bins {
		ref[j] = sum[j] / total
	}
	value = psi(newM, ref, newN, total)
	phi := 1.0
	calibrated := c.calibrated(len(refM))
	if calibrated {
		loo := make([]float64, bins)
		var xs []float64
		for i, m := range refM {
			rest := total - refN[i]
			if rest <= 0 || refN[i] <= 0 {
				continue
			}
			for j := range bins {
				loo[j] = (sum[j] - refN[i]*m[j]) / rest
			}
			xs = append(xs, psi(m, loo, refN[i], rest)*refN[i]*rest/total)
		}
		phi = noiseScale(xs, df)
	}
	neff := newN * total / (newN + total)
	threshold = phi * criticalFor(df, c.th.DriftSigma) / neff
	if calibrated {
		threshold = math.Max(threshold, c.th.MinPSI)
	} else {
		threshold = math.Max(threshold, c.th.DriftPSI)
	}
	return value, threshold, value > threshold
}

func (c *checker) categoricalDrift(col *Column, refs []*Column) []Signal {
	pooled := map[string]float64{}
	for _, r := range refs {
		for _, t := range r.Top {
			pooled[t.Value] += float64(t.Count)
		}
	}
	cats := make([]string, 0, len(pooled))
	for v := range pooled {
		cats = append(cats, v)
	}
	slices.SortFunc(cats, func(a, b string) int {
		switch {
		case pooled[a] > pooled[b]:
			return -1
		case pooled[a] < pooled[b]:
			return 1
		}
		return strings.Compare(a, b)
	})
	if len(cats) > maxCategories {
		cats = cats[:maxCategories]
	}
	if len(cats) == 0 {
		return nil
	}
	allComplete := complete(col)
	for _, r := range refs {
		allComplete = allComplete && complete(r)
	}
	masses := func(x *Column) []float64 {
		nn := float64(x.Count - x.Nulls)
		if nn <= 0 || len(x.Top) == 0 {
			return nil
		}
		idx := make(map[string]float64, len(x.Top))
		least := math.Inf(1)
		for _, t := range x.Top {
			idx[t.Value] = float64(t.Count)
			least = math.Min(least, float64(t.Count))
		}
		full := complete(x)
		m := make([]float64, len(cats)+1)
		var s float64
		for j, v := range cats {
			if k, ok := idx[v]; ok {
				m[j] = k / nn
			} else if !full {
				m[j] = least / 2 / nn // below the least listed count
			}
			s += m[j]
		}
		if s > 1 {
			for j := range cats {
				m[j] /= s
			}
			s = 1
		}
		m[len(cats)] = 1 - s
		if allComplete && len(pooled) <= len(cats) {
			m = m[:len(cats)] // nothing else ever occurs: no "other" bin
		}
		return m
	}
	newM := masses(col)
	if newM == nil {
		return nil
	}
	var refM [][]float64
	var refN []float64
	for _, r := range refs {
		if m := masses(r); m != nil {
			refM = append(refM, m)
			refN = append(refN, float64(r.Count-r.Nulls))
		}
	}
	v, th, fired := c.psiTest(newM, float64(col.Count-col.Nulls), refM, refN)
	if !fired {
		return nil
	}
	// the value whose share moved most
	j, most := 0, 0.0
	var refShare float64
	for k := range cats {
		var s, n float64
		for i, m := range refM {
			s += m[k] * refN[i]
			n += refN[i]
		}
		if d := math.Abs(newM[k] - s/n); d > most {
			j, most, refShare = k, d, s/n
		}
	}
	return []Signal{{Name: SignalDrift, Score: round(v, 4), Threshold: round(th, 4), Column: col.Name,
		Reason: fmt.Sprintf("column %q: PSI %.3f > %.3f vs %d siblings; %q is %.1f%% of values vs %.1f%%",
			col.Name, v, th, len(refM), cats[j], 100*newM[j], 100*refShare)}}
}

// maxCategories is the most values a categorical drift test compares
// (plus one bin for all others).
const maxCategories = 20

func (c *checker) numericDrift(col *Column, refs []*Column) []Signal {
	L := len(col.Quantiles)
	var qs [][]float64
	var rs []*Column
	for _, r := range refs {
		if len(r.Quantiles) == L {
			qs = append(qs, r.Quantiles)
			rs = append(rs, r)
		}
	}
	if len(qs) == 0 || L < 3 {
		return nil
	}
	refQ := make([]float64, L)
	col0 := make([]float64, len(qs))
	for j := range L {
		for i, q := range qs {
			col0[i] = q[j]
		}
		refQ[j] = median(col0)
	}
	calibrated := c.calibrated(len(qs))
	if col.Type == TypeTimestamp && !calibrated {
		return nil // time moves on: without siblings there is no telling
	}
	if calibrated && advancing(qs, refQ) {
		return nil
	}
	var out []Signal
	if newM, refM, ok := histMasses(col, rs); ok {
		var refN []float64
		for _, r := range rs {
			refN = append(refN, float64(r.Count-r.Nulls))
		}
		if v, th, fired := c.psiTest(newM, float64(col.Count-col.Nulls), refM, refN); fired {
			out = append(out, Signal{Name: SignalDrift, Score: round(v, 4), Threshold: round(th, 4), Column: col.Name,
				Reason: fmt.Sprintf("column %q: PSI %.3f > %.3f vs %d siblings; median %.4g vs %.4g",
					col.Name, v, th, len(rs), col.Quantiles[L/2], refQ[L/2])})
		}
	}
	if col.Numeric() {
		out = append(out, c.meanShift(col, rs)...)
	}
	return out
}

// maxCompareBins bounds the bins of a numeric drift test.
const maxCompareBins = 24

// histMasses puts the new column's and the references' histograms on one
// grid: the coarsest width among them (the grids nest, so coarsening is
// exact) over the range that all of them cover, with a tail bin each side;
// every mass is then exact. When the new column hardly overlaps the
// references, the range is the one they cover, and the new column counts
// nothing beyond its own range.
func histMasses(col *Column, refs []*Column) (newM []float64, refM [][]float64, ok bool) {
	w := 0.0
	lo, hi := math.Inf(-1), math.Inf(1)
	for _, c := range refs {
		if len(c.Hist) < 3 || !(c.HistWidth > 0) {
			return nil, nil, false
		}
		w = math.Max(w, c.HistWidth)
		lo = math.Max(lo, c.HistStart)
		hi = math.Min(hi, c.HistStart+float64(len(c.Hist)-2)*c.HistWidth)
	}
	if len(col.Hist) < 3 || !(col.HistWidth > 0) {
		return nil, nil, false
	}
	w = math.Max(w, col.HistWidth)
	nlo := math.Max(lo, col.HistStart)
	nhi := math.Min(hi, col.HistStart+float64(len(col.Hist)-2)*col.HistWidth)
	if (nhi-nlo)/w >= 4 {
		lo, hi = nlo, nhi
	}
	align := func() (float64, float64) { return math.Ceil(lo/w) * w, math.Floor(hi/w) * w }
	l, u := align()
	for u > l && (u-l)/w > maxCompareBins {
		w *= 2
		l, u = align()
	}
	if !(u > l) {
		return nil, nil, false
	}
	n := int(math.Round((u - l) / w))
	masses := func(c *Column) []float64 {
		m := make([]float64, n+2)
		prev := histCDF(c, l)
		m[0] = prev
		for i := 1; i <= n; i++ {
			f := histCDF(c, l+float64(i)*w)
			m[i] = math.Max(0, f-prev)
			prev = math.Max(prev, f)
		}
		m[n+1] = math.Max(0, 1-prev)
		return m
	}
	newM = masses(col)
	for _, r := range refs {
		refM = append(refM, masses(r))
	}
	return newM, refM, true
}

// histCDF is the share of the column's values below x, for x on the
// column's histogram grid (or beyond its ends).
func histCDF(c *Column, x float64) float64 {
	var total float64
	for _, h := range c.Hist {
		total += h
	}
	if total <= 0 {
		return 0
	}
	k := (x - c.HistStart) / c.HistWidth
	n := float64(len(c.Hist) - 2)
	switch {
	case k < -1e-9:
		return 0
	case k > n+1e-9:
		return 1
	}
	j := int(math.Round(k))
	var f float64
	for _, h := range c.Hist[:j+1] {
		f += h
	}
	return math.Min(1, f/total)
}

// advancing reports whether the siblings' values move from one object to
// the next (timestamps, sequence numbers, dates of a daily partition):
// most siblings' medians then lie outside the middle 80% of the typical
// distribution, and comparing distributions says nothing.
func advancing(qs [][]float64, refQ []float64) bool {
	L := len(refQ)
	lo, hi := refQ[int(math.Round(float64(L-1)*0.1))], refQ[int(math.Round(float64(L-1)*0.9))]
	in := 0
	for _, q := range qs {
		if m := q[L/2]; m >= lo && m <= hi {
			in++
		}
	}
	return in*2 < len(qs)
}

// meanShift compares the column's mean with the reference profiles'
// pooled mean, in standard errors.
func (c *checker) meanShift(col *Column, refs []*Column) []Signal {
	th := c.th
	type mom struct{ n, s1, s2 float64 } // count, sum, sum of squares
	of := func(x *Column) mom {
		n := float64(x.Count - x.Nulls)
		return mom{n, n * x.Mean, (n-1)*x.Std*x.Std + n*x.Mean*x.Mean}
	}
	var tot mom
	var ms []mom
	for _, r := range refs {
		if m := of(r); m.n > 1 {
			ms = append(ms, m)
			tot.n += m.n
			tot.s1 += m.s1
			tot.s2 += m.s2
		}
	}
	z := func(x, ref mom) (float64, float64, float64) {
		if ref.n < 2 || x.n < 1 {
			return 0, 0, 0
		}
		mean := ref.s1 / ref.n
		v := math.Max(0, (ref.s2-ref.n*mean*mean)/(ref.n-1))
		se := math.Sqrt(v * (1/x.n + 1/ref.n))
		if se == 0 {
			return 0, mean, 0
		}
		return (x.s1/x.n - mean) / se, mean, math.Sqrt(v)
	}
	zn, refMean, refStd := z(of(col), tot)
	if zn == 0 {
		return nil
	}
	phi := 1.0
	if c.calibrated(len(ms)) {
		var zs []float64
		for _, m := range ms {
			rest := mom{tot.n - m.n, tot.s1 - m.s1, tot.s2 - m.s2}
			v, _, _ := z(m, rest)
			zs = append(zs, v*v)
		}
		phi = noiseScale(zs, 1)
	} else if math.Abs(col.Mean-refMean) < th.MeanShift*refStd {
		return nil
	}
	score := math.Abs(zn) / math.Sqrt(phi)
	if score < th.DriftSigma {
		return nil
	}
	return []Signal{{Name: SignalDrift, Score: round(score, 4), Threshold: th.DriftSigma, Column: col.Name,
		Reason: fmt.Sprintf("column %q: mean %.4g is %.1f standard errors from %.4g in %d siblings",
			col.Name, col.Mean, score, refMean, len(ms))}}
}

// group compares the numeric columns' statistics within each value of a
// label column with the reference profiles': flipped labels move records
// (and their feature values) from one value to another, which shows in
// the means and standard deviations there even when the label's overall
// shares do not change. The squared z-scores of all cells add up to a
// chi-squared statistic for the means and one for the standard
// deviations, each calibrated on the references.
func (c *checker) group(g *Group) []Signal {
	th := c.th
	if th.DriftSigma < 0 {
		return nil
	}
	var refs []*Group
	for _, q := range c.pool {
		for i := range q.Groups {
			if q.Groups[i].By == g.By {
				refs = append(refs, &q.Groups[i])
				break
			}
		}
	}
	if !c.calibrated(len(refs)) {
		return nil
	}
	type cell struct{ n, s1, s2 float64 }
	cellsOf := func(x *Group) map[[2]string]cell {
		m := make(map[[2]string]cell)
		for _, gc := range x.Columns {
			for v := range x.Values {
				if v >= len(gc.Mean) || v >= len(gc.Std) || v >= len(x.Counts) {
					continue
				}
				n := float64(x.Counts[v])
				mu, sd := gc.Mean[v], gc.Std[v]
				m[[2]string{x.Values[v], gc.Name}] = cell{n, n * mu, (n-1)*sd*sd + n*mu*mu}
			}
		}
		return m
	}
	total := map[[2]string]cell{}
	var refCells []map[[2]string]cell
	for _, r := range refs {
		cs := cellsOf(r)
		refCells = append(refCells, cs)
		for k, v := range cs {
			t := total[k]
			total[k] = cell{t.n + v.n, t.s1 + v.s1, t.s2 + v.s2}
		}
	}
	// floor for standard deviations: a twentieth of the column's spread
	floor := func(name string) float64 {
		if col := c.p.Column(name); col != nil && col.Std > 0 {
			return col.Std / 20
		}
		return 1e-9
	}
	type worst struct {
		key           [2]string
		z             float64
		mean, refMean float64
		std, refStd   float64
		byMean        bool
	}
	stat := func(x map[[2]string]cell, minus map[[2]string]cell) (tm, ts, df float64, w worst) {
		for k, a := range x {
			t := total[k]
			if b, ok := minus[k]; ok {
				t = cell{t.n - b.n, t.s1 - b.s1, t.s2 - b.s2}
			}
			if a.n < 5 || t.n < 20 {
				continue
			}
			fl := floor(k[1])
			mu, rmu := a.s1/a.n, t.s1/t.n
			sd := math.Sqrt(math.Max(0, (a.s2-a.n*mu*mu)/(a.n-1)))
			rsd := math.Sqrt(math.Max(0, (t.s2-t.n*rmu*rmu)/(t.n-1)))
			sd, rsd = math.Max(sd, fl), math.Max(rsd, fl)
			zm := capZ((mu-rmu)/(rsd*math.Sqrt(1/a.n+1/t.n)), maxMeanZ)
			zs := capZ((math.Log(sd)-math.Log(rsd))/math.Sqrt(1/(2*(a.n-1))+1/(2*(t.n-1))), maxStdZ)
			tm += zm * zm
			ts += zs * zs
			df++
			if math.Abs(zm) > math.Abs(w.z) {
				w = worst{k, zm, mu, rmu, sd, rsd, true}
			}
			if math.Abs(zs) > math.Abs(w.z) {
				w = worst{k, zs, mu, rmu, sd, rsd, false}
			}
		}
		return tm, ts, df, w
	}
	tm, ts, df, w := stat(cellsOf(g), nil)
	if df == 0 {
		return nil
	}
	// The references' statistics, each scaled to the cell count of the
	// new profile, calibrate the noise.
	var rm, rsd []float64
	for _, cs := range refCells {
		a, b, d, _ := stat(cs, cs)
		if d > 0 {
			rm = append(rm, a*df/d)
			rsd = append(rsd, b*df/d)
		}
	}
	if !c.calibrated(len(rm)) {
		return nil
	}
	phiM, phiS := noiseScale(rm, df), noiseScale(rsd, df)
	crit := criticalFor(df, th.DriftSigma)
	sm, ss := tm/phiM, ts/phiS
	if sm <= crit && ss <= crit {
		return nil
	}
	score := math.Max(sm, ss)
	detail := fmt.Sprintf("mean %.4g vs %.4g", w.mean, w.refMean)
	if !w.byMean {
		detail = fmt.Sprintf("std %.4g vs %.4g", w.std, w.refStd)
	}
	return []Signal{{Name: SignalDrift, Score: round(score, 4), Threshold: round(crit, 4), Column: g.By,
		Reason: fmt.Sprintf("column %q: numeric columns within its values moved (chi-squared %.1f > %.1f over %.0f cells, %d siblings); most: %q where %q is %q, %s",
			g.By, score, crit, df, len(rm), w.key[1], g.By, w.key[0], detail)}}
}

// maxStdZ and maxMeanZ cap one cell's z-scores in the label statistics,
// so that one outlier record (which moves a standard deviation a lot, a
// mean less) cannot fire the test alone; flipped labels move many cells.
const (
	maxStdZ  = 3
	maxMeanZ = 10
)

func capZ(z, limit float64) float64 { return math.Max(-limit, math.Min(limit, z)) }

// noiseScale estimates how much noisier than pure sampling a statistic
// that is chi-squared with df degrees of freedom under sampling is, from
// its values on the reference profiles: the larger of the ratios of their
// median and of their 90th percentile to the chi-squared's, and at least
// 1. The 90th percentile guards against heavy tails (discrete values,
// outliers) that the median does not see.
func noiseScale(xs []float64, df float64) float64 {
	if len(xs) == 0 {
		return 1
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	q90 := s[int(math.Ceil(0.9*float64(len(s))))-1]
	return math.Max(1, math.Max(median(s)/chi2Median(df), q90/chi2Quantile(df, 0.1)))
}

// Verdict sums signals up: flagged when any fired, and a one-line summary.
func Verdict(signals []Signal) (flagged bool, summary string) {
	if len(signals) == 0 {
		return false, ""
	}
	parts := make([]string, 0, len(signals))
	for _, s := range signals {
		name := s.Name
		if s.Column != "" {
			name += "[" + s.Column + "]"
		}
		parts = append(parts, name+": "+s.Reason)
	}
	summary = strings.Join(parts, "; ")
	if len(summary) > 1000 {
		summary = strings.ToValidUTF8(summary[:997], "") + "..."
	}
	return true, summary
}

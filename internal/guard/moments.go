package guard

import (
	"math"
	"slices"
)

// Limits of the moments a table profile keeps (Profile.Moments).
const (
	maxMomentNumeric   = 16 // numeric columns
	maxMomentCats      = 4  // categorical columns given indicator features
	maxIndicatorValues = 12 // values of one categorical column
	maxFeatures        = 28 // numeric columns plus indicators
	momentWarmup       = 64 // profiled records that pick the features
	minMomentRecords   = 10 // fewer complete records give no moments
)

// Moments are the means and covariances of a table's numeric columns and
// of indicators of its categorical columns' values (1 where the record
// has the value, else 0), over the profiled records that have a number in
// every one of those numeric columns. They are what a linear regression
// of each numeric column on the others needs, and they pool exactly over
// profiles: Check fits one on the siblings to see records that no longer
// fit the relationships between columns. The features are the numeric
// columns in order, then each indicator column's values in order.
type Moments struct {
	// N is the number of records the moments are over.
	N          int64       `json:"n"`
	Numeric    []string    `json:"numeric"`
	Indicators []Indicator `json:"indicators,omitempty"`
	Mean       []float64   `json:"mean"`
	// Cov is the upper triangle of the covariance matrix (divided by N),
	// row by row: (0,0), (0,1), ..., (0,F-1), (1,1), ...
	Cov []float64 `json:"cov"`
}

// Indicator names a categorical column and the values that have an
// indicator feature.
type Indicator struct {
	Column string   `json:"c"`
	Values []string `json:"v"`
}

// features is the number of features.
func (m *Moments) features() int {
	n := len(m.Numeric)
	for _, ind := range m.Indicators {
		n += len(ind.Values)
	}
	return n
}

// valid reports whether the moments' lists have consistent lengths.
func (m *Moments) valid() bool {
	f := m.features()
	return m.N > 0 && f > 0 && len(m.Mean) == f && len(m.Cov) == f*(f+1)/2
}

// cov returns the covariance of features i and j.
func (m *Moments) cov(i, j int) float64 {
	if i > j {
		i, j = j, i
	}
	f := len(m.Mean)
	return m.Cov[i*f-i*(i-1)/2+j-i]
}

// catFeature is a categorical column whose values are indicator features.
type catFeature struct {
	col    int
	values []string // in the order seen
	feats  []int    // the feature of each value
	dead   bool     // too many values: dropped at the end
}

// momAcc accumulates Moments in one pass. The first momentWarmup
// profiled records are held (their values only) to pick the features:
// numeric columns with a number in at least 80% of them, categorical
// columns with at most maxIndicatorValues values among them (one is
// enough: a file sorted by the column shows the others later). Indicator
// features for values first seen later are added then; their sums so far
// are zero, which is exact.
type momAcc struct {
	warm    []warmRow
	decided bool
	num     []int // column indices of the numeric features
	cats    []*catFeature
	nf      int // features so far
	n       int64
	shift   []float64 // the first complete record's numbers: sums are taken around it
	s1      []float64 // [maxFeatures]
	s2      []float64 // [maxFeatures*maxFeatures], upper triangle
	x       []float64
	active  []int
}

// warmRow is one held record: per column a number, a category or nothing.
type warmRow struct {
	num []float64
	ok  []bool
	cat []string
	has []bool
}

func newMomAcc() *momAcc {
	return &momAcc{s1: make([]float64, maxFeatures), s2: make([]float64, maxFeatures*maxFeatures)}
}

// row takes the current record's values from the columns' scratch.
func (m *momAcc) row(cols []*colAcc) {
	if m.decided {
		m.add(cols)
		return
	}
	w := warmRow{num: make([]float64, len(cols)), ok: make([]bool, len(cols)),
		cat: make([]string, len(cols)), has: make([]bool, len(cols))}
	for i, c := range cols {
		w.num[i], w.ok[i] = c.rowNum, c.rowNumOK
		if c.rowCat != nil {
			w.cat[i], w.has[i] = string(c.rowCat), true
		}
	}
	m.warm = append(m.warm, w)
	if len(m.warm) >= momentWarmup {
		m.decide(cols)
	}
}

// decide picks the features from the held records and adds them.
func (m *momAcc) decide(cols []*colAcc) {
	m.decided = true
	warm := m.warm
	m.warm = nil
	if len(warm) == 0 {
		return
	}
	for i, c := range cols {
		if c.nTime > 0 || c.nOther > 0 || c.nBool > 0 || len(m.num) >= maxMomentNumeric {
			continue
		}
		k := 0
		for _, w := range warm {
			if i < len(w.ok) && w.ok[i] {
				k++
			}
		}
		if k > 0 && k*5 >= len(warm)*4 {
			m.num = append(m.num, i)
		}
	}
	m.nf = len(m.num)
	m.shift = make([]float64, len(m.num))
	m.x = make([]float64, len(m.num))
	for i, c := range cols {
		if len(m.cats) >= maxMomentCats {
			break
		}
		if c.num.n > 0 || slices.Contains(m.num, i) {
			continue
		}
		seen := map[string]bool{}
		for _, w := range warm {
			if i < len(w.has) && w.has[i] {
				seen[w.cat[i]] = true
			}
		}
		// one value will do: a sorted file may show the others later
		if len(seen) >= 1 && len(seen) <= maxIndicatorValues {
			m.cats = append(m.cats, &catFeature{col: i})
		}
	}
	if len(m.num) == 0 {
		return
	}
	// replay the held records through the columns' scratch
	for _, w := range warm {
		for i, c := range cols {
			c.rowNumOK, c.rowCat = false, nil
			if i < len(w.ok) {
				c.rowNum, c.rowNumOK = w.num[i], w.ok[i]
				if w.has[i] {
					c.rowCat = []byte(w.cat[i])
				}
			}
		}
		m.add(cols)
	}
}

// add adds one record when it has a number in every numeric feature.
func (m *momAcc) add(cols []*colAcc) {
	if len(m.num) == 0 {
		return
	}
	x := m.x
	for k, i := range m.num {
		c := cols[i]
		if !c.rowNumOK {
			return
		}
		x[k] = c.rowNum
	}
	if m.n == 0 {
		copy(m.shift, x)
	}
	for k := range x {
		x[k] -= m.shift[k]
	}
	act := m.active[:0]
	for _, cf := range m.cats {
		if cf.dead {
			continue
		}
		v := cols[cf.col].rowCat
		if v == nil {
			continue
		}
		f, ok := -1, false
		for k, val := range cf.values { // a dozen at most: faster than a map
			if val == string(v) {
				f, ok = cf.feats[k], true
				break
			}
		}
		if !ok {
			if len(cf.values) >= maxIndicatorValues || m.nf >= maxFeatures {
				cf.dead = true
				continue
			}
			f = m.nf
			m.nf++
			cf.values = append(cf.values, string(v))
			cf.feats = append(cf.feats, f)
		}
		act = append(act, f)
	}
	m.active = act
	m.n++
	const F = maxFeatures
	for k, xk := range x {
		m.s1[k] += xk
		row := m.s2[k*F:]
		for l := k; l < len(x); l++ {
			row[l] += xk * x[l]
		}
		for _, a := range act {
			row[a] += xk
		}
	}
	for _, a := range act {
		m.s1[a]++
		for _, b := range act {
			if a <= b {
				m.s2[a*F+b]++
			}
		}
	}
}

// moments finishes the accumulation; nil when there is nothing to fit.
func (m *momAcc) moments(cols []*colAcc) *Moments {
	if !m.decided {
		m.decide(cols)
	}
	if m.n < minMomentRecords {
		return nil
	}
	var feat []int // kept features
	out := &Moments{N: m.n}
	for k, i := range m.num {
		if typ := cols[i].typ(); typ == TypeInt || typ == TypeFloat {
			feat = append(feat, k)
			out.Numeric = append(out.Numeric, validUTF8(cols[i].name))
		}
	}
	if len(out.Numeric) == 0 {
		return nil
	}
	for _, cf := range m.cats {
		if cf.dead || len(cf.values) == 0 {
			continue
		}
		ind := Indicator{Column: validUTF8(cols[cf.col].name)}
		for k, v := range cf.values {
			ind.Values = append(ind.Values, validUTF8(v))
			feat = append(feat, cf.feats[k])
		}
		out.Indicators = append(out.Indicators, ind)
	}
	n := float64(m.n)
	shift := func(k int) float64 {
		if k < len(m.shift) {
			return m.shift[k]
		}
		return 0
	}
	for _, a := range feat {
		out.Mean = append(out.Mean, round(shift(a)+m.s1[a]/n, 10))
	}
	for i, a := range feat {
		for _, b := range feat[i:] {
			lo, hi := min(a, b), max(a, b)
			c := (m.s2[lo*maxFeatures+hi] - m.s1[a]*m.s1[b]/n) / n
			if a == b {
				c = math.Max(c, 0)
			}
			out.Cov = append(out.Cov, round(c, 6))
		}
	}
	return out
}

package guard

import (
	"math"
)

// design is the set of features a regression uses: the numeric columns
// and indicator columns of the most recent moments, with the union of the
// indicator values over the moments pooled.
type design struct {
	numeric []string
	cats    []Indicator
	index   map[[2]string]int // {column, value} -> feature; value "" for numeric
	f       int
}

// designOf picks the features from the first moments and returns the
// moments that have all of its numeric and indicator columns.
func designOf(ms []*Moments) (design, []*Moments) {
	var d design
	var use []*Moments
	for _, m := range ms {
		if m == nil || !m.valid() {
			continue
		}
		if use == nil {
			d.numeric = m.Numeric
			for _, ind := range m.Indicators {
				d.cats = append(d.cats, Indicator{Column: ind.Column})
			}
		}
		if !hasColumns(m, d) {
			continue
		}
		use = append(use, m)
	}
	d.index = map[[2]string]int{}
	for _, name := range d.numeric {
		if _, dup := d.index[[2]string{name, ""}]; !dup {
			d.index[[2]string{name, ""}] = d.f
			d.f++
		}
	}
	if d.f != len(d.numeric) {
		return design{}, nil // repeated names
	}
	for ci := range d.cats {
		c := &d.cats[ci]
		for _, m := range use {
			for _, ind := range m.Indicators {
				if ind.Column != c.Column {
					continue
				}
				for _, v := range ind.Values {
					k := [2]string{c.Column, v}
					if _, ok := d.index[k]; !ok && v != "" {
						d.index[k] = d.f
						d.f++
						c.Values = append(c.Values, v)
					}
				}
			}
		}
	}
	return d, use
}

func hasColumns(m *Moments, d design) bool {
	for _, name := range d.numeric {
		found := false
		for _, n := range m.Numeric {
			if n == name {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for _, c := range d.cats {
		found := false
		for _, ind := range m.Indicators {
			if ind.Column == c.Column {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// mapped returns the positions of the moments' features in the design
// (-1 for those it does not use).
func (d *design) mapped(m *Moments) []int {
	pos := make([]int, 0, len(m.Mean))
	look := func(k [2]string) int {
		if i, ok := d.index[k]; ok {
			return i
		}
		return -1
	}
	for _, name := range m.Numeric {
		pos = append(pos, look([2]string{name, ""}))
	}
	for _, ind := range m.Indicators {
		for _, v := range ind.Values {
			if v == "" {
				pos = append(pos, -1)
				continue
			}
			pos = append(pos, look([2]string{ind.Column, v}))
		}
	}
	return pos
}

// meanOf returns the moments' means on the design's features; features
// the moments lack are zero (indicators of values that never occurred).
func (d *design) meanOf(m *Moments) []float64 {
	out := make([]float64, d.f)
	for i, p := range d.mapped(m) {
		if p >= 0 {
			out[p] = m.Mean[i]
		}
	}
	return out
}

// pool is the moments pooled on one design: the records' mean and
// covariance, as if one profile had seen all their records.
type pool struct {
	d       design
	members int
	total   float64
	c       []float64 // pooled mean
	t       []float64 // covariance times total, dense
	drop    []bool    // features left out of the fit
}

func newPool(ms []*Moments) *pool {
	d, use := designOf(ms)
	if len(use) == 0 || len(d.numeric) == 0 {
		return nil
	}
	F := d.f
	p := &pool{d: d, members: len(use), c: make([]float64, F), t: make([]float64, F*F)}
	means := make([][]float64, len(use))
	for s, m := range use {
		means[s] = d.meanOf(m)
		p.total += float64(m.N)
		for i := range F {
			p.c[i] += float64(m.N) * means[s][i]
		}
	}
	for i := range F {
		p.c[i] /= p.total
	}
	// sum of n (cov + (mean-c)(mean-c)^T): the within and the between parts
	for s, m := range use {
		n := float64(m.N)
		pos := d.mapped(m)
		for i, pi := range pos {
			if pi < 0 {
				continue
			}
			for j, pj := range pos {
				if pj >= 0 {
					p.t[pi*F+pj] += n * m.cov(i, j)
				}
			}
		}
		for i := range F {
			di := means[s][i] - p.c[i]
			for j := range F {
				p.t[i*F+j] += n * di * (means[s][j] - p.c[j])
			}
		}
	}
	// Leave out each indicator column's most common value (the others
	// are then relative to it) and features that do not vary.
	p.drop = make([]bool, F)
	for i := range F {
		if v := p.t[i*F+i] / p.total; !(v > 1e-12*(1+p.c[i]*p.c[i])) {
			p.drop[i] = true
		}
	}
	for _, c := range d.cats {
		best, bestMean := -1, -1.0
		for _, v := range c.Values {
			if i := d.index[[2]string{c.Column, v}]; p.c[i] > bestMean {
				best, bestMean = i, p.c[i]
			}
		}
		if best >= 0 {
			p.drop[best] = true
		}
	}
	return p
}

// fit is a regression of each numeric feature on all other features.
type fit struct {
	mean  []float64   // per feature
	theta [][]float64 // per numeric feature: its row of the precision matrix (nil: not a target)
	sigma []float64   // per numeric feature: the residual standard deviation
	sd    []float64   // per numeric feature: the standard deviation
}

// fit fits the regressions from the pooled covariance: with Theta its
// inverse, the regression of feature j on the others has residual
// variance 1/Theta_jj and residual (Theta (x - mean))_j / Theta_jj.
func (p *pool) fit() *fit {
	F := p.d.f
	var keep []int
	for i := range F {
		if !p.drop[i] {
			keep = append(keep, i)
		}
	}
	K := len(keep)
	if K == 0 {
		return nil
	}
	// the correlation matrix of the kept features, inverted
	sd := make([]float64, K)
	for a, i := range keep {
		sd[a] = math.Sqrt(p.t[i*F+i] / p.total)
	}
	r := make([]float64, K*K)
	for a, i := range keep {
		for b, j := range keep {
			r[a*K+b] = p.t[i*F+j] / p.total / (sd[a] * sd[b])
		}
		r[a*K+a] += 1e-9
	}
	inv, ok := invertSPD(r, K)
	if !ok {
		for a := range K {
			r[a*K+a] += 1e-6
		}
		if inv, ok = invertSPD(r, K); !ok {
			return nil
		}
	}
	nNum := len(p.d.numeric)
	f := &fit{mean: p.c, theta: make([][]float64, nNum), sigma: make([]float64, nNum), sd: make([]float64, nNum)}
	targets := 0
	for a, i := range keep {
		if i >= nNum {
			continue
		}
		row := make([]float64, F)
		for b, j := range keep {
			row[j] = inv[a*K+b] / (sd[a] * sd[b])
		}
		if !(row[i] > 0) {
			continue
		}
		f.theta[i] = row
		f.sd[i] = sd[a]
		f.sigma[i] = math.Max(1/math.Sqrt(row[i]), sd[a]*minResidualSD)
		targets++
	}
	if targets == 0 {
		return nil
	}
	return f
}

// minResidualSD is the least residual standard deviation, relative to the
// column's: a column that its others determine exactly (a total) still
// has rounding.
const minResidualSD = 1e-3

// invertSPD inverts the symmetric positive definite n x n matrix a by
// Cholesky decomposition; false when it is not positive definite.
func invertSPD(a []float64, n int) ([]float64, bool) {
	l := make([]float64, n*n)
	for i := range n {
		for j := 0; j <= i; j++ {
			s := a[i*n+j]
			for k := range j {
				s -= l[i*n+k] * l[j*n+k]
			}
			if i == j {
				if !(s > 1e-12) {
					return nil, false
				}
				l[i*n+i] = math.Sqrt(s)
			} else {
				l[i*n+j] = s / l[j*n+j]
			}
		}
	}
	// inverse of l (lower triangular), then inv = l^-T l^-1
	li := make([]float64, n*n)
	for i := range n {
		li[i*n+i] = 1 / l[i*n+i]
		for j := range i {
			var s float64
			for k := j; k < i; k++ {
				s -= l[i*n+k] * li[k*n+j]
			}
			li[i*n+j] = s / l[i*n+i]
		}
	}
	inv := make([]float64, n*n)
	for i := range n {
		for j := 0; j <= i; j++ {
			var s float64
			for k := i; k < n; k++ {
				s += li[k*n+i] * li[k*n+j]
			}
			inv[i*n+j], inv[j*n+i] = s, s
		}
	}
	return inv, true
}

// Model predicts each numeric column of a record from its other numeric
// columns and categorical values, by linear regressions fitted on the
// Moments of earlier profiles (NewModel). Given to the profiler
// (ProfileOptions.Model), it counts the records that lie more than Z
// residual standard deviations above or below their prediction
// (Profile.Residuals): a record whose value was changed no longer fits its
// other columns, even when the column's own distribution hardly moves.
type Model struct {
	z    float64
	more []float64 // further thresholds, ascending
	d    design
	fit  *fit
}

// DefaultResidualZ is the default Thresholds.Residual.
const DefaultResidualZ = 2.5

// residualSteps are the further thresholds a Model counts at, relative to
// Thresholds.Residual (ascending): shifted records spread over several
// residual standard deviations, and one cut-off wastes what lies on
// either side of it. With the default 2.5 the counts are at 2, 2.5, 3 and
// 3.5.
var residualSteps = []float64{-0.5, 0.5, 1}

func moreResidualZ(z float64) []float64 {
	var out []float64
	for _, s := range residualSteps {
		if v := z + s; v > 0 {
			out = append(out, v)
		}
	}
	return out
}

// NewModel fits a Model on the moments of the profiles given, most
// recent first (the baseline's siblings; at most 64 are used). It returns
// nil when fewer than th.MinSiblings of them have comparable moments, or
// when th turns the residual checks off.
func NewModel(profiles []*Profile, th Thresholds) *Model {
	th = th.withDefaults()
	if th.Residual < 0 || th.DriftSigma < 0 {
		return nil
	}
	var ms []*Moments
	for _, p := range profiles {
		if p != nil && p.Moments != nil && len(ms) < maxPool {
			ms = append(ms, p.Moments)
		}
	}
	p := newPool(ms)
	if p == nil || p.members < th.MinSiblings {
		return nil
	}
	f := p.fit()
	if f == nil {
		return nil
	}
	return &Model{z: th.Residual, more: moreResidualZ(th.Residual), d: p.d, fit: f}
}

// resAcc counts a table's records by their residuals under a Model.
type resAcc struct {
	m        *Model
	num      []int // column of each numeric feature (-1: absent)
	cats     []int // column of each indicator column (-1: absent)
	resolved int   // number of columns when num and cats were resolved
	targets  []resTarget
	feats    [][]int   // per indicator column: the feature of each value
	d        []float64 // scratch: numeric values minus their means
	active   []int     // scratch: indicator features of the record, minus the numeric count
}

// resTarget is one numeric column's regression, scaled so that it gives
// the residual in residual standard deviations: c plus the numeric
// features' deviations from their means times num, plus ind of each
// indicator that is 1.
type resTarget struct {
	j   int
	c   float64
	num []float64
	ind []float64
	n   int64
	hi  int64
	lo  int64
	mhi []int64 // per further threshold
	mlo []int64
}

func newResAcc(m *Model) *resAcc {
	f := m.fit
	nn := len(m.d.numeric)
	r := &resAcc{m: m, resolved: -1, d: make([]float64, nn)}
	for j := range nn {
		row := f.theta[j]
		if row == nil {
			continue
		}
		scale := 1 / row[j] / f.sigma[j]
		t := resTarget{j: j, num: make([]float64, nn), ind: make([]float64, m.d.f-nn),
			mhi: make([]int64, len(m.more)), mlo: make([]int64, len(m.more))}
		for k := range nn {
			t.num[k] = row[k] * scale
		}
		for k := nn; k < m.d.f; k++ {
			t.ind[k-nn] = row[k] * scale
			t.c -= row[k] * scale * f.mean[k]
		}
		r.targets = append(r.targets, t)
	}
	for _, c := range m.d.cats {
		fs := make([]int, len(c.Values))
		for i, v := range c.Values {
			fs[i] = m.d.index[[2]string{c.Column, v}]
		}
		r.feats = append(r.feats, fs)
	}
	return r
}

func (r *resAcc) resolve(t *table) {
	r.resolved = len(t.cols)
	look := func(name string) int {
		if i, ok := t.byName[name]; ok {
			return i
		}
		return -1
	}
	r.num = r.num[:0]
	for _, name := range r.m.d.numeric {
		r.num = append(r.num, look(name))
	}
	r.cats = r.cats[:0]
	for _, c := range r.m.d.cats {
		r.cats = append(r.cats, look(c.Column))
	}
}

// row counts the current record when it has every numeric feature.
func (r *resAcc) row(t *table) {
	if r.resolved != len(t.cols) {
		r.resolve(t)
	}
	mean := r.m.fit.mean
	for k, i := range r.num {
		if i < 0 || !t.cols[i].rowNumOK {
			return
		}
		r.d[k] = t.cols[i].rowNum - mean[k]
	}
	nn := len(r.num)
	act := r.active[:0]
	for ci, i := range r.cats {
		if i < 0 {
			return // the model does not apply to a table without the column
		}
		v := t.cols[i].rowCat
		if v == nil {
			continue
		}
		for vi, val := range r.m.d.cats[ci].Values { // a dozen at most: faster than a map
			if val == string(v) {
				act = append(act, r.feats[ci][vi]-nn)
				break
			}
		}
	}
	r.active = act
	z := r.m.z
	for ti := range r.targets {
		tg := &r.targets[ti]
		u := tg.c
		for k, w := range tg.num {
			u += w * r.d[k]
		}
		for _, a := range act {
			u += tg.ind[a]
		}
		tg.n++
		if u > z {
			tg.hi++
		} else if u < -z {
			tg.lo++
		}
		for i, zm := range r.m.more {
			if u > zm {
				tg.mhi[i]++
			} else if u < -zm {
				tg.mlo[i]++
			} else {
				break // ascending: the rest are further still
			}
		}
	}
}

// residuals finishes the counts.
func (r *resAcc) residuals() *Residuals {
	out := &Residuals{Z: r.m.z, More: r.m.more}
	for _, tg := range r.targets {
		if tg.n > 0 {
			rc := ResidualCount{Name: validUTF8(r.m.d.numeric[tg.j]), N: tg.n, Above: tg.hi, Below: tg.lo}
			if len(r.m.more) > 0 {
				rc.MoreAbove = append([]int64(nil), tg.mhi...)
				rc.MoreBelow = append([]int64(nil), tg.mlo...)
			}
			out.Columns = append(out.Columns, rc)
		}
	}
	if len(out.Columns) == 0 {
		return nil
	}
	return out
}

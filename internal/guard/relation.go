package guard

import (
	"fmt"
	"math"
	"sort"
)

// minTailExcess is the least share of records beyond the expected share
// of far residuals that fires: very large objects make tiny excesses
// significant.
const minTailExcess = 0.005

// relations compares the new profile's counts of records far above or
// below what their other columns predict (Profile.Residuals, counted
// under a Model fitted on the siblings' Moments) with the pool's counts.
// A shift of some records' values that hardly moves the column's
// distribution still breaks their fit to the other columns.
func (c *checker) relations() []Signal {
	if c.th.Residual < 0 || c.th.DriftSigma < 0 {
		return nil
	}
	return c.residualTails()
}

// tailCount is one threshold's count in a ResidualCount, on one side.
type tailCount struct {
	z  float64
	at func(x ResidualCount) (float64, bool)
}

// residualTails tests, per numeric column and side, whether more records
// lie beyond each threshold (Z and the further ones the profiles counted)
// than the pool's share predicts. Each count is Poisson under sampling;
// the pool's own counts, each against the others' share, give an
// overdispersion factor d (at least 1), and the count divided by d is
// tested as a Poisson count of the expectation divided by d. The
// thresholds' p-values are combined by Simes' procedure and tested
// one-sided at half the two-sided tail of DriftSigma per side.
func (c *checker) residualTails() []Signal {
	th := c.th
	r := c.p.Residuals
	if r == nil {
		return nil
	}
	tail := normalTail(th.DriftSigma) / 2
	var out []Signal
	for _, rc := range r.Columns {
		if rc.N <= 0 {
			continue
		}
		var refs []ResidualCount
		more := len(r.More) > 0 && len(rc.MoreAbove) == len(r.More) && len(rc.MoreBelow) == len(r.More)
		for _, q := range c.pool {
			if q.Residuals == nil || q.Residuals.Z != r.Z {
				continue
			}
			for _, x := range q.Residuals.Columns {
				if x.Name == rc.Name && x.N > 0 {
					refs = append(refs, x)
					if !sameMore(q.Residuals, x, r.More) {
						more = false
					}
					break
				}
			}
		}
		if !c.calibrated(len(refs)) {
			continue
		}
		for _, above := range []bool{true, false} {
			tails := []tailCount{{z: r.Z, at: func(x ResidualCount) (float64, bool) {
				if above {
					return float64(x.Above), true
				}
				return float64(x.Below), true
			}}}
			if more {
				for i, z := range r.More {
					tails = append(tails, tailCount{z: z, at: func(x ResidualCount) (float64, bool) {
						if above {
							return float64(x.MoreAbove[i]), true
						}
						return float64(x.MoreBelow[i]), true
					}})
				}
			}
			var tests []tailTest
			for _, tc := range tails {
				tests = append(tests, testTail(rc, refs, tc))
			}
			pv, best := simes(tests)
			if best < 0 || pv >= tail {
				continue
			}
			t := tests[best]
			score := math.Sqrt2 * math.Erfcinv(2*math.Max(pv, 1e-300))
			side := "above"
			if !above {
				side = "below"
			}
			out = append(out, Signal{Name: SignalRelation, Score: round(score, 4), Threshold: th.DriftSigma, Column: rc.Name,
				Reason: fmt.Sprintf("column %q: %.0f of %d records lie more than %g residual standard deviations %s what their other columns predict, vs %.1f expected from %d siblings (dispersion %.2g)",
					rc.Name, t.k, rc.N, t.z, side, t.lam, len(refs), t.d)})
		}
	}
	return out
}

// sameMore reports whether the sibling counted the further thresholds
// more.
func sameMore(q *Residuals, x ResidualCount, more []float64) bool {
	if len(q.More) != len(more) || len(x.MoreAbove) != len(more) || len(x.MoreBelow) != len(more) {
		return false
	}
	for i := range more {
		if q.More[i] != more[i] {
			return false
		}
	}
	return true
}

// tailTest is one threshold's test: the count k, its expectation lam,
// the dispersion d and the p-value (1 when the excess is too small to
// count).
type tailTest struct {
	z, k, lam, d, p float64
}

func testTail(rc ResidualCount, refs []ResidualCount, tc tailCount) tailTest {
	count := func(x ResidualCount) float64 {
		v, _ := tc.at(x)
		return v
	}
	var k, n float64
	for _, x := range refs {
		k += count(x)
		n += float64(x.N)
	}
	var num, den float64
	for _, x := range refs {
		lam := float64(x.N) * (k - count(x) + 0.5) / (n - float64(x.N) + 1)
		num += (count(x) - lam) * (count(x) - lam)
		den += lam
	}
	d := 1.0
	if den > 0 {
		d = math.Max(1, num/den)
	}
	kn, nn := count(rc), float64(rc.N)
	lam := nn * (k + 0.5) / (n + 1)
	t := tailTest{z: tc.z, k: kn, lam: lam, d: d, p: 1}
	if kn <= lam || (kn-lam)/nn < minTailExcess {
		return t
	}
	// mid-p: P(X > k) + P(X = k)/2, the usual correction of a discrete
	// test that would otherwise be conservative
	t.p = (gammaP(kn/d, lam/d) + gammaP(kn/d+1, lam/d)) / 2
	return t
}

// simes combines the tests' p-values by Simes' procedure (valid for the
// positively dependent counts of nested tails): min over i of
// m p_(i) / i. It returns the combined p-value and the test that gave it
// (-1 when none has an excess).
func simes(ts []tailTest) (float64, int) {
	idx := make([]int, len(ts))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return ts[idx[a]].p < ts[idx[b]].p })
	best, bi := 1.0, -1
	m := float64(len(ts))
	for rank, i := range idx {
		if ts[i].p >= 1 {
			break
		}
		if v := m * ts[i].p / float64(rank+1); v < best {
			best, bi = v, i
		}
	}
	return best, bi
}

package guard

import (
	"fmt"
	"math"
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

// residualTails tests, per numeric column and side, whether more records
// lie beyond Z residual standard deviations than the pool's share
// predicts. The count is Poisson under sampling; the pool's own counts,
// each against the others' share, give an overdispersion factor d (at
// least 1), and the count divided by d is tested as a Poisson count of
// the expectation divided by d, one-sided at half the two-sided tail of
// DriftSigma per side.
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
		for _, q := range c.pool {
			if q.Residuals == nil || q.Residuals.Z != r.Z {
				continue
			}
			for _, x := range q.Residuals.Columns {
				if x.Name == rc.Name && x.N > 0 {
					refs = append(refs, x)
					break
				}
			}
		}
		if !c.calibrated(len(refs)) {
			continue
		}
		for _, above := range []bool{true, false} {
			count := func(x ResidualCount) float64 {
				if above {
					return float64(x.Above)
				}
				return float64(x.Below)
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
			if kn <= lam || (kn-lam)/nn < minTailExcess {
				continue
			}
			// mid-p: P(X > k) + P(X = k)/2, the usual correction of a
			// discrete test that would otherwise be conservative
			pv := (gammaP(kn/d, lam/d) + gammaP(kn/d+1, lam/d)) / 2
			if pv >= tail {
				continue
			}
			score := math.Sqrt2 * math.Erfcinv(2*math.Max(pv, 1e-300))
			side := "above"
			if !above {
				side = "below"
			}
			out = append(out, Signal{Name: SignalRelation, Score: round(score, 4), Threshold: th.DriftSigma, Column: rc.Name,
				Reason: fmt.Sprintf("column %q: %.0f of %.0f records lie more than %g residual standard deviations %s what their other columns predict, vs %.1f expected from %d siblings (dispersion %.2g)",
					rc.Name, kn, nn, r.Z, side, lam, len(refs), d)})
		}
	}
	return out
}

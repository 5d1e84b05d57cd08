package guard

import (
	"math"
	"slices"
	"sort"
	"sync"
)

// median returns the median of xs (0 for none); xs is not modified.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// mad returns the median absolute deviation from m, scaled by 1.4826 to
// estimate a normal standard deviation.
func mad(xs []float64, m float64) float64 {
	d := make([]float64, len(xs))
	for i, x := range xs {
		d[i] = math.Abs(x - m)
	}
	return 1.4826 * median(d)
}

// normalTail returns P(|Z| > z) for a standard normal Z.
func normalTail(z float64) float64 { return math.Erfc(math.Abs(z) / math.Sqrt2) }

// chi2Upper returns P(X > x) for X chi-squared with df degrees of freedom.
func chi2Upper(df, x float64) float64 {
	if x <= 0 {
		return 1
	}
	return gammaQ(df/2, x/2)
}

// chi2Cache memoises chi2Quantile: checks ask for the same few values on
// every write.
var chi2Cache sync.Map // [2]float64{df, p} -> float64

// chi2Quantile returns x with P(X > x) = p for X chi-squared with df
// degrees of freedom, by bisection on chi2Upper.
func chi2Quantile(df, p float64) float64 {
	if df <= 0 {
		return 0
	}
	key := [2]float64{df, p}
	if v, ok := chi2Cache.Load(key); ok {
		return v.(float64)
	}
	x := chi2Bisect(df, p)
	chi2Cache.Store(key, x)
	return x
}

func chi2Bisect(df, p float64) float64 {
	lo, hi := 0.0, df+10*math.Sqrt(2*df)+100
	for chi2Upper(df, hi) > p {
		hi *= 2
	}
	for range 100 {
		mid := (lo + hi) / 2
		if chi2Upper(df, mid) > p {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo < 1e-9*hi {
			break
		}
	}
	return (lo + hi) / 2
}

// chi2Median is the median of a chi-squared variable with df degrees of
// freedom.
func chi2Median(df float64) float64 { return chi2Quantile(df, 0.5) }

// gammaP is the regularised lower incomplete gamma function P(a, x) =
// 1 - Q(a, x), by its series where that converges fast, so that small
// values keep their precision. For a Poisson variable X with mean x and
// an integer k >= 1, P(k, x) = P(X >= k).
func gammaP(a, x float64) float64 {
	if x <= 0 || a <= 0 {
		return 0
	}
	if x >= a+1 {
		return 1 - gammaQ(a, x)
	}
	lg, _ := math.Lgamma(a)
	sum, term, ap := 1/a, 1/a, a
	for range 1000 {
		ap++
		term *= x / ap
		sum += term
		if math.Abs(term) < math.Abs(sum)*1e-15 {
			break
		}
	}
	return math.Min(1, sum*math.Exp(-x+a*math.Log(x)-lg))
}

// gammaQ is the regularised upper incomplete gamma function Q(a, x), by
// its series for x < a+1 and its continued fraction otherwise (Numerical
// Recipes, 6.2).
func gammaQ(a, x float64) float64 {
	if x < 0 || a <= 0 {
		return 1
	}
	lg, _ := math.Lgamma(a)
	if x < a+1 {
		sum, term, ap := 1/a, 1/a, a
		for range 1000 {
			ap++
			term *= x / ap
			sum += term
			if math.Abs(term) < math.Abs(sum)*1e-15 {
				break
			}
		}
		return math.Max(0, 1-sum*math.Exp(-x+a*math.Log(x)-lg))
	}
	const tiny = 1e-300
	b := x + 1 - a
	c := 1 / tiny
	d := 1 / b
	h := d
	for i := 1; i < 1000; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-15 {
			break
		}
	}
	return math.Min(1, math.Exp(-x+a*math.Log(x)-lg)*h)
}

// psi is the population stability index of distribution a (from na
// values) against b (from nb values) over the same bins: the sum of
// (a-b)*ln(a/b), which is the symmetric Kullback-Leibler divergence. Each
// bin gets half a count more on both sides so that empty bins stay finite.
func psi(a, b []float64, na, nb float64) float64 {
	k := float64(len(a))
	var s float64
	for i := range a {
		x := (a[i]*na + 0.5) / (na + 0.5*k)
		y := (b[i]*nb + 0.5) / (nb + 0.5*k)
		s += (x - y) * math.Log(x/y)
	}
	return s
}

// cdfAt evaluates at x the distribution function that the quantiles q at
// evenly spaced ranks (0, 1/(len-1), ..., 1) describe, interpolating
// linearly between them; ties (a value holding several ranks) count fully
// at that value.
func cdfAt(q []float64, x float64) float64 {
	n := len(q)
	if n < 2 {
		return 0
	}
	if x < q[0] {
		return 0
	}
	if x >= q[n-1] {
		return 1
	}
	// the last index with q[i] <= x
	i := sort.Search(n, func(j int) bool { return q[j] > x }) - 1
	step := 1 / float64(n-1)
	lo := float64(i) * step
	if q[i+1] > q[i] {
		return lo + (x-q[i])/(q[i+1]-q[i])*step
	}
	return lo
}

// criticalFor returns the critical value of a chi-squared statistic with
// df degrees of freedom at the tail probability of a sigma-sigma normal
// event (two-sided): for df = 1 it is sigma squared.
func criticalFor(df, sigma float64) float64 {
	if df == 1 {
		return sigma * sigma
	}
	return chi2Quantile(df, normalTail(sigma))
}

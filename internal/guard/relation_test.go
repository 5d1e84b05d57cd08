package guard

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// relationRows makes n records where weight depends on species and length
// (residual sd 150, column sd about 330) as penguins' body mass does.
func relationRows(rng *rand.Rand, n int) [][]string {
	species := []string{"adelie", "gentoo", "chinstrap"}
	out := make([][]string, n)
	for i := range out {
		sp := rng.IntN(3)
		l := 40 + 5*float64(sp) + rng.NormFloat64()*2
		w := 3500 + 300*float64(sp) + 40*(l-45) + rng.NormFloat64()*150
		out[i] = []string{strconv.Itoa(i), strconv.FormatFloat(l, 'f', 2, 64),
			strconv.FormatFloat(w, 'f', 0, 64), species[sp]}
	}
	return out
}

var relationHeader = []string{"id", "length", "weight", "species"}

// relationLake profiles n partitions in order, each with the model the
// partitions before it give, as the store does.
func relationLake(tb testing.TB, rng *rand.Rand, n, size int) []*Profile {
	tb.Helper()
	var sib []*Profile
	for range n {
		m := NewModel(sib, Thresholds{})
		p := profileModel(tb, relationHeader, relationRows(rng, size), m)
		sib = append([]*Profile{p}, sib...)
	}
	return sib
}

func profileModel(tb testing.TB, header []string, rows [][]string, m *Model) *Profile {
	tb.Helper()
	b := renderCSV(header, rows)
	return profileBytes(tb, "t/part.csv", b, 0, &ProfileOptions{Size: int64(len(b)), Model: m})
}

// shiftWeight adds delta to the weight of the first share of the records.
func shiftWeight(rows [][]string, share, delta float64) [][]string {
	k := int(math.Round(share * float64(len(rows))))
	return mutate(rows, func(i int, r []string) {
		if i < k {
			w, _ := strconv.ParseFloat(r[2], 64)
			r[2] = strconv.FormatFloat(w+delta, 'f', 0, 64)
		}
	})
}

func TestRelationShiftFires(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sib := relationLake(t, rng, 20, 400)
	m := NewModel(sib, Thresholds{})
	if m == nil {
		t.Fatal("NewModel on 20 siblings = nil")
	}
	// 8% of the weights +450 (3 residual sds, 1.4 column sds): the
	// column's mean moves by 2 standard errors only.
	rows := shiftWeight(relationRows(rng, 400), 0.08, 450)
	p := profileModel(t, relationHeader, rows, m)
	if p.Residuals == nil || p.Residuals.Z != DefaultResidualZ {
		t.Fatalf("profile with a model has residuals %+v", p.Residuals)
	}
	sig := Check(p, Baseline{Siblings: sib}, Thresholds{})
	if !has(sig, SignalRelation, "weight") {
		t.Fatalf("shifted weights not caught: %s", names(sig))
	}
	for _, s := range sig {
		if s.Name == SignalRelation && s.Column == "weight" && !strings.Contains(s.Reason, "above") {
			t.Errorf("reason %q; want the records above their prediction", s.Reason)
		}
	}
	// The same shift downwards shows below.
	p = profileModel(t, relationHeader, shiftWeight(relationRows(rng, 400), 0.08, -450), m)
	if sig := Check(p, Baseline{Siblings: sib}, Thresholds{}); !has(sig, SignalRelation, "weight") {
		t.Fatalf("weights shifted down not caught: %s", names(sig))
	}
}

func TestRelationBenignIsSilent(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	sib := relationLake(t, rng, 20, 400)
	m := NewModel(sib, Thresholds{})
	for i := range 30 {
		p := profileModel(t, relationHeader, relationRows(rng, 400), m)
		if sig := Check(p, Baseline{Siblings: sib}, Thresholds{}); len(sig) > 0 {
			t.Errorf("benign partition %d: %s", i, names(sig))
		}
	}
	// A shift within the natural noise (1% of the records by 1 residual
	// sd) is not a relation break.
	p := profileModel(t, relationHeader, shiftWeight(relationRows(rng, 400), 0.01, 150), m)
	if sig := Check(p, Baseline{Siblings: sib}, Thresholds{}); has(sig, SignalRelation, "") {
		t.Errorf("tiny shift fired: %s", names(sig))
	}
}

func TestRelationNeedsComparableBaseline(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	sib := relationLake(t, rng, 12, 400)
	attacked := shiftWeight(relationRows(rng, 400), 0.15, 600)
	t.Run("too few siblings", func(t *testing.T) {
		if m := NewModel(sib[:4], Thresholds{}); m != nil {
			t.Error("NewModel on 4 siblings is not nil")
		}
	})
	t.Run("turned off", func(t *testing.T) {
		if m := NewModel(sib, Thresholds{Residual: -1}); m != nil {
			t.Error("NewModel with Residual -1 is not nil")
		}
		p := profileModel(t, relationHeader, attacked, NewModel(sib, Thresholds{}))
		if sig := Check(p, Baseline{Siblings: sib}, Thresholds{Residual: -1}); has(sig, SignalRelation, "") {
			t.Errorf("relation check off but fired: %s", names(sig))
		}
	})
	t.Run("profiles from before moments", func(t *testing.T) {
		old := make([]*Profile, len(sib))
		for i, q := range sib {
			c := *q
			c.Moments, c.Residuals = nil, nil
			old[i] = &c
		}
		if m := NewModel(old, Thresholds{}); m != nil {
			t.Error("NewModel on profiles without moments is not nil")
		}
		p := profileModel(t, relationHeader, attacked, NewModel(sib, Thresholds{}))
		if sig := Check(p, Baseline{Siblings: old}, Thresholds{}); has(sig, SignalRelation, "") {
			t.Errorf("relation fired against siblings without residual counts: %s", names(sig))
		}
	})
	t.Run("another residual bar", func(t *testing.T) {
		p := profileModel(t, relationHeader, attacked, NewModel(sib, Thresholds{Residual: 2}))
		if p.Residuals == nil || p.Residuals.Z != 2 {
			t.Fatalf("residuals = %+v; want counts at 2 sds", p.Residuals)
		}
		if sig := Check(p, Baseline{Siblings: sib}, Thresholds{}); has(sig, SignalRelation, "") {
			t.Errorf("counts at another bar compared: %s", names(sig))
		}
	})
	t.Run("table without a model column", func(t *testing.T) {
		rows := make([][]string, len(attacked))
		for i, r := range attacked {
			rows[i] = r[:3]
		}
		p := profileModel(t, relationHeader[:3], rows, NewModel(sib, Thresholds{}))
		if p.Residuals != nil {
			t.Errorf("residuals without the species column: %+v", p.Residuals)
		}
	})
}

func TestMomentsExactAndPooled(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	rows := relationRows(rng, 300)
	rows[5][1] = "NA" // incomplete: left out
	whole := profileModel(t, relationHeader, rows, nil).Moments
	if whole == nil {
		t.Fatal("no moments")
	}
	if want := []string{"id", "length", "weight"}; !reflect.DeepEqual(whole.Numeric, want) {
		t.Errorf("numeric features %q; want %q", whole.Numeric, want)
	}
	if len(whole.Indicators) != 1 || whole.Indicators[0].Column != "species" || len(whole.Indicators[0].Values) != 3 {
		t.Errorf("indicators %+v; want species' three values", whole.Indicators)
	}
	// direct computation over the complete records
	var xs [][]float64
	for i, r := range rows {
		if i == 5 {
			continue
		}
		x := make([]float64, 6)
		for j := range 3 {
			x[j], _ = strconv.ParseFloat(r[j], 64)
		}
		for k, v := range whole.Indicators[0].Values {
			if r[3] == v {
				x[3+k] = 1
			}
		}
		xs = append(xs, x)
	}
	if whole.N != int64(len(xs)) {
		t.Fatalf("N = %d; want %d", whole.N, len(xs))
	}
	n := float64(len(xs))
	mean := make([]float64, 6)
	for _, x := range xs {
		for j := range x {
			mean[j] += x[j] / n
		}
	}
	for i := range 6 {
		if math.Abs(whole.Mean[i]-mean[i]) > 1e-9*(1+math.Abs(mean[i])) {
			t.Errorf("mean[%d] = %v; want %v", i, whole.Mean[i], mean[i])
		}
		for j := i; j < 6; j++ {
			var c float64
			for _, x := range xs {
				c += (x[i] - mean[i]) * (x[j] - mean[j]) / n
			}
			if got := whole.cov(i, j); math.Abs(got-c) > 1e-5*(1e-9+math.Sqrt(whole.cov(i, i)*whole.cov(j, j))) {
				t.Errorf("cov(%d,%d) = %v; want %v", i, j, got, c)
			}
		}
	}
	// Pooling the two halves' moments gives the whole's.
	a := profileModel(t, relationHeader, rows[:150], nil).Moments
	b := profileModel(t, relationHeader, rows[150:], nil).Moments
	pl := newPool([]*Moments{a, b})
	if pl == nil || pl.total != n || pl.members != 2 {
		t.Fatalf("pool of two halves: %+v", pl)
	}
	F := pl.d.f
	for i := range F {
		wi := featureIndex(whole, pl.d, i)
		if math.Abs(pl.c[i]-whole.Mean[wi]) > 1e-8*(1+math.Abs(whole.Mean[wi])) {
			t.Errorf("pooled mean %d = %v; want %v", i, pl.c[i], whole.Mean[wi])
		}
		for j := range F {
			wj := featureIndex(whole, pl.d, j)
			want := whole.cov(wi, wj)
			if got := pl.t[i*F+j] / pl.total; math.Abs(got-want) > 2e-5*(1e-9+math.Sqrt(whole.cov(wi, wi)*whole.cov(wj, wj))) {
				t.Errorf("pooled cov(%d,%d) = %v; want %v", i, j, got, want)
			}
		}
	}
}

// featureIndex is the index in m of the design's feature i.
func featureIndex(m *Moments, d design, i int) int {
	for j, p := range d.mapped(m) {
		if p == i {
			return j
		}
	}
	return -1
}

func TestModelFitsTheRelationship(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	sib := relationLake(t, rng, 10, 500)
	m := NewModel(sib, Thresholds{})
	if m == nil {
		t.Fatal("no model")
	}
	w := -1
	for j, name := range m.d.numeric {
		if name == "weight" {
			w = j
		}
	}
	if w < 0 || m.fit.theta[w] == nil {
		t.Fatalf("weight is not a target: %+v", m.d.numeric)
	}
	if s := m.fit.sigma[w]; math.Abs(s-150) > 15 {
		t.Errorf("weight's residual sd = %.1f; want about 150", s)
	}
	if sd := m.fit.sd[w]; sd < 250 {
		t.Errorf("weight's sd = %.1f; want well above the residual's", sd)
	}
}

func TestProfileWithMomentsReadsBack(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	sib := relationLake(t, rng, 8, 200)
	p := sib[0]
	if p.Moments == nil || p.Residuals == nil {
		t.Fatalf("moments %v, residuals %v", p.Moments != nil, p.Residuals != nil)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Profile
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(&back, p) {
		t.Fatalf("profile changes through JSON (%v):\n%s", err, b)
	}
	// A profile written before moments existed still decodes and checks.
	var old Profile
	if err := json.Unmarshal([]byte(`{"v":1,"size":10,"format":"csv","parseable":true,"rows":2,"columns":[{"name":"a","type":"int","nulls":0,"count":2}]}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.Moments != nil || old.Residuals != nil {
		t.Errorf("old profile decoded with moments")
	}
	Check(p, Baseline{Siblings: append([]*Profile{&old}, sib[1:]...)}, Thresholds{})
}

func TestMomentLimits(t *testing.T) {
	// 40 numeric columns and a categorical column with 30 values: at most
	// maxMomentNumeric numeric features, the categorical column dropped.
	var b strings.Builder
	for j := range 40 {
		fmt.Fprintf(&b, "n%d,", j)
	}
	b.WriteString("cat\n")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		for range 40 {
			fmt.Fprintf(&b, "%.3f,", rng.NormFloat64())
		}
		fmt.Fprintf(&b, "v%d\n", i%30)
	}
	p := profileBytes(t, "x.csv", []byte(b.String()), 0, nil)
	m := p.Moments
	if m == nil || len(m.Numeric) != maxMomentNumeric || len(m.Indicators) != 0 || !m.valid() {
		t.Fatalf("moments %+v; want %d numeric features and no indicators", m, maxMomentNumeric)
	}
}

func TestPoissonTail(t *testing.T) {
	for _, tc := range []struct {
		k   int
		lam float64
	}{{1, 0.5}, {8, 1.07}, {3, 0.017}, {20, 12}, {60, 40}} {
		// P(X >= k) = 1 - sum_{i<k} e^-lam lam^i / i!
		var s float64
		term := math.Exp(-tc.lam)
		for i := range tc.k {
			s += term
			term *= tc.lam / float64(i+1)
		}
		want := 1 - s
		if tc.k > 5 {
			want = 0 // sum the tail directly, for precision
			term = math.Exp(-tc.lam)
			for i := 1; i <= tc.k; i++ {
				term *= tc.lam / float64(i)
			}
			for i := tc.k; i < tc.k+200; i++ {
				want += term
				term *= tc.lam / float64(i+1)
			}
		}
		if got := gammaP(float64(tc.k), tc.lam); math.Abs(got-want) > 1e-9*want+1e-300 {
			t.Errorf("gammaP(%d, %v) = %v; want %v", tc.k, tc.lam, got, want)
		}
	}
}

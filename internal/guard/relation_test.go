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

// tailRefs is n siblings of size records whose counts beyond each
// threshold average what a normal residual gives.
func tailRefs(n int, size int64, zs []float64) []ResidualCount {
	out := make([]ResidualCount, n)
	for i := range out {
		x := ResidualCount{Name: "w", N: size}
		for j, z := range zs {
			e := float64(size) * normalTail(z) / 2
			k := int64(float64(i+1)*e) - int64(float64(i)*e)
			if j == 0 {
				x.Above, x.Below = k, k
				continue
			}
			x.MoreAbove = append(x.MoreAbove, k)
			x.MoreBelow = append(x.MoreBelow, k)
		}
		out[i] = x
	}
	return out
}

// checkTails checks a profile with the counts of rc against siblings
// with the counts of refs, all at Z 2.5 and further thresholds more.
func checkTails(rc ResidualCount, more []float64, refs []ResidualCount, refMore []float64) []Signal {
	p := &Profile{V: 1, Format: "csv", Parseable: true, Rows: rc.N, Residuals: &Residuals{Z: 2.5, More: more, Columns: []ResidualCount{rc}}}
	var sib []*Profile
	for _, x := range refs {
		sib = append(sib, &Profile{V: 1, Format: "csv", Parseable: true, Rows: x.N, Residuals: &Residuals{Z: 2.5, More: refMore, Columns: []ResidualCount{x}}})
	}
	return Check(p, Baseline{Siblings: sib}, Thresholds{})
}

func TestRelationTailsCombine(t *testing.T) {
	zs := []float64{2.5, 2, 3, 3.5}
	more := zs[1:]
	refs := tailRefs(20, 172, zs)
	// 17 records shifted by 2.8 residual sds: 7 beyond 2.5 (4 expected,
	// not enough alone) but 5 beyond 3.5, where 0 are expected.
	shifted := ResidualCount{Name: "w", N: 172, Above: 7, MoreAbove: []int64{9, 6, 5}, MoreBelow: []int64{2, 0, 0}, Below: 1}
	if sig := checkTails(shifted, nil, stripMore(refs), nil); has(sig, SignalRelation, "") {
		t.Fatalf("the 2.5 count alone fired (the case is meant to need the others): %s", names(sig))
	}
	sig := checkTails(shifted, more, refs, more)
	if !has(sig, SignalRelation, "w") {
		t.Fatalf("counts beyond 2, 2.5, 3 and 3.5 sds not caught: %s", names(sig))
	}
	if s := sig[0]; !strings.Contains(s.Reason, "more than 3.5 residual standard deviations above") {
		t.Errorf("reason %q; want the count beyond 3.5 sds above", s.Reason)
	}
	// Siblings that counted other further thresholds (or none) are
	// compared at Z alone.
	if sig := checkTails(shifted, more, stripMore(refs), nil); has(sig, SignalRelation, "") {
		t.Errorf("further counts compared with siblings that lack them: %s", names(sig))
	}
	other := []float64{2, 3, 4}
	if sig := checkTails(shifted, more, refs, other); has(sig, SignalRelation, "") {
		t.Errorf("further counts compared with siblings' counts at other thresholds: %s", names(sig))
	}
	// Benign: counts as the siblings' at every threshold, and one wild
	// record beyond 3.5 sds, are silent; so is the same excess on
	// siblings that show as many wild records.
	benign := refs[3]
	if sig := checkTails(benign, more, refs, more); len(sig) > 0 {
		t.Errorf("a sibling's counts fired: %s", names(sig))
	}
	wild := benign
	wild.MoreAbove = []int64{benign.MoreAbove[0] + 1, benign.MoreAbove[1] + 1, 1}
	wild.Above++
	if sig := checkTails(wild, more, refs, more); len(sig) > 0 {
		t.Errorf("one wild record fired: %s", names(sig))
	}
	noisy := make([]ResidualCount, len(refs))
	for i, x := range refs {
		w := int64([]int{0, 0, 9, 0, 0, 6, 0, 0, 0, 7}[i%10]) // wild records, beyond every threshold
		x.MoreAbove = []int64{x.MoreAbove[0] + w, x.MoreAbove[1] + w, x.MoreAbove[2] + w}
		x.Above += w
		noisy[i] = x
	}
	if sig := checkTails(shifted, more, noisy, more); has(sig, SignalRelation, "") {
		t.Errorf("5 beyond 3.5 sds fired where siblings often have more: %s", names(sig))
	}
}

func stripMore(refs []ResidualCount) []ResidualCount {
	out := make([]ResidualCount, len(refs))
	for i, x := range refs {
		x.MoreAbove, x.MoreBelow = nil, nil
		out[i] = x
	}
	return out
}

func TestSimes(t *testing.T) {
	for _, tc := range []struct {
		p    []float64
		want float64
		best int
	}{
		{[]float64{1, 1, 1}, 1, -1},
		{[]float64{0.01, 1, 1, 1}, 0.04, 0},
		{[]float64{0.02, 0.01, 0.012, 1}, 0.024, 2}, // 4*0.012/2 beats 4*0.01/1 and 4*0.02/3
		{[]float64{0.5, 0.001, 0.002}, 0.003, 1},
	} {
		var ts []tailTest
		for _, p := range tc.p {
			ts = append(ts, tailTest{p: p})
		}
		got, best := simes(ts)
		if math.Abs(got-tc.want) > 1e-12 || best != tc.best {
			t.Errorf("simes(%v) = %v, %d; want %v, %d", tc.p, got, best, tc.want, tc.best)
		}
	}
}

func TestModelCountsFurtherThresholds(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	sib := relationLake(t, rng, 10, 400)
	p := profileModel(t, relationHeader, shiftWeight(relationRows(rng, 400), 0.1, 450), NewModel(sib, Thresholds{}))
	r := p.Residuals
	if r == nil || !reflect.DeepEqual(r.More, []float64{2, 3, 3.5}) {
		t.Fatalf("residuals %+v; want further counts at 2, 3 and 3.5", r)
	}
	for _, rc := range r.Columns {
		if len(rc.MoreAbove) != 3 || len(rc.MoreBelow) != 3 {
			t.Fatalf("column %s: further counts %v %v", rc.Name, rc.MoreAbove, rc.MoreBelow)
		}
		// nested tails: beyond 2 >= beyond 2.5 >= beyond 3 >= beyond 3.5
		for _, c := range [][]int64{{rc.MoreAbove[0], rc.Above, rc.MoreAbove[1], rc.MoreAbove[2]}, {rc.MoreBelow[0], rc.Below, rc.MoreBelow[1], rc.MoreBelow[2]}} {
			for i := 1; i < len(c); i++ {
				if c[i] > c[i-1] {
					t.Errorf("column %s: counts %v are not nested", rc.Name, c)
				}
			}
		}
		if rc.Name == "weight" && !(rc.MoreAbove[2] >= 6 && rc.MoreAbove[0] >= rc.Above+5) {
			t.Errorf("weight shifted by 3 residual sds in 40 records: %d beyond 2, %d beyond 2.5, %d beyond 3.5", rc.MoreAbove[0], rc.Above, rc.MoreAbove[2])
		}
	}
	if m := NewModel(sib, Thresholds{Residual: 0.3}); m == nil || !reflect.DeepEqual(m.more, []float64{0.8, 1.3}) {
		t.Errorf("Residual 0.3: further thresholds %v; want 0.8 and 1.3", m.more)
	}
}

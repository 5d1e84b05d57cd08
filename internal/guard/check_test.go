package guard

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// names lists the signals' names (and columns) for failure messages.
func names(sig []Signal) string {
	var s []string
	for _, x := range sig {
		s = append(s, fmt.Sprintf("%s[%s] %s", x.Name, x.Column, x.Reason))
	}
	return strings.Join(s, "; ")
}

func has(sig []Signal, name, column string) bool {
	return slices.ContainsFunc(sig, func(s Signal) bool {
		return s.Name == name && (column == "" || s.Column == column)
	})
}

func profileRows(tb testing.TB, key string, header []string, rows [][]string) *Profile {
	tb.Helper()
	b := renderCSV(header, rows)
	return profileBytes(tb, key, b, 0, &ProfileOptions{Size: int64(len(b))})
}

func mutate(rows [][]string, f func(i int, r []string)) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = slices.Clone(r)
		f(i, out[i])
	}
	return out
}

// diamondsLake is 20 partitions of 3000 diamonds as siblings, and fresh
// partitions to attack.
type diamondsLake struct {
	siblings []*Profile
	header   []string
	rows     [][]string
	rng      *rand.Rand
}

func newDiamondsLake(tb testing.TB) *diamondsLake {
	sib, header, rows, rng := lake(tb, "diamonds.csv.gz", 20, 3000, 11)
	return &diamondsLake{sib, header, rows, rng}
}

func (l *diamondsLake) fresh() [][]string { return sample(l.rng, l.rows, 3000) }

func (l *diamondsLake) check(tb testing.TB, header []string, rows [][]string) []Signal {
	tb.Helper()
	return Check(profileRows(tb, "lake/d.csv", header, rows), Baseline{Siblings: l.siblings}, Thresholds{})
}

func col(header []string, name string) int { return slices.Index(header, name) }

func TestCheckBenignIsSilent(t *testing.T) {
	l := newDiamondsLake(t)
	for i := range 10 {
		if sig := l.check(t, l.header, l.fresh()); len(sig) > 0 {
			t.Errorf("benign partition %d: %s", i, names(sig))
		}
	}
}

func TestCheckDrift(t *testing.T) {
	l := newDiamondsLake(t)
	price, cut := col(l.header, "price"), col(l.header, "cut")
	classes := []string{"Fair", "Good", "Very Good", "Premium", "Ideal"}
	for _, tc := range []struct {
		name   string
		change func(i int, r []string)
		signal string
		column string
	}{
		{"price shifted in 25% of records", func(i int, r []string) {
			if i%4 == 0 {
				p, _ := strconv.Atoi(r[price])
				r[price] = strconv.Itoa(p + 4000)
			}
		}, SignalDrift, "price"},
		{"price doubled", func(_ int, r []string) {
			p, _ := strconv.Atoi(r[price])
			r[price] = strconv.Itoa(2 * p)
		}, SignalDrift, "price"},
		{"cut flipped in 20% of records", func(i int, r []string) {
			if i%5 == 0 {
				r[cut] = classes[(slices.Index(classes, r[cut])+1+i%4)%5]
			}
		}, SignalDrift, "cut"},
		{"nulls in 30% of carat", func(i int, r []string) {
			if i%10 < 3 {
				r[col(l.header, "carat")] = ""
			}
		}, SignalNullRate, "carat"},
		{"x made constant", func(_ int, r []string) { r[col(l.header, "x")] = "5.5" }, SignalCardinality, "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig := l.check(t, l.header, mutate(l.fresh(), tc.change))
			if !has(sig, tc.signal, tc.column) {
				t.Errorf("signals: %s; want %s on %s", names(sig), tc.signal, tc.column)
			}
		})
	}
}

func TestCheckSchema(t *testing.T) {
	l := newDiamondsLake(t)
	rows := l.fresh()
	drop := func(h []string, rows [][]string, c int) ([]string, [][]string) {
		return slices.Delete(slices.Clone(h), c, c+1), mutate(rows, func(_ int, r []string) {})
	}
	for _, tc := range []struct {
		name   string
		header []string
		rows   [][]string
		want   string
	}{
		{"dropped", func() []string { h, _ := drop(l.header, rows, 2); return h }(),
			mutate(rows, func(_ int, r []string) {}), `"color" dropped`},
		{"renamed", append(slices.Clone(l.header[:9]), "depth_z"), rows, `"z" renamed to "depth_z"`},
		{"added", append(slices.Clone(l.header), "note"), mutate(rows, func(i int, r []string) {}), `"note" added`},
		{"retyped", l.header, mutate(rows, func(_ int, r []string) { r[6] += " USD" }), `"price" retyped number -> string`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := tc.rows
			switch tc.name {
			case "dropped":
				rs = mutate(rows, func(_ int, r []string) {})
				for i := range rs {
					rs[i] = slices.Delete(rs[i], 2, 3)
				}
			case "added":
				rs = mutate(rows, func(_ int, r []string) {})
				for i := range rs {
					rs[i] = append(rs[i], "x")
				}
			}
			sig := l.check(t, tc.header, rs)
			if !has(sig, SignalSchema, "") || !strings.Contains(names(sig), tc.want) {
				t.Errorf("signals: %s; want a schema change %s", names(sig), tc.want)
			}
		})
	}
	// int -> float is not a schema change
	sig := l.check(t, l.header, mutate(rows, func(_ int, r []string) { r[6] += ".0" }))
	if has(sig, SignalSchema, "") {
		t.Errorf("price written as float: %s; want no schema change", names(sig))
	}
}

func TestCheckRansomware(t *testing.T) {
	csvData := readGz(t, "penguins.csv.gz")
	csvProf := profileBytes(t, "p.csv", csvData, 0, nil)
	random := randomBytes(len(csvData))
	png := profileBytes(t, "i.png", pngBytes(t), 0, nil)
	gz := profileBytes(t, "x.gz", gzipBytes(t, csvData), 0, nil)
	randomProf := func(key string) *Profile { return profileBytes(t, key, randomBytes(20000), 0, nil) }
	for _, tc := range []struct {
		name string
		p    *Profile
		b    Baseline
		want bool
	}{
		{"csv encrypted", profileBytes(t, "p.csv", random, 0, nil), Baseline{Previous: csvProf}, true},
		{"csv encrypted, siblings only", profileBytes(t, "p.csv", random, 0, nil), Baseline{Siblings: []*Profile{csvProf, csvProf, csvProf}}, true},
		{"csv encrypted, no baseline", profileBytes(t, "p.csv", random, 0, nil), Baseline{}, true},
		{"age marker", profileBytes(t, "p.csv", append([]byte("age-encryption.org/v1\n"), random...), 0, nil), Baseline{Previous: csvProf}, true},
		{"png to random", randomProf("i.png"), Baseline{Previous: png}, true},
		{"png to png", png, Baseline{Previous: png}, false},
		{"gzip to gzip", gz, Baseline{Previous: gz}, false},
		{"random blob to random blob", randomProf("b.bin"), Baseline{Previous: randomProf("b.bin")}, false},
		{"new random blob", randomProf("b.bin"), Baseline{}, false},
		{"age files stay age files", profileBytes(t, "s.age", append([]byte("age-encryption.org/v1\n"), random...), 0, nil),
			Baseline{Previous: profileBytes(t, "s.age", append([]byte("age-encryption.org/v1\n"), randomBytes(900)...), 0, nil)}, false},
		{"csv to csv", csvProf, Baseline{Previous: csvProf}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig := Check(tc.p, tc.b, Thresholds{})
			if got := has(sig, SignalRansomware, ""); got != tc.want {
				t.Errorf("ransomware = %v (%s); want %v", got, names(sig), tc.want)
			}
		})
	}
}

func TestCheckUnparseableAfterParseable(t *testing.T) {
	prev := profileBytes(t, "p.csv", readGz(t, "penguins.csv.gz"), 0, nil)
	broken := profileBytes(t, "p.csv", []byte("species,island\nAdelie,\"Torgersen\nGentoo,Biscoe,extra,fields\n"), 0, nil)
	sig := Check(broken, Baseline{Previous: prev}, Thresholds{})
	if !has(sig, SignalSchema, "") || has(sig, SignalRansomware, "") {
		t.Errorf("signals: %s; want a schema change, not ransomware", names(sig))
	}
	text := profileBytes(t, "p.csv", []byte("just some words\n"), 0, nil)
	if sig := Check(text, Baseline{Previous: prev}, Thresholds{}); !has(sig, SignalSchema, "") {
		t.Errorf("table replaced by text: %s; want a schema change", names(sig))
	}
}

func TestCheckRowsAndDuplicates(t *testing.T) {
	l := newDiamondsLake(t)
	rows := l.fresh()
	if sig := l.check(t, l.header, rows[:600]); !has(sig, SignalRowCount, "") {
		t.Errorf("a fifth of the records: %s; want row_count", names(sig))
	}
	if sig := l.check(t, l.header, rows[:2600]); has(sig, SignalRowCount, "") {
		t.Errorf("13%% fewer records: %s; want no row_count", names(sig))
	}
	dup := mutate(rows, func(i int, r []string) {
		if i%10 == 0 {
			copy(r, rows[(i+1)%len(rows)])
		}
	})
	if sig := l.check(t, l.header, dup); !has(sig, SignalDuplicates, "") {
		t.Errorf("10%% duplicated: %s; want duplicates", names(sig))
	}
}

// TestCheckLabelFlipsWithoutMarginalChange flips labels in pairs, so
// that every label keeps its share: only the label statistics can tell.
func TestCheckLabelFlipsWithoutMarginalChange(t *testing.T) {
	sib, header, rows, rng := lake(t, "penguins.csv.gz", 20, 172, 5)
	species := col(header, "species")
	fresh := sample(rng, rows, 172)
	var adelie, gentoo []int
	for i, r := range fresh {
		switch r[species] {
		case "Adelie":
			adelie = append(adelie, i)
		case "Gentoo":
			gentoo = append(gentoo, i)
		}
	}
	swapped := mutate(fresh, func(int, []string) {})
	for k := range 12 { // 24 records, 14%
		swapped[adelie[k]][species], swapped[gentoo[k]][species] = "Gentoo", "Adelie"
	}
	b := Baseline{Siblings: sib}
	p := profileRows(t, "p.csv", header, swapped)
	sig := Check(p, b, Thresholds{})
	if !has(sig, SignalDrift, "species") {
		t.Errorf("swapped labels: %s; want drift on species", names(sig))
	}
	if has(sig, SignalDrift, "") && !strings.Contains(names(sig), "numeric columns within its values") {
		t.Errorf("swapped labels detected by shares, which did not change: %s", names(sig))
	}
	if sig := Check(profileRows(t, "p.csv", header, fresh), b, Thresholds{}); len(sig) > 0 {
		t.Errorf("unflipped partition: %s; want nothing", names(sig))
	}
}

func TestCheckWithoutCalibration(t *testing.T) {
	header, rows := records(t, readGz(t, "diamonds.csv.gz"))
	rng := rand.New(rand.NewPCG(9, 9))
	prev := profileRows(t, "d.csv", header, sample(rng, rows, 3000))
	b := Baseline{Previous: prev}
	if sig := Check(profileRows(t, "d.csv", header, sample(rng, rows, 3000)), b, Thresholds{}); len(sig) > 0 {
		t.Errorf("benign rewrite against the previous version only: %s", names(sig))
	}
	price := col(header, "price")
	doubled := mutate(sample(rng, rows, 3000), func(_ int, r []string) {
		p, _ := strconv.Atoi(r[price])
		r[price] = strconv.Itoa(3 * p)
	})
	if sig := Check(profileRows(t, "d.csv", header, doubled), b, Thresholds{}); !has(sig, SignalDrift, "price") {
		t.Errorf("tripled prices against the previous version only: %s; want drift", names(sig))
	}
}

func TestCheckAdvancingColumnsAreNotDrift(t *testing.T) {
	header := []string{"ts", "id", "v"}
	rng := rand.New(rand.NewPCG(1, 2))
	part := func(day int) *Profile {
		var rows [][]string
		for i := range 1000 {
			ts := 1709251200 + day*86400 + rng.IntN(86400)
			rows = append(rows, []string{
				fmt.Sprint(ts), strconv.Itoa(day*1000 + i), strconv.FormatFloat(rng.NormFloat64(), 'f', 3, 64)})
		}
		return profileRows(t, "t.csv", header, rows)
	}
	var sib []*Profile
	for d := 10; d > 0; d-- {
		sib = append(sib, part(d))
	}
	if sig := Check(part(11), Baseline{Siblings: sib}, Thresholds{}); len(sig) > 0 {
		t.Errorf("next day's partition: %s; want nothing", names(sig))
	}
}

func TestCheckNilAndOddProfiles(t *testing.T) {
	p := profileBytes(t, "p.csv", readGz(t, "penguins.csv.gz"), 0, nil)
	odd := *p
	odd.Columns = slices.Clone(p.Columns)
	odd.Columns[2].Quantiles = odd.Columns[2].Quantiles[:3]
	odd.Columns[3].Hist = nil
	odd.Groups = []Group{{By: "species", Values: []string{"x"}, Counts: nil, Columns: []GroupColumn{{Name: "a"}}}}
	for _, b := range []Baseline{{}, {Previous: &odd}, {Siblings: []*Profile{nil, &odd, &odd, &odd, &odd, &odd, &odd}}} {
		Check(p, b, Thresholds{})
		Check(&odd, b, Thresholds{})
	}
	if Check(nil, Baseline{}, Thresholds{}) != nil {
		t.Error("Check(nil) fired")
	}
}

func TestThresholdsDisable(t *testing.T) {
	l := newDiamondsLake(t)
	rows := l.fresh()
	off := Thresholds{RowCount: -1}
	p := profileRows(t, "d.csv", l.header, rows[:500])
	if sig := Check(p, Baseline{Siblings: l.siblings}, off); has(sig, SignalRowCount, "") {
		t.Errorf("row count disabled but fired: %s", names(sig))
	}
}

func TestDefaultsFillZeroFields(t *testing.T) {
	got := Thresholds{DriftSigma: 5}.withDefaults()
	want := DefaultThresholds()
	want.DriftSigma = 5
	if got != want {
		t.Errorf("withDefaults = %+v; want %+v", got, want)
	}
}

func TestVerdict(t *testing.T) {
	if flagged, summary := Verdict(nil); flagged || summary != "" {
		t.Errorf("Verdict(nil) = %v, %q", flagged, summary)
	}
	sig := []Signal{
		{Name: SignalRansomware, Reason: "encrypted"},
		{Name: SignalDrift, Column: "price", Reason: strings.Repeat("é", 600)},
	}
	flagged, summary := Verdict(sig)
	if !flagged || !strings.HasPrefix(summary, "ransomware: encrypted; drift[price]: ") || len(summary) > 1000 {
		t.Errorf("Verdict = %v, %q", flagged, summary)
	}
	if b, _ := json.Marshal(summary); strings.Contains(string(b), `\ufffd`) {
		t.Errorf("summary cut inside a character")
	}
}

func TestStatistics(t *testing.T) {
	for _, tc := range []struct{ df, p, want float64 }{
		{1, 0.05, 3.841459}, {2, 0.05, 5.991465}, {10, 0.01, 23.209251}, {30, 0.5, 29.335955}, {1, normalTail(4), 16},
	} {
		if got := chi2Quantile(tc.df, tc.p); math.Abs(got-tc.want) > 1e-4*tc.want {
			t.Errorf("chi2Quantile(%v, %v) = %v; want %v", tc.df, tc.p, got, tc.want)
		}
	}
	q := []float64{0, 1, 1, 1, 4}
	for _, tc := range []struct{ x, want float64 }{{-1, 0}, {0, 0}, {0.5, 0.125}, {1, 0.75}, {2.5, 0.875}, {4, 1}} {
		if got := cdfAt(q, tc.x); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("cdfAt(%v) = %v; want %v", tc.x, got, tc.want)
		}
	}
	if got := psi([]float64{0.5, 0.5}, []float64{0.5, 0.5}, 100, 100); got != 0 {
		t.Errorf("psi of equal distributions = %v", got)
	}
}

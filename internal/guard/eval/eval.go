// Package eval measures the guard on real data. It builds a lake of daily
// partitions per dataset from random subsets of the real records (natural
// variation only), profiles each benign partition against the partitions
// before it, replays attacks on fresh partitions and reports, at the given
// thresholds, the share of attacks detected and of benign writes flagged.
//
// Run it with go run ./internal/guard/eval/cmd; docs/guard.md holds the
// table for the documented seeds.
package eval

import (
	"bytes"
	"compress/gzip"
	"crypto/aes"
	"crypto/cipher"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rhizome-data/rhizome/internal/guard"
)

// Options tune an evaluation; zero fields mean the defaults.
type Options struct {
	// Seeds drive every random choice; each seed builds its own lake
	// (default 1 to 5).
	Seeds []uint64
	// Days is the number of daily partitions per dataset (default 40).
	Days int
	// Warmup is the number of first partitions that only form the
	// baseline (default 10).
	Warmup int
	// Window is the number of previous partitions a check sees as
	// siblings (default 30).
	Window int
	// Datasets selects datasets by name (default all: diamonds, penguins,
	// taxis).
	Datasets []string
	// DataDir holds the datasets (default internal/guard/testdata).
	DataDir string
	// Thresholds are those judged (zero fields: the defaults).
	Thresholds guard.Thresholds
}

func (o Options) withDefaults() Options {
	if len(o.Seeds) == 0 {
		o.Seeds = []uint64{1, 2, 3, 4, 5}
	}
	if o.Days <= 0 {
		o.Days = 40
	}
	if o.Warmup <= 0 {
		o.Warmup = 10
	}
	if o.Window <= 0 {
		o.Window = 30
	}
	if len(o.Datasets) == 0 {
		for _, s := range specs {
			o.Datasets = append(o.Datasets, s.name)
		}
	}
	if o.DataDir == "" {
		_, file, _, _ := runtime.Caller(0)
		o.DataDir = filepath.Join(filepath.Dir(file), "..", "testdata")
	}
	return o
}

// spec describes a dataset and how it is attacked.
type spec struct {
	name  string
	file  string
	label string // the label column flipped
	shift string // the numeric column shifted and retyped
	unit  string // appended to the retyped column's values
	size  int    // mean records per daily partition
}

// specs are the datasets. Partition sizes: diamonds and taxis are sampled
// in partitions of a few thousand records from 53,940 and 6,433; penguins
// (344 records) in halves.
var specs = []spec{
	{name: "diamonds", file: "diamonds.csv.gz", label: "cut", shift: "price", unit: "USD", size: 5000},
	{name: "penguins", file: "penguins.csv.gz", label: "species", shift: "body_mass_g", unit: "g", size: 172},
	{name: "taxis", file: "taxis.csv.gz", label: "payment", shift: "fare", unit: "USD", size: 2000},
}

// Attack and benign row names, in report order.
const (
	rowBenign        = "benign writes flagged (false positives)"
	rowBenignActions = "benign overwrites and deletes flagged (false positives)"
	rowRansomFile    = "ransomware: 20% of files encrypted (per file)"
	rowRansomMass    = "ransomware: 20% of files encrypted (mass tracker, per campaign)"
	rowDrop          = "schema: a column dropped"
	rowRetype        = "schema: a numeric column retyped to text"
	rowDup           = "duplicated records (10%)"
	rowMassDelete    = "mass deletion of 30% of a prefix (per campaign)"
	rowHistory       = "edit of a 30-day-old partition"
)

func rowFlip(p float64) string  { return fmt.Sprintf("label flips in %g%% of records", 100*p) }
func rowShift(p float64) string { return fmt.Sprintf("shift by 1 sd in %g%% of records", 100*p) }

var (
	flipShares  = []float64{0.02, 0.05, 0.10, 0.20}
	shiftShares = []float64{0.05, 0.10, 0.25}
)

// Cell counts the trials of one attack on one dataset.
type Cell struct {
	Trials  int
	Flagged int
	// Signals counts the trials in which each signal fired.
	Signals map[string]int
}

// Rate is the share of flagged trials.
func (c *Cell) Rate() float64 {
	if c == nil || c.Trials == 0 {
		return 0
	}
	return float64(c.Flagged) / float64(c.Trials)
}

// Report is the outcome of an evaluation.
type Report struct {
	Options  Options
	Datasets []string
	Rows     []string
	// Cells is keyed by row, then dataset.
	Cells map[string]map[string]*Cell
	// Labels and Shifted name, per dataset, the label column flipped and
	// the numeric column shifted.
	Labels, Shifted map[string]string
	// Partition is the mean partition size per dataset.
	Partition map[string]int
}

func (r *Report) cell(row, ds string) *Cell {
	if r.Cells[row] == nil {
		r.Cells[row] = map[string]*Cell{}
	}
	c := r.Cells[row][ds]
	if c == nil {
		c = &Cell{Signals: map[string]int{}}
		r.Cells[row][ds] = c
	}
	return c
}

// record counts one trial; flagged is whether any signal fired.
func (r *Report) record(row, ds string, signals []guard.Signal) {
	c := r.cell(row, ds)
	c.Trials++
	flagged, _ := guard.Verdict(signals)
	if flagged {
		c.Flagged++
	}
	seen := map[string]bool{}
	for _, s := range signals {
		if !seen[s.Name] {
			seen[s.Name] = true
			c.Signals[s.Name]++
		}
	}
}

// Total sums a row over the datasets.
func (r *Report) Total(row string) *Cell {
	t := &Cell{Signals: map[string]int{}}
	for _, ds := range r.Datasets {
		if c := r.Cells[row][ds]; c != nil {
			t.Trials += c.Trials
			t.Flagged += c.Flagged
			for k, v := range c.Signals {
				t.Signals[k] += v
			}
		}
	}
	return t
}

// Run evaluates the guard; it fails only when a dataset cannot be read.
func Run(opts Options) (Report, error) {
	opts = opts.withDefaults()
	th := opts.Thresholds
	rep := Report{Options: opts, Cells: map[string]map[string]*Cell{},
		Labels: map[string]string{}, Shifted: map[string]string{}, Partition: map[string]int{}}
	rep.Rows = []string{rowBenign, rowBenignActions, rowRansomFile, rowRansomMass, rowDrop, rowRetype}
	for _, p := range flipShares {
		rep.Rows = append(rep.Rows, rowFlip(p))
	}
	for _, p := range shiftShares {
		rep.Rows = append(rep.Rows, rowShift(p))
	}
	rep.Rows = append(rep.Rows, rowDup, rowMassDelete, rowHistory)
	for _, name := range opts.Datasets {
		i := slices.IndexFunc(specs, func(s spec) bool { return s.name == name })
		if i < 0 {
			return rep, fmt.Errorf("eval: unknown dataset %q", name)
		}
		sp := specs[i]
		d, err := load(filepath.Join(opts.DataDir, sp.file), sp)
		if err != nil {
			return rep, err
		}
		rep.Datasets = append(rep.Datasets, sp.name)
		rep.Labels[sp.name], rep.Shifted[sp.name], rep.Partition[sp.name] = sp.label, sp.shift, sp.size
		for _, seed := range opts.Seeds {
			runLake(&rep, d, seed, opts, th)
		}
	}
	return rep, nil
}

// data is a loaded dataset.
type data struct {
	spec
	header   []string
	rows     [][]string
	labelCol int
	shiftCol int
	classes  []string // the label's values
	sd       float64  // the shifted column's standard deviation
	decimals int      // the shifted column's decimals
}

func load(path string, sp spec) (*data, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("eval: %s: %w", path, err)
	}
	recs, err := csv.NewReader(zr).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("eval: %s: %w", path, err)
	}
	d := &data{spec: sp, header: recs[0], rows: recs[1:]}
	d.labelCol = slices.Index(d.header, sp.label)
	d.shiftCol = slices.Index(d.header, sp.shift)
	if d.labelCol < 0 || d.shiftCol < 0 {
		return nil, fmt.Errorf("eval: %s lacks column %q or %q", path, sp.label, sp.shift)
	}
	seen := map[string]bool{}
	var sum, sum2, n float64
	for _, r := range d.rows {
		if v := r[d.labelCol]; v != "" && !seen[v] {
			seen[v] = true
			d.classes = append(d.classes, v)
		}
		if x, err := strconv.ParseFloat(r[d.shiftCol], 64); err == nil {
			sum += x
			sum2 += x * x
			n++
			if i := strings.IndexByte(r[d.shiftCol], '.'); i >= 0 {
				d.decimals = max(d.decimals, len(r[d.shiftCol])-i-1)
			}
		}
	}
	slices.Sort(d.classes)
	d.sd = math.Sqrt((sum2 - sum*sum/n) / (n - 1))
	return d, nil
}

func render(header []string, rows [][]string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(header)
	w.WriteAll(rows)
	return b.Bytes()
}

// profile profiles b as a PUT does, with the model the store fits on the
// siblings (nil: none).
func profile(key string, b []byte, m *guard.Model) *guard.Profile {
	p := guard.NewProfiler(key, &guard.ProfileOptions{Size: int64(len(b)), Model: m})
	p.Write(b)
	return p.Profile()
}

var day0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

func partKey(ds string, day int) string {
	return fmt.Sprintf("%s/date=%s/part-0.csv", ds, day0.AddDate(0, 0, day).Format("2006-01-02"))
}

// siblings returns the profiles of the partitions before day, most
// recent first, at most window of them, skipping skip.
func siblings(profiles []*guard.Profile, day, window, skip int) []*guard.Profile {
	var out []*guard.Profile
	for d := day - 1; d >= 0 && len(out) < window; d-- {
		if d != skip {
			out = append(out, profiles[d])
		}
	}
	return out
}

func runLake(rep *Report, d *data, seed uint64, opts Options, th guard.Thresholds) {
	rng := newRng(seed, d)
	days := opts.Days
	parts := make([][][]string, days)
	benign := make([]*guard.Profile, days)
	models := make([]*guard.Model, days)
	for day := range days {
		n := int(math.Round(float64(d.size) * (0.85 + 0.3*rng.Float64())))
		parts[day] = subset(rng, d.rows, n)
		models[day] = guard.NewModel(siblings(benign, day, opts.Window, -1), th)
		benign[day] = profile(partKey(d.name, day), render(d.header, parts[day]), models[day])
	}
	for day := opts.Warmup; day < days; day++ {
		base := guard.Baseline{Siblings: siblings(benign, day, opts.Window, -1)}
		key := partKey(d.name, day)
		rep.record(rowBenign, d.name, guard.Check(benign[day], base, th))
		try := func(row string, header []string, rows [][]string) {
			rep.record(row, d.name, guard.Check(profile(key, render(header, rows), models[day]), base, th))
		}
		for _, p := range flipShares {
			try(rowFlip(p), d.header, flip(rng, d, parts[day], p))
		}
		for _, p := range shiftShares {
			try(rowShift(p), d.header, shift(rng, d, parts[day], p))
		}
		try(rowDup, d.header, duplicate(rng, parts[day], 0.10))
		h, rows := drop(rng, d.header, parts[day])
		try(rowDrop, h, rows)
		try(rowRetype, d.header, retype(d, parts[day]))
	}
	ransomware(rep, d, rng, parts, benign, opts, th)
	actions(rep, d, rng, opts, th)
}

func newRng(seed uint64, d *data) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(len(d.name))<<32|uint64(d.name[0])))
}

// subset draws n distinct records.
func subset(rng *rand.Rand, rows [][]string, n int) [][]string {
	n = min(n, len(rows))
	idx := rng.Perm(len(rows))[:n]
	out := make([][]string, n)
	for i, j := range idx {
		out[i] = rows[j]
	}
	return out
}

func clone(rows [][]string) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = slices.Clone(r)
	}
	return out
}

// flip gives a share of the labelled records another label, chosen
// uniformly among the other classes.
func flip(rng *rand.Rand, d *data, rows [][]string, share float64) [][]string {
	out := clone(rows)
	var labelled []int
	for i, r := range out {
		if r[d.labelCol] != "" {
			labelled = append(labelled, i)
		}
	}
	k := int(math.Round(share * float64(len(labelled))))
	for _, j := range rng.Perm(len(labelled))[:k] {
		r := out[labelled[j]]
		for {
			c := d.classes[rng.IntN(len(d.classes))]
			if c != r[d.labelCol] {
				r[d.labelCol] = c
				break
			}
		}
	}
	return out
}

// shift adds one standard deviation (of the whole dataset) to the shifted
// column in a share of the records, keeping the column's precision.
func shift(rng *rand.Rand, d *data, rows [][]string, share float64) [][]string {
	out := clone(rows)
	var valued []int
	for i, r := range out {
		if _, err := strconv.ParseFloat(r[d.shiftCol], 64); err == nil {
			valued = append(valued, i)
		}
	}
	k := int(math.Round(share * float64(len(valued))))
	for _, j := range rng.Perm(len(valued))[:k] {
		r := out[valued[j]]
		x, _ := strconv.ParseFloat(r[d.shiftCol], 64)
		r[d.shiftCol] = strconv.FormatFloat(x+d.sd, 'f', d.decimals, 64)
	}
	return out
}

// duplicate overwrites a share of the records with copies of others.
func duplicate(rng *rand.Rand, rows [][]string, share float64) [][]string {
	out := clone(rows)
	k := int(math.Round(share * float64(len(out))))
	for _, j := range rng.Perm(len(out))[:k] {
		out[j] = slices.Clone(rows[rng.IntN(len(rows))])
	}
	return out
}

// drop removes a random column.
func drop(rng *rand.Rand, header []string, rows [][]string) ([]string, [][]string) {
	c := rng.IntN(len(header))
	h := slices.Delete(slices.Clone(header), c, c+1)
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = slices.Delete(slices.Clone(r), c, c+1)
	}
	return h, out
}

// retype writes the shifted column's numbers with a unit: "326 USD".
func retype(d *data, rows [][]string) [][]string {
	out := clone(rows)
	for _, r := range out {
		if r[d.shiftCol] != "" {
			r[d.shiftCol] += " " + d.unit
		}
	}
	return out
}

// ransomware encrypts 20% of the partitions with AES-CTR, one a minute,
// overwriting them: each encrypted file is checked against its previous
// version and the current state of the other partitions, and a mass
// tracker follows the campaign.
func ransomware(rep *Report, d *data, rng *rand.Rand, parts [][][]string, benign []*guard.Profile, opts Options, th guard.Thresholds) {
	days := len(parts)
	current := slices.Clone(benign)
	k := int(math.Ceil(0.2 * float64(days)))
	tracker := guard.NewMassTracker(th)
	start := day0.AddDate(0, 0, days).Add(3 * time.Hour)
	campaign := false
	key := make([]byte, 32)
	iv := make([]byte, aes.BlockSize)
	for i, day := range rng.Perm(days)[:k] {
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		for j := range iv {
			iv[j] = byte(rng.Uint32())
		}
		block, _ := aes.NewCipher(key)
		plain := render(d.header, parts[day])
		enc := make([]byte, len(plain))
		cipher.NewCTR(block, iv).XORKeyStream(enc, plain)
		p := profile(partKey(d.name, day), enc, nil)
		base := guard.Baseline{Previous: current[day], Siblings: siblings(current, days, opts.Window, day)}
		rep.record(rowRansomFile, d.name, guard.Check(p, base, th))
		current[day] = p
		if s := tracker.Observe("mallory", d.name+"/", partKey(d.name, day), days, start.Add(time.Duration(i)*time.Minute), guard.KindOverwrite); s != nil {
			campaign = true
		}
	}
	c := rep.cell(rowRansomMass, d.name)
	c.Trials++
	if campaign {
		c.Flagged++
		c.Signals[guard.SignalMassChange]++
	}
}

// action is one overwrite or delete of benign traffic.
type action struct {
	who  string
	part int // the partition's age in days
	kind string
	at   time.Time
}

// actions replays the action-level traffic: three mass-deletion campaigns
// (30% of the prefix by one identity, spread over 2, 20 and 55 minutes),
// five edits of 30-day-old partitions, and thirty days of benign traffic
// (a pipeline that rewrites yesterday's partition and expires the oldest
// every night, an analyst who corrects two recent partitions a day).
func actions(rep *Report, d *data, rng *rand.Rand, opts Options, th guard.Thresholds) {
	days := opts.Days
	prefix := d.name + "/"
	now := day0.AddDate(0, 0, days).Add(9 * time.Hour)
	for _, span := range []time.Duration{2 * time.Minute, 20 * time.Minute, 55 * time.Minute} {
		tracker := guard.NewMassTracker(th)
		k := int(math.Round(0.3 * float64(days)))
		fired := false
		for i, day := range rng.Perm(days)[:k] {
			at := now.Add(span * time.Duration(i) / time.Duration(k))
			if tracker.Observe("mallory", prefix, partKey(d.name, day), days-i, at, guard.KindDelete) != nil {
				fired = true
			}
		}
		c := rep.cell(rowMassDelete, d.name)
		c.Trials++
		if fired {
			c.Flagged++
			c.Signals[guard.SignalMassChange]++
		}
	}
	for range 5 {
		created := now.AddDate(0, 0, -30).Add(-time.Duration(rng.IntN(12)) * time.Hour)
		var sig []guard.Signal
		if s := guard.HistoryRewrite(created, now, th); s != nil {
			sig = append(sig, *s)
		}
		rep.record(rowHistory, d.name, sig)
	}
	tracker := guard.NewMassTracker(th)
	for day := range 30 {
		night := day0.AddDate(0, 0, days+day).Add(2 * time.Hour)
		events := []action{
			{"pipeline", 1, guard.KindOverwrite, night},
			{"pipeline", days, guard.KindDelete, night.Add(time.Minute)},
		}
		for j := range 2 {
			events = append(events, action{"analyst", 1 + rng.IntN(3), guard.KindOverwrite,
				night.Add(8*time.Hour + time.Duration(j)*10*time.Minute)})
		}
		for _, ev := range events {
			var sig []guard.Signal
			if s := tracker.Observe(ev.who, prefix, partKey(d.name, days+day-ev.part), days, ev.at, ev.kind); s != nil {
				sig = append(sig, *s)
			}
			created := day0.AddDate(0, 0, days+day-ev.part).Add(2 * time.Hour)
			if s := guard.HistoryRewrite(created, ev.at, th); s != nil && ev.kind == guard.KindOverwrite {
				sig = append(sig, *s)
			}
			rep.record(rowBenignActions, d.name, sig)
		}
	}
}

// Markdown renders the report as a table: detection rate per attack and
// dataset (flagged/trials), false-positive rates first.
func (r *Report) Markdown() string {
	var b strings.Builder
	b.WriteString("| write | " + strings.Join(r.Datasets, " | ") + " | all | signals that fired (share of trials) |\n")
	b.WriteString("|---" + strings.Repeat("|---:", len(r.Datasets)+1) + "|---|\n")
	for _, row := range r.Rows {
		b.WriteString("| " + row)
		for _, ds := range r.Datasets {
			b.WriteString(" | " + fmtCell(r.Cells[row][ds]))
		}
		t := r.Total(row)
		b.WriteString(" | " + fmtCell(t) + " | " + fmtSignals(t) + " |\n")
	}
	return b.String()
}

func fmtCell(c *Cell) string {
	if c == nil || c.Trials == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%% (%d/%d)", 100*c.Rate(), c.Flagged, c.Trials)
}

func fmtSignals(c *Cell) string {
	names := make([]string, 0, len(c.Signals))
	for k := range c.Signals {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int {
		if c.Signals[a] != c.Signals[b] {
			return c.Signals[b] - c.Signals[a]
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", n, 100*float64(c.Signals[n])/float64(c.Trials)))
	}
	return strings.Join(parts, ", ")
}

// Write prints the report's table to w.
func (r *Report) Write(w io.Writer) error {
	_, err := io.WriteString(w, r.Markdown())
	return err
}

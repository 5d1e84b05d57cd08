package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/config"
	"github.com/rhizome-data/rhizome/internal/index"
)

// openGuardDir opens a store over the default layout in dir (file
// backends, the SQLite index in dir) with a quarantine policy on lake/t/,
// as `rhizome serve` and a CLI run would open the same directory.
func openGuardDir(t *testing.T, dir string) *Store {
	t.Helper()
	cfg := config.Default(dir)
	for i := range cfg.Backends {
		cfg.Backends[i].NoSync = true
		if err := os.MkdirAll(cfg.Resolve(cfg.Backends[i].Path), 0o755); err != nil { // as `rhizome init` does
			t.Fatal(err)
		}
	}
	cfg.Guard.Policies = []config.GuardPolicy{{Prefix: "lake/t/", Mode: "quarantine"}}
	s, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// seedDir writes n benign partitions under lake/t/.
func seedDir(t *testing.T, s *Store, n int) {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		data := partition(uint64(i), 100)
		if _, err := s.Put(ctx, "lake", fmt.Sprintf("t/day%02d.csv", i), strings.NewReader(data),
			&PutOptions{Size: int64(len(data)), SizeKnown: true, Identity: "etl"}); err != nil {
			t.Fatal(err)
		}
	}
}

// deleteAs deletes t/dayNN.csv as mallory and reports whether the guard
// flagged (quarantined) the delete.
func deleteAs(t *testing.T, s *Store, i int) bool {
	t.Helper()
	info, err := s.Delete(context.Background(), "lake", fmt.Sprintf("t/day%02d.csv", i), "mallory")
	if err != nil {
		t.Fatalf("delete %d: %v", i, err)
	}
	return info.Quarantined
}

// massAlerts counts the alerts whose signals include mass_change.
func massAlerts(t *testing.T, s *Store) int {
	t.Helper()
	as, err := s.Alerts(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range as {
		if strings.Contains(a.Summary, "mass_change") {
			n++
		}
	}
	return n
}

// A campaign that deletes 30% of a 20-object prefix, 3 deletes through
// each of two stores open on the same directory at once (the gateway and
// a CLI run), is one campaign: neither half alone reaches the 5 objects
// a mass change needs.
func TestGuardMassChangeAcrossStores(t *testing.T) {
	dir := t.TempDir()
	a := openGuardDir(t, dir)
	seedDir(t, a, 20)
	b := openGuardDir(t, dir)
	var flagged []int
	for i := range 6 {
		s := a
		if i%2 == 1 {
			s = b
		}
		if deleteAs(t, s, i) {
			flagged = append(flagged, i)
		}
	}
	if fmt.Sprint(flagged) != "[4 5]" {
		t.Fatalf("flagged deletes %v; want [4 5] (the 5th and 6th of the campaign, whichever store made them)", flagged)
	}
	if n := massAlerts(t, a); n != 2 {
		t.Errorf("%d mass_change alerts; want 2", n)
	}
	d, err := b.Alert(context.Background(), mustAlertID(t, b, "t/day05.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d.Summary, `"mallory" deleted 6 of`) {
		t.Errorf("alert summary %q; want mallory's 6 deletes counted", d.Summary)
	}
}

// A campaign split by a restart is still one campaign.
func TestGuardMassChangeAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	a := openGuardDir(t, dir)
	seedDir(t, a, 20)
	for i := range 3 {
		if deleteAs(t, a, i) {
			t.Fatalf("delete %d of 20 flagged", i+1)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := openGuardDir(t, dir)
	if deleteAs(t, b, 3) {
		t.Fatal("4th delete of 20 flagged; want the 5th to be the first (MassMinObjects)")
	}
	if !deleteAs(t, b, 4) {
		t.Fatal("5th delete of 20, the first after a restart split the campaign, not flagged")
	}
}

// Changes older than the largest window are pruned from the index, and a
// campaign slower than the window does not fire.
func TestGuardMassChangePrune(t *testing.T) {
	ts := guardStore(t, "quarantine")
	ctx := context.Background()
	seedPartitions(t, ts, 20)
	clock := time.Now()
	ts.now = func() time.Time { return clock }
	for i := range 4 {
		if info, err := ts.Delete(ctx, "lake", fmt.Sprintf("t/day%02d.csv", i), "mallory"); err != nil || info.Quarantined {
			t.Fatalf("delete %d: %+v, %v; want an unflagged delete", i, info, err)
		}
	}
	tally := func() index.MassTally {
		t.Helper()
		got, err := ts.idx.MassTally(ctx, "lake/t/", "lake/t/", "mallory", time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := tally(); got.Keys != 4 || got.Deletes != 4 {
		t.Fatalf("index holds %+v; want mallory's 4 deletes", got)
	}
	clock = clock.Add(time.Hour + time.Minute) // past the 1-hour window
	for i := 4; i < 8; i++ {
		if info, err := ts.Delete(ctx, "lake", fmt.Sprintf("t/day%02d.csv", i), "mallory"); err != nil || info.Quarantined {
			t.Fatalf("delete %d, an hour after the first four: %+v, %v; want an unflagged delete", i, info, err)
		}
	}
	if got := tally(); got.Keys != 4 {
		t.Errorf("index holds %d of mallory's changes after the window passed; want the 4 recent ones (old ones pruned)", got.Keys)
	}
	if n := massAlerts(t, ts.Store); n != 0 {
		t.Errorf("%d mass_change alerts for a campaign slower than the window; want none", n)
	}
}

// failingMass is an index whose mass-change records fail.
type failingMass struct {
	index.Index
}

func (failingMass) PutMassChange(context.Context, index.MassChange) error {
	return errors.New("disk full")
}

// The guard never fails a write because it cannot keep its own records:
// the delete goes through, the check is skipped.
func TestGuardMassChangeIndexFailure(t *testing.T) {
	ts := guardStore(t, "block")
	ctx := context.Background()
	seedPartitions(t, ts, 10)
	ts.idx = failingMass{ts.idx}
	for i := range 10 {
		if _, err := ts.Delete(ctx, "lake", fmt.Sprintf("t/day%02d.csv", i), "mallory"); err != nil {
			t.Fatalf("delete %d with the mass-change record failing: %v; want the delete to go through", i, err)
		}
	}
}

func mustAlertID(t *testing.T, s *Store, key string) string {
	t.Helper()
	as, err := s.Alerts(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if a.Key == key {
			return a.VersionID
		}
	}
	t.Fatalf("no alert for %s among %+v", key, as)
	return ""
}

// Compressed partitions are judged as the tables they hold.
func TestGuardGzipPartitions(t *testing.T) {
	ts := guardStore(t, "quarantine")
	ctx := context.Background()
	gz := func(s string) string {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.String()
	}
	for i := range 8 {
		putString(t, ts, fmt.Sprintf("t/day%02d.csv.gz", i), gz(partition(uint64(i), 300)))
	}
	benign := putString(t, ts, "t/day08.csv.gz", gz(partition(8, 300)))
	if benign.Quarantined {
		t.Fatal("a benign .csv.gz partition was quarantined")
	}
	d, err := ts.Stat(ctx, "lake", "t/day08.csv.gz", StatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p := profileOf(ts.Store, d.Version); p == nil || p.Format != "csv" || p.Compression != "gzip" || p.Rows != 300 {
		t.Fatalf("profile of a .csv.gz = %+v; want a csv of 300 rows, gzip-compressed", p)
	}
	dropped := strings.ReplaceAll(strings.ReplaceAll(partition(9, 300), ",adelie", ""), ",gentoo", "")
	dropped = strings.ReplaceAll(strings.ReplaceAll(dropped, ",chinstrap", ""), ",species", "")
	bad := putString(t, ts, "t/day09.csv.gz", gz(dropped))
	if !bad.Quarantined {
		t.Fatal("a .csv.gz partition without its species column was not quarantined")
	}
	if a, err := ts.Alert(ctx, bad.ID); err != nil || !strings.Contains(a.Summary, "schema_change") {
		t.Fatalf("alert = %+v, %v; want schema_change", a, err)
	}
	if enc := putString(t, ts, "t/day03.csv.gz", encrypted(4000)); !enc.Quarantined {
		t.Fatal("a .csv.gz overwritten with random bytes was not quarantined")
	}
}

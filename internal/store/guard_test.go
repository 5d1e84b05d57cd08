package store

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/config"
	"github.com/rhizome-data/rhizome/internal/index/sqlite"
)

// partition makes a CSV table with natural variation.
func partition(seed uint64, rows int) string {
	r := mrand.New(mrand.NewPCG(seed, 7))
	var b strings.Builder
	b.WriteString("id,length,weight,species\n")
	species := []string{"adelie", "gentoo", "chinstrap"}
	for i := 0; i < rows; i++ {
		sp := r.IntN(3)
		l := 40 + 5*float64(sp) + r.NormFloat64()*2
		fmt.Fprintf(&b, "%d,%.2f,%.1f,%s\n", i, l, 3500+300*float64(sp)+r.NormFloat64()*150, species[sp])
	}
	return b.String()
}

func encrypted(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return string(b)
}

func guardStore(t *testing.T, mode string) *testStore {
	return newTestStoreWith(t, func(c *config.Config) {
		c.Guard.Policies = []config.GuardPolicy{{Prefix: "lake/t/", Mode: mode}}
	})
}

func seedPartitions(t *testing.T, ts *testStore, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		putString(t, ts, fmt.Sprintf("t/day%02d.csv", i), partition(uint64(i), 300))
	}
	if as, _ := ts.Alerts(context.Background(), "", 0); len(as) != 0 {
		t.Fatalf("benign partitions raised alerts: %+v", as)
	}
}

func TestGuardQuarantine(t *testing.T) {
	ts := guardStore(t, "quarantine")
	ctx := context.Background()
	seedPartitions(t, ts, 8)
	good := partition(3, 300)
	bad := putString(t, ts, "t/day03.csv", encrypted(len(good)))
	if !bad.Quarantined {
		t.Fatal("ransomware-like overwrite was not quarantined")
	}
	if got := getString(t, ts, "t/day03.csv"); got != good {
		t.Fatal("GET serves the quarantined version")
	}
	list, _ := ts.StateAt(ctx, "lake", "t/", timeZero)
	if list.Versions["t/day03.csv"].ID == bad.ID {
		t.Fatal("LIST shows the quarantined version")
	}
	alerts, _ := ts.Alerts(ctx, AlertOpen, 0)
	if len(alerts) != 1 || alerts[0].VersionID != bad.ID || !strings.Contains(alerts[0].Summary, "ransomware") {
		t.Fatalf("alerts = %+v; want one open ransomware alert", alerts)
	}
	d, err := ts.Alert(ctx, bad.ID)
	if err != nil || d.Previous == nil || len(d.Diff) == 0 {
		t.Fatalf("alert detail = %+v, %v; want a diff against the previous version", d, err)
	}
	// A rebuilt index keeps the quarantine and the open alert.
	dst, _ := sqlite.Open(filepath.Join(t.TempDir(), "r.db"), nil)
	defer dst.Close()
	if _, err := ts.RebuildIndex(ctx, dst, nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := dst.Version(ctx, "lake", "t/day03.csv", bad.ID); !v.Quarantined {
		t.Fatal("rebuild released the quarantined version")
	}
	if a, err := dst.Alert(ctx, bad.ID); err != nil || a.State != AlertOpen {
		t.Fatalf("rebuilt alert = %+v, %v", a, err)
	}
	// Approve: the version becomes current; the decision survives rebuilds.
	if err := ts.Review(ctx, bad.ID, true, "ana"); err != nil {
		t.Fatal(err)
	}
	if got := getString(t, ts, "t/day03.csv"); got == good {
		t.Fatal("approved version not served")
	}
	if err := ts.Review(ctx, bad.ID, false, "bob"); !errors.Is(err, ErrConflict) {
		t.Fatalf("second review: %v; want conflict", err)
	}
	dst2, _ := sqlite.Open(filepath.Join(t.TempDir(), "r2.db"), nil)
	defer dst2.Close()
	ts.RebuildIndex(ctx, dst2, nil)
	if v, _ := dst2.Version(ctx, "lake", "t/day03.csv", bad.ID); v.Quarantined {
		t.Fatal("rebuild lost the approval")
	}
	// Reject: stays hidden.
	bad2 := putString(t, ts, "t/day04.csv", encrypted(9000))
	if err := ts.Review(ctx, bad2.ID, false, "ana"); err != nil {
		t.Fatal(err)
	}
	if got := getString(t, ts, "t/day04.csv"); got != partition(4, 300) {
		t.Fatal("rejected version served")
	}
}

func TestGuardBlockAndObserve(t *testing.T) {
	ts := guardStore(t, "block")
	ctx := context.Background()
	seedPartitions(t, ts, 8)
	_, err := ts.Put(ctx, "lake", "t/day02.csv", strings.NewReader(encrypted(20000)), nil)
	if !errors.Is(err, ErrForbidden) || !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), "ransomware") {
		t.Fatalf("blocked write: %v; want forbidden naming the signal", err)
	}
	if got := getString(t, ts, "t/day02.csv"); got != partition(2, 300) {
		t.Fatal("a blocked write changed the object")
	}
	// Schema break: a dropped column.
	noSpecies := strings.ReplaceAll(partition(9, 300), ",adelie", "")
	noSpecies = strings.ReplaceAll(strings.ReplaceAll(noSpecies, ",gentoo", ""), ",chinstrap", "")
	noSpecies = strings.Replace(noSpecies, ",species", "", 1)
	if _, err := ts.Put(ctx, "lake", "t/day09.csv", strings.NewReader(noSpecies), nil); !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), "schema") {
		t.Fatalf("dropped column: %v; want a schema block", err)
	}
	// Outside the policy's prefix: observe (the default) records but serves.
	putString(t, ts, "free/a.csv", partition(1, 100))
	o := putString(t, ts, "free/a.csv", encrypted(5000))
	if o.Quarantined {
		t.Fatal("observe mode quarantined")
	}
	as, _ := ts.Alerts(ctx, "", 0)
	if len(as) != 1 || as[0].VersionID != o.ID || as[0].Mode != "observe" {
		t.Fatalf("observe alerts = %+v", as)
	}
}

func TestGuardMassDeleteAndHistory(t *testing.T) {
	ts := guardStore(t, "quarantine")
	ctx := context.Background()
	seedPartitions(t, ts, 20)
	flagged := 0
	for i := 0; i < 6; i++ { // 30% of 20
		info, err := ts.Delete(ctx, "lake", fmt.Sprintf("t/day%02d.csv", i), "mallory")
		if err != nil {
			t.Fatal(err)
		}
		if info.Quarantined {
			flagged++
		}
	}
	if flagged == 0 {
		t.Fatal("deleting 30% of a prefix raised nothing")
	}
	// The quarantined deletes leave the objects readable.
	if got := getString(t, ts, "t/day05.csv"); got != partition(5, 300) {
		t.Fatal("a quarantined delete hid the object")
	}
	// History rewrite: a 30-day-old partition edited.
	ts2 := guardStore(t, "observe")
	seedPartitions(t, ts2, 6)
	ts2.now = func() time.Time { return time.Now().Add(30 * 24 * time.Hour) }
	info := putString(t, ts2, "t/day01.csv", partition(101, 300))
	d, err := ts2.Alert(ctx, info.ID)
	if err != nil || !strings.Contains(d.Summary, "history_rewrite") {
		t.Fatalf("old partition edit: %+v, %v; want a history_rewrite alert", d, err)
	}
}

func TestKeyPrefix(t *testing.T) {
	for key, want := range map[string]string{
		"a.csv":                          "",
		"t/day1.csv":                     "t/",
		"lake/tbl/date=2026-01-01/p.csv": "lake/tbl/",
		"tbl/y=2026/m=01/part-0.parquet": "tbl/",
		"tbl/2026/part.csv":              "tbl/2026/",
		"x=1/a.csv":                      "",
	} {
		if got := keyPrefix(key); got != want {
			t.Errorf("keyPrefix(%q) = %q; want %q", key, got, want)
		}
	}
}

func TestGuardWebhook(t *testing.T) {
	got := make(chan Alert, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a Alert
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad alert", 400)
			return
		}
		got <- a
	}))
	defer hook.Close()
	var counted []Alert
	ts := newTestStoreWith(t, func(c *config.Config) {
		c.Guard.Policies = []config.GuardPolicy{{Prefix: "lake/t/", Mode: "quarantine"}}
		c.Guard.Webhooks = []string{hook.URL}
	})
	ts.onAlert = func(a Alert) { counted = append(counted, a) }
	seedPartitions(t, ts, 8)
	bad := putString(t, ts, "t/day05.csv", encrypted(8000))
	select {
	case a := <-got:
		if a.VersionID != bad.ID || a.State != AlertOpen || len(a.Signals) == 0 || a.Key != "t/day05.csv" {
			t.Fatalf("webhook got %+v", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("webhook not called within 10s")
	}
	if len(counted) != 1 || counted[0].VersionID != bad.ID {
		t.Fatalf("OnAlert saw %+v", counted)
	}
}

// TestGuardRelation: the profiler gets a model of the siblings' columns'
// relationships, so a few records whose weight no longer fits their
// species are caught though the weight's distribution hardly moves.
func TestGuardRelation(t *testing.T) {
	ts := guardStore(t, "observe")
	ctx := context.Background()
	seedPartitions(t, ts, 12) // the last 7 are profiled with a model
	lines := strings.Split(strings.TrimSuffix(partition(50, 300), "\n"), "\n")
	for i := 1; i <= 24; i++ { // 8% of the records, +450 (3 residual sds)
		f := strings.Split(lines[i], ",")
		w, _ := strconv.ParseFloat(f[2], 64)
		f[2] = strconv.FormatFloat(w+450, 'f', 1, 64)
		lines[i] = strings.Join(f, ",")
	}
	info := putString(t, ts, "t/day50.csv", strings.Join(lines, "\n")+"\n")
	d, err := ts.Alert(ctx, info.ID)
	if err != nil || !strings.Contains(d.Summary, "relation[weight]") {
		t.Fatalf("shifted weights: %+v, %v; want a relation alert on weight", d, err)
	}
	// A benign partition under a new key stays quiet with the model too.
	ok := putString(t, ts, "t/day51.csv", partition(51, 300))
	if _, err := ts.Alert(ctx, ok.ID); err == nil {
		t.Fatal("benign partition raised an alert")
	}
}

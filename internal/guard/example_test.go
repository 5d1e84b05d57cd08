package guard_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/rhizome-data/rhizome/internal/guard"
)

func profile(key, content string) *guard.Profile {
	p := guard.NewProfiler(key, &guard.ProfileOptions{Size: int64(len(content))})
	p.Write([]byte(content))
	return p.Profile()
}

func Example() {
	// the previous version of the object, as its manifest keeps it
	var b strings.Builder
	b.WriteString("species,mass\n")
	for i := range 200 {
		fmt.Fprintf(&b, "%s,%d\n", []string{"Adelie", "Gentoo"}[i%2], 3500+i%7*100)
	}
	prev := profile("lake/penguins.csv", b.String())

	// a new version that is no longer a table: encrypted
	enc := profile("lake/penguins.csv", "age-encryption.org/v1\n-> X25519 1xwBFGm...\n")

	signals := guard.Check(enc, guard.Baseline{Previous: prev}, guard.DefaultThresholds())
	flagged, summary := guard.Verdict(signals)
	fmt.Println(prev.Format, prev.Rows, prev.Columns[0].Top[0])
	fmt.Println(flagged, summary)
	// Output:
	// csv 200 {Adelie 100}
	// true ransomware: content starts with the encrypted-file marker "age-encryption.org/v1"
}

func ExampleMassTracker() {
	m := guard.NewMassTracker(guard.Thresholds{})
	start := time.Date(2024, 3, 1, 3, 0, 0, 0, time.UTC)
	for i := range 10 {
		key := fmt.Sprintf("lake/events/day=%02d/part.parquet", i)
		if s := m.Observe("svc-cleanup", "lake/events/", key, 40, start.Add(time.Duration(i)*time.Minute), guard.KindDelete); s != nil {
			fmt.Println(s.Reason)
			break
		}
	}
	// Output:
	// "svc-cleanup" deleted 8 of 40 objects under "lake/events/" within 1h0m0s (20% >= 20%)
}

func ExampleMassSignal() {
	// What one identity changed under one prefix within the window, as
	// the store counts it from its index.
	tally := guard.MassTally{Keys: 9, Deletes: 9, Size: 40}
	if s := guard.MassSignal("svc-cleanup", "lake/events/", tally, guard.Thresholds{}); s != nil {
		fmt.Println(s.Name, s.Score)
		fmt.Println(s.Reason)
	}
	// Output:
	// mass_change 0.225
	// "svc-cleanup" deleted 9 of 40 objects under "lake/events/" within 1h0m0s (22% >= 20%)
}

func ExampleMatch() {
	policies := []guard.Policy{
		{Prefix: "lake", Mode: guard.ModeObserve},
		{Prefix: "lake/ml/labels/", Mode: guard.ModeQuarantine},
	}
	fmt.Println(guard.Match(policies, "lake", "ml/labels/day=1.csv").Mode)
	fmt.Println(guard.Match(policies, "lake", "raw/x.csv").Mode)
	// Output:
	// quarantine
	// observe
}

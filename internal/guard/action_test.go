package guard

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func TestHistoryRewrite(t *testing.T) {
	for _, tc := range []struct {
		name    string
		created time.Time
		fires   bool
	}{
		{"new key", time.Time{}, false},
		{"yesterday", t0.Add(-24 * time.Hour), false},
		{"just under a week", t0.Add(-7*24*time.Hour + time.Minute), false},
		{"30 days", t0.AddDate(0, 0, -30), true},
	} {
		s := HistoryRewrite(tc.created, t0, Thresholds{})
		if (s != nil) != tc.fires {
			t.Errorf("%s: HistoryRewrite = %+v; want firing %v", tc.name, s, tc.fires)
		}
		if s != nil && (s.Name != SignalHistoryRewrite || s.Score != 30 || s.Threshold != 7) {
			t.Errorf("%s: signal %+v; want score 30 days over 7", tc.name, s)
		}
	}
	if s := HistoryRewrite(t0.AddDate(0, 0, -30), t0, Thresholds{HistoryAge: 60 * 24 * time.Hour}); s != nil {
		t.Errorf("60-day threshold fired on 30 days: %+v", s)
	}
}

func TestMassTracker(t *testing.T) {
	key := func(i int) string { return fmt.Sprintf("lake/t/part-%03d.csv", i) }
	t.Run("deletes 30% of a prefix", func(t *testing.T) {
		m := NewMassTracker(Thresholds{})
		var first int
		for i := range 12 {
			if s := m.Observe("mallory", "lake/t/", key(i), 40, t0.Add(time.Duration(i)*time.Minute), KindDelete); s != nil && first == 0 {
				first = i + 1
				if s.Name != SignalMassChange || s.Score != 0.2 {
					t.Errorf("signal %+v; want mass_change at 0.2", s)
				}
			}
		}
		if first != 8 {
			t.Errorf("fired after %d deletes; want 8 (20%% of 40)", first)
		}
	})
	t.Run("slow deletes slide out of the window", func(t *testing.T) {
		m := NewMassTracker(Thresholds{})
		for i := range 30 {
			if s := m.Observe("mallory", "lake/t/", key(i), 40, t0.Add(time.Duration(i)*10*time.Minute), KindDelete); s != nil {
				t.Fatalf("delete %d, one per 10 minutes: %+v", i, s)
			}
		}
	})
	t.Run("rewriting one object often is not mass", func(t *testing.T) {
		m := NewMassTracker(Thresholds{})
		for i := range 100 {
			if s := m.Observe("etl", "lake/t/", key(0), 10, t0.Add(time.Duration(i)*time.Second), KindOverwrite); s != nil {
				t.Fatalf("overwrite %d of one key: %+v", i, s)
			}
		}
	})
	t.Run("identities and prefixes are separate", func(t *testing.T) {
		m := NewMassTracker(Thresholds{})
		for i := range 20 {
			who := []string{"a", "b", "c", "d"}[i%4]
			pfx := []string{"lake/x/", "lake/y/"}[i%2]
			if s := m.Observe(who, pfx, key(i), 40, t0.Add(time.Duration(i)*time.Second), KindOverwrite); s != nil {
				t.Fatalf("change %d spread over identities: %+v", i, s)
			}
		}
	})
	t.Run("small prefixes need MassMinObjects", func(t *testing.T) {
		m := NewMassTracker(Thresholds{})
		for i := range 4 {
			if s := m.Observe("bob", "lake/s/", key(i), 4, t0.Add(time.Duration(i)*time.Second), KindDelete); s != nil {
				t.Fatalf("deleting %d of 4: %+v; want nothing below 5 objects", i+1, s)
			}
		}
	})
	t.Run("idle entries are swept", func(t *testing.T) {
		m := NewMassTracker(Thresholds{})
		for i := range 1000 {
			m.Observe(fmt.Sprint("user", i), "lake/t/", key(i), 40, t0, KindDelete)
		}
		m.Observe("late", "lake/t/", key(0), 40, t0.Add(2*time.Hour), KindDelete)
		if n := len(m.entries); n != 1 {
			t.Errorf("%d entries after the window passed; want 1", n)
		}
	})
}

func TestMassTrackerConcurrent(t *testing.T) {
	m := NewMassTracker(Thresholds{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	fired := 0
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				if m.Observe("mallory", "lake/t/", fmt.Sprint(g, "/", i), 1000, t0.Add(time.Duration(i)*time.Millisecond), KindDelete) != nil {
					mu.Lock()
					fired++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	// 800 distinct deletes of 1000: the last 600 are at or above 20%
	if fired != 601 {
		t.Errorf("fired %d times; want 601", fired)
	}
}

func TestMassSignal(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tally  MassTally
		th     Thresholds
		reason string // "" when it must not fire
	}{
		{"below the share", MassTally{Keys: 7, Deletes: 7, Size: 40}, Thresholds{}, ""},
		{"at the share", MassTally{Keys: 8, Deletes: 8, Size: 40}, Thresholds{}, `"m" deleted 8 of 40 objects under "b/t/" within 1h0m0s (20% >= 20%)`},
		{"overwrites", MassTally{Keys: 10, Overwrites: 12, Size: 40}, Thresholds{}, `"m" overwrote 10 of 40`},
		{"both", MassTally{Keys: 10, Deletes: 3, Overwrites: 7, Size: 40}, Thresholds{}, `"m" overwrote or deleted 10 of 40`},
		{"under MassMinObjects", MassTally{Keys: 4, Deletes: 4, Size: 4}, Thresholds{}, ""},
		{"unknown size", MassTally{Keys: 9, Deletes: 9}, Thresholds{}, ""},
		{"off", MassTally{Keys: 40, Deletes: 40, Size: 40}, Thresholds{MassShare: -1}, ""},
		{"own thresholds", MassTally{Keys: 2, Deletes: 2, Size: 10}, Thresholds{MassShare: 0.1, MassMinObjects: 2, MassWindow: time.Minute}, `"m" deleted 2 of 10 objects under "b/t/" within 1m0s (20% >= 10%)`},
	} {
		s := MassSignal("m", "b/t/", tc.tally, tc.th)
		switch {
		case tc.reason == "" && s != nil:
			t.Errorf("%s: MassSignal = %+v; want none", tc.name, s)
		case tc.reason != "" && s == nil:
			t.Errorf("%s: MassSignal = nil; want %q", tc.name, tc.reason)
		case s != nil && (s.Name != SignalMassChange || !strings.HasPrefix(s.Reason, tc.reason)):
			t.Errorf("%s: MassSignal = %+v; want %s, %q", tc.name, s, SignalMassChange, tc.reason)
		}
	}
}

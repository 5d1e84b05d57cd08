package placement

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func layout(regions ...int) []Backend {
	var bs []Backend
	for r, n := range regions {
		for i := 0; i < n; i++ {
			bs = append(bs, Backend{Name: fmt.Sprintf("r%d-b%d", r, i), Region: fmt.Sprintf("region-%d", r)})
		}
	}
	return bs
}

func TestCheck(t *testing.T) {
	cases := []struct {
		name     string
		bs       []Backend
		k, m     int
		survive  string
		wantErr  string
		wantWarn bool
	}{
		{"default 3x2 4+2", layout(2, 2, 2), 4, 2, "", "", false},
		{"too few backends", layout(2, 2), 4, 2, "", "4 backends configured but k+m=6", false},
		{"k zero", layout(2, 2, 2), 0, 2, "", "k=0", false},
		{"m negative", layout(2, 2, 2), 4, -1, "", "m=-1", false},
		{"two regions cannot survive", layout(3, 3), 4, 2, "", "losing one region could lose data", false},
		{"two regions accepted with survive backends", layout(3, 3), 4, 2, SurviveBackends, "", true},
		{"one region m=0", layout(4), 4, 0, "", "m=0", false},
		{"typo policy", layout(2, 2, 2), 4, 2, "regions", `survive: "regions"`, false},
		{"uneven but enough room", layout(4, 1, 1, 1, 1), 4, 2, "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Check(tc.bs, tc.k, tc.m, tc.survive)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
			} else if err == nil || !errors.Is(err, ErrLayout) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Check err = %v; want %q", err, tc.wantErr)
			}
			if (len(w) > 0) != tc.wantWarn {
				t.Fatalf("warnings = %v; want some: %v", w, tc.wantWarn)
			}
		})
	}
	if _, err := Check(append(layout(2, 2, 2), Backend{Name: "r0-b0", Region: "x"}), 4, 2, ""); err == nil {
		t.Fatal("duplicate name accepted")
	}
}

func TestPickRespectsRegionCap(t *testing.T) {
	for _, bs := range [][]Backend{layout(2, 2, 2), layout(4, 1, 1, 1, 1), layout(3, 3, 3, 3)} {
		for i := 0; i < 500; i++ {
			id := []byte(fmt.Sprint(i))
			got := Pick(bs, 4, 2, SurviveRegion, id, nil)
			if len(got) != 6 {
				t.Fatalf("Pick = %v; want 6 backends", got)
			}
			per := map[string]int{}
			seen := map[int]bool{}
			for _, b := range got {
				if seen[b] {
					t.Fatalf("Pick = %v repeats a backend", got)
				}
				seen[b] = true
				per[bs[b].Region]++
			}
			for r, n := range per {
				if n > 2 {
					t.Fatalf("Pick = %v puts %d shards in %s; cap is m=2", got, n, r)
				}
			}
			if again := Pick(bs, 4, 2, SurviveRegion, id, nil); fmt.Sprint(again) != fmt.Sprint(got) {
				t.Fatalf("Pick not deterministic: %v then %v", got, again)
			}
		}
	}
}

func TestPickSpreadsEvenly(t *testing.T) {
	bs := layout(4, 4, 4) // 12 backends, 6 shards each version
	count := make([]int, len(bs))
	const versions = 6000
	for i := 0; i < versions; i++ {
		for _, b := range Pick(bs, 4, 2, SurviveRegion, []byte(fmt.Sprint("v", i)), nil) {
			count[b]++
		}
	}
	want := versions * 6 / len(bs)
	for i, c := range count {
		if c < want*85/100 || c > want*115/100 {
			t.Fatalf("backend %d got %d shards; want about %d (counts %v)", i, c, want, count)
		}
	}
}

func TestPickSkipsDownBackends(t *testing.T) {
	bs := layout(3, 3, 3)
	skip := map[int]bool{0: true, 1: true, 2: true} // region-0 down
	got := Pick(bs, 4, 2, SurviveRegion, []byte("x"), skip)
	if len(got) != 4 {
		t.Fatalf("Pick with region-0 down = %v; want 4 (2 per remaining region)", got)
	}
	for _, b := range got {
		if skip[b] {
			t.Fatalf("Pick used skipped backend %d", b)
		}
	}
}

package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestStatusBackendFigures checks the per-backend latency and error
// columns of status, and the same figures in --json.
func TestStatusBackendFigures(t *testing.T) {
	dir := newStore(t)
	mustRZ(t, dir, randBytes(t, 100<<10), "put", "lake/x", "-")
	restore := takeDown(t, dir, "region-b-2")
	defer restore()
	out := mustRZ(t, dir, nil, "status").stdout
	lines := strings.Split(out, "\n")
	if h := strings.Fields(lines[0]); strings.Join(h, " ") != "BACKEND REGION REACHABLE LATENCY GET P50/P99 ERRORS SHARDS BYTES NOTE" {
		t.Fatalf("status header = %q", lines[0])
	}
	for _, l := range lines[1:7] {
		f := strings.Fields(l)
		switch {
		case f[0] == "region-b-2" && (f[2] != "NO" || f[3] != "-" || f[5] != "100%"):
			t.Errorf("status of the backend taken down: %q; want NO, no latency, 100%% errors", l)
		case f[0] != "region-b-2" && (f[2] != "yes" || !strings.HasSuffix(f[3], "s") || f[5] != "0%"):
			t.Errorf("status of a healthy backend: %q; want yes, a round trip, 0%% errors", l)
		}
	}
	var st struct {
		Backends []struct {
			Name        string
			RoundTrip   int64
			ErrorRate   float64
			RecentCalls int64
		}
	}
	if err := json.Unmarshal([]byte(mustRZ(t, dir, nil, "status", "--json").stdout), &st); err != nil {
		t.Fatal(err)
	}
	for _, b := range st.Backends {
		if down := b.Name == "region-b-2"; down != (b.ErrorRate == 1) || down != (b.RoundTrip == 0) || b.RecentCalls == 0 {
			t.Errorf("status --json of %s: %+v", b.Name, b)
		}
	}
}

package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/index"
)

// BackendStatus is what status reports for one backend.
type BackendStatus struct {
	Name, Region string
	Reachable    bool
	Error        string `json:",omitempty"`
	Shards       int64
	ShardBytes   int64
	Pieces       int64
	Latency      time.Duration

	// Measured by this process (see BackendStats), the probes status
	// makes included: the median round trip of three Stats of a blob that
	// does not exist (zero when unreachable), the Get time to
	// first byte p50 and p99 (zero before any Get), the share of recent
	// calls that failed and how many calls that is over, and whether its
	// latest Gets hung or failed (see observe.Stats).
	RoundTrip        time.Duration
	GetP50, GetP99   time.Duration
	ErrorRate        float64
	RecentCalls      int64
	Stalled, Failing bool
}

// Status is the whole store's health.
type Status struct {
	Backends     []BackendStatus
	K, M         int
	Survives     string
	Index        index.Stats
	StoredBytes  int64   // shard and piece bytes on all reachable backends
	Overhead     float64 // StoredBytes / logical bytes of all versions
	Protected    int64   // versions with all k+m shards
	UnderProtect int64   // versions readable but with fewer than k+m shards
	AtRisk       int64   // versions with exactly k shards
	// Unreadable counts versions the last scrub found with fewer than k
	// healthy shards. Scrub and repair keep the shard counts above current.
	Unreadable  int64
	RepairQueue int64       // versions waiting for repair
	LastScrub   *ScrubStats `json:",omitempty"` // the last whole-store scrub
	// Maintenance names the repair or backend replacement running now
	// (the holder of the maintenance lease), if any.
	Maintenance *Lease `json:",omitempty"`
}

// Status lists every backend (reachable, shards, bytes) and the index's
// totals. It reads only listings, never shard data.
func (s *Store) Status(ctx context.Context) (Status, error) {
	st := Status{K: s.cfg.K, M: s.cfg.M, Survives: s.Survivable(), Backends: make([]BackendStatus, len(s.backends))}
	var wg sync.WaitGroup
	for i, b := range s.backends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bs := BackendStatus{Name: s.pb[i].Name, Region: s.pb[i].Region, Reachable: true}
			// A cheap probe first: a hanging backend is reported in
			// seconds instead of after the driver's timeouts and retries
			// on a full listing.
			pctx, cancel := context.WithTimeout(ctx, statusProbeTimeout)
			_, perr := b.Stat(pctx, statusProbe)
			cancel()
			if perr != nil && !errors.Is(perr, backend.ErrNotFound) {
				bs.Reachable = false
				bs.Error = perr.Error()
				switch {
				case errors.Is(perr, context.DeadlineExceeded):
					bs.Error = fmt.Sprintf("no answer within %s", statusProbeTimeout)
				case errors.Is(perr, backend.ErrForbidden):
					bs.Error = "credentials refused: " + perr.Error()
				}
				s.observeStatus(ctx, b, &bs)
				st.Backends[i] = bs
				return
			}
			start := time.Now()
			err := b.List(ctx, "", func(in backend.Info) error {
				kind, _, _, ok := parseBlobName(in.Name)
				switch {
				case ok && kind == "d":
					bs.Shards++
					bs.ShardBytes += in.Size
				case ok && kind == "m":
					bs.Pieces++
					bs.ShardBytes += in.Size
				}
				return nil
			})
			bs.Latency = time.Since(start)
			if err != nil {
				bs.Reachable = false
				bs.Error = err.Error()
				if errors.Is(err, backend.ErrForbidden) {
					bs.Error = "credentials refused: " + err.Error()
				}
			}
			s.observeStatus(ctx, b, &bs)
			st.Backends[i] = bs
		}()
	}
	wg.Wait()
	is, err := s.idx.Stats(ctx)
	if err != nil {
		return st, classify("status", err)
	}
	st.Index = is
	for _, b := range st.Backends {
		st.StoredBytes += b.ShardBytes
	}
	if is.LogicalBytes > 0 {
		st.Overhead = float64(st.StoredBytes) / float64(is.LogicalBytes)
	}
	n := s.cfg.K + s.cfg.M
	for shards, count := range is.ByShards {
		switch {
		case shards >= n:
			st.Protected += count
		case shards == s.cfg.K:
			st.AtRisk += count
			st.UnderProtect += count
		case shards < s.cfg.K:
			st.Unreadable += count
		default:
			st.UnderProtect += count
		}
	}
	return st, s.maintenanceStatus(ctx, &st)
}

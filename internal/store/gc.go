package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/manifest"
)

// GCStats summarizes a garbage collection.
type GCStats struct {
	Segments     int   // orphaned segments found
	Shards       int   // shard files removed (or that would be, on a dry run)
	Bytes        int64 // their size
	BackendsDown int
}

// CollectGarbage removes shard files that no version references: leftovers
// of writes that died before their manifest was stored (a killed process,
// a write that failed its quorum while cleanup could not reach a backend).
// A segment is only removed when it is older than grace, no version in the
// index references it, and no manifest piece with its ID exists on any
// backend (that would be a version the index has not seen yet: run
// `rhizome index rebuild`). Manifest pieces are never removed here.
func (s *Store) CollectGarbage(ctx context.Context, grace time.Duration, dryRun bool) (GCStats, error) {
	var st GCStats
	referenced := map[string]bool{}
	bs, err := s.idx.Buckets(ctx)
	if err != nil {
		return st, classify("gc", err)
	}
	for _, b := range bs {
		err := s.eachVersion(ctx, b.Name, "", true, func(v index.Version) error {
			referenced[v.ID] = true
			if m, err := manifest.Decode(v.Manifest, s.pub); err == nil {
				for _, seg := range m.Segments {
					referenced[seg.ID] = true
				}
			}
			return nil
		})
		if err != nil {
			return st, err
		}
		// Parts of uploads in progress are referenced too.
		km, im := "", ""
		for {
			us, trunc, err := s.idx.Uploads(ctx, b.Name, "", km, im, 1000)
			if err != nil {
				return st, classify("gc", err)
			}
			for _, u := range us {
				ps, err := s.idx.Parts(ctx, u.ID)
				if err != nil {
					return st, classify("gc", err)
				}
				for _, p := range ps {
					var seg manifest.Segment
					if json.Unmarshal(p.Data, &seg) == nil {
						referenced[seg.ID] = true
					}
				}
			}
			if !trunc || len(us) == 0 {
				break
			}
			km, im = us[len(us)-1].Key, us[len(us)-1].ID
		}
	}
	type shard struct {
		backend int
		name    string
		size    int64
	}
	orphans := map[string][]shard{}
	pieces := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(s.backends))
	cutoff := s.now().Add(-grace)
	for bi, b := range s.backends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[bi] = b.List(ctx, "", func(in backend.Info) error {
				kind, id, _, ok := parseBlobName(in.Name)
				if !ok {
					return nil
				}
				mu.Lock()
				defer mu.Unlock()
				if kind == "m" {
					pieces[id] = true
					return nil
				}
				t, _ := VersionTime(id)
				if !referenced[id] && t.Before(cutoff) {
					orphans[id] = append(orphans[id], shard{bi, in.Name, in.Size})
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			st.BackendsDown++
		}
	}
	if st.BackendsDown > 0 {
		// A backend we cannot list may hold manifest pieces that reference
		// these segments; removing anything would be unsafe.
		return st, errorf(ErrUnavailable, "gc", errors.Join(errs...), "%d backend(s) unreachable; garbage collection needs every backend", st.BackendsDown)
	}
	for id, shards := range orphans {
		if pieces[id] {
			continue
		}
		st.Segments++
		for _, sh := range shards {
			st.Shards++
			st.Bytes += sh.size
			if !dryRun {
				if err := s.backends[sh.backend].Delete(ctx, sh.name); err != nil {
					return st, classify("gc", fmt.Errorf("delete %s on %s: %w", sh.name, s.pb[sh.backend].Name, err))
				}
			}
		}
	}
	return st, nil
}

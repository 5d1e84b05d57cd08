package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/manifest"
)

// RebuildStats summarizes an index rebuild.
type RebuildStats struct {
	Backends, BackendsDown int
	Manifests              int // manifests opened and verified
	Versions, Buckets      int // recorded in the new index
	Unreadable             int // versions with pieces seen but fewer than k usable
	Errors                 []error
}

// RebuildIndex recreates dst from the manifest pieces on the backends
// alone. Any k reachable backends are enough. progress, if not nil, is
// called with (manifests done, manifests found).
func (s *Store) RebuildIndex(ctx context.Context, dst index.Index, progress func(done, total int)) (RebuildStats, error) {
	var st RebuildStats
	st.Backends = len(s.backends)
	type loc struct{ backend, piece int }
	found := map[string][]loc{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	listErrs := make([]error, len(s.backends))
	for bi, b := range s.backends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			listErrs[bi] = b.List(ctx, "m/", func(in backend.Info) error {
				kind, id, i, ok := parseBlobName(in.Name)
				if !ok || kind != "m" {
					return nil
				}
				mu.Lock()
				found[id] = append(found[id], loc{bi, i})
				mu.Unlock()
				return nil
			})
		}()
	}
	wg.Wait()
	for bi, err := range listErrs {
		if err != nil {
			st.BackendsDown++
			st.Errors = append(st.Errors, fmt.Errorf("backend %s: %w", s.pb[bi].Name, err))
		}
	}
	if st.Backends-st.BackendsDown < s.cfg.K {
		return st, errorf(ErrUnavailable, "index rebuild", errors.Join(st.Errors...),
			"only %d of %d backends answered; need at least k=%d", st.Backends-st.BackendsDown, st.Backends, s.cfg.K)
	}
	ids := make([]string, 0, len(found))
	for id := range found {
		ids = append(ids, id)
	}
	sort.Strings(ids) // creation order
	manifests := make([]*manifest.Manifest, len(ids))
	envs := make([][]byte, len(ids))
	jobs := make(chan int)
	var done int
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				locs := found[ids[j]]
				raw := make([][]byte, 256)
				for _, l := range locs {
					if b, err := readAll(ctx, s.backends[l.backend], pieceName(ids[j], l.piece)); err == nil {
						raw[l.piece] = b
					}
				}
				res, err := manifest.Open(raw, s.master, s.pub)
				mu.Lock()
				done++
				if err != nil || res.Manifest.ID != ids[j] {
					st.Unreadable++
					st.Errors = append(st.Errors, fmt.Errorf("version %s: %v", ids[j], err))
				} else {
					manifests[j], envs[j] = res.Manifest, res.Envelope
				}
				if progress != nil {
					progress(done, len(ids))
				}
				mu.Unlock()
			}
		}()
	}
	for j := range ids {
		select {
		case jobs <- j:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return st, classify("index rebuild", err)
	}
	for j, m := range manifests {
		if m == nil {
			continue
		}
		st.Manifests++
		switch m.Kind {
		case manifest.KindBucket:
			var err error
			if m.BucketDelete {
				err = dst.DeleteBucket(ctx, m.Bucket)
			} else {
				err = dst.CreateBucket(ctx, m.Bucket, m.Time)
				if err == nil {
					st.Buckets++
				}
			}
			if err != nil && !errors.Is(err, index.ErrBucketExists) {
				st.Errors = append(st.Errors, fmt.Errorf("bucket %s: %w", m.Bucket, err))
			}
		case manifest.KindReview:
			r := m.Review
			if err := s.applyReview(ctx, dst, m.Bucket, m.Key, r.VersionID, r.Decision); err != nil {
				st.Errors = append(st.Errors, fmt.Errorf("review of %s: %w", r.VersionID, err))
			}
		case manifest.KindCheckpoint:
			c := m.Checkpoint
			err := dst.PutCheckpoint(ctx, index.Checkpoint{Name: c.Name, Bucket: m.Bucket, Prefix: c.Prefix, At: c.At,
				Root: c.Root, Keys: len(c.Entries), Manifest: envs[j]})
			if err != nil && !errors.Is(err, index.ErrCheckpointExists) {
				st.Errors = append(st.Errors, fmt.Errorf("checkpoint %s: %w", c.Name, err))
			}
		case manifest.KindObject:
			if _, err := dst.Bucket(ctx, m.Bucket); errors.Is(err, index.ErrNoSuchBucket) {
				// The bucket's own record is unreadable: recreate it.
				if err := dst.CreateBucket(ctx, m.Bucket, m.Time); err == nil {
					st.Buckets++
				}
			}
			if err := dst.PutVersion(ctx, versionOf(m, envs[j])); err != nil {
				st.Errors = append(st.Errors, fmt.Errorf("version %s: %w", m.ID, err))
				continue
			}
			s.rebuildAlert(ctx, dst, m)
			st.Versions++
		}
	}
	return st, nil
}

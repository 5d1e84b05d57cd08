package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/manifest"
	"github.com/rhizome-data/rhizome/internal/placement"
)

// Records are the signed manifests that are not versions of a key: a
// bucket's creation or deletion (kind bucket), a checkpoint and a review
// decision. The version index does not hold them, so scrub and repair find
// them by listing the manifest pieces on every backend and opening those
// whose ID is not a version in the index.

// ScrubResult.Kind and RepairResult.Kind for what is not a version.
const (
	KindPart = "part" // a part of a multipart upload in progress
	// manifest.KindBucket, manifest.KindCheckpoint and manifest.KindReview
	// name records.
)

// record is one record found on the backends.
type record struct {
	id  string
	m   *manifest.Manifest
	env []byte
	raw [][]byte
	// issues is indexed by piece; only the current revision's pieces are
	// checked.
	issues []*ShardIssue
	good   []int           // pieces that open to env
	at     map[int]string  // backend each piece read was found on
	used   map[string]bool // backends holding a piece of the record
	// holders lists, for each piece, the backends it was read from (a
	// piece copied off a backend being replaced is on both).
	holders map[int][]string
}

// versionIDs returns the IDs of every version in the index.
func (s *Store) versionIDs(ctx context.Context) (map[[16]byte]struct{}, error) {
	known := map[[16]byte]struct{}{}
	buckets, err := s.bucketNames(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, b := range buckets {
		err := s.eachVersion(ctx, b, "", true, func(v index.Version) error {
			if id, ok := idBytes(v.ID); ok {
				known[id] = struct{}{}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return known, nil
}

func idBytes(id string) ([16]byte, bool) {
	var out [16]byte
	if len(id) != 32 {
		return out, false
	}
	_, err := hex.Decode(out[:], []byte(id))
	return out, err == nil
}

// records lists the manifest pieces on every backend and opens, for each
// ID not in known, the record they hold. IDs whose pieces do not open to a
// record (too few readable pieces, or versions the index has not seen,
// which are `rhizome index rebuild`'s business) are counted in unopened.
// Pieces read count against pace.
func (s *Store) records(ctx context.Context, known map[[16]byte]struct{}, pace *pacer) (out []*record, unopened int, err error) {
	type loc struct{ backend, piece int }
	found := map[string][]loc{}
	down := make([]error, len(s.backends))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for bi, b := range s.backends {
		wg.Go(func() {
			down[bi] = b.List(ctx, "m/", func(in backend.Info) error {
				kind, id, i, ok := parseBlobName(in.Name)
				if !ok || kind != "m" {
					return nil
				}
				if key, ok := idBytes(id); ok {
					if _, isVersion := known[key]; isVersion {
						return nil
					}
				}
				mu.Lock()
				found[id] = append(found[id], loc{bi, i})
				mu.Unlock()
				return nil
			})
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	ids := make([]string, 0, len(found))
	for id := range found {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return out, unopened, err
		}
		raw := make([][]byte, 256)
		at := map[int]string{}
		used := map[string]bool{}
		holders := map[int][]string{}
		listed := map[int]bool{}
		readErr := map[int]error{}
		for _, l := range found[id] {
			if l.piece < 0 || l.piece >= len(raw) {
				continue
			}
			listed[l.piece] = true
			b, err := readAll(ctx, s.backends[l.backend], pieceName(id, l.piece))
			if err != nil {
				readErr[l.piece] = err
				continue
			}
			raw[l.piece] = b
			at[l.piece] = s.pb[l.backend].Name
			used[s.pb[l.backend].Name] = true
			holders[l.piece] = append(holders[l.piece], s.pb[l.backend].Name)
			if pace != nil {
				pace.wait(ctx, len(b))
			}
		}
		res, err := manifest.Open(raw, s.master, s.pub)
		if err != nil || res.Manifest.ID != id || res.Manifest.Kind == manifest.KindObject {
			unopened++
			continue
		}
		r := &record{id: id, m: res.Manifest, env: res.Envelope, raw: raw, issues: make([]*ShardIssue, len(res.Manifest.Placement)), at: at, used: used, holders: holders}
		bad := map[int]bool{}
		for _, i := range s.badPieces(raw, res.Envelope) {
			bad[i] = true
		}
		first, names := piecePlacement(r.m)
		for j, name := range names {
			i := first + j
			bi, ok := s.byName[name]
			switch {
			case bad[i]:
				r.issues[i] = &ShardIssue{Index: i, Backend: at[i], Issue: IssueCorrupt, Err: "does not open to the manifest the other pieces hold"}
			case raw[i] != nil:
				// Where the placement says, or, for a piece moved off a
				// backend no longer configured, elsewhere.
				r.good = append(r.good, i)
			case !ok:
				r.issues[i] = &ShardIssue{Index: i, Backend: name, Issue: IssueGone}
			case readErr[i] != nil && !errors.Is(readErr[i], backend.ErrNotFound):
				r.issues[i] = &ShardIssue{Index: i, Backend: name, Issue: IssueUnavailable, Err: readErr[i].Error()}
			case down[bi] != nil && !listed[i]:
				r.issues[i] = &ShardIssue{Index: i, Backend: name, Issue: IssueUnavailable, Err: down[bi].Error()}
			default:
				r.issues[i] = &ShardIssue{Index: i, Backend: name, Issue: IssueMissing}
			}
		}
		out = append(out, r)
	}
	return out, unopened, nil
}

// result reports a record as a scrub result.
func (r *record) result() ScrubResult {
	res := ScrubResult{Kind: r.m.Kind, Bucket: r.m.Bucket, Key: r.m.Key, VersionID: r.id, Health: Healthy, Pieces: issuesOf(r.issues)}
	if r.m.Kind == manifest.KindCheckpoint && r.m.Checkpoint != nil {
		res.Key = r.m.Checkpoint.Name
	}
	res.Healthy = len(r.good)
	if len(res.Pieces) > 0 {
		res.Health = Damaged
	}
	return res
}

// repairRecords rewrites, in place, the missing and corrupt pieces of
// every record (bucket, checkpoint and review manifests). A piece on a
// backend no longer configured is written to a configured one that holds
// no other piece of the record (records are found by listing, so the
// signed placement need not change). fn, when set,
// gets one result per record that needed work.
func (s *Store) repairRecords(ctx context.Context, fn func(RepairResult) error) (int64, error) {
	recs, err := s.allRecords(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, r := range recs {
		res := RepairResult{Kind: r.m.Kind, Bucket: r.m.Bucket, Key: r.m.Key, VersionID: r.id, Outcome: Intact, Healthy: len(r.good)}
		if r.m.Kind == manifest.KindCheckpoint && r.m.Checkpoint != nil {
			res.Key = r.m.Checkpoint.Name
		}
		var errs []string
		for i, is := range r.issues {
			if is == nil {
				continue
			}
			bi, ok := s.byName[is.Backend]
			switch {
			case is.Issue == IssueGone:
				// Records are found by listing every backend, so a piece
				// can live on another one than its placement names,
				// without a revision: one that holds no other piece.
				ok = false
				for _, j := range placement.Rank(s.pb, []byte(r.id)) {
					if !r.used[s.pb[j].Name] {
						bi, ok = j, true
						break
					}
				}
				if !ok {
					errs = append(errs, fmt.Sprintf("piece %d on %s: backend gone, and every configured backend holds another piece", i, is.Backend))
					continue
				}
			case is.Issue == IssueUnavailable || !ok:
				errs = append(errs, fmt.Sprintf("piece %d on %s: %s, not rewritten", i, orNone(is.Backend), is.Issue))
				continue
			}
			if is.Issue == IssueMissing {
				// Listings may lag: make sure it is not there.
				if _, err := s.backends[bi].Stat(ctx, pieceName(r.id, i)); !errors.Is(err, backend.ErrNotFound) {
					continue
				}
			}
			p, err := regeneratePiece(r.raw, r.good, i, s.master, s.pub)
			if err == nil {
				err = s.backends[bi].Put(ctx, pieceName(r.id, i), bytes.NewReader(p), int64(len(p)))
			}
			if err != nil {
				s.log.Warn("manifest piece not rewritten", "kind", r.m.Kind, "bucket", r.m.Bucket, "version", r.id, "piece", i, "err", err)
				errs = append(errs, fmt.Sprintf("piece %d on %s: %v", i, is.Backend, err))
				continue
			}
			r.used[s.pb[bi].Name] = true
			res.Pieces = append(res.Pieces, i)
			n++
		}
		switch {
		case len(errs) > 0:
			res.Outcome = Deferred
			res.Err = fmt.Sprint(errs)
		case len(res.Pieces) > 0:
			res.Outcome = Repaired
			res.Healthy += len(res.Pieces)
		default:
			continue
		}
		if fn != nil {
			if err := fn(res); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// moveRecords copies every record piece that only backend old holds (old
// is being replaced), or that old should hold but cannot give (it is
// down or no longer configured: regenerated from the other pieces), to new, or, where new holds another piece of that
// record already, to another configured backend that holds none. The
// copies on old stay: ReplaceBackend deletes nothing there. Records are
// found by listing every backend, so their signed placement need not
// change. It returns how many pieces it copied.
func (s *Store) moveRecords(ctx context.Context, old, new string) (int64, error) {
	recs, err := s.allRecords(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	var errs []error
	for _, r := range recs {
		var move []int
		for _, i := range r.good {
			if slices.Equal(r.holders[i], []string{old}) {
				move = append(move, i) // only there
			}
		}
		for i, is := range r.issues {
			if is != nil && is.Backend == old {
				move = append(move, i) // old is down, or out of the config already
			}
		}
		for _, i := range move {
			p := r.raw[i]
			if p == nil {
				var err error
				if p, err = regeneratePiece(r.raw, r.good, i, s.master, s.pub); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			to, ok := new, !r.used[new]
			if !ok {
				for _, j := range placement.Rank(s.pb, []byte(r.id)) {
					if name := s.pb[j].Name; name != old && !r.used[name] {
						to, ok = name, true
						break
					}
				}
			}
			if !ok {
				errs = append(errs, fmt.Errorf("%s piece %d: every other backend holds another piece", describe(r.m.Kind, r.m.Bucket, r.m.Key, r.id, 0), i))
				continue
			}
			if err := s.backends[s.byName[to]].Put(ctx, pieceName(r.id, i), bytes.NewReader(p), int64(len(p))); err != nil {
				errs = append(errs, fmt.Errorf("%s piece %d to %s: %w", describe(r.m.Kind, r.m.Bucket, r.m.Key, r.id, 0), i, to, err))
				continue
			}
			r.used[to] = true
			n++
		}
	}
	return n, errors.Join(errs...)
}

// allRecords returns every record the backends hold.
func (s *Store) allRecords(ctx context.Context) ([]*record, error) {
	known, err := s.versionIDs(ctx)
	if err != nil {
		return nil, err
	}
	recs, _, err := s.records(ctx, known, nil)
	return recs, err
}

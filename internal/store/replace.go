package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/manifest"
)

// ReplaceOptions tune ReplaceBackend. A nil *ReplaceOptions means defaults.
type ReplaceOptions struct {
	// Parallel is how many versions are moved at once (default 4).
	Parallel int
	// Progress is called as versions complete.
	Progress func(ReplaceProgress)
	// Force takes the maintenance lease over from its holder even when
	// that holder may be alive (see Repair).
	Force bool
	// ReadBack reads every moved shard back whole before it counts (see
	// RepairOptions.ReadBack).
	ReadBack bool
	// Restart forgets an unfinished replacement of the same backend (by
	// any backend) and starts over; it is done under the lease.
	Restart bool
}

// ReplaceProgress tells how far a replacement is.
type ReplaceProgress struct {
	Versions, VersionsTotal int64 // versions with something on the old backend
	Shards                  int64 // moved so far
	Bytes                   int64
}

// ReplaceStats summarizes a replacement.
type ReplaceStats struct {
	Old, New string
	// Resumed is true when an interrupted replacement was continued.
	Resumed   bool  `json:"resumed"`
	Versions  int64 `json:"versions"` // versions that referenced Old
	Shards    int64 `json:"shards_moved"`
	Adopted   int64 `json:"shards_adopted"`
	Pieces    int64 `json:"manifests_revised"`
	Bytes     int64 `json:"bytes_written"`
	Elsewhere int64 `json:"shards_elsewhere"` // moved to another backend than New (placement rules)
	// Records counts pieces of bucket, checkpoint and review manifests
	// copied off Old.
	Records    int64           `json:"record_pieces_moved"`
	Failed     []RepairResult  `json:"failed,omitempty"`
	Started    time.Time       `json:"started"`
	Finished   time.Time       `json:"finished"`
	StillInUse bool            `json:"old_still_configured"`
	Progress   ReplaceProgress `json:"-"`
}

// replaceState is ReplaceBackend's record in the index, so that it resumes
// after a crash where it stopped.
type replaceState struct {
	New     string          `json:"new"`
	Started time.Time       `json:"started"`
	Bucket  string          `json:"bucket"` // cursor: every version up to here is done
	Key     string          `json:"key"`
	ID      string          `json:"id"`
	Total   int64           `json:"total"`
	Done    ReplaceProgress `json:"done"`
	Retry   []versionRef    `json:"retry,omitempty"`
}

type versionRef struct {
	Bucket string `json:"b"`
	Key    string `json:"k"`
	ID     string `json:"id"`
}

const replacePrefix = "replace/"

// ErrReplaceConflict is wrapped (with ErrConflict) when a replacement of
// the same backend onto another one is in progress.
var ErrReplaceConflict = errors.New("another replacement of this backend is in progress")

// ReplaceBackend moves every shard and manifest piece on backend old onto
// backend new (a configured backend), rebuilding each from the others: for
// when old is lost, failing or being retired. old need not be configured
// any more. Where new already holds another shard of the same segment, or
// taking one would break the region cap, the shard goes to another
// backend the placement rules allow, old's region first. Every moved
// version's manifest is revised. Progress is recorded in the index after
// each version; run it again after a crash to continue. It holds the
// maintenance lease while it runs, as Repair does.
func (s *Store) ReplaceBackend(ctx context.Context, old, new string, o *ReplaceOptions) (ReplaceStats, error) {
	op := "replace backend " + old
	if o == nil {
		o = &ReplaceOptions{}
	}
	st := ReplaceStats{Old: old, New: new, Started: s.now().UTC()}
	if _, ok := s.byName[new]; !ok {
		return st, errorf(ErrInvalid, op, nil, "backend %q is not configured; add it to the config first", new)
	}
	if old == new {
		return st, errorf(ErrInvalid, op, nil, "old and new backend are the same")
	}
	lctx, release, err := s.acquireLease(ctx, op+" by "+new, o.Force)
	if err != nil {
		return st, err
	}
	defer release()
	if o.Restart {
		if err := s.AbandonReplace(lctx, old); err != nil {
			return st, err
		}
	}
	st, err = s.replaceBackend(lctx, op, old, new, o, st)
	return st, leaseErr(lctx, err)
}

func (s *Store) replaceBackend(ctx context.Context, op, old, new string, o *ReplaceOptions, st ReplaceStats) (ReplaceStats, error) {
	_, st.StillInUse = s.byName[old]
	var rs replaceState
	b, err := s.idx.State(ctx, replacePrefix+old)
	switch {
	case err == nil:
		if json.Unmarshal(b, &rs) != nil {
			rs = replaceState{}
		} else if rs.New != new {
			return st, errorf(ErrConflict, op, ErrReplaceConflict, "a replacement of %s by %s was started at %s and not finished; finish it, or remove it with `rhizome backend replace %s %s --restart`",
				old, rs.New, rs.Started.Format(time.RFC3339), old, new)
		} else {
			st.Resumed = true
		}
	case !errors.Is(err, index.ErrNoSuchState):
		return st, classify(op, err)
	}
	if !st.Resumed {
		rs = replaceState{New: new, Started: st.Started}
		total, err := s.countOn(ctx, old)
		if err != nil {
			return st, err
		}
		rs.Total = total
	} else {
		st.Started = rs.Started
	}
	save := func() error {
		b, _ := json.Marshal(rs)
		return classify(op, s.idx.PutState(context.WithoutCancel(ctx), replacePrefix+old, b))
	}
	if err := save(); err != nil {
		return st, err
	}
	prog := rs.Done
	prog.VersionsTotal = rs.Total
	run := s.newRepairRun(map[string]string{old: new})
	run.walkAll = true
	run.readBack = o.ReadBack

	var mu sync.Mutex
	var failed []versionRef
	handle := func(v index.Version) {
		res := run.version(ctx, v, nil)
		mu.Lock()
		defer mu.Unlock()
		prog.Versions++
		st.Versions++
		for _, sh := range res.Shards {
			if sh.From != old {
				continue
			}
			if sh.Adopted {
				st.Adopted++
			} else {
				st.Shards++
				st.Bytes += sh.Bytes
				prog.Shards++
				prog.Bytes += sh.Bytes
			}
			if sh.To != new {
				st.Elsewhere++
			}
		}
		if res.Revised {
			st.Pieces++
		}
		if res.Outcome != Repaired && res.Outcome != Intact && res.Outcome != Removed {
			if ctx.Err() == nil {
				st.Failed = append(st.Failed, res)
			}
			failed = append(failed, versionRef{v.Bucket, v.Key, v.ID})
		}
		if o.Progress != nil {
			o.Progress(prog)
		}
	}

	// Versions that failed in an earlier attempt first.
	retry := rs.Retry
	rs.Retry = nil
	for _, r := range retry {
		v, err := s.idx.Version(ctx, r.Bucket, r.Key, r.ID)
		if err != nil {
			continue
		}
		if s.references(v, old) {
			handle(v)
		}
	}

	// Then the rest, in index order, from the cursor on, several at once;
	// the cursor only passes versions that are done.
	par := cmp.Or(o.Parallel, 4)
	type job struct {
		v    index.Version
		done bool
	}
	var window []*job
	jobs := make(chan *job)
	var wg sync.WaitGroup
	for range par {
		wg.Go(func() {
			for j := range jobs {
				handle(j.v)
				mu.Lock()
				j.done = true
				mu.Unlock()
			}
		})
	}
	lastSave := time.Now()
	advance := func(force bool) error {
		mu.Lock()
		for len(window) > 0 && window[0].done {
			v := window[0].v
			rs.Bucket, rs.Key, rs.ID = v.Bucket, v.Key, v.ID
			window = window[1:]
		}
		rs.Done = prog
		rs.Retry = slices.Clone(failed)
		mu.Unlock()
		if force || time.Since(lastSave) > time.Second {
			lastSave = time.Now()
			return save()
		}
		return nil
	}
	buckets, err := s.bucketNames(ctx, "")
	if err != nil {
		close(jobs)
		wg.Wait()
		return st, err
	}
	var walkErr error
walk:
	for _, b := range buckets {
		if b < rs.Bucket {
			continue
		}
		km, vm := "", ""
		if b == rs.Bucket {
			km, vm = rs.Key, rs.ID
		}
		for {
			page, err := s.idx.ListVersions(ctx, index.ListVersionsOptions{Bucket: b, KeyMarker: km, VersionIDMarker: vm, Limit: 1000})
			if err != nil {
				walkErr = classify(op, err)
				break walk
			}
			for _, v := range page.Versions {
				j := &job{v: v}
				if !s.references(v, old) {
					j.done = true
				}
				mu.Lock()
				window = append(window, j)
				mu.Unlock()
				if !j.done {
					select {
					case jobs <- j:
					case <-ctx.Done():
						walkErr = ctx.Err()
						break walk
					}
				}
				if err := advance(false); err != nil {
					walkErr = err
					break walk
				}
			}
			if !page.Truncated {
				break
			}
			km, vm = page.NextKeyMarker, page.NextVersionIDMarker
		}
	}
	close(jobs)
	wg.Wait()
	if err := advance(true); err != nil && walkErr == nil {
		walkErr = err
	}
	st.Progress = prog
	st.Finished = s.now().UTC()
	if err := cmpErr(ctx.Err(), walkErr); err != nil {
		return st, classify(op, err)
	}
	if len(failed) == 0 {
		n, err := s.moveRecords(ctx, old, new)
		st.Records = n
		if err != nil {
			return st, errorf(ErrUnavailable, op, err, "every version moved, but not every bucket, checkpoint or review manifest piece; run the same command again")
		}
		if err := s.idx.DeleteState(context.WithoutCancel(ctx), replacePrefix+old); err != nil {
			return st, classify(op, err)
		}
	} else {
		return st, errorf(ErrUnavailable, op, nil, "%d version(s) could not be moved yet (see the report); run the same command again to retry them", len(failed))
	}
	s.log.Info("backend replaced", "old", old, "new", new, "versions", st.Versions, "shards_moved", st.Shards, "bytes_written", st.Bytes)
	return st, nil
}

// AbandonReplace forgets an unfinished replacement of old.
func (s *Store) AbandonReplace(ctx context.Context, old string) error {
	return classify("replace backend "+old, s.idx.DeleteState(ctx, replacePrefix+old))
}

// references reports whether v keeps a shard or a manifest piece on name.
func (s *Store) references(v index.Version, name string) bool {
	m, err := manifest.Decode(v.Manifest, s.pub)
	if err != nil {
		return false
	}
	_, pieces := piecePlacement(m)
	if slices.Contains(pieces, name) {
		return true
	}
	for _, seg := range m.Segments {
		if slices.Contains(seg.Backends, name) {
			return true
		}
	}
	return false
}

// countOn counts the versions that keep something on backend name.
func (s *Store) countOn(ctx context.Context, name string) (int64, error) {
	buckets, err := s.bucketNames(ctx, "")
	if err != nil {
		return 0, err
	}
	var n int64
	for _, b := range buckets {
		err := s.eachVersion(ctx, b, "", true, func(v index.Version) error {
			if s.references(v, name) {
				n++
			}
			return nil
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

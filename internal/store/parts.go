package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/manifest"
)

// Parts of multipart uploads in progress are sharded and stored as they
// arrive, but belong to no version until the upload completes: the index
// keeps each part's segment in its upload record (index.Part.Data). Scrub
// checks their shards like a version's, and repair rebuilds them.

// partRef is one stored part of an upload in progress.
type partRef struct {
	upload index.Upload
	part   index.Part
	seg    manifest.Segment
}

// eachPart calls fn for every part of every upload in progress in bucket
// under prefix. Parts whose record does not hold a segment are skipped.
func (s *Store) eachPart(ctx context.Context, bucket, prefix string, fn func(partRef) error) error {
	km, im := "", ""
	for {
		ups, more, err := s.idx.Uploads(ctx, bucket, prefix, km, im, 1000)
		if err != nil {
			return classify("list uploads "+bucket, err)
		}
		for _, u := range ups {
			km, im = u.Key, u.ID
			parts, err := s.idx.Parts(ctx, u.ID)
			if errors.Is(err, index.ErrNoSuchUpload) {
				continue // completed or aborted meanwhile
			}
			if err != nil {
				return classify("list parts of "+u.ID, err)
			}
			for _, p := range parts {
				var seg manifest.Segment
				if json.Unmarshal(p.Data, &seg) != nil || len(seg.ID) != 32 || len(seg.Backends) != seg.K+seg.M || len(seg.Roots) != seg.K+seg.M {
					s.log.Warn("upload part record holds no segment; not checked", "upload", u.ID, "part", p.Number)
					continue
				}
				if err := fn(partRef{upload: u, part: p, seg: seg}); err != nil {
					return err
				}
			}
		}
		if !more || len(ups) == 0 {
			return nil
		}
	}
}

// part checks one part's shards as a version's segment is checked.
func (sc *scrubber) part(ctx context.Context, p partRef) ScrubResult {
	r := ScrubResult{Kind: KindPart, Bucket: p.upload.Bucket, Key: p.upload.Key, VersionID: p.upload.ID, Part: p.part.Number,
		Size: p.part.Size, Health: Healthy}
	c := sc.check(ctx, p.seg)
	r.Shards, r.Healthy = c.issues, c.healthy
	switch {
	case c.unreadable != nil:
		r.Health, r.Err, r.BackendsDown = Unreadable, c.unreadable.Error(), c.waiting
	case len(r.Shards) > 0:
		r.Health = Damaged
	}
	return r
}

// partKey names a part in repair hints.
func partKey(uploadID string, number int) string { return fmt.Sprintf("%s/%d", uploadID, number) }

// repairParts rebuilds the missing and corrupt shards of every part of the
// uploads in progress under bucket/prefix (all buckets when bucket is
// empty) that the scan found damaged: hints holds what it found, by
// partKey. A shard that
// has to move (its backend is gone or it was never written) is written
// elsewhere and the part's record updated. fn gets one result per part
// that needed work; the stats count what was rebuilt.
func (run *repairRun) repairParts(ctx context.Context, bucket, prefix string, hints map[string][]ShardIssue, st *RepairStats, fn func(RepairResult) error) error {
	s := run.s
	buckets, err := s.bucketNames(ctx, bucket)
	if err != nil {
		return err
	}
	for _, b := range buckets {
		err := s.eachPart(ctx, b, prefix, func(p partRef) error {
			h, ok := hints[partKey(p.upload.ID, p.part.Number)]
			if !ok {
				return nil // the scan found it healthy
			}
			res := run.part(ctx, p, h)
			switch res.Outcome {
			case Intact:
				return nil
			case Repaired:
				st.PartsRepaired++
			case Deferred:
				st.Deferred++
			default:
				st.Unreadable++
			}
			for _, sh := range res.Shards {
				if sh.Adopted {
					st.Adopted++
				} else {
					st.Shards++
					st.Bytes += sh.Bytes
				}
			}
			if fn != nil {
				return fn(res)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// part repairs one part's segment.
func (run *repairRun) part(ctx context.Context, p partRef, hints []ShardIssue) RepairResult {
	s := run.s
	res := RepairResult{Kind: KindPart, Bucket: p.upload.Bucket, Key: p.upload.Key, VersionID: p.upload.ID, Part: p.part.Number, Outcome: Intact}
	out := run.repairSegment(ctx, p.seg, hints)
	res.Shards, res.Healthy = out.rebuilt, out.healthy
	if out.err != nil {
		res.Err = out.err.Error()
		res.Outcome = Deferred
		if out.unreadable {
			res.Outcome = Unreadable
		}
	} else if len(out.rebuilt) > 0 {
		res.Outcome = Repaired
	}
	if !slices.Equal(out.seg.Backends, p.seg.Backends) || !rootsEqual(out.seg.Roots, p.seg.Roots) {
		if err := s.updatePartSegment(ctx, p, out.seg); err != nil {
			res.Outcome = Deferred
			res.Err = fmt.Sprintf("shards rebuilt on other backends, but the part's record not updated: %v", err)
		}
	}
	if res.Outcome != Intact {
		s.log.Info("upload part repaired", "bucket", p.upload.Bucket, "key", p.upload.Key, "upload", p.upload.ID, "part", p.part.Number,
			"outcome", res.Outcome, "shards_rebuilt", len(res.Shards), "err", res.Err)
	}
	return res
}

// updatePartSegment records seg's new shard locations in the part's
// record, if the part still holds that segment (not replaced by a new
// upload of the same number, nor completed, meanwhile).
func (s *Store) updatePartSegment(ctx context.Context, p partRef, seg manifest.Segment) error {
	parts, err := s.idx.Parts(ctx, p.upload.ID)
	if err != nil {
		return err
	}
	for _, cur := range parts {
		if cur.Number != p.part.Number {
			continue
		}
		var have manifest.Segment
		if json.Unmarshal(cur.Data, &have) != nil || have.ID != seg.ID {
			return errors.New("the part was uploaded again meanwhile")
		}
		cur.Data, _ = json.Marshal(seg)
		_, err := s.idx.PutPart(ctx, cur)
		return err
	}
	return errors.New("the part is gone (upload completed or aborted meanwhile)")
}

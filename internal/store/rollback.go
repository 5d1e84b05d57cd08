package store

import (
	"bytes"
	"context"
	"slices"
	"sort"

	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/manifest"
)

// Change kinds in a diff or a rollback plan.
const (
	Added   = "added"
	Changed = "changed"
	Deleted = "deleted"
)

// DiffEntry is one key that differs between two states.
type DiffEntry struct {
	Key    string
	Change string         // added, changed or deleted (going from From to To)
	From   *index.Version `json:",omitempty"`
	To     *index.Version `json:",omitempty"`
}

// Diff lists the keys that differ between two states, in key order. Two
// versions with the same bytes (a copy, a rollback) are not a change.
func (s *Store) Diff(from, to *State) []DiffEntry {
	var out []DiffEntry
	for k, tv := range to.Versions {
		fv, ok := from.Versions[k]
		switch {
		case !ok:
			out = append(out, DiffEntry{Key: k, Change: Added, To: ptr(tv)})
		case !s.sameContent(fv, tv):
			out = append(out, DiffEntry{Key: k, Change: Changed, From: ptr(fv), To: ptr(tv)})
		}
	}
	for k, fv := range from.Versions {
		if _, ok := to.Versions[k]; !ok {
			out = append(out, DiffEntry{Key: k, Change: Deleted, From: ptr(fv)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func ptr(v index.Version) *index.Version { return &v }

// sameContent reports whether two versions hold the same bytes: the same
// version, or versions sharing their segments (copies, rollbacks).
func (s *Store) sameContent(a, b index.Version) bool {
	if a.ID == b.ID {
		return true
	}
	if a.Size != b.Size || a.ETag != b.ETag {
		return false
	}
	ma, ea := manifest.Decode(a.Manifest, s.pub)
	mb, eb := manifest.Decode(b.Manifest, s.pub)
	if ea != nil || eb != nil {
		return false
	}
	return bytes.Equal(ma.Data, mb.Data) &&
		slices.EqualFunc(ma.Segments, mb.Segments, func(x, y manifest.Segment) bool { return x.ID == y.ID })
}

// RollbackResult lists what a rollback did (or would do, on a dry run).
type RollbackResult struct {
	Target  *State
	Changes []DiffEntry // from the current state to the target
	Applied bool
}

// Rollback makes the target state of bucket/prefix current again: every key
// whose current version differs gets a new version referencing the target
// version's shards (no data is copied), and every key created since gets a
// delete marker. Each change is itself a version, so a rollback is undone
// by rolling back to the moment before it.
func (s *Store) Rollback(ctx context.Context, target *State, dryRun bool, identity string) (*RollbackResult, error) {
	cur, err := s.StateAt(ctx, target.Bucket, target.Prefix, timeZero)
	if err != nil {
		return nil, err
	}
	res := &RollbackResult{Target: target, Changes: s.Diff(cur, target)}
	if dryRun {
		return res, nil
	}
	for _, c := range res.Changes {
		switch c.Change {
		case Added, Changed: // present in the target: restore its version
			info, err := s.infoOf(*c.To)
			if err != nil {
				return res, err
			}
			if _, err := s.Copy(ctx, info, target.Bucket, c.Key, &PutOptions{
				ContentType: info.Manifest.ContentType, Meta: info.Manifest.Meta, Checksums: info.Manifest.Checksums, Identity: identity,
				SkipGuard: true,
			}); err != nil {
				return res, err
			}
		case Deleted: // created since the target: hide it
			if _, err := s.deleteUnguarded(ctx, target.Bucket, c.Key, identity); err != nil {
				return res, err
			}
		}
	}
	res.Applied = true
	return res, nil
}

func (s *Store) infoOf(v index.Version) (*ObjectInfo, error) {
	m, err := manifest.Decode(v.Manifest, s.pub)
	if err != nil {
		return nil, &Error{Kind: ErrCorrupt, Op: "rollback " + v.Key, Err: err}
	}
	return &ObjectInfo{Version: v, Manifest: m, Protected: s.protected(m)}, nil
}

// ProfileDiff describes how the profiles of a diff entry's versions differ
// (rows, columns), or "" when there is nothing to say. Profiles are
// recorded by the guard.
func (s *Store) ProfileDiff(e DiffEntry) string {
	if e.From == nil || e.To == nil {
		return ""
	}
	return s.profileDiff(*e.From, *e.To)
}

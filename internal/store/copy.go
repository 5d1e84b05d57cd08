package store

import (
	"context"
	"errors"
	"maps"

	"github.com/rhizome-data/rhizome/internal/manifest"
)

// Copy makes a new version of dstBucket/dstKey whose bytes are src's: the
// new manifest references src's segments, so no data is read or written.
// With opts nil the content type, metadata and checksums of src are kept;
// otherwise they are replaced by opts'.
func (s *Store) Copy(ctx context.Context, src *ObjectInfo, dstBucket, dstKey string, opts *PutOptions) (*ObjectInfo, error) {
	op := "copy to " + dstBucket + "/" + dstKey
	if err := ValidKey(dstKey); err != nil {
		return nil, &Error{Kind: ErrInvalid, Op: op, Err: err}
	}
	if src == nil || src.Manifest == nil || src.DeleteMarker {
		return nil, errorf(ErrInvalid, op, nil, "the source is a delete marker")
	}
	if _, err := s.idx.Bucket(ctx, dstBucket); err != nil {
		return nil, classify(op, err)
	}
	var cond *Condition
	if opts != nil {
		cond = opts.If
	}
	if err := s.precheck(ctx, op, dstBucket, dstKey, cond); err != nil {
		return nil, err
	}
	sm := src.Manifest
	vid, t := s.newVersionID()
	m := &manifest.Manifest{
		Kind: manifest.KindObject, ID: vid, Bucket: dstBucket, Key: dstKey, Time: t,
		Size: sm.Size, ETag: sm.ETag, ContentHash: sm.ContentHash,
		ContentType: sm.ContentType, Meta: maps.Clone(sm.Meta), Checksums: maps.Clone(sm.Checksums),
		Segments: sm.Segments, Data: sm.Data, Extra: sm.Extra,
	}
	if opts != nil {
		m.ContentType, m.Meta, m.Identity = opts.ContentType, opts.Meta, opts.Identity
		if opts.Checksums != nil {
			m.Checksums = opts.Checksums
		}
	}
	var gw *guardWrite
	if opts == nil || !opts.SkipGuard {
		gw = s.guardStart(ctx, dstBucket, dstKey, m.Identity, false, 0)
	}
	rec, err := s.judge(ctx, gw, false)
	if err != nil {
		return nil, err
	}
	if rec != nil {
		// The bytes are the source's: so is their profile.
		if src := guardRecordOf(sm); src != nil {
			rec.Profile = src.Profile
		}
		m.Extra, m.Quarantine = rec.extra(), rec.quarantine()
	}
	info, err := s.commitIf(ctx, m, cond)
	if err != nil {
		return nil, classify(op, commitConflict(op, err))
	}
	s.afterCommit(ctx, gw, rec, info)
	return info, nil
}

// ErrRetention is wrapped (with ErrForbidden) when a version is still
// within the retention period.
var ErrRetention = errors.New("version is within its retention period")

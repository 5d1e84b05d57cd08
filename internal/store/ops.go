package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/manifest"
	"github.com/rhizome-data/rhizome/internal/placement"
)

var timeZero time.Time

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// CreateBucket creates a bucket. The creation is recorded on the backends
// as a signed bucket manifest, so an index rebuild restores empty buckets.
func (s *Store) CreateBucket(ctx context.Context, name string) error {
	op := "create bucket " + name
	if err := ValidBucket(name); err != nil {
		return &Error{Kind: ErrInvalid, Op: op, Err: err}
	}
	if strings.Contains(name, "--at-") || strings.Contains(name, "--cp-") {
		return errorf(ErrInvalid, op, nil, "bucket names containing --at- or --cp- are reserved for read-only time-travel views (docs/s3.md)")
	}
	if _, err := s.idx.Bucket(ctx, name); err == nil {
		return errorf(ErrConflict, op, index.ErrBucketExists, "bucket exists")
	}
	vid, t := s.newVersionID()
	m := &manifest.Manifest{Kind: manifest.KindBucket, ID: vid, Bucket: name, Time: t}
	if _, err := s.commit(ctx, m); err != nil {
		return classify(op, err)
	}
	return classify(op, s.idx.CreateBucket(ctx, name, t))
}

// EnsureBucket creates the bucket if it does not exist.
func (s *Store) EnsureBucket(ctx context.Context, name string) error {
	err := s.CreateBucket(ctx, name)
	if errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}

// DeleteBucket removes an empty bucket (one with no versions at all).
func (s *Store) DeleteBucket(ctx context.Context, name string) error {
	op := "delete bucket " + name
	b, err := s.idx.Bucket(ctx, name)
	if err != nil {
		return classify(op, err)
	}
	res, err := s.idx.ListVersions(ctx, index.ListVersionsOptions{Bucket: name, Limit: 1})
	if err != nil {
		return classify(op, err)
	}
	if len(res.Versions) > 0 {
		return errorf(ErrConflict, op, index.ErrBucketNotEmpty, "bucket holds versions; versions are kept until retention allows removing them")
	}
	vid, t := s.newVersionID()
	m := &manifest.Manifest{Kind: manifest.KindBucket, ID: vid, Bucket: name, Time: t, BucketDelete: true}
	if _, err := s.commit(ctx, m); err != nil {
		return classify(op, err)
	}
	_ = b
	return classify(op, s.idx.DeleteBucket(ctx, name))
}

// Buckets lists the buckets.
func (s *Store) Buckets(ctx context.Context) ([]index.Bucket, error) {
	bs, err := s.idx.Buckets(ctx)
	return bs, classify("list buckets", err)
}

// Delete writes a delete marker as the new current version of bucket/key.
func (s *Store) Delete(ctx context.Context, bucket, key, identity string) (*ObjectInfo, error) {
	return s.delete(ctx, bucket, key, identity, true)
}

// deleteUnguarded writes a delete marker without guard checks (rollbacks).
func (s *Store) deleteUnguarded(ctx context.Context, bucket, key, identity string) (*ObjectInfo, error) {
	return s.delete(ctx, bucket, key, identity, false)
}

func (s *Store) delete(ctx context.Context, bucket, key, identity string, guarded bool) (*ObjectInfo, error) {
	op := "delete " + bucket + "/" + key
	if err := ValidKey(key); err != nil {
		return nil, &Error{Kind: ErrInvalid, Op: op, Err: err}
	}
	if _, err := s.idx.Bucket(ctx, bucket); err != nil {
		return nil, classify(op, err)
	}
	var gw *guardWrite
	if guarded {
		gw = s.guardStart(ctx, bucket, key, identity, false, 0)
	}
	rec, err := s.judge(ctx, gw, true)
	if err != nil {
		return nil, err
	}
	vid, t := s.newVersionID()
	m := &manifest.Manifest{Kind: manifest.KindObject, ID: vid, Bucket: bucket, Key: key, Time: t, DeleteMarker: true, Identity: identity,
		Extra: rec.extra(), Quarantine: rec.quarantine()}
	info, err := s.commit(ctx, m)
	if err != nil {
		return nil, classify(op, err)
	}
	s.afterCommit(ctx, gw, rec, info)
	return info, nil
}

// StatOptions select a version. With neither set, the current one.
type StatOptions struct {
	VersionID string
	AsOf      time.Time
}

// ErrDeleteMarker is wrapped (with ErrNotFound) when the selected version
// of a key is a delete marker.
var ErrDeleteMarker = errors.New("the version is a delete marker")

// Stat resolves bucket/key to a version and opens its manifest. When the
// current (or as-of) version is a delete marker it returns an ErrNotFound
// error wrapping ErrDeleteMarker together with the marker's info.
func (s *Store) Stat(ctx context.Context, bucket, key string, o StatOptions) (*ObjectInfo, error) {
	op := "get " + bucket + "/" + key
	if err := ValidKey(key); err != nil {
		return nil, &Error{Kind: ErrInvalid, Op: op, Err: err}
	}
	var v index.Version
	var err error
	switch {
	case o.VersionID != "":
		if _, ok := VersionTime(o.VersionID); !ok {
			return nil, errorf(ErrInvalid, op, nil, "version ID %q is not a Rhizome version ID (32 hex characters)", o.VersionID)
		}
		v, err = s.idx.Version(ctx, bucket, key, o.VersionID)
		if errors.Is(err, index.ErrNoSuchVersion) {
			return nil, errorf(ErrNotFound, op, err, "no version %s of this key; `rhizome versions %s/%s` lists them", o.VersionID, bucket, key)
		}
	default:
		v, err = s.idx.Latest(ctx, bucket, key, o.AsOf)
		if errors.Is(err, index.ErrNoSuchKey) && !o.AsOf.IsZero() {
			if vs, e2 := s.idx.Versions(ctx, bucket, key); e2 == nil && len(vs) > 0 {
				first := vs[len(vs)-1].Time
				return nil, errorf(ErrNotFound, op, err, "the key did not exist at %s; its first version is from %s",
					o.AsOf.UTC().Format(time.RFC3339Nano), first.Format(time.RFC3339Nano))
			}
		}
	}
	if err != nil {
		return nil, classify(op, err)
	}
	m, err := manifest.Decode(v.Manifest, s.pub)
	if err != nil {
		return nil, &Error{Kind: ErrCorrupt, Op: op, Err: err, Msg: "index holds a manifest that does not verify; run `rhizome index rebuild`"}
	}
	info := &ObjectInfo{Version: v, Manifest: m, Protected: s.protected(m)}
	if v.DeleteMarker {
		return info, &Error{Kind: ErrNotFound, Op: op, Err: ErrDeleteMarker}
	}
	return info, nil
}

// Versions lists every version of bucket/key, newest first.
func (s *Store) Versions(ctx context.Context, bucket, key string) ([]index.Version, error) {
	op := "versions " + bucket + "/" + key
	if _, err := s.idx.Bucket(ctx, bucket); err != nil {
		return nil, classify(op, err)
	}
	vs, err := s.idx.Versions(ctx, bucket, key)
	if err == nil && len(vs) == 0 {
		return nil, errorf(ErrNotFound, op, index.ErrNoSuchKey, "no versions")
	}
	return vs, classify(op, err)
}

// List returns one page of the current (or as-of) objects.
func (s *Store) List(ctx context.Context, o index.ListOptions) (index.ListResult, error) {
	r, err := s.idx.List(ctx, o)
	return r, classify("list "+o.Bucket, err)
}

// ListVersions returns one page of all versions.
func (s *Store) ListVersions(ctx context.Context, o index.ListVersionsOptions) (index.ListVersionsResult, error) {
	r, err := s.idx.ListVersions(ctx, o)
	return r, classify("list versions "+o.Bucket, err)
}

// Shard describes where one shard of a segment lives.
type Shard struct {
	Segment string
	Index   int
	Backend string
	Region  string
	Parity  bool
	Written bool
}

// Shards lists the shards of a version, with backend and region.
func (s *Store) Shards(info *ObjectInfo) []Shard {
	var out []Shard
	for _, seg := range info.Manifest.Segments {
		for i, b := range seg.Backends {
			sh := Shard{Segment: seg.ID, Index: i, Backend: b, Parity: i >= seg.K, Written: b != ""}
			if j, ok := s.byName[b]; ok {
				sh.Region = s.pb[j].Region
			}
			out = append(out, sh)
		}
	}
	return out
}

// Survivable reports, for the layout, the regions and how many shards of a
// version each holds; used by status to explain protection.
func (s *Store) Survivable() string {
	if s.cfg.Survive == placement.SurviveBackends {
		return fmt.Sprintf("any %d backends", s.cfg.M)
	}
	return fmt.Sprintf("any one region or any %d backends", s.cfg.M)
}

package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/manifest"
)

var checkpointName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// ValidCheckpointName checks a checkpoint name: lowercase letters, digits
// and '-', at most 40 characters, so that BUCKET--cp-NAME stays a legal S3
// bucket name for the read-only view.
func ValidCheckpointName(name string) error {
	if !checkpointName.MatchString(name) {
		return fmt.Errorf("checkpoint name %q: use 1 to 40 lowercase letters, digits and '-', starting with a letter or digit", name)
	}
	return nil
}

// CheckpointRoot is the root hash of a state: SHA-256 over one line
// "key NUL version-ID NUL manifest-hash LF" per key, in key order.
func CheckpointRoot(entries []manifest.CheckpointEntry) string {
	h := sha256.New()
	for _, e := range entries {
		h.Write([]byte(e.Key))
		h.Write([]byte{0})
		h.Write([]byte(e.VersionID))
		h.Write([]byte{0})
		h.Write([]byte(e.ManifestHash))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// State is every key's version under a prefix at one point.
type State struct {
	Bucket, Prefix string
	At             time.Time
	Checkpoint     string // name, when the state came from a checkpoint
	Versions       map[string]index.Version
}

// StateAt lists the current version of every key under prefix as of at
// (zero: now), hiding quarantined versions.
func (s *Store) StateAt(ctx context.Context, bucket, prefix string, at time.Time) (*State, error) {
	if _, err := s.idx.Bucket(ctx, bucket); err != nil {
		return nil, classify("state "+bucket, err)
	}
	st := &State{Bucket: bucket, Prefix: prefix, At: at, Versions: map[string]index.Version{}}
	after := ""
	for {
		r, err := s.idx.List(ctx, index.ListOptions{Bucket: bucket, Prefix: prefix, StartAfter: after, Limit: index.MaxLimit, AsOf: at})
		if err != nil {
			return nil, classify("state "+bucket, err)
		}
		for _, v := range r.Versions {
			st.Versions[v.Key] = v
		}
		if !r.Truncated {
			return st, nil
		}
		after = r.Next
	}
}

// ResolveState turns a reference into a state: a checkpoint name, "now",
// or a time (RFC 3339).
func (s *Store) ResolveState(ctx context.Context, bucket, prefix, ref string) (*State, error) {
	if ref == "" || ref == "now" {
		return s.StateAt(ctx, bucket, prefix, time.Time{})
	}
	if t, err := time.Parse(time.RFC3339Nano, ref); err == nil {
		return s.StateAt(ctx, bucket, prefix, t)
	}
	cp, err := s.idx.Checkpoint(ctx, ref)
	if errors.Is(err, index.ErrNoSuchCheckpoint) {
		return nil, errorf(ErrNotFound, "resolve "+ref, err, "%q is neither a checkpoint nor a time (RFC 3339, e.g. 2026-11-22T10:00:00Z)", ref)
	}
	if err != nil {
		return nil, classify("resolve "+ref, err)
	}
	m, err := manifest.Decode(cp.Manifest, s.pub)
	if err != nil {
		return nil, &Error{Kind: ErrCorrupt, Op: "checkpoint " + ref, Err: err}
	}
	if cp.Bucket != bucket {
		return nil, errorf(ErrInvalid, "resolve "+ref, nil, "checkpoint %q is of bucket %s, not %s", ref, cp.Bucket, bucket)
	}
	st := &State{Bucket: bucket, Prefix: m.Checkpoint.Prefix, At: m.Checkpoint.At, Checkpoint: ref, Versions: map[string]index.Version{}}
	for _, e := range m.Checkpoint.Entries {
		if len(e.Key) < len(prefix) || e.Key[:len(prefix)] != prefix {
			continue
		}
		v, err := s.idx.Version(ctx, bucket, e.Key, e.VersionID)
		if err != nil {
			return nil, errorf(ErrCorrupt, "checkpoint "+ref, err, "version %s of %s is gone", e.VersionID, e.Key)
		}
		st.Versions[e.Key] = v
	}
	return st, nil
}

// CreateCheckpoint records the current state of bucket/prefix under name,
// with one root hash over it, as a signed manifest on the backends (so an
// index rebuild restores it) and in the index.
func (s *Store) CreateCheckpoint(ctx context.Context, bucket, prefix, name, identity string) (*index.Checkpoint, error) {
	op := "checkpoint " + name
	if err := ValidCheckpointName(name); err != nil {
		return nil, &Error{Kind: ErrInvalid, Op: op, Err: err}
	}
	if _, err := s.idx.Checkpoint(ctx, name); err == nil {
		return nil, errorf(ErrConflict, op, index.ErrCheckpointExists, "the name is taken; checkpoints are immutable, choose another")
	}
	vid, t := s.newVersionID()
	st, err := s.StateAt(ctx, bucket, prefix, t)
	if err != nil {
		return nil, err
	}
	entries := make([]manifest.CheckpointEntry, 0, len(st.Versions))
	for k, v := range st.Versions {
		entries = append(entries, manifest.CheckpointEntry{Key: k, VersionID: v.ID, ManifestHash: manifest.Hash(v.Manifest)})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Key < entries[j].Key })
	cp := &manifest.Checkpoint{Name: name, Prefix: prefix, At: t, Root: CheckpointRoot(entries), Entries: entries}
	m := &manifest.Manifest{Kind: manifest.KindCheckpoint, ID: vid, Bucket: bucket, Time: t, Identity: identity, Checkpoint: cp}
	info, err := s.commit(ctx, m)
	if err != nil {
		return nil, classify(op, err)
	}
	rec := index.Checkpoint{Name: name, Bucket: bucket, Prefix: prefix, At: t, Root: cp.Root, Keys: len(entries), Manifest: info.Version.Manifest}
	if err := s.idx.PutCheckpoint(ctx, rec); err != nil {
		return nil, classify(op, err)
	}
	return &rec, nil
}

// Checkpoints lists the checkpoints.
func (s *Store) Checkpoints(ctx context.Context) ([]index.Checkpoint, error) {
	cs, err := s.idx.Checkpoints(ctx)
	return cs, classify("checkpoints", err)
}

// Checkpoint returns one checkpoint.
func (s *Store) Checkpoint(ctx context.Context, name string) (index.Checkpoint, error) {
	c, err := s.idx.Checkpoint(ctx, name)
	return c, classify("checkpoint "+name, err)
}

// CheckpointReport is the outcome of VerifyCheckpoint.
type CheckpointReport struct {
	Name, Bucket, Prefix string
	At                   time.Time
	Root                 string
	RootOK               bool // the entries hash to the signed root
	Keys                 int
	Missing              []string // key@version no longer in the store
	Changed              []string // key@version whose manifest differs
	Damaged              []VerifyResult
	Unreadable           []VerifyResult
}

// Intact reports whether every version of the checkpoint is present,
// unchanged and readable.
func (r *CheckpointReport) Intact() bool {
	return r.RootOK && len(r.Missing) == 0 && len(r.Changed) == 0 && len(r.Unreadable) == 0
}

// VerifyCheckpoint proves a checkpoint's state is intact and readable: the
// signed entries hash to the root, every version is still stored with the
// same manifest, and every shard verifies (damaged but repairable versions
// are listed; unreadable ones fail the check).
func (s *Store) VerifyCheckpoint(ctx context.Context, name string, progress func(done, total int)) (*CheckpointReport, error) {
	op := "verify checkpoint " + name
	cp, err := s.idx.Checkpoint(ctx, name)
	if err != nil {
		return nil, classify(op, err)
	}
	m, err := manifest.Decode(cp.Manifest, s.pub)
	if err != nil {
		return nil, &Error{Kind: ErrCorrupt, Op: op, Err: err}
	}
	c := m.Checkpoint
	rep := &CheckpointReport{Name: name, Bucket: m.Bucket, Prefix: c.Prefix, At: c.At, Root: c.Root, Keys: len(c.Entries)}
	rep.RootOK = CheckpointRoot(c.Entries) == c.Root && c.Root == cp.Root
	for i, e := range c.Entries {
		v, err := s.idx.Version(ctx, m.Bucket, e.Key, e.VersionID)
		switch {
		case errors.Is(err, index.ErrNoSuchVersion):
			rep.Missing = append(rep.Missing, e.Key+"@"+e.VersionID)
		case err != nil:
			return nil, classify(op, err)
		case manifest.Hash(v.Manifest) != e.ManifestHash:
			rep.Changed = append(rep.Changed, e.Key+"@"+e.VersionID)
		default:
			r := s.VerifyVersion(ctx, v)
			switch r.Health {
			case Damaged:
				rep.Damaged = append(rep.Damaged, r)
			case Unreadable:
				rep.Unreadable = append(rep.Unreadable, r)
			}
		}
		if progress != nil {
			progress(i+1, len(c.Entries))
		}
	}
	return rep, nil
}

package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rhizome-data/rhizome/internal/manifest"
)

// Retention returns how long versions are kept before DeleteVersion may
// remove them.
func (s *Store) Retention() time.Duration {
	return time.Duration(s.cfg.RetentionDays) * 24 * time.Hour
}

// DeleteVersion permanently removes one version of bucket/key: its index
// entry and its manifest pieces. Its shards become garbage for `gc` unless
// another version (a copy) references them. A version younger than the
// retention period is refused with ErrForbidden; a delete marker may always
// be removed (that only makes the older version current again).
func (s *Store) DeleteVersion(ctx context.Context, bucket, key, versionID, identity string) error {
	op := "delete version " + bucket + "/" + key + " " + versionID
	if _, ok := VersionTime(versionID); !ok {
		return errorf(ErrInvalid, op, nil, "version ID %q is not a Rhizome version ID", versionID)
	}
	v, err := s.idx.Version(ctx, bucket, key, versionID)
	if err != nil {
		return classify(op, err)
	}
	if !v.DeleteMarker {
		until := v.Time.Add(s.Retention())
		if now := s.now(); now.Before(until) {
			return &Error{Kind: ErrForbidden, Op: op, Err: ErrRetention,
				Msg: fmt.Sprintf("versions are kept %d days; this one may be removed after %s", s.cfg.RetentionDays, until.UTC().Format(time.RFC3339))}
		}
	}
	m, err := manifest.Decode(v.Manifest, s.pub)
	if err != nil {
		return &Error{Kind: ErrCorrupt, Op: op, Err: err}
	}
	// Pieces first: once they are gone a rebuild cannot resurrect the
	// version; a crash before the index update leaves an entry whose
	// pieces are gone, which verify reports and a rebuild drops.
	var errs []error
	for i, name := range m.Placement {
		j, ok := s.byName[name]
		if !ok {
			continue
		}
		if err := s.backends[j].Delete(ctx, pieceName(m.ID, i)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return &Error{Kind: ErrUnavailable, Op: op, Err: errors.Join(errs...), Msg: "some manifest pieces could not be removed; retry when the backends are back"}
	}
	s.log.Info("version removed", "bucket", bucket, "key", key, "version", versionID, "identity", identity)
	return classify(op, s.idx.DeleteVersion(ctx, bucket, key, versionID))
}

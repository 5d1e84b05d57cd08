package sqlite

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/rhizome-data/rhizome/internal/index"
)

// createMassChanges is schema version 5: the guard's recent overwrites and
// deletes, one row per policy, prefix, identity and key.
//
// mass_changes_by_identity covers the tally (one identity's changes under
// one prefix, newest first); mass_changes_by_time serves the prune. The
// store prunes rows older than its largest window, so the table holds
// about one window of changes (TestQueryPlans checks both plans).
func createMassChanges(ctx context.Context, q querier) error {
	_, err := q.ExecContext(ctx, `
CREATE TABLE mass_changes (
	policy   TEXT    NOT NULL,
	prefix   TEXT    NOT NULL,
	identity TEXT    NOT NULL,
	key      TEXT    NOT NULL,
	del      INTEGER NOT NULL, -- 1 for a delete, 0 for an overwrite
	time     INTEGER NOT NULL, -- unix nanoseconds
	size     INTEGER NOT NULL, -- objects under prefix before the change
	PRIMARY KEY (policy, prefix, identity, key)
) WITHOUT ROWID;
CREATE INDEX mass_changes_by_identity ON mass_changes (policy, prefix, identity, time, del, size);
CREATE INDEX mass_changes_by_time ON mass_changes (time);
`)
	return err
}

const (
	massTallyQuery = `SELECT count(*), coalesce(sum(del), 0), coalesce(max(size), 0) FROM (
	SELECT del, size FROM mass_changes WHERE policy = ? AND prefix = ? AND identity = ? AND time >= ?
	ORDER BY time DESC LIMIT ?)`
	massPruneQuery = `DELETE FROM mass_changes WHERE time < ?`
)

// PutMassChange implements index.MassChanges.
func (ix *Index) PutMassChange(ctx context.Context, c index.MassChange) error {
	if c.Key == "" {
		return fmt.Errorf("%w: mass change without a key", index.ErrInvalid)
	}
	if !representable(c.Time) {
		return fmt.Errorf("%w: mass change of %q: time %v", index.ErrInvalid, c.Key, c.Time)
	}
	if c.Size < 0 {
		return fmt.Errorf("%w: mass change of %q: negative prefix size %d", index.ErrInvalid, c.Key, c.Size)
	}
	del := 0
	if c.Delete {
		del = 1
	}
	return ix.write(ctx, func(ctx context.Context) error {
		_, err := ix.wconn.ExecContext(ctx, `INSERT INTO mass_changes (policy, prefix, identity, key, del, time, size) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (policy, prefix, identity, key) DO UPDATE SET del = excluded.del, time = excluded.time, size = excluded.size
	WHERE excluded.time >= mass_changes.time`,
			c.Policy, c.Prefix, c.Identity, c.Key, del, toNanos(c.Time), c.Size)
		if err != nil {
			return fmt.Errorf("index: put mass change: %w", err)
		}
		return nil
	})
}

// MassTally implements index.MassChanges.
func (ix *Index) MassTally(ctx context.Context, policy, prefix, identity string, since time.Time, limit int) (index.MassTally, error) {
	var t index.MassTally
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	err := ix.rdb.QueryRowContext(ctx, massTallyQuery, policy, prefix, identity, asOfFloor(since), limit).Scan(&t.Keys, &t.Deletes, &t.Size)
	if err != nil {
		return t, fmt.Errorf("index: mass tally: %w", err)
	}
	return t, nil
}

// PruneMassChanges implements index.MassChanges.
func (ix *Index) PruneMassChanges(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := ix.write(ctx, func(ctx context.Context) error {
		r, err := ix.wconn.ExecContext(ctx, massPruneQuery, asOfFloor(cutoff))
		if err != nil {
			return fmt.Errorf("index: prune mass changes: %w", err)
		}
		n, err = r.RowsAffected()
		return err
	})
	return n, err
}

// asOfFloor turns an instant into an inclusive lower bound on time: the
// zero time and instants before 1678 mean no bound.
func asOfFloor(t time.Time) int64 {
	if t.IsZero() || t.Before(fromNanos(math.MinInt64)) {
		return math.MinInt64
	}
	if t.After(fromNanos(math.MaxInt64)) {
		return math.MaxInt64
	}
	return toNanos(t)
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rhizome-data/rhizome/internal/index"
)

// Maintenance state. The queue is small next to the versions (damage is
// rare) and is read in pages, so these use plain (unprepared) statements.

// createRepairs is schema version 3: the repair queue and named state.
func createRepairs(ctx context.Context, q querier) error {
	_, err := q.ExecContext(ctx, `
CREATE TABLE repairs (
	bucket     TEXT    NOT NULL,
	key        TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	reason     TEXT    NOT NULL,
	queued     INTEGER NOT NULL, -- unix nanoseconds
	seq        INTEGER NOT NULL,
	attempts   INTEGER NOT NULL,
	last_error TEXT    NOT NULL,
	not_before INTEGER NOT NULL, -- unix nanoseconds, 0 = now
	data       BLOB    NOT NULL,
	PRIMARY KEY (bucket, key, id)
) WITHOUT ROWID;
CREATE TABLE state (
	name  TEXT NOT NULL PRIMARY KEY,
	value BLOB NOT NULL
) WITHOUT ROWID;
`)
	return err
}

// optNanos stores an optional instant: the zero time as 0.
func optNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return toNanos(t)
}

func fromOptNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return fromNanos(n)
}

func checkRepair(r index.Repair) error {
	if r.Bucket == "" || r.Key == "" || !index.ValidVersionID(r.VersionID) {
		return fmt.Errorf("%w: repair entry needs a bucket, a key and a version ID (have %q, %q, %q)", index.ErrInvalid, r.Bucket, r.Key, r.VersionID)
	}
	if !r.NotBefore.IsZero() && !representable(r.NotBefore) {
		return fmt.Errorf("%w: repair entry: not-before time %v", index.ErrInvalid, r.NotBefore)
	}
	return nil
}

// QueueRepair implements index.Repairs.
func (ix *Index) QueueRepair(ctx context.Context, r index.Repair) error {
	if err := checkRepair(r); err != nil {
		return err
	}
	queued := r.Queued
	if !representable(queued) {
		queued = time.Now()
	}
	return ix.write(ctx, func(ctx context.Context) error {
		// Seq: the clock, or one past the largest when the clock is behind.
		var top int64
		if err := ix.wconn.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM repairs`).Scan(&top); err != nil {
			return fmt.Errorf("index: queue repair: %w", err)
		}
		seq := max(time.Now().UnixNano(), top+1)
		_, err := ix.wconn.ExecContext(ctx, `INSERT INTO repairs (bucket, key, id, reason, queued, seq, attempts, last_error, not_before, data)
VALUES (?, ?, ?, ?, ?, ?, 0, '', 0, ?)
ON CONFLICT (bucket, key, id) DO UPDATE SET reason = excluded.reason, seq = excluded.seq, not_before = 0, data = excluded.data`,
			r.Bucket, r.Key, r.VersionID, r.Reason, toNanos(queued), seq, nonNil(r.Data))
		if err != nil {
			return fmt.Errorf("index: queue repair: %w", err)
		}
		return nil
	})
}

// RepairQueue implements index.Repairs.
func (ix *Index) RepairQueue(ctx context.Context, due time.Time, afterBucket, afterKey, afterID string, limit int) ([]index.Repair, error) {
	if limit <= 0 || limit > index.MaxLimit {
		limit = index.DefaultLimit
	}
	dueN := int64(math.MaxInt64)
	if !due.IsZero() {
		dueN = asOfNanos(due)
	}
	rows, err := ix.rdb.QueryContext(ctx, `SELECT bucket, key, id, reason, queued, seq, attempts, last_error, not_before, data FROM repairs
WHERE (bucket, key, id) > (?, ?, ?) AND not_before <= ?
ORDER BY bucket, key, id LIMIT ?`, afterBucket, afterKey, afterID, dueN, limit)
	if err != nil {
		return nil, fmt.Errorf("index: repair queue: %w", err)
	}
	defer rows.Close()
	var out []index.Repair
	for rows.Next() {
		var r index.Repair
		var queued, notBefore int64
		if err := rows.Scan(&r.Bucket, &r.Key, &r.VersionID, &r.Reason, &queued, &r.Seq, &r.Attempts, &r.LastError, &notBefore, &r.Data); err != nil {
			return nil, fmt.Errorf("index: repair queue: %w", err)
		}
		r.Queued, r.NotBefore = fromNanos(queued), fromOptNanos(notBefore)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("index: repair queue: %w", err)
	}
	return out, nil
}

// RepairQueueLen implements index.Repairs.
func (ix *Index) RepairQueueLen(ctx context.Context) (int64, error) {
	var n int64
	if err := ix.rdb.QueryRowContext(ctx, `SELECT count(*) FROM repairs`).Scan(&n); err != nil {
		return 0, fmt.Errorf("index: repair queue: %w", err)
	}
	return n, nil
}

// DoneRepair implements index.Repairs.
func (ix *Index) DoneRepair(ctx context.Context, r index.Repair) (bool, error) {
	var done bool
	err := ix.write(ctx, func(ctx context.Context) error {
		res, err := ix.wconn.ExecContext(ctx, `DELETE FROM repairs WHERE bucket = ? AND key = ? AND id = ? AND seq = ?`,
			r.Bucket, r.Key, r.VersionID, r.Seq)
		if err != nil {
			return fmt.Errorf("index: done repair: %w", err)
		}
		n, err := res.RowsAffected()
		done = n > 0
		return err
	})
	return done, err
}

// DeferRepair implements index.Repairs.
func (ix *Index) DeferRepair(ctx context.Context, r index.Repair) error {
	if err := checkRepair(r); err != nil {
		return err
	}
	if r.Attempts < 0 {
		return fmt.Errorf("%w: repair entry: attempts %d", index.ErrInvalid, r.Attempts)
	}
	return ix.write(ctx, func(ctx context.Context) error {
		_, err := ix.wconn.ExecContext(ctx, `UPDATE repairs SET attempts = ?, last_error = ?, not_before = ? WHERE bucket = ? AND key = ? AND id = ?`,
			r.Attempts, r.LastError, optNanos(r.NotBefore), r.Bucket, r.Key, r.VersionID)
		if err != nil {
			return fmt.Errorf("index: defer repair: %w", err)
		}
		return nil
	})
}

// PutState implements index.Repairs.
func (ix *Index) PutState(ctx context.Context, name string, value []byte) error {
	if name == "" {
		return fmt.Errorf("%w: empty state name", index.ErrInvalid)
	}
	return ix.write(ctx, func(ctx context.Context) error {
		_, err := ix.wconn.ExecContext(ctx, `INSERT INTO state (name, value) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, nonNil(value))
		if err != nil {
			return fmt.Errorf("index: put state %q: %w", name, err)
		}
		return nil
	})
}

// State implements index.Repairs.
func (ix *Index) State(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := ix.rdb.QueryRowContext(ctx, `SELECT value FROM state WHERE name = ?`, name).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("%w: %q", index.ErrNoSuchState, name)
	case err != nil:
		return nil, fmt.Errorf("index: state %q: %w", name, err)
	}
	return v, nil
}

// States implements index.Repairs.
func (ix *Index) States(ctx context.Context, prefix string) (map[string][]byte, error) {
	rows, err := ix.rdb.QueryContext(ctx, `SELECT name, value FROM state
WHERE name >= ? AND substr(CAST(name AS BLOB), 1, ?) = CAST(? AS BLOB) ORDER BY name`, prefix, len(prefix), prefix)
	if err != nil {
		return nil, fmt.Errorf("index: states %q: %w", prefix, err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var name string
		var v []byte
		if err := rows.Scan(&name, &v); err != nil {
			return nil, fmt.Errorf("index: states %q: %w", prefix, err)
		}
		out[name] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("index: states %q: %w", prefix, err)
	}
	return out, nil
}

// DeleteState implements index.Repairs.
func (ix *Index) DeleteState(ctx context.Context, name string) error {
	return ix.write(ctx, func(ctx context.Context) error {
		if _, err := ix.wconn.ExecContext(ctx, `DELETE FROM state WHERE name = ?`, name); err != nil {
			return fmt.Errorf("index: delete state %q: %w", name, err)
		}
		return nil
	})
}

// UpdateState implements index.Repairs. Writes run in BEGIN IMMEDIATE
// transactions, so the read and the write are atomic across processes too.
func (ix *Index) UpdateState(ctx context.Context, name string, fn func(value []byte, found bool) ([]byte, error)) error {
	if name == "" {
		return fmt.Errorf("%w: empty state name", index.ErrInvalid)
	}
	return ix.write(ctx, func(ctx context.Context) error {
		var old []byte
		err := ix.wconn.QueryRowContext(ctx, `SELECT value FROM state WHERE name = ?`, name).Scan(&old)
		found := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("index: update state %q: %w", name, err)
		}
		v, err := fn(old, found)
		if err != nil {
			return err
		}
		if v == nil {
			_, err = ix.wconn.ExecContext(ctx, `DELETE FROM state WHERE name = ?`, name)
		} else {
			_, err = ix.wconn.ExecContext(ctx, `INSERT INTO state (name, value) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, v)
		}
		if err != nil {
			return fmt.Errorf("index: update state %q: %w", name, err)
		}
		return nil
	})
}

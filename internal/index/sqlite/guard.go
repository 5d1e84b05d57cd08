package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/rhizome-data/rhizome/internal/index"
)

// PutCheckpoint implements index.Guard.
func (ix *Index) PutCheckpoint(ctx context.Context, c index.Checkpoint) error {
	if c.Name == "" {
		return fmt.Errorf("%w: checkpoint without a name", index.ErrInvalid)
	}
	return ix.write(ctx, func(ctx context.Context) error {
		_, err := ix.wconn.ExecContext(ctx, `INSERT INTO checkpoints (name, bucket, prefix, at, root, keys, manifest) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			c.Name, c.Bucket, c.Prefix, toNanos(c.At), c.Root, c.Keys, nonNil(c.Manifest))
		if err != nil && strings.Contains(err.Error(), "UNIQUE") {
			return fmt.Errorf("%w: %q", index.ErrCheckpointExists, c.Name)
		}
		if err != nil {
			return fmt.Errorf("index: put checkpoint: %w", err)
		}
		return nil
	})
}

const checkpointColumns = `name, bucket, prefix, at, root, keys, manifest`

func scanCheckpoint(row interface{ Scan(...any) error }) (index.Checkpoint, error) {
	var c index.Checkpoint
	var at int64
	err := row.Scan(&c.Name, &c.Bucket, &c.Prefix, &at, &c.Root, &c.Keys, &c.Manifest)
	c.At = fromNanos(at)
	return c, err
}

// Checkpoint implements index.Guard.
func (ix *Index) Checkpoint(ctx context.Context, name string) (index.Checkpoint, error) {
	c, err := scanCheckpoint(ix.rdb.QueryRowContext(ctx, `SELECT `+checkpointColumns+` FROM checkpoints WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("%w: %q", index.ErrNoSuchCheckpoint, name)
	}
	if err != nil {
		return c, fmt.Errorf("index: checkpoint: %w", err)
	}
	return c, nil
}

// Checkpoints implements index.Guard.
func (ix *Index) Checkpoints(ctx context.Context) ([]index.Checkpoint, error) {
	rows, err := ix.rdb.QueryContext(ctx, `SELECT `+checkpointColumns+` FROM checkpoints ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("index: checkpoints: %w", err)
	}
	defer rows.Close()
	var out []index.Checkpoint
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("index: checkpoints: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// PutAlert implements index.Guard.
func (ix *Index) PutAlert(ctx context.Context, a index.Alert) error {
	if !index.ValidVersionID(a.VersionID) {
		return fmt.Errorf("%w: alert for version %q", index.ErrInvalid, a.VersionID)
	}
	return ix.write(ctx, func(ctx context.Context) error {
		_, err := ix.wconn.ExecContext(ctx, `INSERT INTO alerts (id, bucket, key, time, mode, state, identity, summary, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET bucket = excluded.bucket, key = excluded.key, time = excluded.time, mode = excluded.mode,
	state = excluded.state, identity = excluded.identity, summary = excluded.summary, data = excluded.data`,
			a.VersionID, a.Bucket, a.Key, toNanos(a.Time), a.Mode, a.State, a.Identity, a.Summary, nonNil(a.Data))
		if err != nil {
			return fmt.Errorf("index: put alert: %w", err)
		}
		return nil
	})
}

const alertColumns = `id, bucket, key, time, mode, state, identity, summary, data`

func scanAlert(row interface{ Scan(...any) error }) (index.Alert, error) {
	var a index.Alert
	var t int64
	err := row.Scan(&a.VersionID, &a.Bucket, &a.Key, &t, &a.Mode, &a.State, &a.Identity, &a.Summary, &a.Data)
	a.Time = fromNanos(t)
	return a, err
}

// Alert implements index.Guard.
func (ix *Index) Alert(ctx context.Context, versionID string) (index.Alert, error) {
	a, err := scanAlert(ix.rdb.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`, versionID))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("%w: %s", index.ErrNoSuchAlert, versionID)
	}
	if err != nil {
		return a, fmt.Errorf("index: alert: %w", err)
	}
	return a, nil
}

// Alerts implements index.Guard.
func (ix *Index) Alerts(ctx context.Context, state, beforeID string, limit int) ([]index.Alert, error) {
	if limit <= 0 || limit > index.MaxLimit {
		limit = index.DefaultLimit
	}
	before := beforeID
	if before == "" {
		before = "g" // after every hex ID
	}
	rows, err := ix.rdb.QueryContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE (? = '' OR state = ?) AND id < ? ORDER BY id DESC LIMIT ?`,
		state, state, before, limit)
	if err != nil {
		return nil, fmt.Errorf("index: alerts: %w", err)
	}
	defer rows.Close()
	var out []index.Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("index: alerts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

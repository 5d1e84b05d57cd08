package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/rhizome-data/rhizome/internal/index"
)

// preparer is what *sql.DB and *sql.Conn have in common for preparing.
type preparer interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// stmtList prepares the statements named in it and closes them.
type stmtList []struct {
	dst   **sql.Stmt
	query string
}

func (l stmtList) prepare(ctx context.Context, p preparer) error {
	for _, s := range l {
		st, err := p.PrepareContext(ctx, s.query)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", s.query, err)
		}
		*s.dst = st
	}
	return nil
}

func (l stmtList) close() error {
	var errs []error
	for _, s := range l {
		if *s.dst != nil {
			errs = append(errs, (*s.dst).Close()) // later use fails with "statement is closed"
		}
	}
	return errors.Join(errs...)
}

// versionColumns are the columns scanVersion reads, in its order.
const versionColumns = `v.time, v.size, v.etag, v.delete_marker, v.shards, v.quarantined`

// readStmts are prepared on the reader pool; database/sql prepares each
// again on every pooled connection it runs on, once.
type readStmts struct {
	bucket, buckets         *sql.Stmt
	version, latest         *sql.Stmt
	versions                *sql.Stmt
	listLive, listLiveN     *sql.Stmt // with and without an upper bound on key
	listLatest, listLatestN *sql.Stmt
	manifests               *sql.Stmt
	listAll, listAllN       *sql.Stmt
	listKeyOlder            *sql.Stmt
}

func (r *readStmts) list() stmtList {
	return stmtList{
		{&r.bucket, `SELECT created FROM buckets WHERE name = ?`},
		{&r.buckets, `SELECT name, created FROM buckets ORDER BY name`},
		{&r.version, `SELECT ` + versionColumns + `, m.data
FROM versions v JOIN manifests m ON m.ref = v.manifest_ref
WHERE v.bucket = ? AND v.key = ? AND v.id = ?`},
		{&r.latest, `SELECT v.id, ` + versionColumns + `, m.data
FROM versions v JOIN manifests m ON m.ref = v.manifest_ref
WHERE v.bucket = ? AND v.key = ? AND v.quarantined = 0 AND v.time <= ?
ORDER BY v.id DESC LIMIT 1`},
		{&r.versions, `SELECT v.id, ` + versionColumns + `, m.data
FROM versions v JOIN manifests m ON m.ref = v.manifest_ref
WHERE v.bucket = ? AND v.key = ?
ORDER BY v.id DESC`},
		// The manifests of a JSON array of refs, in one statement rather
		// than one per version.
		{&r.manifests, `SELECT ref, data FROM manifests WHERE ref IN (SELECT value FROM json_each(?))`},
		// Each key's current version, in key order, from a lower bound on
		// (and maybe an upper bound below) the key: a walk of live, with
		// one primary key lookup in versions per row.
		{&r.listLive, listLiveQuery(true)},
		{&r.listLiveN, listLiveQuery(false)},
		// Each key's newest version as of a time, in key order, in key order, from a lower
		// bound on (and maybe an upper bound below) the key. The bare
		// columns come from the row holding max(id) (an SQLite guarantee
		// for a lone min/max aggregate). The primary key delivers rows in
		// GROUP BY order, so rows stream: stopping early costs nothing.
		{&r.listLatest, listLatestQuery(true)},
		{&r.listLatestN, listLatestQuery(false)},
		// Every version, key ascending then newest first (primary key
		// order, so no sorting).
		{&r.listAll, listAllQuery(true)},
		{&r.listAllN, listAllQuery(false)},
		// The versions of one key older than a version ID.
		{&r.listKeyOlder, `SELECT v.key, v.id, ` + versionColumns + `, v.manifest_ref
FROM versions v WHERE v.bucket = ?1 AND v.key = ?2 AND v.id < ?3
ORDER BY v.id DESC`},
	}
}

func listLiveQuery(upper bool) string {
	q := `SELECT v.key, v.id, ` + versionColumns + `, v.manifest_ref
FROM live l JOIN versions v ON v.bucket = l.bucket AND v.key = l.key AND v.id = l.id
WHERE l.bucket = ?1 AND l.key >= ?2`
	if upper {
		q += ` AND l.key < ?3`
	}
	return q + `
ORDER BY l.key`
}

func listLatestQuery(upper bool) string {
	q := `SELECT v.key, max(v.id), ` + versionColumns + `, v.manifest_ref
FROM versions v
WHERE v.bucket = ?1 AND v.key >= ?2 AND v.quarantined = 0 AND v.time <= ?3`
	if upper {
		q += ` AND v.key < ?4`
	}
	return q + `
GROUP BY v.key ORDER BY v.key`
}

func listAllQuery(upper bool) string {
	q := `SELECT v.key, v.id, ` + versionColumns + `, v.manifest_ref
FROM versions v
WHERE v.bucket = ?1 AND v.key >= ?2`
	if upper {
		q += ` AND v.key < ?3`
	}
	return q + `
ORDER BY v.key, v.id DESC`
}

func (r *readStmts) prepare(ctx context.Context, p preparer) error {
	return r.list().prepare(ctx, p)
}

func (r *readStmts) Close() error { return r.list().close() }

// writeStmts are prepared on the write connection and run inside the
// writer's transaction.
type writeStmts struct {
	bucket, insertBucket, deleteBucket, anyVersion *sql.Stmt
	getVersion, latest                             *sql.Stmt
	insertManifest, updateManifest, deleteManifest *sql.Stmt
	insertVersion, updateVersion, deleteVersion    *sql.Stmt
	savepoint, rollbackTo, release                 *sql.Stmt
}

func (w *writeStmts) list() stmtList {
	return stmtList{
		{&w.bucket, `SELECT created FROM buckets WHERE name = ?`},
		{&w.insertBucket, `INSERT INTO buckets (name, created) VALUES (?, ?) ON CONFLICT DO NOTHING`},
		{&w.deleteBucket, `DELETE FROM buckets WHERE name = ?`},
		{&w.anyVersion, `SELECT 1 FROM versions WHERE bucket = ? LIMIT 1`},
		{&w.getVersion, `SELECT ` + versionColumns + `, v.manifest_ref, m.data
FROM versions v JOIN manifests m ON m.ref = v.manifest_ref
WHERE v.bucket = ? AND v.key = ? AND v.id = ?`},
		// The current version without its manifest, for PutVersionIf.
		{&w.latest, `SELECT v.id, ` + versionColumns + `
FROM versions v
WHERE v.bucket = ? AND v.key = ? AND v.quarantined = 0
ORDER BY v.id DESC LIMIT 1`},
		{&w.insertManifest, `INSERT INTO manifests (data) VALUES (?)`},
		{&w.updateManifest, `UPDATE manifests SET data = ? WHERE ref = ?`},
		{&w.deleteManifest, `DELETE FROM manifests WHERE ref = ?`},
		{&w.insertVersion, `INSERT INTO versions
(bucket, key, id, time, size, etag, delete_marker, shards, quarantined, manifest_ref)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&w.updateVersion, `UPDATE versions SET shards = ?, quarantined = ? WHERE bucket = ? AND key = ? AND id = ?`},
		{&w.deleteVersion, `DELETE FROM versions WHERE bucket = ? AND key = ? AND id = ?`},
		{&w.savepoint, `SAVEPOINT op`},
		{&w.rollbackTo, `ROLLBACK TO op`},
		{&w.release, `RELEASE op`},
	}
}

func (w *writeStmts) prepare(ctx context.Context, p preparer) error {
	return w.list().prepare(ctx, p)
}

func (w *writeStmts) Close() error { return w.list().close() }

// checkBucket returns ErrNoSuchBucket unless the bucket exists.
func (w *writeStmts) checkBucket(ctx context.Context, name string) error {
	return checkBucket(ctx, w.bucket, name)
}

// version reads one version with its manifest and the manifest's ref.
func (w *writeStmts) version(ctx context.Context, bucket, key, id string) (index.Version, int64, error) {
	v := index.Version{Bucket: bucket, Key: key, ID: id}
	var ref int64
	err := scanVersion(w.getVersion.QueryRowContext(ctx, bucket, key, id), &v, &ref, &v.Manifest)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if err := w.checkBucket(ctx, bucket); err != nil {
			return v, 0, err
		}
		return v, 0, fmt.Errorf("%w: %s/%s version %s", index.ErrNoSuchVersion, bucket, key, id)
	case err != nil:
		return v, 0, fmt.Errorf("index: %s/%s version %s: %w", bucket, key, id, err)
	}
	return v, ref, nil
}

// putVersion records v unless the same version is already there.
func (w *writeStmts) putVersion(ctx context.Context, v *index.Version) error {
	old, _, err := w.version(ctx, v.Bucket, v.Key, v.ID)
	switch {
	case err == nil:
		if same(&old, v) {
			return nil
		}
		return fmt.Errorf("%w: %s/%s version %s is already recorded with different content", index.ErrConflict, v.Bucket, v.Key, v.ID)
	case !errors.Is(err, index.ErrNoSuchVersion):
		return err
	}
	res, err := w.insertManifest.ExecContext(ctx, nonNil(v.Manifest))
	if err != nil {
		return fmt.Errorf("index: put %s/%s version %s: %w", v.Bucket, v.Key, v.ID, err)
	}
	ref, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("index: put %s/%s version %s: %w", v.Bucket, v.Key, v.ID, err)
	}
	if _, err := w.insertVersion.ExecContext(ctx, v.Bucket, v.Key, v.ID, toNanos(v.Time), v.Size, v.ETag,
		v.DeleteMarker, v.Shards, v.Quarantined, ref); err != nil {
		return fmt.Errorf("index: put %s/%s version %s: %w", v.Bucket, v.Key, v.ID, err)
	}
	return nil
}

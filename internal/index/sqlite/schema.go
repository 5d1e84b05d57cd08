package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// applicationID marks the file as a Rhizome index (PRAGMA application_id, the
// bytes "RhzI"), so that `file` and sqlite3 can tell what it is.
const applicationID = 0x52687a49

// migrations[i] brings the schema from version i to version i+1. Each runs in
// the same write transaction that records the new version in meta, so a crash
// or a concurrent Open never sees half a migration. Append only; never edit a
// migration that has shipped.
var migrations = []func(ctx context.Context, q querier) error{
	createSchema,
	createUploads,
	createRepairs,
	createGuard,
	createMassChanges,
}

// createGuard is schema version 4: checkpoints and guard alerts.
func createGuard(ctx context.Context, q querier) error {
	_, err := q.ExecContext(ctx, `
CREATE TABLE checkpoints (
	name     TEXT    NOT NULL PRIMARY KEY,
	bucket   TEXT    NOT NULL,
	prefix   TEXT    NOT NULL,
	at       INTEGER NOT NULL,
	root     TEXT    NOT NULL,
	keys     INTEGER NOT NULL,
	manifest BLOB    NOT NULL
) WITHOUT ROWID;
CREATE TABLE alerts (
	id       TEXT    NOT NULL PRIMARY KEY, -- version ID
	bucket   TEXT    NOT NULL,
	key      TEXT    NOT NULL,
	time     INTEGER NOT NULL,
	mode     TEXT    NOT NULL,
	state    TEXT    NOT NULL,
	identity TEXT    NOT NULL,
	summary  TEXT    NOT NULL,
	data     BLOB    NOT NULL
) WITHOUT ROWID;
CREATE INDEX alerts_by_state ON alerts (state, id);
`)
	return err
}

// createUploads is schema version 2: multipart uploads in progress.
func createUploads(ctx context.Context, q querier) error {
	_, err := q.ExecContext(ctx, `
CREATE TABLE uploads (
	id      TEXT    NOT NULL PRIMARY KEY,
	bucket  TEXT    NOT NULL,
	key     TEXT    NOT NULL,
	created INTEGER NOT NULL,
	meta    BLOB    NOT NULL
) WITHOUT ROWID;
CREATE INDEX uploads_by_key ON uploads (bucket, key, id);
CREATE TABLE parts (
	upload   TEXT    NOT NULL,
	number   INTEGER NOT NULL,
	etag     TEXT    NOT NULL,
	size     INTEGER NOT NULL,
	modified INTEGER NOT NULL,
	data     BLOB    NOT NULL,
	PRIMARY KEY (upload, number)
) WITHOUT ROWID;
`)
	return err
}

// createSchema is schema version 1.
//
// versions is clustered on (bucket, key, id DESC), the order every lookup and
// listing walks: all versions of one key are adjacent, newest first, and keys
// are adjacent in byte order (TEXT compares with memcmp under the default
// BINARY collation, which is S3's order for UTF-8 keys). The table holds only
// small columns so that a listing reads few pages; manifests, which are
// larger and only needed for the rows a caller gets back, live in their own
// table.
//
// live names, for every key whose current version (newest not quarantined)
// is an object, that version. Listing the present walks it and so never
// reads a deleted key or an old version, however long the history. Triggers
// on versions keep it exact, inside the same transaction as the change.
func createSchema(ctx context.Context, q querier) error {
	ddl := `
CREATE TABLE buckets (
	name    TEXT    NOT NULL PRIMARY KEY,
	created INTEGER NOT NULL -- unix nanoseconds
) WITHOUT ROWID;

CREATE TABLE manifests (
	ref  INTEGER PRIMARY KEY,
	data BLOB    NOT NULL
);

CREATE TABLE versions (
	bucket        TEXT    NOT NULL,
	key           TEXT    NOT NULL,
	id            TEXT    NOT NULL,
	time          INTEGER NOT NULL, -- unix nanoseconds
	size          INTEGER NOT NULL,
	etag          TEXT    NOT NULL,
	delete_marker INTEGER NOT NULL,
	shards        INTEGER NOT NULL,
	quarantined   INTEGER NOT NULL,
	manifest_ref  INTEGER NOT NULL, -- manifests.ref
	PRIMARY KEY (bucket, key, id DESC)
) WITHOUT ROWID;

CREATE TABLE live (
	bucket TEXT NOT NULL,
	key    TEXT NOT NULL,
	id     TEXT NOT NULL, -- versions.id of the current version
	PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
` + liveTrigger("insert", "AFTER INSERT", "NEW") +
		liveTrigger("quarantine", "AFTER UPDATE OF quarantined", "NEW") +
		liveTrigger("delete", "AFTER DELETE", "OLD")
	_, err := q.ExecContext(ctx, ddl)
	return err
}

// liveTrigger returns a trigger that recomputes the live row of the key a
// change to versions touched.
func liveTrigger(name, event, row string) string {
	return strings.NewReplacer("$NAME", name, "$EVENT", event, "$ROW", row).Replace(`
CREATE TRIGGER live_$NAME $EVENT ON versions BEGIN
	DELETE FROM live WHERE bucket = $ROW.bucket AND key = $ROW.key;
	INSERT INTO live (bucket, key, id)
	SELECT bucket, key, id FROM (
		SELECT bucket, key, id, delete_marker FROM versions
		WHERE bucket = $ROW.bucket AND key = $ROW.key AND quarantined = 0
		ORDER BY id DESC LIMIT 1
	) WHERE delete_marker = 0;
END;
`)
}

// querier is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// migrate brings the schema of the database behind q, which must be inside a
// write transaction, up to date. It refuses files written by a newer build
// and SQLite files that are not a Rhizome index.
func migrate(ctx context.Context, q querier) (from, to int, err error) {
	if _, err := q.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS meta (
	name  TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID`); err != nil {
		return 0, 0, err
	}
	var s string
	switch err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = 'schema_version'`).Scan(&s); {
	case errors.Is(err, sql.ErrNoRows):
		var others int
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name <> 'meta' AND name NOT LIKE 'sqlite_%'`).Scan(&others); err != nil {
			return 0, 0, err
		}
		if others > 0 {
			return 0, 0, errors.New("an SQLite database but not a Rhizome index")
		}
		if _, err := q.ExecContext(ctx, `PRAGMA application_id = `+strconv.Itoa(applicationID)); err != nil {
			return 0, 0, err
		}
	case err != nil:
		return 0, 0, err
	default:
		if from, err = strconv.Atoi(s); err != nil || from < 1 {
			return 0, 0, fmt.Errorf("bad schema version %q", s)
		}
	}
	if from > len(migrations) {
		return from, from, fmt.Errorf("schema version %d is newer than this build knows (%d)", from, len(migrations))
	}
	for v := from; v < len(migrations); v++ {
		if err := migrations[v](ctx, q); err != nil {
			return from, v, fmt.Errorf("migrate schema to version %d: %w", v+1, err)
		}
	}
	if from == len(migrations) {
		return from, from, nil
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO meta (name, value) VALUES ('schema_version', ?)
ON CONFLICT (name) DO UPDATE SET value = excluded.value`, strconv.Itoa(len(migrations))); err != nil {
		return from, from, err
	}
	return from, len(migrations), nil
}

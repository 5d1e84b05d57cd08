// Package sqlite implements index.Index on one SQLite file: the embedded
// default, needing no server and no cgo (modernc.org/sqlite).
//
// # Concurrency
//
// Several processes may open the same file at once (a CLI while the gateway
// runs), and each Index is safe for concurrent goroutines. The file is in WAL
// mode, so readers never block writers or each other. Each Index writes
// through one connection owned by one goroutine, which commits concurrent
// writes together (group commit: one transaction and one fsync for all of
// them, each write in its own savepoint so one failing write does not undo
// the others). Write transactions begin IMMEDIATE, taking the file's write
// lock before reading, so a writer never has to upgrade a read lock, the one
// case where SQLite reports "database is locked" without waiting; waiting for
// another process's write lock is bounded by Options.BusyTimeout.
//
// A write returns the context's error as soon as its context ends. It is not
// applied if the writer had not reached it by then, and may still be applied
// if it had. An UpdateVersion callback runs on the writer goroutine, holding
// up every other write while it runs.
//
// # Durability
//
// A write that returned nil is in the WAL and synced to the disk (see
// synchronous below); it survives the process being killed and the machine
// losing power.
package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/rhizome-data/rhizome/internal/index"
)

var _ index.Index = (*Index)(nil)

// ErrClosed is returned by writes to an Index after Close.
var ErrClosed = errors.New("index: closed")

// Options tune Open. The zero value (or nil) gives good defaults.
type Options struct {
	// BusyTimeout is how long an operation waits for a lock another
	// process holds before it fails. Zero means 30 seconds.
	BusyTimeout time.Duration
	// Logger receives schema migrations. Nil discards.
	Logger *slog.Logger
}

// maxBatch bounds how many writes one group commit holds, so one
// transaction never keeps the write lock for long.
const maxBatch = 256

// Index is an index.Index stored in one SQLite file.
type Index struct {
	path string
	log  *slog.Logger

	rdb *sql.DB // readers: a pool, each read a deferred (snapshot) transaction
	r   readStmts

	wdb   *sql.DB   // the writer's pool, holding only wconn
	wconn *sql.Conn // the one write connection, used by the writer goroutine
	w     writeStmts

	ops       chan *op      // unbuffered: a send succeeds only while the writer runs
	quit      chan struct{} // closed by Close
	stopped   chan struct{} // closed when the writer goroutine has returned
	closeOnce sync.Once
	closeErr  error
}

// Open opens the index at path, creating the file and its schema if needed
// and migrating an older schema. opts may be nil.
func Open(path string, opts *Options) (*Index, error) {
	if opts == nil {
		opts = &Options{}
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("index: open %s: %w", path, err)
	}

	// journal_mode=WAL: readers see a snapshot and never block the writer;
	// processes on one machine share the file safely.
	//
	// synchronous=FULL: every commit fsyncs the WAL. NORMAL would already
	// survive a killed process (committed frames are in the OS page cache),
	// but after a power loss it may drop the last commits, and the store
	// acknowledges a write once it is indexed: the version would vanish until
	// the next rebuild from the backends. FULL costs one fsync per group
	// commit, small next to the n shard writes and the manifest write behind
	// every version, and group commit shares it among concurrent writers.
	dsn := "file:" + escapePath(abs) +
		"?_pragma=" + url.QueryEscape(fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds())) +
		"&_pragma=" + url.QueryEscape("journal_mode(WAL)") +
		"&_pragma=" + url.QueryEscape("synchronous(FULL)")

	ix := &Index{
		path:    path,
		log:     log.With("component", "index"),
		ops:     make(chan *op),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if err := ix.open(dsn); err != nil {
		ix.closeDBs()
		return nil, err
	}
	go ix.writer()
	return ix, nil
}

// escapePath makes a file path safe inside an SQLite URI filename.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(p))
}

func (ix *Index) open(dsn string) error {
	ctx := context.Background()
	var err error

	// The writer: one connection, on which the writer goroutine runs
	// BEGIN IMMEDIATE ... COMMIT itself.
	if ix.wdb, err = sql.Open("sqlite", dsn); err != nil {
		return fmt.Errorf("index: open %s: %w", ix.path, err)
	}
	ix.wdb.SetMaxOpenConns(1)
	ix.wdb.SetConnMaxIdleTime(0)
	ix.wdb.SetConnMaxLifetime(0)
	if ix.wconn, err = ix.wdb.Conn(ctx); err != nil {
		return fmt.Errorf("index: open %s: %w", ix.path, err)
	}
	var from, to int
	err = ix.inWriteTx(ctx, func() error {
		from, to, err = migrate(ctx, ix.wconn)
		return err
	})
	if err != nil {
		return fmt.Errorf("index: open %s: %w", ix.path, err)
	}
	if from != to {
		ix.log.Info("schema migrated", "path", ix.path, "from_version", from, "to_version", to)
	}
	if err := ix.w.prepare(ctx, ix.wconn); err != nil {
		return fmt.Errorf("index: open %s: %w", ix.path, err)
	}

	// The readers.
	if ix.rdb, err = sql.Open("sqlite", dsn); err != nil {
		return fmt.Errorf("index: open %s: %w", ix.path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	ix.rdb.SetMaxOpenConns(n)
	ix.rdb.SetMaxIdleConns(n)
	if err := ix.r.prepare(ctx, ix.rdb); err != nil {
		return fmt.Errorf("index: open %s: %w", ix.path, err)
	}
	return nil
}

// inWriteTx runs fn inside BEGIN IMMEDIATE ... COMMIT on the write
// connection. Only Open uses it, before the writer goroutine starts.
func (ix *Index) inWriteTx(ctx context.Context, fn func() error) error {
	if _, err := ix.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		ix.rollback()
		return err
	}
	if _, err := ix.wconn.ExecContext(ctx, "COMMIT"); err != nil {
		ix.rollback()
		return err
	}
	return nil
}

// rollback ends the write transaction after a failure. Its own error says
// nothing new (there may be no transaction left to roll back).
func (ix *Index) rollback() {
	_, _ = ix.wconn.ExecContext(context.Background(), "ROLLBACK")
}

// Close waits for the writes in progress, then closes the file.
func (ix *Index) Close() error {
	ix.closeOnce.Do(func() {
		close(ix.quit)
		<-ix.stopped
		ix.closeErr = ix.closeDBs()
	})
	return ix.closeErr
}

func (ix *Index) closeDBs() error {
	var errs []error
	for _, c := range []io.Closer{&ix.r, &ix.w} {
		errs = append(errs, c.Close())
	}
	if ix.wconn != nil {
		errs = append(errs, ix.wconn.Close())
	}
	for _, db := range []*sql.DB{ix.rdb, ix.wdb} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("index: close %s: %w", ix.path, err)
	}
	return nil
}

// An op is one write waiting for the writer goroutine.
type op struct {
	ctx   context.Context
	fn    func(ctx context.Context) error
	err   error
	panic any
	done  chan struct{}
}

// write runs fn on the writer goroutine inside a write transaction and
// returns once that transaction has committed (or failed). fn's statements
// are undone if it returns an error; the other writes committed with it are
// not affected. If ctx ends first, write returns ctx.Err() at once; fn has
// then not run, or runs and commits (or fails) without anyone waiting.
func (ix *Index) write(ctx context.Context, fn func(ctx context.Context) error) error {
	o := &op{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case ix.ops <- o:
	case <-ix.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-o.done:
		if o.panic != nil {
			panic(o.panic)
		}
		return o.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writer is the goroutine that owns the write connection. It takes every
// write waiting at the moment (up to maxBatch) and commits them together.
func (ix *Index) writer() {
	defer close(ix.stopped)
	batch := make([]*op, 0, maxBatch)
	for {
		select {
		case o := <-ix.ops:
			batch = append(batch[:0], o)
		case <-ix.quit:
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case o := <-ix.ops:
				batch = append(batch, o)
			default:
				break more
			}
		}
		ix.commit(batch)
		for _, o := range batch {
			close(o.done)
		}
		clear(batch)
	}
}

// commit runs batch in one transaction, each op in a savepoint.
//
// The statements run under a context that is never cancelled: cancelling a
// statement interrupts the connection, and SQLite may then roll back the
// whole transaction, taking the other ops with it. An op whose context has
// ended before its turn is skipped instead.
func (ix *Index) commit(batch []*op) {
	ctx := context.Background()
	fail := func(err error) {
		for _, o := range batch {
			if o.err == nil && o.panic == nil {
				o.err = fmt.Errorf("index: %s: %w", ix.path, err)
			}
		}
	}
	if _, err := ix.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		fail(err)
		return
	}
	for _, o := range batch {
		if err := o.ctx.Err(); err != nil {
			o.err = err
			continue
		}
		if _, err := ix.w.savepoint.ExecContext(ctx); err != nil {
			ix.rollback()
			fail(err)
			return
		}
		ix.run(ctx, o)
		if o.err != nil || o.panic != nil {
			if _, err := ix.w.rollbackTo.ExecContext(ctx); err != nil {
				// SQLite rolled the whole transaction back (after an
				// I/O error, a full disk ...): every op in it is lost.
				ix.rollback()
				fail(err)
				return
			}
		}
		if _, err := ix.w.release.ExecContext(ctx); err != nil {
			ix.rollback()
			fail(err)
			return
		}
	}
	if _, err := ix.wconn.ExecContext(ctx, "COMMIT"); err != nil {
		ix.rollback()
		fail(err)
	}
}

// run calls o.fn, turning a panic into o.panic so that it is raised again
// in the caller's goroutine rather than killing the writer.
func (ix *Index) run(ctx context.Context, o *op) {
	defer func() {
		if p := recover(); p != nil {
			o.panic = p
		}
	}()
	o.err = o.fn(ctx)
}

// Time is stored as int64 unix nanoseconds.

func toNanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// representable reports whether t survives the round trip through int64
// nanoseconds (years 1678 to 2262), the zero time excluded.
func representable(t time.Time) bool {
	return !t.IsZero() && fromNanos(t.UnixNano()).Equal(t)
}

// asOfNanos turns an as-of instant into an inclusive bound on time.
func asOfNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return math.MaxInt64
	case t.Before(fromNanos(math.MinInt64)):
		return math.MinInt64
	case t.After(fromNanos(math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// CreateBucket implements index.Index.
func (ix *Index) CreateBucket(ctx context.Context, name string, created time.Time) error {
	if name == "" {
		return fmt.Errorf("%w: empty bucket name", index.ErrInvalid)
	}
	if !representable(created) {
		return fmt.Errorf("%w: bucket %q: creation time %v", index.ErrInvalid, name, created)
	}
	return ix.write(ctx, func(ctx context.Context) error {
		res, err := ix.w.insertBucket.ExecContext(ctx, name, toNanos(created))
		if err != nil {
			return fmt.Errorf("index: create bucket %q: %w", name, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("index: create bucket %q: %w", name, err)
		} else if n == 0 {
			return fmt.Errorf("%w: %q", index.ErrBucketExists, name)
		}
		return nil
	})
}

// DeleteBucket implements index.Index.
func (ix *Index) DeleteBucket(ctx context.Context, name string) error {
	return ix.write(ctx, func(ctx context.Context) error {
		if err := ix.w.checkBucket(ctx, name); err != nil {
			return err
		}
		var one int
		switch err := ix.w.anyVersion.QueryRowContext(ctx, name).Scan(&one); {
		case err == nil:
			return fmt.Errorf("%w: %q", index.ErrBucketNotEmpty, name)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("index: delete bucket %q: %w", name, err)
		}
		if _, err := ix.w.deleteBucket.ExecContext(ctx, name); err != nil {
			return fmt.Errorf("index: delete bucket %q: %w", name, err)
		}
		return nil
	})
}

// Bucket implements index.Index.
func (ix *Index) Bucket(ctx context.Context, name string) (index.Bucket, error) {
	var created int64
	switch err := ix.r.bucket.QueryRowContext(ctx, name).Scan(&created); {
	case errors.Is(err, sql.ErrNoRows):
		return index.Bucket{}, fmt.Errorf("%w: %q", index.ErrNoSuchBucket, name)
	case err != nil:
		return index.Bucket{}, fmt.Errorf("index: bucket %q: %w", name, err)
	}
	return index.Bucket{Name: name, Created: fromNanos(created)}, nil
}

// Buckets implements index.Index.
func (ix *Index) Buckets(ctx context.Context) ([]index.Bucket, error) {
	rows, err := ix.r.buckets.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("index: buckets: %w", err)
	}
	defer rows.Close()
	var bs []index.Bucket
	for rows.Next() {
		var b index.Bucket
		var created int64
		if err := rows.Scan(&b.Name, &created); err != nil {
			return nil, fmt.Errorf("index: buckets: %w", err)
		}
		b.Created = fromNanos(created)
		bs = append(bs, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("index: buckets: %w", err)
	}
	return bs, nil
}

// validate checks what the index relies on: a version it can find and order.
func validate(v *index.Version) error {
	switch {
	case v.Bucket == "":
		return fmt.Errorf("%w: empty bucket name", index.ErrInvalid)
	case v.Key == "":
		return fmt.Errorf("%w: empty key", index.ErrInvalid)
	case !index.ValidVersionID(v.ID):
		return fmt.Errorf("%w: version ID %q is not 32 lowercase hex characters", index.ErrInvalid, v.ID)
	case !representable(v.Time):
		return fmt.Errorf("%w: version %s: time %v", index.ErrInvalid, v.ID, v.Time)
	case v.Size < 0:
		return fmt.Errorf("%w: version %s: size %d", index.ErrInvalid, v.ID, v.Size)
	case v.Shards < 0:
		return fmt.Errorf("%w: version %s: shards %d", index.ErrInvalid, v.ID, v.Shards)
	}
	return nil
}

// same reports whether two versions with the same bucket, key and ID are
// equal in every field.
func same(a, b *index.Version) bool {
	return a.Time.Equal(b.Time) && a.Size == b.Size && a.ETag == b.ETag &&
		a.DeleteMarker == b.DeleteMarker && a.Shards == b.Shards &&
		a.Quarantined == b.Quarantined && bytes.Equal(a.Manifest, b.Manifest)
}

// nonNil keeps an empty manifest from being stored as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// PutVersion implements index.Index.
func (ix *Index) PutVersion(ctx context.Context, v index.Version) error {
	if err := validate(&v); err != nil {
		return err
	}
	return ix.write(ctx, func(ctx context.Context) error {
		return ix.w.putVersion(ctx, &v)
	})
}

// PutVersionIf implements index.Index.
func (ix *Index) PutVersionIf(ctx context.Context, v index.Version, check func(cur *index.Version) error) error {
	if err := validate(&v); err != nil {
		return err
	}
	return ix.write(ctx, func(ctx context.Context) error {
		cur := &index.Version{Bucket: v.Bucket, Key: v.Key}
		row := ix.w.latest.QueryRowContext(ctx, v.Bucket, v.Key)
		switch err := row.Scan(&cur.ID, nanos{&cur.Time}, &cur.Size, &cur.ETag, &cur.DeleteMarker, &cur.Shards, &cur.Quarantined); {
		case errors.Is(err, sql.ErrNoRows):
			if err := ix.w.checkBucket(ctx, v.Bucket); err != nil {
				return err
			}
			cur = nil
		case err != nil:
			return fmt.Errorf("index: put %s/%s version %s: %w", v.Bucket, v.Key, v.ID, err)
		}
		if err := check(cur); err != nil {
			// A retry of a write that was recorded is judged by the
			// version it wrote itself: it succeeds, as in PutVersion.
			if old, _, verr := ix.w.version(ctx, v.Bucket, v.Key, v.ID); verr == nil && same(&old, &v) {
				return nil
			}
			return err
		}
		return ix.w.putVersion(ctx, &v)
	})
}

// UpdateVersion implements index.Index.
func (ix *Index) UpdateVersion(ctx context.Context, bucket, key, id string, fn func(*index.Version) error) error {
	return ix.write(ctx, func(ctx context.Context) error {
		old, ref, err := ix.w.version(ctx, bucket, key, id)
		if err != nil {
			return err
		}
		v := old
		v.Manifest = bytes.Clone(old.Manifest)
		if err := fn(&v); err != nil {
			return err
		}
		if v.Bucket != old.Bucket || v.Key != old.Key || v.ID != old.ID || !v.Time.Equal(old.Time) ||
			v.Size != old.Size || v.ETag != old.ETag || v.DeleteMarker != old.DeleteMarker {
			return fmt.Errorf("%w: update of %s/%s version %s changes more than Shards, Quarantined and Manifest", index.ErrInvalid, bucket, key, id)
		}
		if v.Shards < 0 {
			return fmt.Errorf("%w: version %s: shards %d", index.ErrInvalid, id, v.Shards)
		}
		if v.Shards != old.Shards || v.Quarantined != old.Quarantined {
			if _, err := ix.w.updateVersion.ExecContext(ctx, v.Shards, v.Quarantined, bucket, key, id); err != nil {
				return fmt.Errorf("index: update %s/%s version %s: %w", bucket, key, id, err)
			}
		}
		if !bytes.Equal(v.Manifest, old.Manifest) {
			if _, err := ix.w.updateManifest.ExecContext(ctx, nonNil(v.Manifest), ref); err != nil {
				return fmt.Errorf("index: update %s/%s version %s: %w", bucket, key, id, err)
			}
		}
		return nil
	})
}

// DeleteVersion implements index.Index.
func (ix *Index) DeleteVersion(ctx context.Context, bucket, key, id string) error {
	return ix.write(ctx, func(ctx context.Context) error {
		_, ref, err := ix.w.version(ctx, bucket, key, id)
		if err != nil {
			return err
		}
		if _, err := ix.w.deleteVersion.ExecContext(ctx, bucket, key, id); err != nil {
			return fmt.Errorf("index: delete %s/%s version %s: %w", bucket, key, id, err)
		}
		if _, err := ix.w.deleteManifest.ExecContext(ctx, ref); err != nil {
			return fmt.Errorf("index: delete %s/%s version %s: %w", bucket, key, id, err)
		}
		return nil
	})
}

// Version implements index.Index.
func (ix *Index) Version(ctx context.Context, bucket, key, id string) (index.Version, error) {
	v := index.Version{Bucket: bucket, Key: key, ID: id}
	err := scanVersion(ix.r.version.QueryRowContext(ctx, bucket, key, id), &v, nil, &v.Manifest)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if err := ix.checkBucket(ctx, bucket); err != nil {
			return index.Version{}, err
		}
		return index.Version{}, fmt.Errorf("%w: %s/%s version %s", index.ErrNoSuchVersion, bucket, key, id)
	case err != nil:
		return index.Version{}, fmt.Errorf("index: %s/%s version %s: %w", bucket, key, id, err)
	}
	return v, nil
}

// Latest implements index.Index.
func (ix *Index) Latest(ctx context.Context, bucket, key string, asOf time.Time) (index.Version, error) {
	v := index.Version{Bucket: bucket, Key: key}
	row := ix.r.latest.QueryRowContext(ctx, bucket, key, asOfNanos(asOf))
	err := row.Scan(&v.ID, nanos{&v.Time}, &v.Size, &v.ETag, &v.DeleteMarker, &v.Shards, &v.Quarantined, &v.Manifest)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if err := ix.checkBucket(ctx, bucket); err != nil {
			return index.Version{}, err
		}
		return index.Version{}, fmt.Errorf("%w: %s/%s", index.ErrNoSuchKey, bucket, key)
	case err != nil:
		return index.Version{}, fmt.Errorf("index: latest %s/%s: %w", bucket, key, err)
	}
	return v, nil
}

// Versions implements index.Index.
func (ix *Index) Versions(ctx context.Context, bucket, key string) ([]index.Version, error) {
	tx, err := ix.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("index: versions %s/%s: %w", bucket, key, err)
	}
	defer tx.Rollback()
	if err := checkBucket(ctx, tx.StmtContext(ctx, ix.r.bucket), bucket); err != nil {
		return nil, err
	}
	rows, err := tx.StmtContext(ctx, ix.r.versions).QueryContext(ctx, bucket, key)
	if err != nil {
		return nil, fmt.Errorf("index: versions %s/%s: %w", bucket, key, err)
	}
	defer rows.Close()
	var vs []index.Version
	for rows.Next() {
		v := index.Version{Bucket: bucket, Key: key}
		if err := rows.Scan(&v.ID, nanos{&v.Time}, &v.Size, &v.ETag, &v.DeleteMarker, &v.Shards, &v.Quarantined, &v.Manifest); err != nil {
			return nil, fmt.Errorf("index: versions %s/%s: %w", bucket, key, err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("index: versions %s/%s: %w", bucket, key, err)
	}
	return vs, nil
}

// checkBucket returns ErrNoSuchBucket unless the bucket exists.
func (ix *Index) checkBucket(ctx context.Context, name string) error {
	return checkBucket(ctx, ix.r.bucket, name)
}

func checkBucket(ctx context.Context, bucketStmt *sql.Stmt, name string) error {
	var created int64
	switch err := bucketStmt.QueryRowContext(ctx, name).Scan(&created); {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: %q", index.ErrNoSuchBucket, name)
	case err != nil:
		return fmt.Errorf("index: bucket %q: %w", name, err)
	}
	return nil
}

// Stats implements index.Index. It reads every version: its cost grows with
// the size of the index (about a second per few million versions).
func (ix *Index) Stats(ctx context.Context) (index.Stats, error) {
	s := index.Stats{ByShards: map[int]int64{}}
	tx, err := ix.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return s, fmt.Errorf("index: stats: %w", err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM buckets`).Scan(&s.Buckets); err != nil {
		return s, fmt.Errorf("index: stats: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `
SELECT count(*), coalesce(sum(delete_marker), 0), coalesce(sum(size), 0) FROM versions`,
	).Scan(&s.Versions, &s.DeleteMarkers, &s.LogicalBytes); err != nil {
		return s, fmt.Errorf("index: stats: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `
SELECT count(*), coalesce(sum(v.size), 0)
FROM live l JOIN versions v ON v.bucket = l.bucket AND v.key = l.key AND v.id = l.id`,
	).Scan(&s.Keys, &s.CurrentBytes); err != nil {
		return s, fmt.Errorf("index: stats: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT shards, count(*) FROM versions WHERE delete_marker = 0 GROUP BY shards`)
	if err != nil {
		return s, fmt.Errorf("index: stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var shards int
		var n int64
		if err := rows.Scan(&shards, &n); err != nil {
			return s, fmt.Errorf("index: stats: %w", err)
		}
		s.ByShards[shards] = n
	}
	if err := rows.Err(); err != nil {
		return s, fmt.Errorf("index: stats: %w", err)
	}
	return s, nil
}

// nanos scans an int64 of unix nanoseconds into a time.Time.
type nanos struct{ t *time.Time }

func (n nanos) Scan(src any) error {
	v, ok := src.(int64)
	if !ok {
		return fmt.Errorf("time column holds %T, not an integer", src)
	}
	*n.t = fromNanos(v)
	return nil
}

// scanVersion scans the columns of versionColumns (and, when data is not
// nil, the manifest data after them) into v.
func scanVersion(row interface{ Scan(...any) error }, v *index.Version, ref *int64, data *[]byte) error {
	dest := []any{nanos{&v.Time}, &v.Size, &v.ETag, &v.DeleteMarker, &v.Shards, &v.Quarantined}
	if ref != nil {
		dest = append(dest, ref)
	}
	if data != nil {
		dest = append(dest, data)
	}
	return row.Scan(dest...)
}

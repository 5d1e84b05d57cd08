package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/rhizome-data/rhizome/internal/index"
)

// A listing walks a primary key in key order from a lower bound, as one
// streaming query: live for the present (one row per listed key: deleted keys
// and old versions are never read), versions for a past instant and for
// ListVersions. When a listed key rolls up into a common prefix the query is
// abandoned and a new one starts at the least key above everything under that
// prefix (successor), so a page costs one seek per common prefix it returns
// plus one row per entry, however many keys the skipped prefixes hold. (As of
// a past instant, each key also costs its versions, and a common prefix is
// found only by reaching a key under it that was not deleted then.) Each page
// is read in one transaction: a consistent snapshot.

// List implements index.Index.
func (ix *Index) List(ctx context.Context, o index.ListOptions) (index.ListResult, error) {
	var res index.ListResult
	p := newPager(o.Prefix, o.Delimiter, o.StartAfter, o.Limit)
	err := ix.readTx(ctx, o.Bucket, func(tx *sql.Tx) error {
		// The present comes from live; a past instant from versions.
		stmt, args := ix.r.listLiveN, []any{o.Bucket, nil}
		if p.bounded {
			stmt = ix.r.listLive
		}
		if !o.AsOf.IsZero() {
			stmt, args = ix.r.listLatestN, []any{o.Bucket, nil, asOfNanos(o.AsOf)}
			if p.bounded {
				stmt = ix.r.listLatest
			}
		}
		stmt = tx.StmtContext(ctx, stmt)
		defer stmt.Close()
		for p.more && !p.truncated {
			p.more = false
			args[1] = p.from
			rows, err := stmt.QueryContext(ctx, p.args(args...)...)
			if err != nil {
				return err
			}
			err = p.scan(rows, o.Bucket, func(v *index.Version) bool { return !v.DeleteMarker })
			if err != nil {
				return err
			}
		}
		return p.manifests(ctx, tx.StmtContext(ctx, ix.r.manifests))
	})
	if errors.Is(err, index.ErrNoSuchBucket) {
		return res, err
	}
	if err != nil {
		return res, fmt.Errorf("index: list %s: %w", o.Bucket, err)
	}
	res.Versions, res.CommonPrefixes, res.Truncated = p.versions, p.prefixes, p.truncated
	if p.truncated {
		res.Next = p.last
	}
	return res, nil
}

// ListVersions implements index.Index.
func (ix *Index) ListVersions(ctx context.Context, o index.ListVersionsOptions) (index.ListVersionsResult, error) {
	var res index.ListVersionsResult
	p := newPager(o.Prefix, o.Delimiter, o.KeyMarker, o.Limit)
	err := ix.readTx(ctx, o.Bucket, func(tx *sql.Tx) error {
		all := func(*index.Version) bool { return true }
		if !o.AsOf.IsZero() {
			asOf := asOfNanos(o.AsOf)
			all = func(v *index.Version) bool { return v.Time.UnixNano() <= asOf }
		}
		// The rest of the marker key's versions first, unless the marker
		// is a common prefix (then the pager already starts past it).
		if o.KeyMarker != "" && o.VersionIDMarker != "" && p.more && p.from == o.KeyMarker+"\x00" {
			rows, err := tx.StmtContext(ctx, ix.r.listKeyOlder).QueryContext(ctx, o.Bucket, o.KeyMarker, o.VersionIDMarker)
			if err != nil {
				return err
			}
			// The main loop below carries on after the key (or after
			// the common prefix the scan stopped at).
			if err := p.scan(rows, o.Bucket, all); err != nil {
				return err
			}
		}
		stmt := ix.r.listAllN
		if p.bounded {
			stmt = ix.r.listAll
		}
		stmt = tx.StmtContext(ctx, stmt)
		defer stmt.Close()
		for p.more && !p.truncated {
			p.more = false
			rows, err := stmt.QueryContext(ctx, p.args(o.Bucket, p.from)...)
			if err != nil {
				return err
			}
			if err := p.scan(rows, o.Bucket, all); err != nil {
				return err
			}
		}
		return p.manifests(ctx, tx.StmtContext(ctx, ix.r.manifests))
	})
	if errors.Is(err, index.ErrNoSuchBucket) {
		return res, err
	}
	if err != nil {
		return res, fmt.Errorf("index: list versions %s: %w", o.Bucket, err)
	}
	res.Versions, res.CommonPrefixes, res.Truncated = p.versions, p.prefixes, p.truncated
	if p.truncated {
		res.NextKeyMarker, res.NextVersionIDMarker = p.last, p.lastID
	}
	return res, nil
}

// readTx runs fn in a read-only transaction (one snapshot) after checking
// that the bucket exists.
func (ix *Index) readTx(ctx context.Context, bucket string, fn func(tx *sql.Tx) error) error {
	tx, err := ix.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	bs := tx.StmtContext(ctx, ix.r.bucket)
	defer bs.Close()
	if err := checkBucket(ctx, bs, bucket); err != nil {
		return err
	}
	return fn(tx)
}

// pager collects one page of a listing.
type pager struct {
	prefix, delim string
	limit         int

	// The next query reads keys in [from, end) (no upper bound unless
	// bounded); more is false when nothing can be left.
	from, end     string
	bounded, more bool

	versions  []index.Version
	refs      []int64 // manifest refs of versions
	prefixes  []string
	last      string // the last entry's key or common prefix
	lastID    string // the last entry's version ID ("" for a common prefix)
	truncated bool
}

func newPager(prefix, delim, after string, limit int) *pager {
	switch {
	case limit <= 0:
		limit = index.DefaultLimit
	case limit > index.MaxLimit:
		limit = index.MaxLimit
	}
	p := &pager{prefix: prefix, delim: delim, limit: limit, from: prefix, more: true}
	if prefix != "" {
		p.end, p.bounded = successor(prefix)
	}
	if after != "" && after >= prefix {
		if cp := p.rollup(after); cp == after {
			// A common prefix: skip everything under it.
			p.from, p.more = successor(after)
		} else {
			p.from = after + "\x00" // the least string above after
		}
	}
	if p.bounded && p.from >= p.end {
		p.more = false
	}
	return p
}

// args returns the arguments of a listing query: args, then the upper bound
// on key when there is one.
func (p *pager) args(args ...any) []any {
	if p.bounded {
		args = append(args, p.end)
	}
	return args
}

// rollup returns the common prefix key belongs to, or "" when the key is
// listed by itself.
func (p *pager) rollup(key string) string {
	if p.delim == "" || !strings.HasPrefix(key, p.prefix) {
		return ""
	}
	if i := strings.Index(key[len(p.prefix):], p.delim); i >= 0 {
		return key[:len(p.prefix)+i+len(p.delim)]
	}
	return ""
}

// successor returns the least string above every string that begins with p,
// or false when there is none (p is empty or all 0xff bytes).
func successor(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// scan reads rows of (key, id, versionColumns, manifest_ref), adding those
// keep accepts, until the rows end, the page is full (truncated) or a kept
// key rolls up into a common prefix (then from and more point past it). A
// common prefix appears only if a kept key is under it: in List, a prefix
// whose keys are all deleted is not listed, as in S3.
func (p *pager) scan(rows *sql.Rows, bucket string, keep func(*index.Version) bool) error {
	defer rows.Close()
	for rows.Next() {
		v := index.Version{Bucket: bucket}
		var ref int64
		if err := rows.Scan(&v.Key, &v.ID, nanos{&v.Time}, &v.Size, &v.ETag, &v.DeleteMarker, &v.Shards, &v.Quarantined, &ref); err != nil {
			return err
		}
		if !keep(&v) {
			continue
		}
		if cp := p.rollup(v.Key); cp != "" {
			if p.full() {
				break
			}
			p.prefixes = append(p.prefixes, cp)
			p.last, p.lastID = cp, ""
			p.from, p.more = successor(cp)
			if p.bounded && p.from >= p.end {
				p.more = false
			}
			break
		}
		if p.full() {
			break
		}
		p.versions = append(p.versions, v)
		p.refs = append(p.refs, ref)
		p.last, p.lastID = v.Key, v.ID
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

// full reports, when one more entry has been found, whether the page is
// already full, marking it truncated if so.
func (p *pager) full() bool {
	if len(p.versions)+len(p.prefixes) >= p.limit {
		p.truncated = true
	}
	return p.truncated
}

// manifests loads the manifest of every collected version with stmt
// (readStmts.manifests).
func (p *pager) manifests(ctx context.Context, stmt *sql.Stmt) error {
	defer stmt.Close()
	if len(p.versions) == 0 {
		return nil
	}
	refs, err := json.Marshal(p.refs)
	if err != nil {
		return err
	}
	rows, err := stmt.QueryContext(ctx, string(refs))
	if err != nil {
		return err
	}
	defer rows.Close()
	data := make(map[int64][]byte, len(p.refs))
	for rows.Next() {
		var ref int64
		var d []byte
		if err := rows.Scan(&ref, &d); err != nil {
			return err
		}
		data[ref] = d
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i, ref := range p.refs {
		d, ok := data[ref]
		if !ok {
			return fmt.Errorf("manifest of %s version %s missing", p.versions[i].Key, p.versions[i].ID)
		}
		p.versions[i].Manifest = d
	}
	return nil
}

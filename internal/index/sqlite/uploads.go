package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/rhizome-data/rhizome/internal/index"
)

// Multipart upload state. Uploads are rare next to versions, so these use
// plain (unprepared) statements.

// CreateUpload implements index.Uploads.
func (ix *Index) CreateUpload(ctx context.Context, u index.Upload) error {
	if u.ID == "" || u.Bucket == "" || u.Key == "" {
		return fmt.Errorf("%w: upload needs an ID, a bucket and a key", index.ErrInvalid)
	}
	return ix.write(ctx, func(ctx context.Context) error {
		if err := ix.w.checkBucket(ctx, u.Bucket); err != nil {
			return err
		}
		_, err := ix.wconn.ExecContext(ctx, `INSERT INTO uploads (id, bucket, key, created, meta) VALUES (?, ?, ?, ?, ?)`,
			u.ID, u.Bucket, u.Key, toNanos(u.Created), nonNil(u.Meta))
		if err != nil {
			return fmt.Errorf("index: create upload %s: %w", u.ID, err)
		}
		return nil
	})
}

// Upload implements index.Uploads.
func (ix *Index) Upload(ctx context.Context, id string) (index.Upload, error) {
	u := index.Upload{ID: id}
	var created int64
	err := ix.rdb.QueryRowContext(ctx, `SELECT bucket, key, created, meta FROM uploads WHERE id = ?`, id).Scan(&u.Bucket, &u.Key, &created, &u.Meta)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return u, fmt.Errorf("%w: %s", index.ErrNoSuchUpload, id)
	case err != nil:
		return u, fmt.Errorf("index: upload %s: %w", id, err)
	}
	u.Created = fromNanos(created)
	return u, nil
}

// PutPart implements index.Uploads.
func (ix *Index) PutPart(ctx context.Context, p index.Part) (*index.Part, error) {
	var old *index.Part
	err := ix.write(ctx, func(ctx context.Context) error {
		var one int
		if err := ix.wconn.QueryRowContext(ctx, `SELECT 1 FROM uploads WHERE id = ?`, p.UploadID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s", index.ErrNoSuchUpload, p.UploadID)
		} else if err != nil {
			return fmt.Errorf("index: put part: %w", err)
		}
		o := index.Part{UploadID: p.UploadID, Number: p.Number}
		var mod int64
		err := ix.wconn.QueryRowContext(ctx, `SELECT etag, size, modified, data FROM parts WHERE upload = ? AND number = ?`, p.UploadID, p.Number).
			Scan(&o.ETag, &o.Size, &mod, &o.Data)
		switch {
		case err == nil:
			o.Modified = fromNanos(mod)
			old = &o
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("index: put part: %w", err)
		}
		_, err = ix.wconn.ExecContext(ctx, `INSERT INTO parts (upload, number, etag, size, modified, data) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (upload, number) DO UPDATE SET etag = excluded.etag, size = excluded.size, modified = excluded.modified, data = excluded.data`,
			p.UploadID, p.Number, p.ETag, p.Size, toNanos(p.Modified), nonNil(p.Data))
		if err != nil {
			return fmt.Errorf("index: put part: %w", err)
		}
		return nil
	})
	return old, err
}

// Parts implements index.Uploads.
func (ix *Index) Parts(ctx context.Context, uploadID string) ([]index.Part, error) {
	rows, err := ix.rdb.QueryContext(ctx, `SELECT number, etag, size, modified, data FROM parts WHERE upload = ? ORDER BY number`, uploadID)
	if err != nil {
		return nil, fmt.Errorf("index: parts: %w", err)
	}
	defer rows.Close()
	var out []index.Part
	for rows.Next() {
		p := index.Part{UploadID: uploadID}
		var mod int64
		if err := rows.Scan(&p.Number, &p.ETag, &p.Size, &mod, &p.Data); err != nil {
			return nil, fmt.Errorf("index: parts: %w", err)
		}
		p.Modified = fromNanos(mod)
		out = append(out, p)
	}
	return out, rows.Err()
}

// DeleteUpload implements index.Uploads.
func (ix *Index) DeleteUpload(ctx context.Context, id string) error {
	return ix.write(ctx, func(ctx context.Context) error {
		res, err := ix.wconn.ExecContext(ctx, `DELETE FROM uploads WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("index: delete upload: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: %s", index.ErrNoSuchUpload, id)
		}
		if _, err := ix.wconn.ExecContext(ctx, `DELETE FROM parts WHERE upload = ?`, id); err != nil {
			return fmt.Errorf("index: delete upload: %w", err)
		}
		return nil
	})
}

// Uploads implements index.Uploads. As in S3, a key marker without an ID
// marker starts after every upload of that key.
func (ix *Index) Uploads(ctx context.Context, bucket, prefix, keyMarker, idMarker string, limit int) ([]index.Upload, bool, error) {
	if limit <= 0 || limit > index.MaxLimit {
		limit = index.DefaultLimit
	}
	rows, err := ix.rdb.QueryContext(ctx, `SELECT id, key, created, meta FROM uploads
WHERE bucket = ? AND key >= ? AND substr(CAST(key AS BLOB), 1, ?) = CAST(? AS BLOB) AND (key > ? OR (key = ? AND ? <> '' AND id > ?))
ORDER BY key, id LIMIT ?`, bucket, prefix, len(prefix), prefix, keyMarker, keyMarker, idMarker, idMarker, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("index: uploads: %w", err)
	}
	defer rows.Close()
	var out []index.Upload
	for rows.Next() {
		u := index.Upload{Bucket: bucket}
		var created int64
		if err := rows.Scan(&u.ID, &u.Key, &created, &u.Meta); err != nil {
			return nil, false, fmt.Errorf("index: uploads: %w", err)
		}
		u.Created = fromNanos(created)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("index: uploads: %w", err)
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

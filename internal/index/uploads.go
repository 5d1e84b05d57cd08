package index

import (
	"context"
	"errors"
	"time"
)

// ErrNoSuchUpload is returned by the upload methods for an unknown upload
// ID (never created, or already completed or aborted).
var ErrNoSuchUpload = errors.New("index: no such upload")

// Upload is a multipart upload in progress.
type Upload struct {
	ID, Bucket, Key string
	Created         time.Time
	Meta            []byte // opaque to the index (content type, metadata)
}

// Part is one uploaded part of an Upload.
type Part struct {
	UploadID string
	Number   int
	ETag     string
	Size     int64
	Modified time.Time
	Data     []byte // opaque to the index (the part's segment)
}

// Uploads is the part of Index that keeps multipart upload state.
type Uploads interface {
	CreateUpload(ctx context.Context, u Upload) error // bucket must exist
	Upload(ctx context.Context, id string) (Upload, error)
	// PutPart records a part, replacing one with the same number; it
	// returns the replaced part, if any, so its data can be discarded.
	PutPart(ctx context.Context, p Part) (old *Part, err error)
	Parts(ctx context.Context, uploadID string) ([]Part, error) // by number
	DeleteUpload(ctx context.Context, id string) error          // and its parts
	// Uploads lists uploads of bucket under prefix ordered by key then ID,
	// after (keyMarker, idMarker); a keyMarker with an empty idMarker starts
	// after every upload of that key, as S3 does.
	Uploads(ctx context.Context, bucket, prefix, keyMarker, idMarker string, limit int) ([]Upload, bool, error)
}

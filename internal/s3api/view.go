package s3api

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rhizome-data/rhizome/internal/store"
)

// Time-travel views are read-only virtual buckets reachable with plain S3
// requests:
//
//	BUCKET--at-YYYYMMDDTHHMMSSZ   BUCKET as it was at that instant (UTC)
//	BUCKET--cp-NAME               BUCKET when its checkpoint NAME was taken
//
// Both are legal bucket names (lowercase them: lake--at-20261122t100000z),
// so they work path-style and virtual-hosted-style with every S3 client.
const (
	atMarker = "--at-"
	cpMarker = "--cp-"
	// viewTimeLayout is the lowercase form of the time in a view name.
	viewTimeLayout = "20060102t150405z"
)

// ErrViewName is wrapped by parseView for a name that uses a view marker
// but is not a valid view.
var ErrViewName = errors.New("s3api: invalid time-travel bucket name")

// view is what a bucket name in a request addresses: a real bucket, or a
// read-only view of one at a time or checkpoint.
type view struct {
	// Bucket is the real bucket.
	Bucket string
	// AsOf is the view's instant; zero for the bucket itself.
	AsOf time.Time
	// Checkpoint is the checkpoint name of a --cp- view, to be resolved
	// to AsOf.
	Checkpoint string
}

// isView reports whether the name addressed a view rather than the bucket.
func (v view) isView() bool { return !v.AsOf.IsZero() || v.Checkpoint != "" }

// reservedBucketName reports whether name contains a view marker, which
// CreateBucket refuses so that views and buckets never collide.
func reservedBucketName(name string) bool {
	l := asciiLower(name)
	return strings.Contains(l, atMarker) || strings.Contains(l, cpMarker)
}

// parseView splits a bucket name from a request into the real bucket and
// the view it names, if any. Names without a marker are returned as they
// are; names with one must be BUCKET--at-YYYYMMDDTHHMMSSZ (letters in either
// case) or BUCKET--cp-NAME with BUCKET a valid bucket name.
func parseView(name string) (view, error) {
	l := asciiLower(name)
	at, cp := strings.LastIndex(l, atMarker), strings.LastIndex(l, cpMarker)
	if at < 0 && cp < 0 {
		return view{Bucket: name}, nil
	}
	if at > cp {
		base, stamp := name[:at], l[at+len(atMarker):]
		if err := store.ValidBucket(base); err != nil || reservedBucketName(base) {
			return view{}, fmt.Errorf("%w: %q: the part before %s must be a bucket name", ErrViewName, name, atMarker)
		}
		t, err := time.Parse(viewTimeLayout, stamp)
		if err != nil || len(stamp) != len(viewTimeLayout) {
			return view{}, fmt.Errorf("%w: %q: the time after %s must be YYYYMMDDtHHMMSSz in UTC, e.g. %s%s20261122t100000z",
				ErrViewName, name, atMarker, base, atMarker)
		}
		return view{Bucket: base, AsOf: t.UTC()}, nil
	}
	base, cpName := name[:cp], l[cp+len(cpMarker):]
	if err := store.ValidBucket(base); err != nil || reservedBucketName(base) {
		return view{}, fmt.Errorf("%w: %q: the part before %s must be a bucket name", ErrViewName, name, cpMarker)
	}
	if cpName == "" || strings.Trim(cpName, "abcdefghijklmnopqrstuvwxyz0123456789-.") != "" ||
		strings.HasPrefix(cpName, "-") || strings.HasSuffix(cpName, "-") || strings.HasSuffix(cpName, ".") {
		return view{}, fmt.Errorf("%w: %q: the checkpoint name after %s must be lowercase letters, digits, '-' and '.'", ErrViewName, name, cpMarker)
	}
	return view{Bucket: base, Checkpoint: cpName}, nil
}

// asciiLower lowercases A-Z only, so byte offsets stay those of s.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

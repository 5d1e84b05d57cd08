// Package index defines the metadata index: a local, queryable cache of every
// version of every object (and every delete marker) the store has written.
//
// The index is never the only copy of anything. Each version's signed
// manifest lives on the backends, and the whole index can be rebuilt from
// them; the index exists so that lookups ("what is the current version of
// this key?", "list this prefix as it was last Tuesday") do not have to touch
// the backends.
//
// Implementations live in subpackages (sqlite for the embedded default) and
// all pass the conformance suite in indextest.
//
// # Ordering
//
// Keys are compared byte-wise, like S3. Version IDs are 32 lowercase hex
// characters whose lexical order is their creation order (see ValidVersionID),
// so "newest" always means "greatest ID". Version.Time is the creation time
// that as-of queries compare against; the store derives the ID's leading 16
// hex characters from the same instant, so the two orders agree.
//
// # Visibility
//
// A quarantined version (see Version.Quarantined) is recorded but hidden from
// Latest and List until the guard clears the flag: readers keep getting the
// last known-good version. Versions and ListVersions show everything,
// quarantined versions and delete markers included.
package index

import (
	"context"
	"errors"
	"time"
)

// Errors. Implementations return these (possibly wrapped with %w) so callers
// can classify failures with errors.Is.
var (
	// ErrNoSuchBucket is returned by every method that names a bucket which
	// does not exist.
	ErrNoSuchBucket = errors.New("index: no such bucket")
	// ErrBucketExists is returned by CreateBucket when the bucket exists.
	ErrBucketExists = errors.New("index: bucket already exists")
	// ErrBucketNotEmpty is returned by DeleteBucket while the bucket holds
	// any version at all: current, old, quarantined or a delete marker.
	ErrBucketNotEmpty = errors.New("index: bucket not empty")
	// ErrNoSuchKey is returned by Latest when the key has no visible version
	// (none at all, none old enough for asOf, or only quarantined ones).
	ErrNoSuchKey = errors.New("index: no such key")
	// ErrNoSuchVersion is returned by Version, UpdateVersion and
	// DeleteVersion when the bucket exists but the version does not.
	ErrNoSuchVersion = errors.New("index: no such version")
	// ErrConflict is returned by PutVersion when a version with the same
	// bucket, key and ID is already recorded with different content.
	ErrConflict = errors.New("index: version conflict")
	// ErrInvalid is returned for arguments the index cannot store: an empty
	// bucket name or key, a malformed version ID, a time outside the range of
	// int64 nanoseconds since 1970, a negative size or shard count, or an
	// UpdateVersion callback that changes an immutable field.
	ErrInvalid = errors.New("index: invalid argument")
)

// Listing limits. A Limit of zero or less means DefaultLimit; a larger one
// than MaxLimit is reduced to MaxLimit.
const (
	DefaultLimit = 1000
	MaxLimit     = 10000
)

// Version is one immutable version of one key, or a delete marker.
type Version struct {
	Bucket string
	Key    string
	// ID is 32 lowercase hex characters; its lexical order is creation
	// order (the first 16 characters are the creation time in unix
	// nanoseconds, big-endian).
	ID string
	// Time is the creation time, in UTC with nanosecond precision.
	Time time.Time
	// Size is the object's length in bytes (0 for a delete marker).
	Size int64
	// ETag is the S3 entity tag of the object's content.
	ETag string
	// DeleteMarker is true when this version records a deletion.
	DeleteMarker bool
	// Shards is how many shards were written successfully. The store
	// compares it with K+M to find versions that need repair.
	Shards int
	// Quarantined hides the version from Latest and List until it is
	// cleared (see the package documentation).
	Quarantined bool
	// Manifest is the encoded, signed manifest. The index stores it without
	// looking inside.
	Manifest []byte
}

// Bucket is a bucket and its creation time.
type Bucket struct {
	Name    string
	Created time.Time
}

// ListOptions selects one page of List.
type ListOptions struct {
	Bucket string
	// Prefix restricts the listing to keys that begin with it.
	Prefix string
	// Delimiter, when not empty, rolls every key that contains it after
	// Prefix up into one common prefix (Prefix, then everything up to and
	// including the first Delimiter), exactly like S3 ListObjectsV2.
	Delimiter string
	// StartAfter makes the page begin after this key or common prefix. When
	// it is a common prefix (ends with the first Delimiter after Prefix),
	// everything under it is skipped. The previous page's Next goes here.
	StartAfter string
	// Limit is the most keys plus common prefixes the page holds.
	Limit int
	// AsOf lists the bucket as it was at that instant: each key's newest
	// version with Time <= AsOf. The zero time means no limit.
	AsOf time.Time
}

// ListResult is one page of List.
type ListResult struct {
	// Versions holds the current version of each listed key, in key order.
	Versions []Version
	// CommonPrefixes holds the rolled-up prefixes, in order.
	CommonPrefixes []string
	// Truncated reports that more entries follow; pass Next as StartAfter
	// to get them.
	Truncated bool
	// Next is the last key or common prefix of the page when Truncated.
	Next string
}

// ListVersionsOptions selects one page of ListVersions. The markers work like
// S3 ListObjectVersions: with KeyMarker alone the page begins after every
// version of that key; with VersionIDMarker as well it begins with the
// version of KeyMarker that is next older than VersionIDMarker;
// VersionIDMarker without KeyMarker is ignored. A KeyMarker that is a common
// prefix skips everything under it. The previous page's NextKeyMarker and
// NextVersionIDMarker go here.
type ListVersionsOptions struct {
	Bucket          string
	Prefix          string
	Delimiter       string
	KeyMarker       string
	VersionIDMarker string
	Limit           int
	// AsOf lists only the versions with Time <= AsOf: the history as it
	// was at that instant (a common prefix appears only if a version
	// under it is listed). The zero time means no limit.
	AsOf time.Time
}

// ListVersionsResult is one page of ListVersions: versions (delete markers
// and quarantined versions included) ordered by key, newest first within a
// key, with common prefixes rolled up as in List. Versions and common
// prefixes together count toward the limit.
type ListVersionsResult struct {
	Versions       []Version
	CommonPrefixes []string
	Truncated      bool
	// NextKeyMarker and NextVersionIDMarker name the last entry of a
	// truncated page; NextVersionIDMarker is empty when that entry is a
	// common prefix.
	NextKeyMarker       string
	NextVersionIDMarker string
}

// Stats summarises the whole index.
type Stats struct {
	Buckets int64
	// Keys counts keys whose current version (newest, not quarantined) is
	// an object, not a delete marker: what List would show.
	Keys int64
	// Versions counts every recorded version, delete markers and
	// quarantined versions included.
	Versions int64
	// DeleteMarkers counts the delete markers among Versions.
	DeleteMarkers int64
	// LogicalBytes is the sum of Size over all versions.
	LogicalBytes int64
	// CurrentBytes is the sum of Size over the current versions counted
	// in Keys.
	CurrentBytes int64
	// ByShards counts versions other than delete markers by their Shards.
	ByShards map[int]int64
}

// Index records versions and answers questions about them. Implementations
// are safe for concurrent use.
type Index interface {
	Uploads
	Repairs
	Guard
	MassChanges
	// CreateBucket records a new bucket, or returns ErrBucketExists.
	CreateBucket(ctx context.Context, name string, created time.Time) error
	// DeleteBucket removes an empty bucket. It returns ErrNoSuchBucket, or
	// ErrBucketNotEmpty while any version exists in it.
	DeleteBucket(ctx context.Context, name string) error
	// Bucket returns one bucket, or ErrNoSuchBucket.
	Bucket(ctx context.Context, name string) (Bucket, error)
	// Buckets returns every bucket, ordered by name.
	Buckets(ctx context.Context) ([]Bucket, error)

	// PutVersion records a new version. Recording the same bucket, key and
	// ID again is a no-op when every field is equal and ErrConflict
	// otherwise, so a write can be retried safely. The bucket must exist.
	PutVersion(ctx context.Context, v Version) error
	// PutVersionIf records v as PutVersion does, but only if check, called
	// in the same transaction with the key's current version (what Latest
	// with a zero asOf returns, possibly a delete marker, but without its
	// Manifest; nil when there is none), returns nil. Otherwise nothing is
	// recorded and check's error is returned. No other write to the index
	// can come between the check and the record: it is how conditional
	// writes are made atomic. Recording a version that is already recorded
	// with equal fields (a retry) succeeds as a no-op whatever check says.
	// check must not call the Index.
	PutVersionIf(ctx context.Context, v Version, check func(cur *Version) error) error
	// UpdateVersion reads a version, passes it to fn and stores what fn
	// leaves, all in one transaction. Only Shards, Quarantined and Manifest
	// may change (ErrInvalid otherwise). When fn returns an error nothing
	// is stored and that error is returned. fn must not call the Index.
	UpdateVersion(ctx context.Context, bucket, key, id string, fn func(*Version) error) error
	// Version returns one version, or ErrNoSuchVersion.
	Version(ctx context.Context, bucket, key, id string) (Version, error)
	// Latest returns the newest version of key that is not quarantined and
	// whose Time is not after asOf (the zero asOf means no limit). The
	// result may be a delete marker. It returns ErrNoSuchKey when no
	// version qualifies.
	Latest(ctx context.Context, bucket, key string, asOf time.Time) (Version, error)
	// Versions returns every version of key, newest first, quarantined ones
	// and delete markers included; none is an empty result, not an error.
	Versions(ctx context.Context, bucket, key string) ([]Version, error)
	// DeleteVersion removes one version for good (after retention), or
	// returns ErrNoSuchVersion.
	DeleteVersion(ctx context.Context, bucket, key, id string) error

	// List returns one page of the keys whose current version (as of
	// o.AsOf) is an object, with the version, in key order.
	List(ctx context.Context, o ListOptions) (ListResult, error)
	// ListVersions returns one page of all versions.
	ListVersions(ctx context.Context, o ListVersionsOptions) (ListVersionsResult, error)
	// Stats summarises the index. It may read the whole index.
	Stats(ctx context.Context) (Stats, error)

	// Close releases the index. Calling it again is a no-op.
	Close() error
}

// ValidVersionID reports whether id has the form of a version ID: 32
// lowercase hex characters.
func ValidVersionID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

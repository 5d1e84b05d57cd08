package index

import (
	"context"
	"errors"
	"time"
)

// ErrNoSuchState is returned by State for a name that holds nothing.
var ErrNoSuchState = errors.New("index: no such state")

// Repair is one entry of the repair queue: a version that a read, a scrub or
// a write found damaged or under-protected. The queue holds at most one
// entry per version; the store decides what to do with it.
type Repair struct {
	Bucket, Key, VersionID string
	// Reason says what queued it ("read", "scrub", "write", ...).
	Reason string
	// Queued is when the entry was first queued; it survives requeueing.
	Queued time.Time
	// Seq changes every time the entry is queued again, so that DoneRepair
	// does not drop news that arrived while the repair ran.
	Seq int64
	// Attempts counts failed repairs; LastError says why the last failed.
	Attempts  int
	LastError string
	// NotBefore defers the next attempt (backoff after a failure).
	NotBefore time.Time
	// Data is opaque to the index: the store's hints (shards seen bad).
	Data []byte
}

// Repairs is the part of Index that keeps maintenance state: the repair
// queue and small named records (progress of a backend replacement, the
// last scrub's summary, pending clean-ups). Like the rest of the index it
// is a cache the store can rebuild: losing it loses no data, only the
// record of what still needs doing (a scrub finds it again).
type Repairs interface {
	// QueueRepair adds r to the queue (Seq is assigned), or, when its
	// version is queued already, replaces Reason and Data, gives it a new
	// Seq and makes it due now; Queued and Attempts are kept.
	QueueRepair(ctx context.Context, r Repair) error
	// RepairQueue returns up to limit entries whose NotBefore is not after
	// due (the zero due means any), ordered by bucket, key and version ID,
	// starting after (afterBucket, afterKey, afterID).
	RepairQueue(ctx context.Context, due time.Time, afterBucket, afterKey, afterID string, limit int) ([]Repair, error)
	// RepairQueueLen counts the entries.
	RepairQueueLen(ctx context.Context) (int64, error)
	// DoneRepair removes r's entry if its Seq is still r.Seq, and reports
	// whether it did; an entry queued again meanwhile stays.
	DoneRepair(ctx context.Context, r Repair) (bool, error)
	// DeferRepair records a failed attempt: Attempts, LastError and
	// NotBefore are set from r on the entry of r's version, whatever its
	// Seq. A missing entry is not an error.
	DeferRepair(ctx context.Context, r Repair) error

	// PutState stores value under name, replacing what was there.
	PutState(ctx context.Context, name string, value []byte) error
	// State returns the value under name, or ErrNoSuchState.
	State(ctx context.Context, name string) ([]byte, error)
	// States returns every name beginning with prefix and its value.
	States(ctx context.Context, prefix string) (map[string][]byte, error)
	// DeleteState removes name; a missing name is not an error.
	DeleteState(ctx context.Context, name string) error
	// UpdateState reads the value under name (found is false when it holds
	// nothing), passes it to fn and stores what fn returns, all in one
	// transaction, so that no other writer, in this process or another,
	// changes name in between: a compare-and-set for leases. fn returning
	// a nil value removes name; returning an error stores nothing and
	// UpdateState returns that error. fn must not call the Index.
	UpdateState(ctx context.Context, name string, fn func(value []byte, found bool) ([]byte, error)) error
}

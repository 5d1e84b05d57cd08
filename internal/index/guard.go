package index

import (
	"context"
	"errors"
	"time"
)

// Errors of the guard records.
var (
	// ErrNoSuchCheckpoint is returned for an unknown checkpoint name.
	ErrNoSuchCheckpoint = errors.New("index: no such checkpoint")
	// ErrCheckpointExists is returned by PutCheckpoint for a name in use.
	ErrCheckpointExists = errors.New("index: checkpoint exists")
	// ErrNoSuchAlert is returned for a version that has no alert.
	ErrNoSuchAlert = errors.New("index: no such alert")
)

// Checkpoint is a named state of a prefix (see manifest.Checkpoint; the
// signed manifest holds the entries).
type Checkpoint struct {
	Name, Bucket, Prefix string
	At                   time.Time
	Root                 string
	Keys                 int
	Manifest             []byte
}

// Alert records what the guard found in one version.
type Alert struct {
	VersionID, Bucket, Key string
	Time                   time.Time
	Mode                   string // observe, quarantine or block
	State                  string // open, approved, rejected
	Identity               string
	Summary                string
	Data                   []byte // opaque: the signals
}

// Guard is the part of Index that keeps checkpoints and alerts.
type Guard interface {
	PutCheckpoint(ctx context.Context, c Checkpoint) error
	Checkpoint(ctx context.Context, name string) (Checkpoint, error)
	Checkpoints(ctx context.Context) ([]Checkpoint, error) // by name

	// PutAlert records or replaces the alert of a version.
	PutAlert(ctx context.Context, a Alert) error
	Alert(ctx context.Context, versionID string) (Alert, error)
	// Alerts returns up to limit alerts in state (all when ""), newest
	// first, older than beforeID when it is not empty.
	Alerts(ctx context.Context, state, beforeID string, limit int) ([]Alert, error)
}

// MassChange is one overwrite or delete kept for the guard's mass-change
// check (see guard.MassSignal) while it is inside the check's window.
// Recording it in the index rather than in a process's memory lets the
// check see every process that shares the index (the gateway and CLI
// runs) and survive restarts. Like the rest of the index it is a cache:
// losing it only forgets the current window.
type MassChange struct {
	// Policy is the prefix of the guard policy that judged the change
	// ("" for the default policy); each policy has its own thresholds.
	Policy string
	// Prefix is the table the key belongs to, as "bucket/prefix".
	Prefix   string
	Identity string
	Key      string
	Delete   bool // a delete; otherwise an overwrite
	Time     time.Time
	// Size is how many objects Prefix held before the change.
	Size int
}

// MassTally counts the keys one identity changed under one policy and
// prefix since some instant.
type MassTally struct {
	// Keys counts distinct keys; Deletes those whose last change was a
	// delete.
	Keys, Deletes int
	// Size is the largest MassChange.Size among the counted changes.
	Size int
}

// MassChanges is the part of Index that keeps the guard's recent
// overwrites and deletes.
type MassChanges interface {
	// PutMassChange records c. The index keeps one change per policy,
	// prefix, identity and key: a later change replaces an earlier one
	// (an earlier Time never replaces a later one), so a key changed
	// many times counts once.
	PutMassChange(ctx context.Context, c MassChange) error
	// MassTally counts the keys identity changed under policy and prefix
	// at or after since. With limit > 0 it counts at most the limit most
	// recent ones, so that its cost stays bounded.
	MassTally(ctx context.Context, policy, prefix, identity string, since time.Time, limit int) (MassTally, error)
	// PruneMassChanges removes the changes before cutoff and returns how
	// many it removed.
	PruneMassChanges(ctx context.Context, cutoff time.Time) (int64, error)
}

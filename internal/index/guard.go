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

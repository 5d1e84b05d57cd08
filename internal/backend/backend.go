// Package backend defines the storage interface Rhizome writes shards and
// manifest pieces to, the error kinds drivers report, and the small set of
// helpers shared by drivers and wrappers.
//
// A Backend is a flat namespace of immutable blobs. Drivers (fs, s3, mem)
// stay tiny: the store validates names, classifies errors, logs and counts.
// Cross-cutting behaviour (retries, fault injection, hedging) wraps a Backend
// in another Backend.
package backend

import (
	"context"
	"errors"
	"io"
	"time"
)

// Error kinds. Drivers wrap one of these (with %w) so callers can classify
// failures with errors.Is without knowing the driver.
var (
	// ErrNotFound is returned when the named blob does not exist.
	ErrNotFound = errors.New("backend: not found")
	// ErrUnavailable is returned when the backend cannot be reached or
	// answered with a transient failure; retrying later may succeed.
	ErrUnavailable = errors.New("backend: unavailable")
	// ErrForbidden is returned when the backend refuses the credentials
	// (revoked keys, missing permissions). Retrying will not help.
	ErrForbidden = errors.New("backend: forbidden")
	// ErrInvalidName is returned for a blob name the interface does not allow.
	ErrInvalidName = errors.New("backend: invalid name")
)

// Info describes one stored blob.
type Info struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// Backend is one independent storage location.
//
// Names are slash-separated relative paths of the characters [A-Za-z0-9._-/],
// without empty, "." or ".." elements, at most 512 bytes (see ValidName).
//
// Implementations must be safe for concurrent use.
type Backend interface {
	// Put stores the bytes read from r under name. size is the exact number
	// of bytes r will yield, or -1 when unknown. Put is atomic: a reader sees
	// either the previous blob (or none) or the complete new one, never a
	// part, even if the process dies mid-way. If r returns an error, Put
	// returns it (wrapped) and stores nothing. An existing blob is replaced.
	Put(ctx context.Context, name string, r io.Reader, size int64) error

	// Get returns a reader for length bytes of the blob starting at off.
	// length -1 means to the end. Reading past the end yields a short read
	// (io.EOF), not an error from Get. A missing blob gives ErrNotFound.
	Get(ctx context.Context, name string, off, length int64) (io.ReadCloser, error)

	// Stat returns the blob's size and modification time, or ErrNotFound.
	Stat(ctx context.Context, name string) (Info, error)

	// Delete removes the blob. Deleting a missing blob is not an error.
	Delete(ctx context.Context, name string) error

	// List calls fn for every blob whose name starts with prefix, in
	// lexical name order. It stops and returns fn's error if fn fails.
	List(ctx context.Context, prefix string, fn func(Info) error) error
}

// ValidName reports whether name is acceptable as a blob name.
func ValidName(name string) bool {
	if name == "" || len(name) > 512 || name[0] == '/' || name[len(name)-1] == '/' {
		return false
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '/' {
			el := name[start:i]
			if el == "" || el == "." || el == ".." {
				return false
			}
			start = i + 1
			continue
		}
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

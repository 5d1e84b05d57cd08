package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/rhizome-data/rhizome/internal/index"
)

// Condition makes a write conditional on the key's current version (the
// newest one that is not quarantined), as S3's conditional writes do. The
// condition is checked twice: once before any data is written, so that a
// write bound to fail stores nothing, and again in the index transaction
// that records the new version, so that no other write can come between
// the check and the commit.
type Condition struct {
	// IfNoneMatch writes only if the key has no current object: no
	// version at all, or a delete marker.
	IfNoneMatch bool
	// IfMatch, when not empty, writes only if the key's current object
	// has this ETag (without quotes).
	IfMatch string
}

// Conditional write errors, each wrapped with a kind. A write whose
// IfMatch finds no current object fails with ErrNotFound (and
// index.ErrNoSuchKey) instead.
var (
	// ErrPreconditionFailed (with ErrConflict): the condition did not
	// hold when the write began; nothing was written.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrConditionalConflict (with ErrConflict): the condition held when
	// the write began, but another write changed the key before this one
	// could commit; this one was discarded.
	ErrConditionalConflict = errors.New("conditional write conflicts with a concurrent write")
)

// check evaluates c against the key's current version (nil when it has
// none). It returns nil when the write may go ahead.
func (c *Condition) check(cur *index.Version) error {
	if c == nil {
		return nil
	}
	exists := cur != nil && !cur.DeleteMarker
	if c.IfNoneMatch && exists {
		return fmt.Errorf("%w: If-None-Match: the key has a current version (%s)", ErrPreconditionFailed, cur.ID)
	}
	if c.IfMatch != "" {
		if !exists {
			return fmt.Errorf("%w: If-Match: the key has no current object", index.ErrNoSuchKey)
		}
		if c.IfMatch != "*" && trimQuotes(c.IfMatch) != cur.ETag {
			return fmt.Errorf("%w: If-Match: the current version's ETag is %q, not %q", ErrPreconditionFailed, cur.ETag, trimQuotes(c.IfMatch))
		}
	}
	return nil
}

// precheck evaluates c before a write stores anything.
func (s *Store) precheck(ctx context.Context, op, bucket, key string, c *Condition) error {
	if c == nil {
		return nil
	}
	cur, err := s.idx.Latest(ctx, bucket, key, timeZero)
	var curp *index.Version
	switch {
	case err == nil:
		curp = &cur
	case !errors.Is(err, index.ErrNoSuchKey):
		return classify(op, err)
	}
	return conditionError(op, c.check(curp))
}

// conditionError gives a failed condition its kind.
func conditionError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, index.ErrNoSuchKey):
		return &Error{Kind: ErrNotFound, Op: op, Err: err}
	case errors.Is(err, ErrPreconditionFailed):
		return &Error{Kind: ErrConflict, Op: op, Err: err}
	}
	return classify(op, err)
}

// errCommitCondition marks a condition that failed at commit time, after
// it had held before the write: a concurrent write won.
type errCommitCondition struct{ err error }

func (e *errCommitCondition) Error() string { return e.err.Error() }
func (e *errCommitCondition) Unwrap() error { return e.err }

// commitConflict turns a condition that failed inside the commit into
// ErrConditionalConflict; other errors pass through.
func commitConflict(op string, err error) error {
	var ce *errCommitCondition
	if errors.As(err, &ce) {
		return &Error{Kind: ErrConflict, Op: op, Err: fmt.Errorf("%w: %v", ErrConditionalConflict, ce.err),
			Msg: "another write changed the key while this one was in progress; nothing was stored, retry if the condition still applies"}
	}
	return err
}

package indextest

import (
	"errors"
	"sync"
	"testing"

	"github.com/rhizome-data/rhizome/internal/index"
)

var errRefused = errors.New("refused by check")

// absent is the check of a write that needs the key to have no current
// object.
func absent(cur *index.Version) error {
	if cur != nil && !cur.DeleteMarker {
		return errRefused
	}
	return nil
}

func testPutVersionIf(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	ctx := ctxT(t)
	mustCreateBucket(t, ix, "b")

	// No version at all: check sees nil.
	v1 := object("b", "k", minute(1))
	var seen []*index.Version
	record := func(cur *index.Version) error {
		if cur != nil {
			c := *cur
			cur = &c
		}
		seen = append(seen, cur)
		return absent(cur)
	}
	if err := ix.PutVersionIf(ctx, v1, record); err != nil {
		t.Fatalf("PutVersionIf(first version) = %v", err)
	}
	if len(seen) != 1 || seen[0] != nil {
		t.Fatalf("check saw %v; want one call with nil", seen)
	}

	// A current object: check sees it, and its refusal records nothing.
	seen = nil
	v2 := object("b", "k", minute(2))
	checkErr(t, "PutVersionIf(over an object)", ix.PutVersionIf(ctx, v2, record), errRefused)
	if len(seen) != 1 || seen[0] == nil {
		t.Fatalf("check saw %v; want one call with the current version", seen)
	}
	want := v1
	want.Manifest = nil // the check gets the version without its manifest
	checkVersion(t, "check's current version", *seen[0], want)
	if vs, err := ix.Versions(ctx, "b", "k"); err != nil || len(vs) != 1 {
		t.Errorf("Versions() after a refused PutVersionIf = %v, %v; want only %s", names(vs), err, v1.ID)
	}

	// A retry of a recorded version is a no-op, even though the check,
	// seeing that very version, refuses.
	if err := ix.PutVersionIf(ctx, v1, record); err != nil {
		t.Errorf("PutVersionIf(recorded version again) = %v; want nil", err)
	}
	if vs, err := ix.Versions(ctx, "b", "k"); err != nil || len(vs) != 1 {
		t.Errorf("Versions() after a retried PutVersionIf = %v, %v; want only %s", names(vs), err, v1.ID)
	}
	// The same ID with other content is still a conflict.
	changed := v1
	changed.Size++
	checkErr(t, "PutVersionIf(same ID, different Size)", ix.PutVersionIf(ctx, changed, func(*index.Version) error { return nil }), index.ErrConflict)

	// A delete marker is passed as such; quarantined versions are skipped.
	m := marker("b", "k", minute(3))
	mustPut(t, ix, m)
	q := object("b", "k", minute(4))
	q.Quarantined = true
	mustPut(t, ix, q)
	seen = nil
	v5 := object("b", "k", minute(5))
	if err := ix.PutVersionIf(ctx, v5, record); err != nil {
		t.Fatalf("PutVersionIf(over a delete marker) = %v", err)
	}
	if len(seen) != 1 || seen[0] == nil || seen[0].ID != m.ID || !seen[0].DeleteMarker {
		t.Fatalf("check saw %v; want the delete marker %s", seen, m.ID)
	}
	got, err := ix.Latest(ctx, "b", "k", t0.AddDate(1, 0, 0))
	if err != nil || got.ID != v5.ID {
		t.Errorf("Latest() = %s, %v; want %s", got.ID, err, v5.ID)
	}

	// Invalid versions and missing buckets fail before any check.
	seen = nil
	bad := object("b", "k", minute(6))
	bad.ID = "nope"
	checkErr(t, "PutVersionIf(bad ID)", ix.PutVersionIf(ctx, bad, record), index.ErrInvalid)
	checkErr(t, "PutVersionIf(no bucket)", ix.PutVersionIf(ctx, object("nope", "k", minute(6)), record), index.ErrNoSuchBucket)
	if len(seen) != 0 {
		t.Errorf("check called %d times for writes that cannot be recorded; want 0", len(seen))
	}
}

// testPutVersionIfRace runs many writers that each need the key absent:
// exactly one may record its version.
func testPutVersionIfRace(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	ctx := ctxT(t)
	mustCreateBucket(t, ix, "b")
	const writers = 16
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = ix.PutVersionIf(ctx, object("b", "race", minute(i)), absent)
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, errRefused):
			t.Errorf("writer %d: PutVersionIf() = %v; want nil or the check's error", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d writers recorded a version; want exactly 1", won)
	}
	if vs, err := ix.Versions(ctx, "b", "race"); err != nil || len(vs) != 1 {
		t.Errorf("Versions() = %v, %v; want exactly 1", names(vs), err)
	}
}

// Package indextest is the conformance suite for index.Index
// implementations. Every implementation's test calls Run.
package indextest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/index"
)

// Run runs the suite against the implementation that open returns.
//
// Each subtest calls open with its own t. The first call for a given t must
// return a handle to a new, empty index; further calls with the same t must
// return further, independent handles to that same index, as a second
// process would open it. open should close what it opens in t.Cleanup (the
// suite may close a handle itself first; Close must then be a no-op).
func Run(t *testing.T, open func(t *testing.T) index.Index) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) index.Index)
	}{
		{"BucketsLifecycle", testBuckets},
		{"MissingBucket", testMissingBucket},
		{"PutGet", testPutGet},
		{"UpdateVersion", testUpdateVersion},
		{"PutVersionIf", testPutVersionIf},
		{"PutVersionIfRace", testPutVersionIfRace},
		{"LatestAsOf", testLatest},
		{"VersionsOrder", testVersionsOrder},
		{"DeleteVersion", testDeleteVersion},
		{"List", testList},
		{"ListEdgeCases", testListEdgeCases},
		{"ListVersions", testListVersions},
		{"RandomHistory", testRandomHistory},
		{"Stats", testStats},
		{"Cancelled", testCancelled},
		{"Reopen", testReopen},
		{"ConcurrentSameKey", testConcurrentSameKey},
		{"ConcurrentHandles", testConcurrentHandles},
		{"Uploads", testUploads},
		{"Guard", testGuard},
		{"MassChanges", testMassChanges},
		{"MassChangesConcurrent", testMassChangesConcurrent},
		{"Repairs", testRepairs},
		{"UpdateState", testUpdateState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

// t0 is the base of every time in the suite.
var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// minute returns t0 plus n minutes.
func minute(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

// versionID builds an ID the way the store does: the creation time in unix
// nanoseconds, then 16 more hex digits (here a sequence number) to keep IDs
// of the same instant apart.
func versionID(at time.Time, seq uint64) string {
	return fmt.Sprintf("%016x%016x", at.UnixNano(), seq)
}

var seq struct {
	sync.Mutex
	n uint64
}

// object returns a version with made-up but distinct content.
func object(bucket, key string, at time.Time) index.Version {
	seq.Lock()
	seq.n++
	n := seq.n
	seq.Unlock()
	id := versionID(at, n)
	return index.Version{
		Bucket:   bucket,
		Key:      key,
		ID:       id,
		Time:     at,
		Size:     int64(n % 100000),
		ETag:     fmt.Sprintf("%032x", n*2654435761),
		Shards:   6,
		Manifest: []byte("manifest of " + key + "@" + id),
	}
}

// marker returns a delete marker.
func marker(bucket, key string, at time.Time) index.Version {
	v := object(bucket, key, at)
	v.Size, v.ETag, v.DeleteMarker = 0, "", true
	return v
}

func ctxT(t testing.TB) context.Context {
	t.Helper()
	return t.Context()
}

func mustCreateBucket(t testing.TB, ix index.Index, name string) {
	t.Helper()
	if err := ix.CreateBucket(ctxT(t), name, t0); err != nil {
		t.Fatalf("CreateBucket(%q) = %v", name, err)
	}
}

func mustPut(t testing.TB, ix index.Index, vs ...index.Version) {
	t.Helper()
	for _, v := range vs {
		if err := ix.PutVersion(ctxT(t), v); err != nil {
			t.Fatalf("PutVersion(%s %s) = %v", v.Key, v.ID, err)
		}
	}
}

// putAll writes vs from several goroutines, in a shuffled order.
func putAll(t testing.TB, ix index.Index, vs []index.Version, workers int) {
	t.Helper()
	order := slices.Clone(vs)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	ch := make(chan index.Version)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for v := range ch {
				if err := ix.PutVersion(ctxT(t), v); err != nil {
					errs <- fmt.Errorf("PutVersion(%s %s) = %w", v.Key, v.ID, err)
					for range ch {
					}
					return
				}
			}
		})
	}
	for _, v := range order {
		ch <- v
	}
	close(ch)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// diffVersion describes how got differs from want, or returns "".
func diffVersion(got, want index.Version) string {
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s = %v; want %v", field, g, w)) }
	if got.Bucket != want.Bucket {
		add("Bucket", got.Bucket, want.Bucket)
	}
	if got.Key != want.Key {
		add("Key", fmt.Sprintf("%q", got.Key), fmt.Sprintf("%q", want.Key))
	}
	if got.ID != want.ID {
		add("ID", got.ID, want.ID)
	}
	if !got.Time.Equal(want.Time) || got.Time.Location() != time.UTC {
		add("Time", got.Time, want.Time.UTC())
	}
	if got.Size != want.Size {
		add("Size", got.Size, want.Size)
	}
	if got.ETag != want.ETag {
		add("ETag", got.ETag, want.ETag)
	}
	if got.DeleteMarker != want.DeleteMarker {
		add("DeleteMarker", got.DeleteMarker, want.DeleteMarker)
	}
	if got.Shards != want.Shards {
		add("Shards", got.Shards, want.Shards)
	}
	if got.Quarantined != want.Quarantined {
		add("Quarantined", got.Quarantined, want.Quarantined)
	}
	if !bytes.Equal(got.Manifest, want.Manifest) {
		add("Manifest", fmt.Sprintf("%q", got.Manifest), fmt.Sprintf("%q", want.Manifest))
	}
	return strings.Join(d, ", ")
}

func checkVersion(t testing.TB, what string, got, want index.Version) {
	t.Helper()
	if d := diffVersion(got, want); d != "" {
		t.Errorf("%s: %s", what, d)
	}
}

func checkVersions(t testing.TB, what string, got, want []index.Version) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d versions %v; want %d %v", what, len(got), names(got), len(want), names(want))
		return
	}
	for i := range got {
		if d := diffVersion(got[i], want[i]); d != "" {
			t.Errorf("%s: [%d]: %s", what, i, d)
			return
		}
	}
}

// names lists versions compactly for failure messages.
func names(vs []index.Version) []string {
	var s []string
	for _, v := range vs {
		n := v.Key + "@" + v.ID[:4] + ".." + v.ID[len(v.ID)-4:]
		if v.DeleteMarker {
			n += "(marker)"
		}
		if v.Quarantined {
			n += "(quarantined)"
		}
		s = append(s, n)
	}
	if len(s) > 20 {
		s = append(s[:20], fmt.Sprintf("... %d more", len(s)-20))
	}
	return s
}

func checkErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s = %v; want %v", what, err, want)
	}
}

func testBuckets(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	ctx := ctxT(t)

	if bs, err := ix.Buckets(ctx); err != nil || len(bs) != 0 {
		t.Fatalf("Buckets() on a new index = %v, %v; want none", bs, err)
	}
	created := map[string]time.Time{
		"photos": time.Date(2024, 3, 1, 12, 0, 0, 123456789, time.UTC),
		"alpha":  time.Date(2023, 1, 1, 0, 0, 0, 1, time.FixedZone("X", 3600)),
		"zeta":   t0,
	}
	for _, name := range []string{"photos", "alpha", "zeta"} {
		if err := ix.CreateBucket(ctx, name, created[name]); err != nil {
			t.Fatalf("CreateBucket(%q) = %v", name, err)
		}
	}
	checkErr(t, `CreateBucket("photos") again`, ix.CreateBucket(ctx, "photos", t0), index.ErrBucketExists)
	checkErr(t, `CreateBucket("")`, ix.CreateBucket(ctx, "", t0), index.ErrInvalid)

	b, err := ix.Bucket(ctx, "photos")
	if err != nil || b.Name != "photos" || !b.Created.Equal(created["photos"]) || b.Created.Location() != time.UTC {
		t.Errorf(`Bucket("photos") = %+v, %v; want created %v in UTC`, b, err, created["photos"])
	}
	if b, err := ix.Bucket(ctx, "alpha"); err != nil || !b.Created.Equal(created["alpha"]) {
		t.Errorf(`Bucket("alpha") = %+v, %v; want created %v (the same instant as given)`, b, err, created["alpha"])
	}
	_, err = ix.Bucket(ctx, "nope")
	checkErr(t, `Bucket("nope")`, err, index.ErrNoSuchBucket)

	bs, err := ix.Buckets(ctx)
	if err != nil {
		t.Fatalf("Buckets() = %v", err)
	}
	var got []string
	for _, b := range bs {
		got = append(got, b.Name)
		if !b.Created.Equal(created[b.Name]) {
			t.Errorf("Buckets(): %s created %v; want %v", b.Name, b.Created, created[b.Name])
		}
	}
	if want := []string{"alpha", "photos", "zeta"}; !slices.Equal(got, want) {
		t.Errorf("Buckets() = %v; want %v", got, want)
	}

	checkErr(t, `DeleteBucket("nope")`, ix.DeleteBucket(ctx, "nope"), index.ErrNoSuchBucket)
	if err := ix.DeleteBucket(ctx, "zeta"); err != nil {
		t.Errorf(`DeleteBucket("zeta") (empty) = %v`, err)
	}
	_, err = ix.Bucket(ctx, "zeta")
	checkErr(t, `Bucket("zeta") after DeleteBucket`, err, index.ErrNoSuchBucket)
	checkErr(t, `DeleteBucket("zeta") again`, ix.DeleteBucket(ctx, "zeta"), index.ErrNoSuchBucket)
	if err := ix.CreateBucket(ctx, "zeta", t0); err != nil {
		t.Errorf(`CreateBucket("zeta") after deleting it = %v`, err)
	}

	// Any version keeps a bucket: an old one, a delete marker, a
	// quarantined one.
	old := object("photos", "cat.jpg", minute(1))
	cur := object("photos", "cat.jpg", minute(2))
	mustPut(t, ix, old, cur)
	checkErr(t, `DeleteBucket("photos") with versions`, ix.DeleteBucket(ctx, "photos"), index.ErrBucketNotEmpty)
	if err := ix.DeleteVersion(ctx, "photos", "cat.jpg", cur.ID); err != nil {
		t.Fatal(err)
	}
	checkErr(t, `DeleteBucket("photos") with an old version`, ix.DeleteBucket(ctx, "photos"), index.ErrBucketNotEmpty)
	if err := ix.DeleteVersion(ctx, "photos", "cat.jpg", old.ID); err != nil {
		t.Fatal(err)
	}
	m := marker("photos", "gone", minute(3))
	mustPut(t, ix, m)
	checkErr(t, `DeleteBucket("photos") with only a delete marker`, ix.DeleteBucket(ctx, "photos"), index.ErrBucketNotEmpty)
	if err := ix.DeleteVersion(ctx, "photos", "gone", m.ID); err != nil {
		t.Fatal(err)
	}
	q := object("photos", "q", minute(4))
	q.Quarantined = true
	mustPut(t, ix, q)
	checkErr(t, `DeleteBucket("photos") with only a quarantined version`, ix.DeleteBucket(ctx, "photos"), index.ErrBucketNotEmpty)
	if err := ix.DeleteVersion(ctx, "photos", "q", q.ID); err != nil {
		t.Fatal(err)
	}
	if err := ix.DeleteBucket(ctx, "photos"); err != nil {
		t.Errorf(`DeleteBucket("photos") once empty = %v`, err)
	}
	// Another bucket's versions do not count.
	mustPut(t, ix, object("alpha", "x", minute(5)))
	if err := ix.DeleteBucket(ctx, "zeta"); err != nil {
		t.Errorf(`DeleteBucket("zeta") while "alpha" has versions = %v`, err)
	}
}

func testMissingBucket(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	ctx := ctxT(t)
	mustCreateBucket(t, ix, "other")
	mustPut(t, ix, object("other", "k", minute(1)))
	v := object("nope", "k", minute(1))

	checkErr(t, "PutVersion", ix.PutVersion(ctx, v), index.ErrNoSuchBucket)
	checkErr(t, "UpdateVersion", ix.UpdateVersion(ctx, "nope", "k", v.ID, func(*index.Version) error { return nil }), index.ErrNoSuchBucket)
	_, err := ix.Version(ctx, "nope", "k", v.ID)
	checkErr(t, "Version", err, index.ErrNoSuchBucket)
	_, err = ix.Latest(ctx, "nope", "k", time.Time{})
	checkErr(t, "Latest", err, index.ErrNoSuchBucket)
	_, err = ix.Versions(ctx, "nope", "k")
	checkErr(t, "Versions", err, index.ErrNoSuchBucket)
	checkErr(t, "DeleteVersion", ix.DeleteVersion(ctx, "nope", "k", v.ID), index.ErrNoSuchBucket)
	_, err = ix.List(ctx, index.ListOptions{Bucket: "nope"})
	checkErr(t, "List", err, index.ErrNoSuchBucket)
	_, err = ix.ListVersions(ctx, index.ListVersionsOptions{Bucket: "nope"})
	checkErr(t, "ListVersions", err, index.ErrNoSuchBucket)
}

func testPutGet(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	ctx := ctxT(t)
	mustCreateBucket(t, ix, "b")

	v := object("b", "dir/file.parquet", time.Date(2025, 6, 7, 8, 9, 10, 123456789, time.UTC))
	v.Time = v.Time.In(time.FixedZone("CEST", 2*3600)) // same instant, returned in UTC
	mustPut(t, ix, v)
	got, err := ix.Version(ctx, "b", v.Key, v.ID)
	if err != nil {
		t.Fatalf("Version() = %v", err)
	}
	checkVersion(t, "Version() after PutVersion", got, v)

	// Retrying the same write is a no-op.
	if err := ix.PutVersion(ctx, v); err != nil {
		t.Errorf("PutVersion(same version again) = %v; want nil", err)
	}
	if vs, err := ix.Versions(ctx, "b", v.Key); err != nil || len(vs) != 1 {
		t.Errorf("Versions() after a repeated PutVersion = %v, %v; want 1 version", names(vs), err)
	}

	// The same ID with anything different is a conflict, and changes nothing.
	changes := map[string]func(*index.Version){
		"Time":         func(c *index.Version) { c.Time = c.Time.Add(time.Nanosecond) },
		"Size":         func(c *index.Version) { c.Size++ },
		"ETag":         func(c *index.Version) { c.ETag = "other" },
		"DeleteMarker": func(c *index.Version) { c.DeleteMarker = true },
		"Shards":       func(c *index.Version) { c.Shards-- },
		"Quarantined":  func(c *index.Version) { c.Quarantined = true },
		"Manifest":     func(c *index.Version) { c.Manifest = []byte("forged") },
	}
	for field, change := range changes {
		c := v
		change(&c)
		checkErr(t, "PutVersion(same ID, different "+field+")", ix.PutVersion(ctx, c), index.ErrConflict)
	}
	got, _ = ix.Version(ctx, "b", v.Key, v.ID)
	checkVersion(t, "Version() after conflicting writes", got, v)

	// The same ID under another key or bucket is another version.
	mustCreateBucket(t, ix, "b2")
	w := v
	w.Key = "dir/other"
	x := v
	x.Bucket = "b2"
	mustPut(t, ix, w, x)
	for _, want := range []index.Version{v, w, x} {
		got, err := ix.Version(ctx, want.Bucket, want.Key, want.ID)
		if err != nil {
			t.Errorf("Version(%s, %s) = %v", want.Bucket, want.Key, err)
			continue
		}
		checkVersion(t, "Version("+want.Bucket+", "+want.Key+")", got, want)
	}

	// An empty manifest, a delete marker, unusual but valid keys.
	for _, c := range []index.Version{
		func() index.Version { c := object("b", "empty-manifest", minute(1)); c.Manifest = nil; return c }(),
		marker("b", "dir/file.parquet", minute(2)),
		object("b", "ключ/日本語/😀", minute(3)),
		object("b", " leading space and trailing/", minute(4)),
		object("b", strings.Repeat("long/", 200), minute(5)),
	} {
		mustPut(t, ix, c)
		got, err := ix.Version(ctx, "b", c.Key, c.ID)
		if err != nil {
			t.Errorf("Version(%q) = %v", c.Key, err)
			continue
		}
		checkVersion(t, fmt.Sprintf("Version(%q)", c.Key), got, c)
	}

	_, err = ix.Version(ctx, "b", v.Key, versionID(t0, 999999))
	checkErr(t, "Version(unknown ID)", err, index.ErrNoSuchVersion)
	_, err = ix.Version(ctx, "b", "no/such/key", v.ID)
	checkErr(t, "Version(unknown key)", err, index.ErrNoSuchVersion)

	// What the index cannot store.
	invalid := map[string]func(*index.Version){
		"empty key":         func(c *index.Version) { c.Key = "" },
		"short ID":          func(c *index.Version) { c.ID = c.ID[:31] },
		"uppercase ID":      func(c *index.Version) { c.ID = strings.ToUpper(c.ID) },
		"non-hex ID":        func(c *index.Version) { c.ID = "g" + c.ID[1:] },
		"zero time":         func(c *index.Version) { c.Time = time.Time{} },
		"time out of range": func(c *index.Version) { c.Time = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"negative size":     func(c *index.Version) { c.Size = -1 },
		"negative shards":   func(c *index.Version) { c.Shards = -1 },
	}
	for what, change := range invalid {
		c := object("b", "invalid", minute(9))
		change(&c)
		checkErr(t, "PutVersion("+what+")", ix.PutVersion(ctx, c), index.ErrInvalid)
	}
	if vs, _ := ix.Versions(ctx, "b", "invalid"); len(vs) != 0 {
		t.Errorf("invalid versions were stored: %v", names(vs))
	}
}

func testUpdateVersion(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	ctx := ctxT(t)
	mustCreateBucket(t, ix, "b")
	v := object("b", "k", minute(1))
	v.Shards = 4
	mustPut(t, ix, v)

	want := v
	want.Shards, want.Quarantined, want.Manifest = 6, true, []byte("re-signed manifest")
	err := ix.UpdateVersion(ctx, "b", "k", v.ID, func(c *index.Version) error {
		checkVersion(t, "UpdateVersion callback argument", *c, v)
		c.Shards, c.Quarantined, c.Manifest = want.Shards, want.Quarantined, want.Manifest
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateVersion() = %v", err)
	}
	got, _ := ix.Version(ctx, "b", "k", v.ID)
	checkVersion(t, "Version() after UpdateVersion", got, want)

	// An error from the callback is returned as is and nothing changes.
	errStop := errors.New("stop")
	err = ix.UpdateVersion(ctx, "b", "k", v.ID, func(c *index.Version) error {
		c.Shards, c.Quarantined = 1, false
		return errStop
	})
	checkErr(t, "UpdateVersion(callback fails)", err, errStop)
	got, _ = ix.Version(ctx, "b", "k", v.ID)
	checkVersion(t, "Version() after a failed UpdateVersion", got, want)

	// Changing an immutable field is refused and changes nothing.
	for field, change := range map[string]func(*index.Version){
		"Bucket":       func(c *index.Version) { c.Bucket = "other" },
		"Key":          func(c *index.Version) { c.Key = "other" },
		"ID":           func(c *index.Version) { c.ID = versionID(t0, 1) },
		"Time":         func(c *index.Version) { c.Time = c.Time.Add(1) },
		"Size":         func(c *index.Version) { c.Size++ },
		"ETag":         func(c *index.Version) { c.ETag = "x" },
		"DeleteMarker": func(c *index.Version) { c.DeleteMarker = true },
	} {
		err := ix.UpdateVersion(ctx, "b", "k", v.ID, func(c *index.Version) error {
			c.Shards = 2
			change(c)
			return nil
		})
		checkErr(t, "UpdateVersion(changing "+field+")", err, index.ErrInvalid)
	}
	got, _ = ix.Version(ctx, "b", "k", v.ID)
	checkVersion(t, "Version() after refused updates", got, want)

	// The callback's copy of the manifest is its own.
	err = ix.UpdateVersion(ctx, "b", "k", v.ID, func(c *index.Version) error {
		c.Manifest[0] = 'X'
		return errStop
	})
	checkErr(t, "UpdateVersion(scribbles on the manifest, then fails)", err, errStop)
	got, _ = ix.Version(ctx, "b", "k", v.ID)
	checkVersion(t, "Version() after the callback scribbled on its copy", got, want)

	err = ix.UpdateVersion(ctx, "b", "k", versionID(t0, 5), func(*index.Version) error {
		t.Error("UpdateVersion called the callback for a missing version")
		return nil
	})
	checkErr(t, "UpdateVersion(missing version)", err, index.ErrNoSuchVersion)
}

func testLatest(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	ctx := ctxT(t)
	mustCreateBucket(t, ix, "b")

	v1 := object("b", "k", minute(10))
	v2 := object("b", "k", minute(20))
	del := marker("b", "k", minute(30))
	v4 := object("b", "k", minute(40))
	bad := object("b", "k", minute(50)) // quarantined: readers keep v4
	bad.Quarantined = true
	putAll(t, ix, []index.Version{v1, v2, del, v4, bad}, 3)
	other := object("b", "k2", minute(15)) // another key, in between
	mustPut(t, ix, other)

	tests := []struct {
		name string
		asOf time.Time
		want *index.Version // nil: ErrNoSuchKey
	}{
		{"now", time.Time{}, &v4},
		{"far future", minute(100000), &v4},
		{"exactly at the quarantined version", minute(50), &v4},
		{"exactly at v4", minute(40), &v4},
		{"just before v4", minute(40).Add(-time.Nanosecond), &del},
		{"at the delete marker", minute(30), &del},
		{"between v2 and the marker", minute(25), &v2},
		{"exactly at v1", minute(10), &v1},
		{"just before v1", minute(10).Add(-time.Nanosecond), nil},
		{"long before", time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), nil},
	}
	for _, tt := range tests {
		got, err := ix.Latest(ctx, "b", "k", tt.asOf)
		if tt.want == nil {
			checkErr(t, "Latest("+tt.name+")", err, index.ErrNoSuchKey)
			continue
		}
		if err != nil {
			t.Errorf("Latest(%s) = %v", tt.name, err)
			continue
		}
		checkVersion(t, "Latest("+tt.name+")", got, *tt.want)
	}
	_, err := ix.Latest(ctx, "b", "k3", time.Time{})
	checkErr(t, "Latest(missing key)", err, index.ErrNoSuchKey)
	_, err = ix.Latest(ctx, "b", "", time.Time{})
	checkErr(t, "Latest(empty key)", err, index.ErrNoSuchKey)

	// Clearing the quarantine makes the version current; setting it on the
	// current version falls back to the one before.
	setQ := func(id string, q bool) {
		t.Helper()
		if err := ix.UpdateVersion(ctx, "b", "k", id, func(v *index.Version) error { v.Quarantined = q; return nil }); err != nil {
			t.Fatalf("UpdateVersion(quarantined=%v) = %v", q, err)
		}
	}
	setQ(bad.ID, false)
	bad.Quarantined = false
	if got, err := ix.Latest(ctx, "b", "k", time.Time{}); err != nil || got.ID != bad.ID {
		t.Errorf("Latest() after approving the quarantined version = %s, %v; want %s", got.ID, err, bad.ID)
	}
	setQ(bad.ID, true)
	setQ(v4.ID, true)
	if got, err := ix.Latest(ctx, "b", "k", time.Time{}); err != nil || got.ID != del.ID || !got.DeleteMarker {
		t.Errorf("Latest() with the two newest quarantined = %s, %v; want the delete marker %s", got.ID, err, del.ID)
	}

	// A key whose only version is quarantined has no visible version.
	q := object("b", "only-quarantined", minute(1))
	q.Quarantined = true
	mustPut(t, ix, q)
	_, err = ix.Latest(ctx, "b", "only-quarantined", time.Time{})
	checkErr(t, "Latest(only a quarantined version)", err, index.ErrNoSuchKey)
}

func testVersionsOrder(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	ctx := ctxT(t)
	mustCreateBucket(t, ix, "b")

	var want []index.Version
	for i := range 40 {
		var v index.Version
		switch {
		case i%7 == 3:
			v = marker("b", "k", minute(i))
		default:
			v = object("b", "k", minute(i))
		}
		v.Quarantined = i%11 == 5
		want = append(want, v)
	}
	// Several versions in the same nanosecond are ordered by the rest of the ID.
	for range 3 {
		want = append(want, object("b", "k", minute(100)))
	}
	putAll(t, ix, want, 4)
	mustPut(t, ix, object("b", "k0", minute(7)), object("b", "k/", minute(7)), object("b", "j", minute(7)))
	slices.Reverse(want)

	got, err := ix.Versions(ctx, "b", "k")
	if err != nil {
		t.Fatalf("Versions() = %v", err)
	}
	checkVersions(t, "Versions(newest first)", got, want)

	if vs, err := ix.Versions(ctx, "b", "missing"); err != nil || len(vs) != 0 {
		t.Errorf("Versions(missing key) = %v, %v; want none and no error", names(vs), err)
	}
}

func testDeleteVersion(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	ctx := ctxT(t)
	mustCreateBucket(t, ix, "b")
	v1 := object("b", "k", minute(1))
	v2 := object("b", "k", minute(2))
	v3 := object("b", "k", minute(3))
	mustPut(t, ix, v1, v2, v3, object("b", "k2", minute(1)))

	if err := ix.DeleteVersion(ctx, "b", "k", v3.ID); err != nil {
		t.Fatalf("DeleteVersion(newest) = %v", err)
	}
	if got, err := ix.Latest(ctx, "b", "k", time.Time{}); err != nil || got.ID != v2.ID {
		t.Errorf("Latest() after deleting the newest = %s, %v; want %s", got.ID, err, v2.ID)
	}
	_, err := ix.Version(ctx, "b", "k", v3.ID)
	checkErr(t, "Version(deleted)", err, index.ErrNoSuchVersion)
	checkErr(t, "DeleteVersion(deleted again)", ix.DeleteVersion(ctx, "b", "k", v3.ID), index.ErrNoSuchVersion)
	checkErr(t, "DeleteVersion(wrong key)", ix.DeleteVersion(ctx, "b", "k2", v2.ID), index.ErrNoSuchVersion)

	if err := ix.DeleteVersion(ctx, "b", "k", v1.ID); err != nil {
		t.Fatalf("DeleteVersion(oldest) = %v", err)
	}
	vs, err := ix.Versions(ctx, "b", "k")
	if err != nil {
		t.Fatal(err)
	}
	checkVersions(t, "Versions() after two deletions", vs, []index.Version{v2})

	// A deleted version can be recorded again (a rebuild from the backends).
	mustPut(t, ix, v3)
	if got, err := ix.Latest(ctx, "b", "k", time.Time{}); err != nil {
		t.Errorf("Latest() after putting the deleted version back = %v", err)
	} else {
		checkVersion(t, "Latest() after putting the deleted version back", got, v3)
	}
	if err := ix.DeleteVersion(ctx, "b", "k", v2.ID); err != nil {
		t.Fatal(err)
	}
	if err := ix.DeleteVersion(ctx, "b", "k", v3.ID); err != nil {
		t.Fatal(err)
	}
	_, err = ix.Latest(ctx, "b", "k", time.Time{})
	checkErr(t, "Latest() with every version deleted", err, index.ErrNoSuchKey)
	res, err := ix.List(ctx, index.ListOptions{Bucket: "b"})
	if err != nil || len(res.Versions) != 1 || res.Versions[0].Key != "k2" {
		t.Errorf("List() after deleting every version of k = %v, %v; want only k2", names(res.Versions), err)
	}
}

func testStats(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	ctx := ctxT(t)
	s, err := ix.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats() on a new index = %v", err)
	}
	if s.Buckets != 0 || s.Keys != 0 || s.Versions != 0 || s.DeleteMarkers != 0 || s.LogicalBytes != 0 || s.CurrentBytes != 0 || len(s.ByShards) != 0 {
		t.Errorf("Stats() on a new index = %+v; want all zero", s)
	}

	mustCreateBucket(t, ix, "a")
	mustCreateBucket(t, ix, "b")
	mustCreateBucket(t, ix, "empty")
	sized := func(v index.Version, size int64, shards int) index.Version {
		v.Size, v.Shards = size, shards
		return v
	}
	q := sized(object("a", "q", minute(3)), 1000, 6) // hides the size-7 version of q
	q.Quarantined = true
	putAll(t, ix, []index.Version{
		sized(object("a", "x", minute(1)), 10, 6),
		sized(object("a", "x", minute(2)), 20, 5), // current
		sized(object("a", "y", minute(1)), 30, 6),
		marker("a", "y", minute(2)),              // y is deleted
		sized(object("a", "q", minute(1)), 7, 4), // current
		q,
		sized(object("b", "x", minute(1)), 100, 6), // current; same key, other bucket
		marker("b", "gone", minute(1)),
	}, 4)

	s, err = ix.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats() = %v", err)
	}
	want := index.Stats{
		Buckets:       3,
		Keys:          3, // a/x, a/q, b/x
		Versions:      8,
		DeleteMarkers: 2,
		LogicalBytes:  10 + 20 + 30 + 7 + 1000 + 100,
		CurrentBytes:  20 + 7 + 100,
		ByShards:      map[int]int64{6: 4, 5: 1, 4: 1},
	}
	checkStats(t, "Stats()", s, want)
}

func checkStats(t testing.TB, what string, got, want index.Stats) {
	t.Helper()
	if got.Buckets != want.Buckets || got.Keys != want.Keys || got.Versions != want.Versions ||
		got.DeleteMarkers != want.DeleteMarkers || got.LogicalBytes != want.LogicalBytes ||
		got.CurrentBytes != want.CurrentBytes || !mapsEqual(got.ByShards, want.ByShards) {
		t.Errorf("%s = %+v;\nwant %+v", what, got, want)
	}
}

func mapsEqual(a, b map[int]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func testCancelled(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	mustCreateBucket(t, ix, "b")
	ctx, cancel := context.WithCancel(ctxT(t))
	cancel()
	v := object("b", "k", minute(1))
	checkErr(t, "PutVersion(cancelled context)", ix.PutVersion(ctx, v), context.Canceled)
	checkErr(t, "CreateBucket(cancelled context)", ix.CreateBucket(ctx, "c", t0), context.Canceled)
	_, err := ix.Latest(ctx, "b", "k", time.Time{})
	checkErr(t, "Latest(cancelled context)", err, context.Canceled)
	_, err = ix.List(ctx, index.ListOptions{Bucket: "b"})
	checkErr(t, "List(cancelled context)", err, context.Canceled)

	// Nothing was written.
	if vs, err := ix.Versions(ctxT(t), "b", "k"); err != nil || len(vs) != 0 {
		t.Errorf("Versions() after a cancelled PutVersion = %v, %v; want none", names(vs), err)
	}
	_, err = ix.Bucket(ctxT(t), "c")
	checkErr(t, "Bucket() after a cancelled CreateBucket", err, index.ErrNoSuchBucket)
}

func testReopen(t *testing.T, open func(t *testing.T) index.Index) {
	a := open(t)
	mustCreateBucket(t, a, "b")
	v := object("b", "k", minute(1))
	mustPut(t, a, v)
	if err := a.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("Close() again = %v; want nil", err)
	}

	b := open(t)
	got, err := b.Latest(ctxT(t), "b", "k", time.Time{})
	if err != nil {
		t.Fatalf("Latest() from a new handle after Close = %v", err)
	}
	checkVersion(t, "Latest() from a new handle after Close", got, v)
}

// testConcurrentSameKey: many goroutines write versions of one key, in an
// order unrelated to their IDs, while others read it. Every version is
// recorded, and the newest by ID is current.
func testConcurrentSameKey(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	ctx := ctxT(t)
	mustCreateBucket(t, ix, "b")
	const writers, each = 16, 20
	var all []index.Version
	for i := range writers * each {
		all = append(all, object("b", "hot", minute(i)))
	}
	newest := all[len(all)-1]
	rng := rand.New(rand.NewPCG(3, 4))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })

	done := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := ix.Latest(ctx, "b", "hot", time.Time{}); err != nil && !errors.Is(err, index.ErrNoSuchKey) {
					t.Errorf("Latest() during writes = %v", err)
					return
				}
			}
		})
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for _, v := range all[w*each : (w+1)*each] {
				if err := ix.PutVersion(ctx, v); err != nil {
					t.Errorf("PutVersion() = %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()

	vs, err := ix.Versions(ctx, "b", "hot")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != writers*each {
		t.Errorf("Versions() has %d versions; want %d", len(vs), writers*each)
	}
	if !slices.IsSortedFunc(vs, func(a, b index.Version) int { return strings.Compare(b.ID, a.ID) }) {
		t.Errorf("Versions() not newest first")
	}
	got, err := ix.Latest(ctx, "b", "hot", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	checkVersion(t, "Latest() after concurrent writes", got, newest)
}

// testConcurrentHandles: two handles on the same index (as two processes
// would have) write at once. No write fails for being locked out, and each
// handle sees every write.
func testConcurrentHandles(t *testing.T, open func(t *testing.T) index.Index) {
	a, b := open(t), open(t)
	ctx := ctxT(t)
	mustCreateBucket(t, a, "b")
	if _, err := b.Bucket(ctx, "b"); err != nil {
		t.Fatalf("second handle: Bucket() = %v", err)
	}
	const goroutines, each = 6, 30
	var want []index.Version
	var wg sync.WaitGroup
	for h, ix := range []index.Index{a, b} {
		for g := range goroutines {
			var vs []index.Version
			for i := range each {
				key := fmt.Sprintf("h%d/g%d/%d", h, g, i)
				if i%3 == 0 {
					key = "shared" // both handles write versions of one key
				}
				vs = append(vs, object("b", key, minute(h*100000+g*1000+i)))
			}
			want = append(want, vs...)
			wg.Go(func() {
				for i, v := range vs {
					if err := ix.PutVersion(ctx, v); err != nil {
						t.Errorf("handle %d: PutVersion() = %v", h, err)
						return
					}
					if i%5 == 4 {
						err := ix.UpdateVersion(ctx, "b", v.Key, v.ID, func(v *index.Version) error { v.Shards = 5; return nil })
						if err != nil {
							t.Errorf("handle %d: UpdateVersion() = %v", h, err)
							return
						}
					}
					if _, err := ix.List(ctx, index.ListOptions{Bucket: "b", Prefix: fmt.Sprintf("h%d/", 1-h), Limit: 10}); err != nil {
						t.Errorf("handle %d: List() = %v", h, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for h, ix := range []index.Index{a, b} {
		res, err := ix.ListVersions(ctx, index.ListVersionsOptions{Bucket: "b", Limit: index.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Versions) != len(want) {
			t.Errorf("handle %d sees %d versions; want %d", h, len(res.Versions), len(want))
		}
		shards5 := 0
		for _, v := range res.Versions {
			if v.Shards == 5 {
				shards5++
			}
		}
		if wantUpdated := 2 * goroutines * (each / 5); shards5 != wantUpdated {
			t.Errorf("handle %d sees %d updated versions; want %d", h, shards5, wantUpdated)
		}
	}
}

package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
)

func putString(t *testing.T, ts *testStore, key, body string) *ObjectInfo {
	t.Helper()
	info, err := ts.Put(context.Background(), "lake", key, strings.NewReader(body), nil)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func getString(t *testing.T, ts *testStore, key string) string {
	t.Helper()
	b, _, err := ts.get(t, key)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func TestCheckpointRollbackRoundTrip(t *testing.T) {
	ts := newTestStore(t, noInline) // so shard files show what a rollback writes
	ctx := context.Background()
	putString(t, ts, "t/a", "a1")
	putString(t, ts, "t/b", "b1")
	putString(t, ts, "other", "o1")
	cp, err := ts.CreateCheckpoint(ctx, "lake", "t/", "good", "test")
	if err != nil {
		t.Fatal(err)
	}
	if cp.Keys != 2 {
		t.Fatalf("checkpoint of t/ has %d keys; want 2", cp.Keys)
	}
	if _, err := ts.CreateCheckpoint(ctx, "lake", "t/", "good", "test"); err == nil {
		t.Fatal("a checkpoint name was reused")
	}
	if _, err := ts.CreateCheckpoint(ctx, "lake", "t/", "Bad Name", "test"); err == nil {
		t.Fatal("an invalid checkpoint name was accepted")
	}
	// Damage the dataset: change a, delete b, add c; touch outside the prefix.
	putString(t, ts, "t/a", "a2-poisoned")
	ts.Delete(ctx, "lake", "t/b", "test")
	putString(t, ts, "t/c", "c-new")
	putString(t, ts, "other", "o2")
	before := time.Now()

	target, err := ts.ResolveState(ctx, "lake", "t/", "good")
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := ts.StateAt(ctx, "lake", "t/", time.Time{})
	diff := ts.Diff(target, cur)
	got := ""
	for _, d := range diff {
		got += d.Key + ":" + d.Change + " "
	}
	if got != "t/a:changed t/b:deleted t/c:added " {
		t.Fatalf("diff good..now = %q", got)
	}
	dry, err := ts.Rollback(ctx, target, true, "test")
	if err != nil || dry.Applied || len(dry.Changes) != 3 || getString(t, ts, "t/a") != "a2-poisoned" {
		t.Fatalf("dry run changed something or planned wrong: %+v, %v", dry, err)
	}
	if _, err := ts.Rollback(ctx, target, false, "test"); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"t/a": "a1", "t/b": "b1", "other": "o2"} {
		if got := getString(t, ts, key); got != want {
			t.Fatalf("after rollback %s = %q; want %q", key, got, want)
		}
	}
	if got := getString(t, ts, "t/c"); !strings.Contains(got, "delete marker") {
		t.Fatalf("t/c after rollback = %q; want deleted", got)
	}
	// Roll back the rollback.
	undo, _ := ts.ResolveState(ctx, "lake", "t/", before.UTC().Format(time.RFC3339Nano))
	if _, err := ts.Rollback(ctx, undo, false, "test"); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"t/a": "a2-poisoned", "t/c": "c-new"} {
		if got := getString(t, ts, key); got != want {
			t.Fatalf("after undoing the rollback %s = %q; want %q", key, got, want)
		}
	}
	// The rollback copied no data: no new shard files beyond the test's puts.
	var shards int
	for _, f := range ts.faults {
		f.Unwrap().List(ctx, "d/", func(backend.Info) error { shards++; return nil })
	}
	if shards != 6*6 { // six puts of object data, six shards each
		t.Fatalf("%d shard files; rollbacks must not write data", shards)
	}
}

func TestVerifyCheckpoint(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	a := putString(t, ts, "d/a", strings.Repeat("a", 100000))
	putString(t, ts, "d/b", "b")
	if _, err := ts.CreateCheckpoint(ctx, "lake", "d/", "v1", "test"); err != nil {
		t.Fatal(err)
	}
	rep, err := ts.VerifyCheckpoint(ctx, "v1", nil)
	if err != nil || !rep.Intact() || rep.Keys != 2 {
		t.Fatalf("fresh checkpoint: %+v, %v; want intact with 2 keys", rep, err)
	}
	// Tamper with three shards of a checkpointed object: unreadable.
	seg := a.Manifest.Segments[0]
	for i := 0; i < 3; i++ {
		b := ts.faults[ts.byName[seg.Backends[i]]].Unwrap()
		b.Put(ctx, shardName(seg.ID, i), strings.NewReader("garbage"), 7)
	}
	rep, err = ts.VerifyCheckpoint(ctx, "v1", nil)
	if err != nil || rep.Intact() || len(rep.Unreadable) != 1 || rep.Unreadable[0].Key != "d/a" {
		t.Fatalf("tampered checkpoint: %+v, %v; want d/a unreadable", rep, err)
	}
	// Removing a version (after retention) is detected too.
	ts.now = func() time.Time { return time.Now().Add(40 * 24 * time.Hour) }
	if err := ts.DeleteVersion(ctx, "lake", "d/a", a.ID, "test"); err != nil {
		t.Fatal(err)
	}
	rep, _ = ts.VerifyCheckpoint(ctx, "v1", nil)
	if len(rep.Missing) != 1 || rep.Intact() {
		t.Fatalf("checkpoint with a removed version: %+v; want it missing", rep)
	}
}

package indextest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/index"
)

func testRepairs(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	ctx := ctxT(t)

	ids := func(rs []index.Repair) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Key+"@"+r.VersionID[28:])
		}
		return fmt.Sprint(out)
	}
	queue := func(due time.Time, b, k, id string, limit int) []index.Repair {
		t.Helper()
		rs, err := ix.RepairQueue(ctx, due, b, k, id, limit)
		if err != nil {
			t.Fatalf("RepairQueue() = %v", err)
		}
		return rs
	}
	length := func() int64 {
		t.Helper()
		n, err := ix.RepairQueueLen(ctx)
		if err != nil {
			t.Fatalf("RepairQueueLen() = %v", err)
		}
		return n
	}

	if rs := queue(time.Time{}, "", "", "", 0); len(rs) != 0 {
		t.Fatalf("empty queue: RepairQueue() = %s; want none", ids(rs))
	}
	for _, bad := range []index.Repair{
		{Key: "k", VersionID: versionID(t0, 1)},
		{Bucket: "b", VersionID: versionID(t0, 1)},
		{Bucket: "b", Key: "k", VersionID: "not-an-id"},
	} {
		checkErr(t, fmt.Sprintf("QueueRepair(%+v)", bad), ix.QueueRepair(ctx, bad), index.ErrInvalid)
	}

	// The queue needs no bucket: a version may go while it waits.
	a := index.Repair{Bucket: "b", Key: "a", VersionID: versionID(t0, 1), Reason: "read", Queued: minute(1), Data: []byte("hint a")}
	b1 := index.Repair{Bucket: "b", Key: "b", VersionID: versionID(t0, 2), Reason: "scrub", Queued: minute(2)}
	b2 := index.Repair{Bucket: "b", Key: "b", VersionID: versionID(t0, 3), Reason: "write", Queued: minute(3)}
	c := index.Repair{Bucket: "c", Key: "a", VersionID: versionID(t0, 4), Reason: "read", Queued: minute(4)}
	for _, r := range []index.Repair{c, b2, a, b1} {
		if err := ix.QueueRepair(ctx, r); err != nil {
			t.Fatalf("QueueRepair(%s) = %v", r.Key, err)
		}
	}
	if n := length(); n != 4 {
		t.Fatalf("RepairQueueLen() = %d; want 4", n)
	}
	all := queue(time.Time{}, "", "", "", 0)
	if got, want := ids(all), ids([]index.Repair{a, b1, b2, c}); got != want {
		t.Fatalf("RepairQueue() = %s; want %s (bucket, key, ID order)", got, want)
	}
	got := all[0]
	if got.Reason != "read" || string(got.Data) != "hint a" || !got.Queued.Equal(minute(1)) || got.Attempts != 0 || !got.NotBefore.IsZero() || got.Seq == 0 {
		t.Fatalf("RepairQueue()[0] = %+v; want a as queued, with a Seq", got)
	}
	if rs := queue(time.Time{}, "b", "a", a.VersionID, 2); ids(rs) != ids([]index.Repair{b1, b2}) {
		t.Fatalf("RepairQueue(after a, limit 2) = %s; want [b1 b2]", ids(rs))
	}
	if rs := queue(time.Time{}, "b", "b", b2.VersionID, 0); ids(rs) != ids([]index.Repair{c}) {
		t.Fatalf("RepairQueue(after b2) = %s; want [c]", ids(rs))
	}

	// Requeueing replaces reason and data, keeps Queued, changes Seq.
	a2 := a
	a2.Reason, a2.Data, a2.Queued = "scrub", []byte("hint a2"), minute(9)
	if err := ix.QueueRepair(ctx, a2); err != nil {
		t.Fatal(err)
	}
	got = queue(time.Time{}, "", "", "", 1)[0]
	if got.Reason != "scrub" || string(got.Data) != "hint a2" || !got.Queued.Equal(minute(1)) || got.Seq == all[0].Seq {
		t.Fatalf("after requeue: %+v; want reason scrub, data a2, Queued kept, new Seq", got)
	}
	// A repair that started before the requeue must not drop it.
	if done, err := ix.DoneRepair(ctx, all[0]); err != nil || done {
		t.Fatalf("DoneRepair(stale Seq) = %v, %v; want false, nil", done, err)
	}
	if n := length(); n != 4 {
		t.Fatalf("after DoneRepair with a stale Seq: %d entries; want 4", n)
	}
	if done, err := ix.DoneRepair(ctx, got); err != nil || !done {
		t.Fatalf("DoneRepair(current Seq) = %v, %v; want true, nil", done, err)
	}
	if done, err := ix.DoneRepair(ctx, got); err != nil || done {
		t.Fatalf("DoneRepair(again) = %v, %v; want false, nil", done, err)
	}

	// Deferring hides an entry until it is due; requeueing makes it due.
	d := b1
	d.Attempts, d.LastError, d.NotBefore = 2, "backend down", minute(30)
	if err := ix.DeferRepair(ctx, d); err != nil {
		t.Fatalf("DeferRepair() = %v", err)
	}
	if rs := queue(minute(29), "", "", "", 0); ids(rs) != ids([]index.Repair{b2, c}) {
		t.Fatalf("RepairQueue(due before b1) = %s; want [b2 c]", ids(rs))
	}
	rs := queue(minute(30), "", "", "", 0)
	if ids(rs) != ids([]index.Repair{b1, b2, c}) {
		t.Fatalf("RepairQueue(due at b1) = %s; want [b1 b2 c]", ids(rs))
	}
	if rs[0].Attempts != 2 || rs[0].LastError != "backend down" || !rs[0].NotBefore.Equal(minute(30)) {
		t.Fatalf("deferred entry = %+v; want 2 attempts, the error and the time", rs[0])
	}
	if err := ix.QueueRepair(ctx, b1); err != nil {
		t.Fatal(err)
	}
	if rs := queue(minute(0), "", "", "", 0); len(rs) != 3 || rs[0].Attempts != 2 || !rs[0].NotBefore.IsZero() {
		t.Fatalf("after requeueing a deferred entry: %+v; want it due, attempts kept", rs)
	}
	if err := ix.DeferRepair(ctx, index.Repair{Bucket: "x", Key: "y", VersionID: versionID(t0, 9), Attempts: 1}); err != nil {
		t.Fatalf("DeferRepair(missing entry) = %v; want nil", err)
	}
	if n := length(); n != 3 {
		t.Fatalf("RepairQueueLen() = %d; want 3", n)
	}

	// A second handle sees the same queue.
	if rs, err := open(t).RepairQueue(ctx, time.Time{}, "", "", "", 0); err != nil || len(rs) != 3 {
		t.Fatalf("second handle: RepairQueue() = %d entries, %v; want 3", len(rs), err)
	}

	// Named state.
	if _, err := ix.State(ctx, "replace/x"); !errors.Is(err, index.ErrNoSuchState) {
		t.Fatalf("State(missing) = %v; want ErrNoSuchState", err)
	}
	checkErr(t, "PutState(empty name)", ix.PutState(ctx, "", []byte("v")), index.ErrInvalid)
	for name, v := range map[string]string{"replace/a": "1", "replace/b": "2", "replaced": "3", "scrub/last": "4"} {
		if err := ix.PutState(ctx, name, []byte(v)); err != nil {
			t.Fatalf("PutState(%s) = %v", name, err)
		}
	}
	if err := ix.PutState(ctx, "replace/a", []byte("1b")); err != nil {
		t.Fatal(err)
	}
	if v, err := ix.State(ctx, "replace/a"); err != nil || string(v) != "1b" {
		t.Fatalf("State(replace/a) = %q, %v; want 1b", v, err)
	}
	m, err := ix.States(ctx, "replace/")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	if fmt.Sprint(names) != "[replace/a replace/b]" || string(m["replace/b"]) != "2" {
		t.Fatalf("States(replace/) = %v; want replace/a and replace/b", m)
	}
	if all, _ := ix.States(ctx, ""); len(all) != 4 {
		t.Fatalf("States(\"\") = %d entries; want 4", len(all))
	}
	if err := ix.DeleteState(ctx, "replace/a"); err != nil {
		t.Fatal(err)
	}
	if err := ix.DeleteState(ctx, "replace/a"); err != nil {
		t.Fatalf("DeleteState(missing) = %v; want nil", err)
	}
	if _, err := ix.State(ctx, "replace/a"); !errors.Is(err, index.ErrNoSuchState) {
		t.Fatalf("State after DeleteState = %v; want ErrNoSuchState", err)
	}
}

// testUpdateState checks the compare-and-set that leases are built on.
func testUpdateState(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	ctx := ctxT(t)
	get := func(name string) (string, bool) {
		t.Helper()
		v, err := ix.State(ctx, name)
		if errors.Is(err, index.ErrNoSuchState) {
			return "", false
		}
		if err != nil {
			t.Fatalf("State(%s) = %v", name, err)
		}
		return string(v), true
	}

	checkErr(t, "UpdateState(empty name)", ix.UpdateState(ctx, "", func([]byte, bool) ([]byte, error) { return []byte("x"), nil }), index.ErrInvalid)
	var sawFound bool
	var sawValue []byte
	err := ix.UpdateState(ctx, "lease/a", func(v []byte, found bool) ([]byte, error) {
		sawValue, sawFound = v, found
		return []byte("one"), nil
	})
	if err != nil || sawFound || sawValue != nil {
		t.Fatalf("UpdateState(missing) = %v, fn saw %q, found %v; want nil, nothing, false", err, sawValue, sawFound)
	}
	if v, ok := get("lease/a"); !ok || v != "one" {
		t.Fatalf("after UpdateState: State = %q, %v; want one", v, ok)
	}
	err = ix.UpdateState(ctx, "lease/a", func(v []byte, found bool) ([]byte, error) {
		sawValue, sawFound = v, found
		return []byte("two"), nil
	})
	if err != nil || !sawFound || string(sawValue) != "one" {
		t.Fatalf("UpdateState(present) = %v, fn saw %q, found %v; want nil, one, true", err, sawValue, sawFound)
	}
	refuse := errors.New("held by another")
	err = ix.UpdateState(ctx, "lease/a", func([]byte, bool) ([]byte, error) { return []byte("three"), refuse })
	if !errors.Is(err, refuse) {
		t.Fatalf("UpdateState(fn fails) = %v; want fn's error", err)
	}
	if v, _ := get("lease/a"); v != "two" {
		t.Fatalf("after a failed UpdateState: State = %q; want two (unchanged)", v)
	}
	if err := ix.UpdateState(ctx, "lease/a", func([]byte, bool) ([]byte, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if v, ok := get("lease/a"); ok {
		t.Fatalf("after UpdateState returned nil: State = %q; want removed", v)
	}
	if err := ix.UpdateState(ctx, "lease/a", func([]byte, bool) ([]byte, error) { return []byte{}, nil }); err != nil {
		t.Fatal(err)
	}
	if v, ok := get("lease/a"); !ok || v != "" {
		t.Fatalf("after storing an empty value: State = %q, %v; want empty, present", v, ok)
	}

	// Increments from two handles (two processes) never lose one.
	handles := []index.Index{ix, open(t)}
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		h := handles[w%2]
		wg.Go(func() {
			for range each {
				errs <- h.UpdateState(ctx, "counter", func(v []byte, found bool) ([]byte, error) {
					n := 0
					if found {
						n, _ = strconv.Atoi(string(v))
					}
					return []byte(strconv.Itoa(n + 1)), nil
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent UpdateState = %v", err)
		}
	}
	if v, _ := get("counter"); v != strconv.Itoa(workers*each) {
		t.Fatalf("after %d concurrent increments: counter = %s; want %d", workers*each, v, workers*each)
	}
}

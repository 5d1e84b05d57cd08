package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestScrubFindsAndRecords damages versions in different ways and checks
// what full and quick scrubs report, what they queue and what Status
// shows afterwards.
func TestScrubFindsAndRecords(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 6, 3)
	s := f.open(nil)
	for _, k := range []string{"healthy", "missing", "flipped", "at-risk", "lost"} {
		f.put(s, k, 150<<10)
	}
	src, _ := s.Stat(ctx, "lake", "missing", StatOptions{})
	if _, err := s.Copy(ctx, src, "lake", "copy", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "lake", "healthy", "test"); err != nil {
		t.Fatal(err)
	}
	del := func(key string, shards ...int) {
		for _, i := range shards {
			name, b := f.shardBlob(s, key, i)
			b.Delete(ctx, name)
		}
	}
	del("missing", 1)
	del("at-risk", 0, 5)
	del("lost", 1, 2, 3)
	name, b := f.shardBlob(s, "flipped", 3)
	p := blob(t, b, name)
	p[len(p)/2] ^= 1
	putBlob(t, b, name, p)

	type want struct {
		health  string
		healthy int
		issues  string
	}
	run := func(quick bool) (ScrubStats, map[string]ScrubResult) {
		t.Helper()
		got := map[string]ScrubResult{}
		st, err := s.Scrub(ctx, ScrubOptions{Quick: quick, NoQueue: quick}, func(r ScrubResult) error {
			if r.Key == "healthy" && r.Health == Healthy && r.Size == 0 {
				r.Key = "healthy (delete marker)"
			}
			got[r.Key] = r
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return st, got
	}
	issues := func(r ScrubResult) string {
		var out []string
		for _, i := range r.Shards {
			out = append(out, fmt.Sprintf("%d:%s", i.Index, i.Issue))
		}
		return strings.Join(out, ",")
	}
	check := func(mode string, got map[string]ScrubResult, wants map[string]want) {
		t.Helper()
		for key, w := range wants {
			r, ok := got[key]
			if !ok {
				t.Errorf("%s scrub: no result for %s", mode, key)
				continue
			}
			if r.Health != w.health || r.Healthy != w.healthy || issues(r) != w.issues {
				t.Errorf("%s scrub: %s = %s, %d healthy, issues %q; want %s, %d, %q", mode, key, r.Health, r.Healthy, issues(r), w.health, w.healthy, w.issues)
			}
		}
	}

	// Quick: presence and size only; the flipped bit goes unseen.
	st, got := run(true)
	check("quick", got, map[string]want{
		"missing": {Damaged, 5, "1:missing"},
		"copy":    {Damaged, 5, "1:missing"},
		"flipped": {Healthy, 6, ""},
		"at-risk": {Damaged, 4, "0:missing,5:missing"},
		"lost":    {Unreadable, 3, "1:missing,2:missing,3:missing"},
	})
	// A quick scrub reads no shard data; it reads only the bucket
	// manifest's pieces (a few hundred bytes each), which it must open to
	// recognize as a record.
	if st.Checked != 7 || st.Queued != 0 || st.Records != 1 || st.BytesRead == 0 || st.BytesRead > 4<<10 || st.Segments != 5 {
		t.Fatalf("quick scrub stats = %+v; want 7 versions (delete marker and copy included), 5 segments, 1 record, nothing queued, only the record read", st)
	}
	if n, _ := s.Index().RepairQueueLen(ctx); n != 0 {
		t.Fatalf("NoQueue scrub queued %d versions", n)
	}

	// Full: reads everything, finds the bit flip, queues what repair can fix.
	st, got = run(false)
	check("full", got, map[string]want{
		"missing": {Damaged, 5, "1:missing"},
		"flipped": {Damaged, 5, "3:corrupt"},
		"at-risk": {Damaged, 4, "0:missing,5:missing"},
		"lost":    {Unreadable, 3, "1:missing,2:missing,3:missing"},
	})
	if st.Checked != 7 || st.Healthy != 2 || st.Repairable != 4 || st.Unreadable != 1 || st.AtRisk != 1 || st.Segments != 5 || st.BytesRead == 0 {
		t.Fatalf("full scrub stats = %+v; want 7 checked: 2 healthy, 4 repairable, 1 unreadable, 1 at risk, 5 segments", st)
	}
	q, _ := s.Index().RepairQueue(ctx, timeZero, "", "", "", 0)
	var queued []string
	for _, e := range q {
		queued = append(queued, e.Key)
	}
	slices.Sort(queued)
	if fmt.Sprint(queued) != "[at-risk copy flipped lost missing]" {
		t.Fatalf("queued %v; want every damaged version", queued)
	}
	// Status counts come from what the scrub recorded.
	status, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if status.Protected != 1 || status.UnderProtect != 4 || status.AtRisk != 1 || status.Unreadable != 1 || status.RepairQueue != 5 || status.LastScrub == nil || status.LastScrub.Mode != "full" {
		t.Fatalf("status = protected %d, under %d, at risk %d, unreadable %d, queue %d, last scrub %+v; want 1, 4, 1, 1, 5, full",
			status.Protected, status.UnderProtect, status.AtRisk, status.Unreadable, status.RepairQueue, status.LastScrub)
	}

	// Repair from the queue; the next scrub finds only the lost one.
	rst := mustRepair(t, s, &RepairOptions{Scan: ScanNone})
	if rst.Repaired != 4 || rst.Unreadable != 1 {
		t.Fatalf("repair = %+v; want 4 repaired, 1 unreadable", rst)
	}
	st, _ = run(false)
	if st.Healthy != 6 || st.Unreadable != 1 {
		t.Fatalf("scrub after repair = %+v; want 6 healthy, 1 unreadable", st)
	}
	status, _ = s.Status(ctx)
	if status.Protected != 5 || status.UnderProtect != 0 || status.Unreadable != 1 {
		t.Fatalf("status after repair = %+v; want 5 protected, 1 unreadable", status)
	}
}

func TestScrubPrefixAndRate(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 6, 3)
	s := f.open(nil)
	f.put(s, "a/1", 300<<10)
	f.put(s, "b/1", 300<<10)
	var keys []string
	var prog []ScrubProgress
	const rate = 2 << 20
	start := time.Now()
	st, err := s.Scrub(ctx, ScrubOptions{Bucket: "lake", Prefix: "a/", Rate: rate,
		Progress: func(p ScrubProgress) { prog = append(prog, p) }}, func(r ScrubResult) error {
		keys = append(keys, r.Key)
		return nil
	})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[a/1]" || st.Checked != 1 {
		t.Fatalf("scrub of lake/a/ checked %v; want [a/1]", keys)
	}
	// Reading ~470 KiB at 2 MiB/s takes ~0.23 s; the first read is free.
	if min := time.Duration(float64(st.BytesRead-(64<<10)) / rate * float64(time.Second)); took < min {
		t.Fatalf("scrub read %d bytes in %v at --rate %d B/s; want at least %v", st.BytesRead, took, rate, min)
	}
	last := prog[len(prog)-1]
	if len(prog) != 1 || last.Versions != 1 || last.VersionsTotal != 1 || last.Bytes != last.BytesTotal || last.BytesTotal < st.BytesRead-10_000 {
		t.Fatalf("progress %+v; want one report covering all bytes (read %d)", prog, st.BytesRead)
	}
	if ls, _ := s.LastScrub(ctx); ls != nil {
		t.Fatalf("a scrub of a prefix was recorded as the last whole-store scrub: %+v", ls)
	}
}

func TestScrubLoopRepairs(t *testing.T) {
	f := newFleet(t, 6, 3)
	s := f.open(nil)
	f.put(s, "k", 100<<10)
	name, b := f.shardBlob(s, "k", 2)
	orig := blob(t, b, name)
	p := blob(t, b, name)
	p[len(p)-10] ^= 2
	putBlob(t, b, name, p)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ScrubLoop(ctx, 0, time.Hour) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got, err := readAll(context.Background(), b, name); err == nil && string(got) == string(orig) {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("the background scrub did not repair the flipped bit within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("ScrubLoop returned %v; want context.Canceled", err)
	}
	if ls, _ := s.LastScrub(context.Background()); ls == nil || ls.Repairable != 1 {
		t.Fatalf("last scrub %+v; want the background scrub recorded with 1 repairable", ls)
	}
	f.checkAll(s, false)
}

// TestScrubTellsOutageFromLoss: with three backends down a version cannot
// be read, but nothing is known lost: the scrub says so, and repair waits
// instead of calling it unreadable.
func TestScrubTellsOutageFromLoss(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 6, 3)
	s := f.open(nil)
	f.put(s, "k", 100<<10)
	for _, b := range f.cfg.Backends[:3] {
		f.faults[b.Name].SetDown(true)
	}
	var res ScrubResult
	st, err := s.Scrub(ctx, ScrubOptions{}, func(r ScrubResult) error { res = r; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if st.Unreadable != 1 || st.UnreadableDown != 1 || !res.BackendsDown || st.Queued != 0 {
		t.Fatalf("scrub with 3 of 6 backends down = %+v (%s); want unreadable only while they are down, nothing queued", st, res)
	}
	rst := mustRepair(t, s, nil)
	if rst.Unreadable != 0 || rst.Scan.UnreadableDown != 1 {
		t.Fatalf("repair with 3 backends down = %+v; want nothing declared unreadable", rst)
	}
	for _, b := range f.cfg.Backends[:3] {
		f.faults[b.Name].SetDown(false)
	}
	if st, _ := s.Scrub(ctx, ScrubOptions{}, nil); st.Healthy != 1 {
		t.Fatalf("scrub with the backends back = %+v; want healthy", st)
	}
	f.checkAll(s, false)
}

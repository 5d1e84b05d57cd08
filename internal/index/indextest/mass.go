package indextest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/index"
)

func testMassChanges(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	ctx := ctxT(t)
	put := func(ix index.Index, c index.MassChange) {
		t.Helper()
		if err := ix.PutMassChange(ctx, c); err != nil {
			t.Fatalf("PutMassChange(%+v) = %v", c, err)
		}
	}
	change := func(identity, key string, del bool, at time.Time, size int) index.MassChange {
		return index.MassChange{Policy: "lake/", Prefix: "lake/t/", Identity: identity, Key: key, Delete: del, Time: at, Size: size}
	}
	tally := func(ix index.Index, policy, prefix, identity string, since time.Time, limit int) index.MassTally {
		t.Helper()
		got, err := ix.MassTally(ctx, policy, prefix, identity, since, limit)
		if err != nil {
			t.Fatalf("MassTally(%q, %q, %q, %v, %d) = %v", policy, prefix, identity, since, limit, err)
		}
		return got
	}
	want := func(what string, got, want index.MassTally) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %+v; want %+v", what, got, want)
		}
	}

	if got := tally(ix, "lake/", "lake/t/", "mallory", time.Time{}, 0); got != (index.MassTally{}) {
		t.Fatalf("MassTally of an empty index = %+v; want zero", got)
	}
	// mallory: k0..k5 deleted at minutes 1..6, k6 overwritten at minute 7,
	// k0 deleted again at minute 8 (counts once, with the size of its
	// latest change), prefix sizes shrinking.
	for i := range 6 {
		put(ix, change("mallory", fmt.Sprint("t/k", i), true, minute(1+i), 40-i))
	}
	put(ix, change("mallory", "t/k6", false, minute(7), 34))
	put(ix, change("mallory", "t/k0", true, minute(8), 33))
	// Others that must not be counted with mallory's.
	put(ix, change("etl", "t/k1", false, minute(5), 50))
	put(ix, index.MassChange{Policy: "lake/", Prefix: "lake/u/", Identity: "mallory", Key: "u/a", Time: minute(5), Size: 90})
	put(ix, index.MassChange{Policy: "lake/t/", Prefix: "lake/t/", Identity: "mallory", Key: "t/k9", Time: minute(5), Size: 90})

	want("MassTally(all of mallory's)", tally(ix, "lake/", "lake/t/", "mallory", time.Time{}, 0), index.MassTally{Keys: 7, Deletes: 6, Size: 39})
	// since is inclusive; k0's latest change (minute 8) is in the window.
	want("MassTally(since minute 3)", tally(ix, "lake/", "lake/t/", "mallory", minute(3), 0), index.MassTally{Keys: 6, Deletes: 5, Size: 38})
	want("MassTally(since minute 9)", tally(ix, "lake/", "lake/t/", "mallory", minute(9), 0), index.MassTally{})
	want("MassTally(etl)", tally(ix, "lake/", "lake/t/", "etl", time.Time{}, 0), index.MassTally{Keys: 1, Size: 50})
	want("MassTally(other prefix)", tally(ix, "lake/", "lake/u/", "mallory", time.Time{}, 0), index.MassTally{Keys: 1, Size: 90})
	want("MassTally(other policy)", tally(ix, "lake/t/", "lake/t/", "mallory", time.Time{}, 0), index.MassTally{Keys: 1, Size: 90})
	want("MassTally(unknown identity)", tally(ix, "lake/", "lake/t/", "nobody", time.Time{}, 0), index.MassTally{})
	// limit counts the most recent: k0 (8), k6 (7), k5 (6).
	want("MassTally(limit 3)", tally(ix, "lake/", "lake/t/", "mallory", time.Time{}, 3), index.MassTally{Keys: 3, Deletes: 2, Size: 35})

	// A change recorded late with an earlier time does not move a key
	// back in time, nor replace its kind.
	put(ix, change("mallory", "t/k0", false, minute(2), 99))
	want("MassTally(since minute 8) after a late, older change", tally(ix, "lake/", "lake/t/", "mallory", minute(8), 0), index.MassTally{Keys: 1, Deletes: 1, Size: 33})

	// A second handle (another process) sees the same changes and adds
	// to them.
	other := open(t)
	want("MassTally from a second handle", tally(other, "lake/", "lake/t/", "mallory", time.Time{}, 0), index.MassTally{Keys: 7, Deletes: 6, Size: 39})
	put(other, change("mallory", "t/k7", false, minute(9), 33))
	want("MassTally after the second handle's change", tally(ix, "lake/", "lake/t/", "mallory", time.Time{}, 0), index.MassTally{Keys: 8, Deletes: 6, Size: 39})

	// Prune drops what is older than the cutoff, and only that.
	n, err := ix.PruneMassChanges(ctx, minute(5))
	if err != nil || n != 3 { // mallory's k1..k3 (minutes 2..4); minute 5 stays
		t.Errorf("PruneMassChanges(minute 5) = %d, %v; want 3", n, err)
	}
	want("MassTally after the prune", tally(ix, "lake/", "lake/t/", "mallory", time.Time{}, 0), index.MassTally{Keys: 5, Deletes: 3, Size: 36})
	want("MassTally(etl) after the prune", tally(ix, "lake/", "lake/t/", "etl", time.Time{}, 0), index.MassTally{Keys: 1, Size: 50})
	if n, err := ix.PruneMassChanges(ctx, minute(5)); err != nil || n != 0 {
		t.Errorf("PruneMassChanges(minute 5) again = %d, %v; want 0", n, err)
	}
	if n, err := ix.PruneMassChanges(ctx, minute(60)); err != nil || n != 8 {
		t.Errorf("PruneMassChanges(minute 60) = %d, %v; want 8 (everything)", n, err)
	}
	want("MassTally after pruning everything", tally(ix, "lake/", "lake/t/", "mallory", time.Time{}, 0), index.MassTally{})

	// Invalid changes are refused.
	for _, c := range []index.MassChange{
		{Policy: "lake/", Prefix: "lake/t/", Identity: "x", Time: minute(1)},                       // no key
		{Policy: "lake/", Prefix: "lake/t/", Identity: "x", Key: "t/a"},                            // no time
		{Policy: "lake/", Prefix: "lake/t/", Identity: "x", Key: "t/a", Time: minute(1), Size: -1}, // negative size
	} {
		checkErr(t, fmt.Sprintf("PutMassChange(%+v)", c), ix.PutMassChange(ctx, c), index.ErrInvalid)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	checkErr(t, "PutMassChange(cancelled context)", ix.PutMassChange(cctx, change("mallory", "t/z", true, minute(1), 5)), context.Canceled)
	_, err = ix.MassTally(cctx, "lake/", "lake/t/", "mallory", time.Time{}, 0)
	checkErr(t, "MassTally(cancelled context)", err, context.Canceled)
	_, err = ix.PruneMassChanges(cctx, minute(60))
	checkErr(t, "PruneMassChanges(cancelled context)", err, context.Canceled)
	want("MassTally after a cancelled PutMassChange", tally(ix, "lake/", "lake/t/", "mallory", time.Time{}, 0), index.MassTally{})
}

// testMassChangesConcurrent records changes from two handles at once: the
// tally sees each distinct key once.
func testMassChangesConcurrent(t *testing.T, open func(t *testing.T) index.Index) {
	handles := []index.Index{open(t), open(t)}
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for h, ix := range handles {
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					// Both handles change the same 100 keys.
					key := fmt.Sprintf("t/k%03d", (g*50+i)%100)
					errs <- ix.PutMassChange(ctx, index.MassChange{Policy: "", Prefix: "b/t/", Identity: "m", Key: key,
						Delete: h == 1, Time: minute(i), Size: 400})
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("PutMassChange = %v", err)
		}
	}
	got, err := handles[0].MassTally(ctx, "", "b/t/", "m", time.Time{}, 0)
	if err != nil || got.Keys != 100 || got.Size != 400 {
		t.Fatalf("MassTally = %+v, %v; want 100 keys of 400", got, err)
	}
}

package guard

import (
	"fmt"
	"sync"
	"time"
)

// Kinds of change MassTracker.Observe counts.
const (
	KindOverwrite = "overwrite"
	KindDelete    = "delete"
)

// HistoryRewrite returns a signal when a write replaces (or a delete
// removes) a version created more than th.HistoryAge before now: data
// lakes append, and old partitions rarely change for good reasons.
// created is when the version being replaced was written; a zero time
// means there is none (a new key) and never fires.
func HistoryRewrite(created, now time.Time, th Thresholds) *Signal {
	th = th.withDefaults()
	if created.IsZero() || th.HistoryAge < 0 {
		return nil
	}
	age := now.Sub(created)
	if age <= th.HistoryAge {
		return nil
	}
	days := func(d time.Duration) float64 { return round(d.Hours()/24, 4) }
	return &Signal{Name: SignalHistoryRewrite, Score: days(age), Threshold: days(th.HistoryAge),
		Reason: fmt.Sprintf("rewrites a version written %s ago (%s); history older than %s should not change",
			age.Round(time.Minute), created.UTC().Format(time.RFC3339), th.HistoryAge)}
}

// MassTracker notices one identity overwriting or deleting a large share
// of a prefix's objects within a sliding window (Thresholds.MassWindow,
// MassShare, MassMinObjects) in the memory of one process: call Observe
// for every overwrite and delete with the time; the tracker has no clock
// of its own. Memory is bounded by the changes inside the window (and
// maxMassEvents per identity and prefix). It is safe for concurrent use.
// The store does not use it: it keeps the changes in its index, which
// every process sharing the index sees and which survives restarts, and
// judges them with MassSignal, as Observe does.
type MassTracker struct {
	mu        sync.Mutex
	th        Thresholds
	entries   map[massKey]*massEntry
	lastSweep time.Time
}

type massKey struct{ identity, prefix string }

type massEvent struct {
	at     time.Time
	object uint64 // hash of the key
	del    bool
}

type massEntry struct {
	events  []massEvent // oldest first, from head on
	head    int
	objects map[uint64]int
	deletes int
	size    int // the largest prefix size observed in the window
	sizeAt  time.Time
}

// maxMassEvents caps the changes remembered per identity and prefix.
const maxMassEvents = 1 << 17

// NewMassTracker returns a tracker with the mass-change thresholds of th
// (zero fields mean the defaults).
func NewMassTracker(th Thresholds) *MassTracker {
	return &MassTracker{th: th.withDefaults(), entries: make(map[massKey]*massEntry)}
}

// Observe records that identity changed (kind KindOverwrite or KindDelete)
// the object key under prefix, which held prefixSize objects before the
// change, at time now. It returns a signal while the distinct objects the
// identity changed under the prefix within the window are at least
// MassShare of the prefix (and at least MassMinObjects).
func (t *MassTracker) Observe(identity, prefix, key string, prefixSize int, now time.Time, kind string) *Signal {
	th := t.th
	if th.MassShare < 0 || th.MassWindow < 0 {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
	k := massKey{identity, prefix}
	e := t.entries[k]
	if e == nil {
		e = &massEntry{objects: make(map[uint64]int)}
		t.entries[k] = e
	}
	e.prune(now.Add(-th.MassWindow))
	if prefixSize >= e.size || now.Sub(e.sizeAt) > th.MassWindow {
		e.size, e.sizeAt = prefixSize, now
	}
	h := hashBytes([]byte(key))
	del := kind == KindDelete
	e.events = append(e.events, massEvent{now, h, del})
	e.objects[h]++
	if del {
		e.deletes++
	}
	if len(e.events)-e.head > maxMassEvents {
		e.forget(e.events[e.head])
		e.head++
		e.compact()
	}
	return MassSignal(identity, prefix, MassTally{Keys: len(e.objects), Deletes: e.deletes,
		Overwrites: len(e.events) - e.head - e.deletes, Size: e.size}, th)
}

// MassTally is what one identity changed under one prefix within the
// window: the distinct keys, how many of the changes were deletes and
// overwrites (a log that keeps one change per key counts each key's last),
// and the largest object count of the prefix seen in the window.
type MassTally struct {
	Keys, Deletes, Overwrites int
	Size                      int
}

// MassSignal judges a tally with the mass-change thresholds of th: it
// returns a signal when the distinct keys are at least MassShare of Size
// and at least MassMinObjects. MassTracker uses it over its memory; the
// store over the changes recorded in its index, which every process
// sharing the index sees.
func MassSignal(identity, prefix string, t MassTally, th Thresholds) *Signal {
	th = th.withDefaults()
	if th.MassShare < 0 || th.MassWindow < 0 || t.Size <= 0 || t.Keys < th.MassMinObjects {
		return nil
	}
	share := float64(t.Keys) / float64(t.Size)
	if share < th.MassShare {
		return nil
	}
	what := "overwrote or deleted"
	switch {
	case t.Overwrites == 0:
		what = "deleted"
	case t.Deletes == 0:
		what = "overwrote"
	}
	return &Signal{Name: SignalMassChange, Score: round(share, 4), Threshold: th.MassShare,
		Reason: fmt.Sprintf("%q %s %d of %d objects under %q within %s (%.0f%% >= %.0f%%)",
			identity, what, t.Keys, t.Size, prefix, th.MassWindow, 100*share, 100*th.MassShare)}
}

// prune forgets the events before cutoff.
func (e *massEntry) prune(cutoff time.Time) {
	for e.head < len(e.events) && e.events[e.head].at.Before(cutoff) {
		e.forget(e.events[e.head])
		e.head++
	}
	e.compact()
}

// compact moves the live events to the front once half the slice is dead.
func (e *massEntry) compact() {
	if e.head > 0 && e.head*2 >= len(e.events) {
		e.events = append(e.events[:0], e.events[e.head:]...)
		e.head = 0
	}
}

func (e *massEntry) forget(ev massEvent) {
	if e.objects[ev.object]--; e.objects[ev.object] <= 0 {
		delete(e.objects, ev.object)
	}
	if ev.del {
		e.deletes--
	}
}

// sweep drops the entries with no event in the window, at most once per
// window, so that idle identities and prefixes do not accumulate.
func (t *MassTracker) sweep(now time.Time) {
	if now.Sub(t.lastSweep) < t.th.MassWindow {
		return
	}
	t.lastSweep = now
	cutoff := now.Add(-t.th.MassWindow)
	for k, e := range t.entries {
		e.prune(cutoff)
		if len(e.events) == e.head {
			delete(t.entries, k)
		}
	}
}

package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/codec"
	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/keys"
	"github.com/rhizome-data/rhizome/internal/manifest"
	"github.com/rhizome-data/rhizome/internal/placement"
)

// IssueReplaced marks a shard or piece moved off a backend that
// ReplaceBackend is emptying.
const IssueReplaced = "replaced"

// Outcomes of repairing one version.
const (
	Repaired = "repaired" // something was rebuilt or rewritten, and verified
	Intact   = "intact"   // nothing needed doing
	Deferred = "deferred" // some damage could not be repaired now (a backend did not answer); retried later
	Removed  = "removed"  // the version no longer exists
	// Unreadable (see Verify): fewer than k shards are left.
)

// ScanMode says how Repair looks for damage beyond its queue.
type ScanMode int

const (
	// ScanQuick stats every shard and manifest piece first (the default):
	// finds missing, truncated and never written shards, and shards on
	// backends no longer configured.
	ScanQuick ScanMode = iota
	// ScanNone repairs only what is queued (by reads, writes and scrubs).
	ScanNone
	// ScanFull runs a full scrub first, reading everything.
	ScanFull
)

// RepairOptions tune Repair. A nil *RepairOptions means the defaults.
type RepairOptions struct {
	Scan ScanMode
	// Bucket and Prefix limit the scan; the queue is repaired whole.
	Bucket, Prefix string
	// Rate caps the bytes per second a full scan reads (0: no cap).
	Rate int64
	// Parallel is how many versions are repaired at once (default 4).
	Parallel int
	// RetryDeferred retries entries whose backoff has not expired yet.
	RetryDeferred bool
	// ScanProgress and Progress report the two phases.
	ScanProgress func(ScrubProgress)
	Progress     func(RepairProgress)
	// Force takes the maintenance lease over from its holder even when
	// that holder may be alive (see Repair).
	Force bool
	// ReadBack reads every rebuilt shard back from its backend and checks
	// it whole before it counts, instead of the default Stat (see Repair).
	ReadBack bool

	op string // what the lease names ("repair" when empty)
}

// RepairProgress tells how far the repair phase is.
type RepairProgress struct {
	Versions, VersionsTotal int64
	Shards                  int64 // rebuilt so far
	Bytes                   int64 // shard bytes written so far
}

// RebuiltShard is one shard repair wrote (or adopted).
type RebuiltShard struct {
	Segment string `json:"segment"`
	Index   int    `json:"shard"`
	Issue   string `json:"issue"`
	From    string `json:"from,omitempty"` // backend it was on, "" if never written
	To      string `json:"to"`
	Bytes   int64  `json:"bytes"`
	// Adopted: an earlier, interrupted repair had already written it; it
	// was verified and kept rather than written again.
	Adopted bool `json:"adopted,omitempty"`
}

// RepairResult is what repair did for one version.
type RepairResult struct {
	// Kind, VersionID and Part are as in ScrubResult: Kind is empty for
	// a version.
	Kind      string         `json:"kind,omitempty"`
	Bucket    string         `json:"bucket"`
	Key       string         `json:"key"`
	VersionID string         `json:"version_id"`
	Part      int            `json:"part,omitempty"`
	Outcome   string         `json:"outcome"`
	Shards    []RebuiltShard `json:"shards,omitempty"`
	Pieces    []int          `json:"manifest_pieces,omitempty"` // rewritten in place
	// Revised: the manifest was re-signed with new shard or piece
	// locations (see docs/design.md, "Manifest revisions").
	Revised bool   `json:"revised,omitempty"`
	Healthy int    `json:"healthy_shards"`
	Err     string `json:"error,omitempty"`
}

func (r RepairResult) String() string {
	s := fmt.Sprintf("%s %s", r.Outcome, describe(r.Kind, r.Bucket, r.Key, r.VersionID, r.Part))
	for _, sh := range r.Shards {
		verb := "rebuilt"
		if sh.Adopted {
			verb = "kept already rebuilt"
		}
		if sh.From != "" && sh.From != sh.To {
			s += fmt.Sprintf("; %s shard %d (%s) on %s, moved from %s", verb, sh.Index, sh.Issue, sh.To, sh.From)
		} else {
			s += fmt.Sprintf("; %s shard %d (%s) on %s", verb, sh.Index, sh.Issue, sh.To)
		}
	}
	if len(r.Pieces) > 0 {
		s += fmt.Sprintf("; rewrote manifest pieces %v", r.Pieces)
	}
	if r.Revised {
		s += "; manifest revised"
	}
	if r.Err != "" {
		s += "; " + r.Err
	}
	return s
}

// RepairStats summarizes a repair.
type RepairStats struct {
	Scan       *ScrubStats `json:"scan,omitempty"`
	Versions   int64       `json:"versions"` // taken from the queue
	Repaired   int64       `json:"repaired"`
	Intact     int64       `json:"intact"`
	Deferred   int64       `json:"deferred"`
	Unreadable int64       `json:"unreadable"`
	Shards     int64       `json:"shards_rebuilt"`
	Adopted    int64       `json:"shards_adopted"`
	Bytes      int64       `json:"bytes_written"`
	Pieces     int64       `json:"pieces_rewritten"`
	Revised    int64       `json:"manifests_revised"`
	CleanedUp  int64       `json:"stale_pieces_removed"`
	// Parts of uploads in progress the scan checked, and those repaired.
	Parts         int64 `json:"parts"`
	PartsRepaired int64 `json:"parts_repaired"`
	// Records (bucket, checkpoint, review manifests) with pieces rewritten.
	Records   int64     `json:"records_repaired"`
	QueueLeft int64     `json:"queue_left"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
}

// Repair restores full protection: it finds damage (see RepairOptions.Scan),
// then for every queued version rebuilds each missing, corrupt or never
// written shard from the others and writes it back to its backend, or, when
// that backend is no longer configured, to another one the placement rules
// allow (same region first). Every shard written is checked against its
// root in the signed manifest before it counts (see below). Missing or
// damaged manifest pieces are rewritten; when shards or pieces move, the
// version's manifest is revised (re-signed under the same version ID) and
// so is every manifest sharing a moved segment. Shards on backends that do
// not answer are left for later (Deferred) rather than moved.
//
// A rebuilt shard counts once the root of the bytes handed to the backend
// (hashed as they are written) equals the root the signed manifest
// records (for a shard never written, which has none, the bytes are the
// re-encoding of authenticated, decoded data, and the revised manifest
// records their root), the backend acknowledged the write of exactly the
// shard's length, and a Stat afterwards finds it there with that length. With
// o.ReadBack it is also read back whole and checked (header, every block
// checksum, root), which costs one more read of every byte written; a
// later scrub does the same.
//
// fn, when set, is called with each version's result; its error stops
// the repair. Repair is safe to interrupt at any point (even kill -9): a
// later Repair completes the work.
//
// Only one Repair or ReplaceBackend works on a store at a time, whatever
// process runs it: each holds the maintenance lease in the index (see
// MaintenanceLease) and renews it while it runs. While another holds it,
// Repair fails at once with an ErrConflict error wrapping ErrLeaseHeld that
// names the holder. A lease that has lapsed (its holder stopped renewing
// it, e.g. was killed) or whose holder ran on this host and is gone is
// taken over; o.Force takes over any lease. A repair whose lease is taken
// over stops with ErrLeaseLost.
func (s *Store) Repair(ctx context.Context, o *RepairOptions, fn func(RepairResult) error) (RepairStats, error) {
	if o == nil {
		o = &RepairOptions{}
	}
	lctx, release, err := s.acquireLease(ctx, cmp.Or(o.op, "repair"), o.Force)
	if err != nil {
		return RepairStats{Started: s.now().UTC(), Finished: s.now().UTC()}, err
	}
	defer release()
	st, err := s.repair(lctx, o, fn)
	return st, leaseErr(lctx, err)
}

func (s *Store) repair(ctx context.Context, o *RepairOptions, fn func(RepairResult) error) (RepairStats, error) {
	st := RepairStats{Started: s.now().UTC()}
	cleaned, err := s.cleanupRevisions(ctx)
	st.CleanedUp += cleaned
	if err != nil {
		return st, err
	}
	run := s.newRepairRun(nil)
	run.readBack = o.ReadBack
	if o.Scan != ScanNone {
		// Parts and records are not queued: the scan's findings on them
		// are repaired here.
		partHints := map[string][]ShardIssue{}
		records := false
		sst, err := s.Scrub(ctx, ScrubOptions{Bucket: o.Bucket, Prefix: o.Prefix, Quick: o.Scan == ScanQuick,
			Rate: o.Rate, Parallel: o.Parallel, Progress: o.ScanProgress}, func(r ScrubResult) error {
			if r.Kind == "" {
				run.noteScan(r)
			}
			switch {
			case r.Kind == KindPart && len(r.Shards) > 0:
				partHints[partKey(r.VersionID, r.Part)] = r.Shards
			case r.Kind != "" && r.Kind != KindPart && r.Health != Healthy:
				records = true
			}
			return nil
		})
		st.Scan, st.Parts = &sst, sst.Parts
		if err != nil {
			return st, err
		}
		if err := run.repairParts(ctx, o.Bucket, o.Prefix, partHints, &st, fn); err != nil {
			return st, err
		}
		if records {
			n, err := s.repairRecords(ctx, func(r RepairResult) error {
				if r.Outcome == Repaired {
					st.Records++
				} else {
					st.Deferred++
				}
				if fn != nil {
					return fn(r)
				}
				return nil
			})
			st.Pieces += n
			if err != nil {
				return st, err
			}
		}
	}
	err = run.drain(ctx, o, &st, fn)
	st.Finished = s.now().UTC()
	if n, qerr := s.idx.RepairQueueLen(context.WithoutCancel(ctx)); qerr == nil {
		st.QueueLeft = n
	}
	if err != nil {
		return st, err
	}
	s.log.Info("repair done", "versions", st.Versions, "repaired", st.Repaired, "deferred", st.Deferred,
		"unreadable", st.Unreadable, "shards_rebuilt", st.Shards, "bytes_written", st.Bytes, "manifests_revised", st.Revised)
	return st, nil
}

// RepairVersion repairs one version now, whether or not it is queued.
func (s *Store) RepairVersion(ctx context.Context, bucket, key, id string) (RepairResult, error) {
	v, err := s.idx.Version(ctx, bucket, key, id)
	if err != nil {
		return RepairResult{Bucket: bucket, Key: key, VersionID: id}, classify("repair "+bucket+"/"+key, err)
	}
	return s.newRepairRun(nil).version(ctx, v, nil), nil
}

// drain repairs what is queued, in passes: versions that share a segment
// moved in one pass are queued for the next.
func (run *repairRun) drain(ctx context.Context, o *RepairOptions, st *RepairStats, fn func(RepairResult) error) error {
	s := run.s
	par := cmp.Or(o.Parallel, 4)
	total, err := s.idx.RepairQueueLen(ctx)
	if err != nil {
		return classify("repair", err)
	}
	var prog RepairProgress
	prog.VersionsTotal = total
	seen := map[string]int64{} // version -> Seq handled in this run
	for pass := 0; pass < 4; pass++ {
		due := s.now()
		if o.RetryDeferred {
			due = time.Time{}
		}
		var fnErr error
		var mu sync.Mutex
		jobs := make(chan index.Repair)
		var wg sync.WaitGroup
		for range par {
			wg.Go(func() {
				for e := range jobs {
					res := run.entry(ctx, e)
					mu.Lock()
					st.Versions++
					switch res.Outcome {
					case Repaired:
						st.Repaired++
					case Intact, Removed:
						st.Intact++
					case Deferred:
						st.Deferred++
					default:
						st.Unreadable++
					}
					if res.Revised {
						st.Revised++
					}
					st.Pieces += int64(len(res.Pieces))
					for _, sh := range res.Shards {
						if sh.Adopted {
							st.Adopted++
						} else {
							st.Shards++
							st.Bytes += sh.Bytes
						}
					}
					prog.Versions++
					prog.Shards, prog.Bytes = st.Shards, st.Bytes
					if prog.Versions > prog.VersionsTotal {
						prog.VersionsTotal = prog.Versions
					}
					if o.Progress != nil {
						o.Progress(prog)
					}
					if fn != nil && fnErr == nil && ctx.Err() == nil {
						fnErr = fn(res)
					}
					mu.Unlock()
				}
			})
		}
		fresh := 0
		var listErr error
		ab, ak, aid := "", "", ""
	pages:
		for {
			page, err := s.idx.RepairQueue(ctx, due, ab, ak, aid, 500)
			if err != nil {
				listErr = classify("repair", err)
				break
			}
			for _, e := range page {
				ab, ak, aid = e.Bucket, e.Key, e.VersionID
				id := e.Bucket + "\x00" + e.Key + "\x00" + e.VersionID
				if seq, ok := seen[id]; ok && seq == e.Seq {
					continue // failed earlier in this run
				}
				seen[id] = e.Seq
				mu.Lock()
				stop := fnErr != nil
				mu.Unlock()
				if stop {
					break pages
				}
				fresh++
				select {
				case jobs <- e:
				case <-ctx.Done():
					break pages
				}
			}
			if len(page) < 500 {
				break
			}
		}
		close(jobs)
		wg.Wait()
		if err := cmpErr(ctx.Err(), listErr, fnErr); err != nil {
			return err
		}
		if fresh == 0 {
			return nil
		}
	}
	return nil
}

// entry repairs one queue entry and updates the queue.
func (run *repairRun) entry(ctx context.Context, e index.Repair) RepairResult {
	s := run.s
	res := RepairResult{Bucket: e.Bucket, Key: e.Key, VersionID: e.VersionID}
	v, err := s.idx.Version(ctx, e.Bucket, e.Key, e.VersionID)
	switch {
	case errors.Is(err, index.ErrNoSuchVersion), errors.Is(err, index.ErrNoSuchBucket):
		res.Outcome = Removed
	case err != nil:
		res.Outcome, res.Err = Deferred, err.Error()
	default:
		var hints []ShardIssue
		var qd queueData
		if json.Unmarshal(e.Data, &qd) == nil {
			hints = qd.Shards
		}
		res = run.version(ctx, v, hints)
	}
	if ctx.Err() != nil {
		return res
	}
	bg := context.WithoutCancel(ctx)
	switch res.Outcome {
	case Repaired, Intact, Removed:
		if _, err := s.idx.DoneRepair(bg, e); err != nil {
			s.log.Warn("repair queue not updated", "version", e.VersionID, "err", err)
		}
	default:
		e.Attempts++
		e.LastError = res.Err
		e.NotBefore = s.now().Add(backoff(e.Attempts))
		if err := s.idx.DeferRepair(bg, e); err != nil {
			s.log.Warn("repair queue not updated", "version", e.VersionID, "err", err)
		}
	}
	return res
}

// backoff is the wait before attempt n+1 of a failed repair.
func backoff(attempts int) time.Duration {
	d := time.Minute << min(attempts-1, 9)
	return min(d, 6*time.Hour)
}

// repairRun is the state one Repair (or ReplaceBackend) shares between
// versions: results for segments that several versions share, backends
// found down, and what is being evacuated.
type repairRun struct {
	s *Store
	// evac maps a backend being emptied to its replacement.
	evac map[string]string
	// walkAll: every version will be visited (ReplaceBackend), so versions
	// sharing a moved segment need not be queued.
	walkAll bool
	// readBack: confirm shards written by reading them back whole.
	readBack bool
	// scanned holds, for each damaged segment the scan of this run
	// checked, what it found wrong, so that repairing it does not stat
	// every shard again.
	scanned map[string][]ShardIssue

	mu   sync.Mutex
	segs map[string]*segOutcome
	busy map[string]chan struct{}
	down map[string]bool

	refsOnce sync.Once
	refs     map[string][]index.Version // segment -> versions (manifest not kept)
	refsErr  error
}

func (s *Store) newRepairRun(evac map[string]string) *repairRun {
	return &repairRun{s: s, evac: evac, segs: map[string]*segOutcome{}, busy: map[string]chan struct{}{}, down: map[string]bool{}}
}

func (run *repairRun) isDown(name string) bool {
	run.mu.Lock()
	defer run.mu.Unlock()
	return run.down[name]
}

func (run *repairRun) markDown(name string) {
	run.mu.Lock()
	run.down[name] = true
	run.mu.Unlock()
}

// noteScan records the damaged segments a scan result names. The scan
// checked every shard of them, so the shards it does not name were
// present with the right size (and, in a full scan, intact).
func (run *repairRun) noteScan(r ScrubResult) {
	run.mu.Lock()
	defer run.mu.Unlock()
	if run.scanned == nil {
		run.scanned = map[string][]ShardIssue{}
	}
	for _, is := range r.Shards {
		run.scanned[is.Segment] = append(run.scanned[is.Segment], is)
	}
}

// foundShards returns what is wrong with seg's shards: what this run's
// scan found, or else what a stat of every shard finds now.
func (run *repairRun) foundShards(ctx context.Context, seg manifest.Segment) []*ShardIssue {
	run.mu.Lock()
	issues, ok := run.scanned[seg.ID]
	delete(run.scanned, seg.ID) // a later pass stats afresh
	run.mu.Unlock()
	if !ok {
		return run.s.statShards(ctx, seg)
	}
	found := make([]*ShardIssue, seg.K+seg.M)
	for _, is := range issues {
		if is.Index >= 0 && is.Index < len(found) && found[is.Index] == nil {
			found[is.Index] = &is
		}
	}
	return found
}

// usable reports whether name may receive shards or pieces in this run.
func (run *repairRun) usable(name string) bool {
	if _, ok := run.s.byName[name]; !ok {
		return false
	}
	if _, ok := run.evac[name]; ok {
		return false
	}
	return !run.isDown(name)
}

// segOutcome is what repairing one segment gave.
type segOutcome struct {
	seg        manifest.Segment // with new shard locations and roots
	rebuilt    []RebuiltShard
	healthy    int
	err        error
	unreadable bool
	reported   bool // rebuilt already reported with a version
}

// version repairs one version: its segments, then its manifest pieces,
// revising the manifest when locations changed.
func (run *repairRun) version(ctx context.Context, v index.Version, hints []ShardIssue) RepairResult {
	s := run.s
	res := RepairResult{Bucket: v.Bucket, Key: v.Key, VersionID: v.ID, Outcome: Intact}
	m, err := manifest.Decode(v.Manifest, s.pub)
	if err != nil {
		res.Outcome, res.Err = Unreadable, "index holds a manifest that does not verify: "+err.Error()
		return res
	}
	n := s.cfg.K + s.cfg.M
	res.Healthy = n
	var errs []string
	unreadable, deferred, moved, fixed := false, false, false, false
	for si, seg := range m.Segments {
		out := run.segment(ctx, seg, hints)
		fixed = fixed || len(out.rebuilt) > 0
		run.mu.Lock()
		if !out.reported {
			res.Shards = append(res.Shards, out.rebuilt...)
			out.reported = true
		}
		run.mu.Unlock()
		if si == 0 || out.healthy < res.Healthy {
			res.Healthy = out.healthy
		}
		if out.err != nil {
			errs = append(errs, out.err.Error())
			if out.unreadable {
				unreadable = true
			} else {
				deferred = true
			}
		}
		if !slices.Equal(out.seg.Backends, seg.Backends) || !rootsEqual(out.seg.Roots, seg.Roots) {
			m.Segments[si] = out.seg
			moved = true
		}
	}
	if ctx.Err() != nil {
		res.Outcome, res.Err = Deferred, ctx.Err().Error()
		return res
	}
	pr := run.pieces(ctx, v, m, moved, res.Healthy)
	res.Pieces, res.Revised = pr.rewritten, pr.revised
	if pr.err != nil {
		errs = append(errs, pr.err.Error())
		deferred = true
	}
	// An inlined object with a piece still missing keeps its low count.
	inlineShort := m.Inlined() && pr.err != nil
	if !pr.revised && !inlineShort && v.Shards != res.Healthy {
		s.recordHealth(ctx, v, ScrubResult{Healthy: res.Healthy})
	}
	switch {
	case unreadable:
		res.Outcome = Unreadable
	case deferred:
		res.Outcome = Deferred
	case fixed || len(res.Pieces) > 0 || res.Revised:
		// fixed: shards rebuilt, maybe reported with another version
		// sharing the segment.
		res.Outcome = Repaired
	}
	res.Err = strings.Join(errs, "; ")
	if res.Outcome != Intact {
		s.log.Info("version repaired", "bucket", v.Bucket, "key", v.Key, "version", v.ID, "outcome", res.Outcome,
			"shards_rebuilt", len(res.Shards), "pieces_rewritten", len(res.Pieces), "revised", res.Revised, "err", res.Err)
	}
	return res
}

func rootsEqual(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, func(x, y []byte) bool { return bytes.Equal(x, y) })
}

// segment repairs a segment once per run: versions sharing it wait for and
// reuse the first one's outcome.
func (run *repairRun) segment(ctx context.Context, seg manifest.Segment, hints []ShardIssue) *segOutcome {
	for {
		run.mu.Lock()
		if out, ok := run.segs[seg.ID]; ok {
			run.mu.Unlock()
			return out
		}
		ch, busy := run.busy[seg.ID]
		if !busy {
			ch = make(chan struct{})
			run.busy[seg.ID] = ch
			run.mu.Unlock()
			break
		}
		run.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return &segOutcome{seg: seg, err: ctx.Err()}
		}
	}
	out := run.repairSegment(ctx, seg, hints)
	run.mu.Lock()
	run.segs[seg.ID] = out
	close(run.busy[seg.ID])
	delete(run.busy, seg.ID)
	run.mu.Unlock()
	return out
}

// repairSegment finds what is wrong with a segment's shards and fixes it.
func (run *repairRun) repairSegment(ctx context.Context, seg manifest.Segment, hints []ShardIssue) *segOutcome {
	s := run.s
	n := seg.K + seg.M
	out := &segOutcome{seg: cloneSegment(seg)}
	found := run.foundShards(ctx, seg)
	for _, h := range hints {
		if h.Segment == seg.ID && h.Index >= 0 && h.Index < n && found[h.Index] == nil && h.Issue == IssueCorrupt {
			found[h.Index] = &ShardIssue{Segment: seg.ID, Index: h.Index, Backend: seg.Backends[h.Index], Issue: IssueCorrupt, Err: h.Err}
		}
	}
	for i, name := range seg.Backends {
		if to, ok := run.evac[name]; ok {
			found[i] = &ShardIssue{Segment: seg.ID, Index: i, Backend: name, Issue: IssueReplaced, Err: "moving to " + to}
		}
	}
	skip := make([]bool, n)
	var fix []int
	unavailable := 0
	for i, f := range found {
		if f == nil {
			continue
		}
		skip[i] = true
		if f.Issue == IssueUnavailable {
			unavailable++
		} else {
			fix = append(fix, i)
		}
	}
	out.healthy = n - len(fix) - unavailable
	if len(fix) == 0 {
		if unavailable > 0 {
			out.err = fmt.Errorf("segment %s: %d shard(s) on backends that did not answer", seg.ID, unavailable)
		}
		return out
	}
	if out.healthy < seg.K {
		out.err = fmt.Errorf("segment %s: only %d of %d shards readable, need %d", seg.ID, out.healthy, n, seg.K)
		out.unreadable = unavailable == 0
		return out
	}

	// Where each shard goes: back where it was, unless that backend is
	// gone or being emptied, or the shard was never written.
	assign := slices.Clone(seg.Backends)
	for _, i := range fix {
		if found[i].Issue != IssueMissing && found[i].Issue != IssueCorrupt {
			assign[i] = ""
		}
	}
	var picks []int
	var errs []error
	targets := map[int]int{}
	moved := false
	for _, i := range fix {
		f := found[i]
		switch f.Issue {
		case IssueMissing, IssueCorrupt:
			targets[i] = s.byName[seg.Backends[i]]
			continue
		}
		prefer, region := "", ""
		switch f.Issue {
		case IssueNotWritten:
			if picks == nil {
				picks = placement.Pick(s.pb, seg.K, seg.M, s.cfg.Survive, []byte(seg.ID), nil)
			}
			if i < len(picks) {
				prefer = s.pb[picks[i]].Name
			}
		case IssueReplaced:
			prefer = run.evac[f.Backend]
			if j, ok := s.byName[f.Backend]; ok {
				region = s.pb[j].Region
			}
		}
		name, ok := s.shardTarget(seg, i, assign, run.usable, prefer, region)
		if !ok {
			errs = append(errs, fmt.Errorf("shard %d: no configured backend can take it without breaking the placement rules", i))
			continue
		}
		assign[i] = name
		targets[i] = s.byName[name]
		moved = true
	}
	if moved && !run.walkAll {
		run.queueSharers(ctx, seg.ID)
	}

	// An interrupted earlier repair may have written a moved shard already.
	for i, bi := range targets {
		if seg.Backends[i] == s.pb[bi].Name || len(seg.Roots[i]) != 32 {
			continue
		}
		if s.checkShardAt(ctx, bi, seg, i, [32]byte(seg.Roots[i])) == nil {
			out.seg.Backends[i] = s.pb[bi].Name
			out.rebuilt = append(out.rebuilt, RebuiltShard{Segment: seg.ID, Index: i, Issue: found[i].Issue,
				From: seg.Backends[i], To: s.pb[bi].Name, Adopted: true})
			delete(targets, i)
		}
	}

	size := codec.Params{K: seg.K, M: seg.M, BlockSize: seg.BlockSize}.ShardFileSize(seg.Size)
	done := map[int]bool{}
	record := func(i, bi int, root [32]byte) {
		done[i] = true
		out.seg.Backends[i] = s.pb[bi].Name
		out.seg.Roots[i] = append([]byte(nil), root[:]...)
		out.rebuilt = append(out.rebuilt, RebuiltShard{Segment: seg.ID, Index: i, Issue: found[i].Issue,
			From: seg.Backends[i], To: s.pb[bi].Name, Bytes: size})
	}

	// Fast path: Reed-Solomon alone, when every target's root is known to
	// check the result against.
	if fast := s.rebuildFast(ctx, seg, targets, skip, run.written); fast.tried {
		for i, bi := range targets {
			switch {
			case fast.ok[i]:
				record(i, bi, [32]byte(seg.Roots[i]))
				delete(targets, i)
			case fast.putErrs[i] != nil:
				// The backend refused the write: no point decoding for it.
				name := s.pb[bi].Name
				if errors.Is(fast.putErrs[i], backend.ErrUnavailable) || errors.Is(fast.putErrs[i], backend.ErrForbidden) {
					run.markDown(name)
				}
				errs = append(errs, fmt.Errorf("shard %d to %s: %w", i, name, fast.putErrs[i]))
				delete(targets, i)
			}
		}
		if j := fast.badSource; j >= 0 {
			skip[j] = true
			found[j] = &ShardIssue{Segment: seg.ID, Index: j, Backend: seg.Backends[j], Issue: IssueCorrupt, Err: "does not hash to the root the manifest records"}
			targets[j] = s.byName[seg.Backends[j]]
			out.healthy--
		}
	}

	// Rebuild from a decode; a source found corrupt on the way joins the
	// next round.
	for round := 0; len(targets) > 0 && round < 3; round++ {
		roots, rep, putErrs, err := s.rebuild(ctx, seg, targets, skip)
		for i, bi := range targets {
			name := s.pb[bi].Name
			perr := putErrs[i]
			if perr == nil && err == nil {
				if len(seg.Roots[i]) == 32 && [32]byte(seg.Roots[i]) != roots[i] {
					perr = fmt.Errorf("rebuilt shard %d hashes to another root than the manifest records", i)
				} else {
					perr = run.written(ctx, bi, seg, i, roots[i])
				}
			}
			if err != nil && perr == nil {
				perr = err
			}
			if perr != nil {
				if errors.Is(perr, backend.ErrUnavailable) || errors.Is(perr, backend.ErrForbidden) {
					run.markDown(name)
				}
				if err == nil {
					errs = append(errs, fmt.Errorf("shard %d to %s: %w", i, name, perr))
				}
				continue
			}
			record(i, bi, roots[i])
		}
		next := map[int]int{}
		for i, st := range rep.Shards {
			if st == codec.ShardCorrupt && !skip[i] {
				skip[i] = true
				found[i] = &ShardIssue{Segment: seg.ID, Index: i, Backend: seg.Backends[i], Issue: IssueCorrupt}
				if e := rep.Errs[i]; e != nil {
					found[i].Err = e.Error()
				}
				next[i] = s.byName[seg.Backends[i]]
				out.healthy--
			}
		}
		if err != nil && len(next) == 0 {
			errs = append(errs, err)
			if errors.Is(err, errSources) && (errors.Is(err, codec.ErrTooFewShards) || errors.Is(err, codec.ErrTampered)) {
				out.unreadable = unavailable == 0 && !errors.Is(err, backend.ErrUnavailable)
			}
			break
		}
		if err != nil {
			// Retry the whole set without the newly found bad sources.
			for i, bi := range targets {
				if !done[i] {
					next[i] = bi
				}
			}
		}
		targets = next
	}
	out.healthy += len(out.rebuilt)
	if len(errs) > 0 {
		out.err = fmt.Errorf("segment %s: %w", seg.ID, errors.Join(errs...))
	}
	return out
}

func cloneSegment(seg manifest.Segment) manifest.Segment {
	seg.Backends = slices.Clone(seg.Backends)
	roots := make([][]byte, len(seg.Roots))
	for i, r := range seg.Roots {
		roots[i] = bytes.Clone(r)
	}
	seg.Roots = roots
	return seg
}

// shardTarget picks the backend for shard i of seg when it cannot stay
// where it was: prefer when allowed, else the best ranked allowed backend,
// those in region first. A backend is allowed when ok says so, it holds
// no other shard of seg (assign) and its region stays within the survive
// policy's cap.
func (s *Store) shardTarget(seg manifest.Segment, i int, assign []string, ok func(string) bool, prefer, region string) (string, bool) {
	limit := seg.M
	if s.cfg.Survive == placement.SurviveBackends || limit == 0 {
		limit = seg.K + seg.M
	}
	per := map[string]int{}
	used := map[string]bool{}
	for j, name := range assign {
		if j == i || name == "" {
			continue
		}
		used[name] = true
		if bi, found := s.byName[name]; found {
			per[s.pb[bi].Region]++
		}
	}
	allowed := func(bi int) bool {
		b := s.pb[bi]
		return !used[b.Name] && per[b.Region] < limit && ok(b.Name)
	}
	if bi, found := s.byName[prefer]; found && allowed(bi) {
		return prefer, true
	}
	rank := placement.Rank(s.pb, []byte(seg.ID))
	if region != "" {
		for _, bi := range rank {
			if s.pb[bi].Region == region && allowed(bi) {
				return s.pb[bi].Name, true
			}
		}
	}
	for _, bi := range rank {
		if allowed(bi) {
			return s.pb[bi].Name, true
		}
	}
	return "", false
}

// rebuild decodes seg from the shards skip does not mark and re-encodes
// it, writing shard i to backend targets[i]. Encoding is deterministic, so
// the shards written are bit for bit the ones the original write made. It
// returns the roots of the shards written, the decoder's report on the
// sources, per-target write errors and the error that stopped it.
//
// An error wrapping errSources means the surviving shards could not be
// decoded; any other error, that writing failed.
func (s *Store) rebuild(ctx context.Context, seg manifest.Segment, targets map[int]int, skip []bool) (roots [][32]byte, rep codec.Report, putErrs []error, err error) {
	p := codec.Params{K: seg.K, M: seg.M, BlockSize: seg.BlockSize}
	n := p.N()
	putErrs = make([]error, n)
	dec, err := s.segmentDecoder(seg, skip, nil)
	if err != nil {
		return nil, rep, putErrs, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	var decErr error
	decoded := make(chan struct{})
	go func() {
		defer close(decoded)
		rep, decErr = dec.WriteRange(ctx, pw, 0, -1)
		pw.CloseWithError(decErr)
	}()
	size := p.ShardFileSize(seg.Size)
	writers := make([]io.Writer, n)
	pipes := make([]*handoffWriter, n)
	var wg sync.WaitGroup
	for i, bi := range targets {
		r, w := newHandoff()
		writers[i], pipes[i] = w, w
		wg.Go(func() {
			err := s.backends[bi].Put(ctx, shardName(seg.ID, i), r, size)
			putErrs[i] = err
			r.CloseWithError(cmp.Or(err, errShardFailed))
		})
	}
	res, encErr := codec.Encode(ctx, p, keys.Derive(seg.Key, "block"), vidAAD(seg.ID), vidBytes(seg.ID), pr, writers,
		&codec.EncodeOptions{MinShards: 1})
	pr.CloseWithError(cmp.Or(encErr, errAbandoned))
	for i, w := range pipes {
		if w == nil {
			continue
		}
		if encErr != nil || res.ShardErrs[i] != nil {
			w.CloseWithError(cmp.Or(encErr, res.ShardErrs[i]))
		} else {
			w.Close()
		}
	}
	wg.Wait()
	<-decoded
	for i := range putErrs {
		if putErrs[i] == nil && res.ShardErrs != nil && res.ShardErrs[i] != nil && targets != nil {
			if _, ok := targets[i]; ok {
				putErrs[i] = res.ShardErrs[i]
			}
		}
	}
	switch {
	case decErr != nil && !errors.Is(decErr, errAbandoned):
		return nil, rep, putErrs, fmt.Errorf("%w: %w", errSources, decErr)
	case encErr != nil:
		return nil, rep, putErrs, fmt.Errorf("re-encoding: %w", encErr)
	case res.Size != seg.Size:
		return nil, rep, putErrs, fmt.Errorf("decoded %d bytes, the manifest says %d", res.Size, seg.Size)
	}
	return res.Roots, rep, putErrs, nil
}

// noFastRebuild turns the Reed-Solomon-only path off (benchmarks compare).
var noFastRebuild = false

// fastRebuild is what rebuildFast did.
type fastRebuild struct {
	tried     bool
	ok        map[int]bool // targets written and confirmed (repairRun.written)
	putErrs   []error      // targets whose backend refused the write
	badSource int          // a source that does not hash to its root, or -1
}

// rebuildFast rebuilds the targets with Reed-Solomon alone (codec.Rebuild),
// from the first k shards skip does not mark, when the manifest records the
// root of every target and source: a target counts only if its root and
// those of all sources match the manifest and written confirms it. When a
// source does not match, the targets written from it are wrong; the
// caller rebuilds them again from a decode, which overwrites them.
func (s *Store) rebuildFast(ctx context.Context, seg manifest.Segment, targets map[int]int, skip []bool,
	written func(ctx context.Context, bi int, seg manifest.Segment, i int, root [32]byte) error) fastRebuild {
	res := fastRebuild{badSource: -1}
	if noFastRebuild {
		return res
	}
	p := codec.Params{K: seg.K, M: seg.M, BlockSize: seg.BlockSize}
	n := p.N()
	var sources, tlist []int
	for i := range n {
		if len(sources) < seg.K && !skip[i] && len(seg.Roots[i]) == 32 {
			sources = append(sources, i)
		}
	}
	for i := range targets {
		if len(seg.Roots[i]) != 32 {
			return res
		}
		tlist = append(tlist, i)
	}
	if len(sources) < seg.K || len(tlist) == 0 {
		return res
	}
	res.tried = true
	res.ok = map[int]bool{}
	res.putErrs = make([]error, n)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	size := p.ShardFileSize(seg.Size)
	writers := make([]io.Writer, n)
	pipes := make([]*handoffWriter, n)
	var wg sync.WaitGroup
	for i, bi := range targets {
		r, w := newHandoff()
		writers[i], pipes[i] = w, w
		wg.Go(func() {
			err := s.backends[bi].Put(ctx, shardName(seg.ID, i), r, size)
			res.putErrs[i] = err
			r.CloseWithError(cmp.Or(err, errShardFailed))
		})
	}
	roots, err := codec.Rebuild(ctx, p, seg.Size, vidBytes(seg.ID), s.shardOpener(seg, skip, nil), sources, tlist, writers)
	for _, w := range pipes {
		if w != nil {
			w.CloseWithError(err) // nil: a clean end
		}
	}
	wg.Wait()
	if err != nil {
		s.log.Debug("fast rebuild failed; decoding instead", "segment", seg.ID, "err", err)
		for i, perr := range res.putErrs {
			if perr != nil && !errors.Is(perr, errAbandoned) && !errors.Is(perr, context.Canceled) && (errors.Is(perr, backend.ErrUnavailable) || errors.Is(perr, backend.ErrForbidden)) {
				continue // the backend's own failure: keep it
			}
			res.putErrs[i] = nil
		}
		return res
	}
	for _, j := range sources {
		if roots[j] != [32]byte(seg.Roots[j]) {
			res.badSource = j
			return res
		}
	}
	for _, t := range tlist {
		if res.putErrs[t] == nil && roots[t] == [32]byte(seg.Roots[t]) &&
			written(ctx, targets[t], seg, t, roots[t]) == nil {
			res.ok[t] = true
		}
	}
	return res
}

// errSources marks a rebuild that could not decode the surviving shards.
var errSources = errors.New("decoding the surviving shards")

// written confirms that shard i of seg, which this run just wrote to
// backend bi and whose bytes hashed to root as they were written, is
// stored: with readBack by reading it back whole (checkShardAt), otherwise
// by a Stat that finds it with the right length.
func (run *repairRun) written(ctx context.Context, bi int, seg manifest.Segment, i int, root [32]byte) error {
	if run.readBack {
		return run.s.checkShardAt(ctx, bi, seg, i, root)
	}
	want := codec.Params{K: seg.K, M: seg.M, BlockSize: seg.BlockSize}.ShardFileSize(seg.Size)
	in, err := run.s.backends[bi].Stat(ctx, shardName(seg.ID, i))
	if err != nil {
		return err
	}
	if in.Size != want {
		return fmt.Errorf("shard %d written, but the backend holds %d bytes of it, want %d", i, in.Size, want)
	}
	return nil
}

// checkShardAt reads shard i of seg back from backend bi and checks it
// whole: header, every block checksum, length and root.
func (s *Store) checkShardAt(ctx context.Context, bi int, seg manifest.Segment, i int, root [32]byte) error {
	p := codec.Params{K: seg.K, M: seg.M, BlockSize: seg.BlockSize}
	rc, err := s.backends[bi].Get(ctx, shardName(seg.ID, i), 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	return codec.CheckShard(rc, p, seg.Size, i, vidBytes(seg.ID), root)
}

// queueSharers queues every version, other than those already handled,
// whose manifest references segment id: when its shards move, all of them
// need a revised manifest.
func (run *repairRun) queueSharers(ctx context.Context, id string) {
	s := run.s
	run.refsOnce.Do(func() {
		run.refs = map[string][]index.Version{}
		bs, err := s.idx.Buckets(ctx)
		if err != nil {
			run.refsErr = err
			return
		}
		for _, b := range bs {
			err := s.eachVersion(ctx, b.Name, "", true, func(v index.Version) error {
				m, err := manifest.Decode(v.Manifest, s.pub)
				if err != nil {
					return nil
				}
				for _, seg := range m.Segments {
					run.refs[seg.ID] = append(run.refs[seg.ID], index.Version{Bucket: v.Bucket, Key: v.Key, ID: v.ID})
				}
				return nil
			})
			if err != nil {
				run.refsErr = err
				return
			}
		}
	})
	if run.refsErr != nil {
		s.log.Warn("versions sharing a moved segment not queued; the next scan finds them", "segment", id, "err", run.refsErr)
		return
	}
	vs := run.refs[id]
	if len(vs) < 2 {
		return
	}
	for _, v := range vs {
		if err := s.queue(ctx, v.Bucket, v.Key, v.ID, "moved", nil, nil); err != nil {
			s.log.Warn("version sharing a moved segment not queued", "version", v.ID, "err", err)
		}
	}
}

// queueData is what the store keeps in a repair queue entry.
type queueData struct {
	Shards []ShardIssue `json:"s,omitempty"`
	Pieces []ShardIssue `json:"p,omitempty"`
}

// queue puts a version on the repair queue with what was seen wrong.
func (s *Store) queue(ctx context.Context, bucket, key, id, reason string, shards, pieces []ShardIssue) error {
	data, _ := json.Marshal(queueData{Shards: shards, Pieces: pieces})
	return s.idx.QueueRepair(ctx, index.Repair{Bucket: bucket, Key: key, VersionID: id, Reason: reason, Queued: s.now(), Data: data})
}

// maintState is the store's in-memory memory of what reads queued lately,
// so that a backend being down does not turn every read into an index
// write.
type maintState struct {
	mu     sync.Mutex
	recent map[string]time.Time
}

// requeueAfter is how long a version queued by a read is not queued again
// by reads.
const requeueAfter = time.Minute

// queueRepair queues a version that a read found degraded. Called by Read;
// failures are logged, never returned to the reader.
func (s *Store) queueRepair(ctx context.Context, m *manifest.Manifest, rep ReadReport) {
	if !rep.Degraded || m == nil {
		return
	}
	now := s.now()
	s.maint.mu.Lock()
	if s.maint.recent == nil {
		s.maint.recent = map[string]time.Time{}
	}
	if t, ok := s.maint.recent[m.ID]; ok && now.Sub(t) < requeueAfter {
		s.maint.mu.Unlock()
		return
	}
	if len(s.maint.recent) > 10000 {
		for id, t := range s.maint.recent {
			if now.Sub(t) >= requeueAfter {
				delete(s.maint.recent, id)
			}
		}
	}
	s.maint.recent[m.ID] = now
	s.maint.mu.Unlock()
	var issues []ShardIssue
	for _, p := range rep.Problems {
		is := ShardIssue{Segment: p.Segment, Index: p.Index, Backend: p.Backend, Issue: IssueUnavailable}
		switch {
		case p.State == codec.ShardCorrupt:
			is.Issue = IssueCorrupt
		case p.Backend == "":
			is.Issue = IssueNotWritten
		case errors.Is(p.Err, backend.ErrNotFound):
			is.Issue = IssueMissing
		}
		if p.Err != nil {
			is.Err = p.Err.Error()
		}
		issues = append(issues, is)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.queue(ctx, m.Bucket, m.Key, m.ID, "read", issues, nil); err != nil {
		s.log.Warn("degraded read not queued for repair", "bucket", m.Bucket, "key", m.Key, "version", m.ID, "err", err)
	}
}

// queueUnderProtected queues a version written with fewer than k+m shards,
// so that the missing ones are added when their backends answer again.
// Called by commit.
func (s *Store) queueUnderProtected(ctx context.Context, info *ObjectInfo) {
	if info == nil || info.Protected || info.Manifest == nil || info.DeleteMarker {
		return
	}
	m := info.Manifest
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.queue(ctx, m.Bucket, m.Key, m.ID, "write", nil, nil); err != nil {
		s.log.Warn("under-protected write not queued for repair", "bucket", m.Bucket, "key", m.Key, "version", m.ID, "err", err)
	}
}

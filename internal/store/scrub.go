package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/codec"
	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/keys"
	"github.com/rhizome-data/rhizome/internal/manifest"
)

// What scrub and repair find wrong with one shard or manifest piece.
const (
	// IssueMissing: the backend answers but the blob is not there.
	IssueMissing = "missing"
	// IssueCorrupt: the blob is there but wrong: size, header, checksum,
	// root or authenticated content.
	IssueCorrupt = "corrupt"
	// IssueUnavailable: the backend did not answer. Nothing is known to be
	// damaged; the shard does not count as healthy until it answers again.
	IssueUnavailable = "unavailable"
	// IssueNotWritten: the write that made the version could not store
	// this shard (an under-protected write).
	IssueNotWritten = "not written"
	// IssueGone: the shard's backend is no longer configured.
	IssueGone = "backend gone"
)

// ShardIssue is one shard (or manifest piece, with Segment empty) that is
// not healthy.
type ShardIssue struct {
	Segment string `json:"segment,omitempty"`
	Index   int    `json:"shard"`
	Backend string `json:"backend"`
	Issue   string `json:"issue"`
	Err     string `json:"error,omitempty"`
}

func (i ShardIssue) String() string {
	what := "shard"
	if i.Segment == "" {
		what = "manifest piece"
	}
	s := fmt.Sprintf("%s %d on %s: %s", what, i.Index, orNone(i.Backend), i.Issue)
	if i.Err != "" && i.Issue != IssueMissing && i.Issue != IssueNotWritten && i.Issue != IssueGone {
		s += " (" + i.Err + ")"
	}
	return s
}

// repairable reports whether repair can do something about the issue now
// or later (unavailable shards are expected back by themselves).
func (i ShardIssue) repairable() bool { return i.Issue != IssueUnavailable }

// ScrubResult is what a scrub found for one version, or for one record or
// upload part (see Kind).
type ScrubResult struct {
	// Kind is empty for a version. For a part of a multipart upload in
	// progress it is KindPart: VersionID is the upload ID and Part its
	// number. For a record (a signed manifest that is no version: "bucket",
	// "checkpoint" or "review") it is the manifest's kind, VersionID its ID
	// and, for a checkpoint, Key the checkpoint's name; records have no
	// shards, only manifest pieces.
	Kind      string `json:"kind,omitempty"`
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	VersionID string `json:"version_id"`
	Part      int    `json:"part,omitempty"`
	Size      int64  `json:"size"`
	// Health is Healthy, Damaged (readable; repair can restore it) or
	// Unreadable.
	Health string `json:"health"`
	// Healthy is the fewest healthy shards of any of its segments (k+m when
	// fully protected, k when at risk); for a delete marker, k+m.
	Healthy int          `json:"healthy_shards"`
	Shards  []ShardIssue `json:"shards,omitempty"`
	Pieces  []ShardIssue `json:"manifest_pieces,omitempty"`
	Err     string       `json:"error,omitempty"`
	// BackendsDown, for an unreadable version: it would be readable if the
	// backends that did not answer did (an outage, not a loss).
	BackendsDown bool `json:"backends_down,omitempty"`
	// Queued is true when the version was put on the repair queue.
	Queued bool `json:"queued,omitempty"`
}

func (r ScrubResult) String() string {
	s := fmt.Sprintf("%s %s", r.Health, describe(r.Kind, r.Bucket, r.Key, r.VersionID, r.Part))
	for _, p := range r.Shards {
		s += "; " + p.String()
	}
	for _, p := range r.Pieces {
		s += "; " + p.String()
	}
	if r.Err != "" {
		s += "; " + r.Err
	}
	return s
}

// ScrubOptions select what Scrub checks. The zero value checks every
// shard of every version in full.
type ScrubOptions struct {
	Bucket, Prefix string
	// Quick checks only presence and size (one Stat per shard and piece)
	// and reads no data.
	Quick bool
	// Rate caps the shard and piece bytes read per second; 0 is no cap.
	Rate int64
	// Parallel is how many versions are checked at once (default 4).
	Parallel int
	// NoQueue reports damage without queueing it for repair.
	NoQueue bool
	// Progress, when set, is called as versions complete; totals are
	// counted from the index before the scrub starts.
	Progress func(ScrubProgress)
}

// ScrubProgress tells how far a scrub is.
type ScrubProgress struct {
	Versions, VersionsTotal int64
	// Bytes of shards checked (their stored size) and the total to check.
	Bytes, BytesTotal int64
}

// ScrubStats summarizes a scrub.
type ScrubStats struct {
	Mode       string    `json:"mode"` // "full" or "quick"
	Bucket     string    `json:"bucket,omitempty"`
	Prefix     string    `json:"prefix,omitempty"`
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
	Checked    int64     `json:"checked"` // versions, delete markers included
	Healthy    int64     `json:"healthy"`
	Repairable int64     `json:"repairable"`
	Unreadable int64     `json:"unreadable"`
	// UnreadableDown counts the unreadable versions that only lack shards
	// on backends that did not answer.
	UnreadableDown int64 `json:"unreadable_backends_down"`
	AtRisk         int64 `json:"at_risk"`  // exactly k healthy shards
	Segments       int64 `json:"segments"` // distinct segments checked
	Shards         int64 `json:"shards"`   // shards checked
	BytesRead      int64 `json:"bytes_read"`
	Queued         int64 `json:"queued"` // versions put on the repair queue
	// Parts of multipart uploads in progress checked, found damaged and
	// found unreadable. They are not queued: repair's scan finds them.
	Parts           int64 `json:"parts"`
	PartsDamaged    int64 `json:"parts_damaged"`
	PartsUnreadable int64 `json:"parts_unreadable"`
	// Records (bucket, checkpoint and review manifests) checked and found
	// damaged, on a scrub of the whole store; RecordsUnopened counts IDs
	// whose manifest pieces did not open (too few readable, or a version
	// the index does not know: see `rhizome index rebuild`).
	Records         int64 `json:"records"`
	RecordsDamaged  int64 `json:"records_damaged"`
	RecordsUnopened int64 `json:"records_unopened"`
}

// describe names a version, record or upload part in messages.
func describe(kind, bucket, key, id string, part int) string {
	switch kind {
	case "":
		return fmt.Sprintf("%s/%s (version %s)", bucket, key, id)
	case KindPart:
		return fmt.Sprintf("part %d of upload %s to %s/%s", part, id, bucket, key)
	case manifest.KindBucket:
		return fmt.Sprintf("bucket manifest of %s (%s)", bucket, id)
	case manifest.KindCheckpoint:
		return fmt.Sprintf("checkpoint manifest %s of %s (%s)", key, bucket, id)
	default:
		return fmt.Sprintf("%s manifest of %s/%s (%s)", kind, bucket, key, id)
	}
}

// scrubStateName is where the summary of the last whole-store scrub is kept.
const scrubStateName = "scrub/last"

// Scrub checks every shard and manifest piece of every version (all
// versions, delete markers' pieces included; a segment that copies share
// is checked once), the shards of every part of the multipart uploads in
// progress and, on a scrub of the whole store, the manifest pieces of
// every record (bucket, checkpoint and review manifests, which it finds
// by listing the backends), and calls fn with each result; fn's error
// stops it. Versions found damaged are queued for repair, and each
// version's healthy shard count is recorded in the index, so Status
// reflects what the scrub saw.
//
// A full scrub reads the data through the codec's Verify: shard headers,
// every block checksum, shard roots, block authentication and parity
// consistency. A quick scrub only stats. Reads count against o.Rate.
func (s *Store) Scrub(ctx context.Context, o ScrubOptions, fn func(ScrubResult) error) (ScrubStats, error) {
	st := ScrubStats{Mode: "full", Bucket: o.Bucket, Prefix: o.Prefix, Started: s.now().UTC()}
	if o.Quick {
		st.Mode = "quick"
	}
	buckets, err := s.bucketNames(ctx, o.Bucket)
	if err != nil {
		return st, err
	}
	// Count first: totals for the progress bar, and which segments more
	// than one version shares (those results are kept for reuse).
	refs := map[string]int32{}
	var prog ScrubProgress
	whole := o.Bucket == "" && o.Prefix == ""
	var known map[[16]byte]struct{} // every version ID, to tell records from versions
	if whole {
		known = map[[16]byte]struct{}{}
	}
	for _, b := range buckets {
		err := s.eachVersion(ctx, b, o.Prefix, true, func(v index.Version) error {
			prog.VersionsTotal++
			if id, ok := idBytes(v.ID); ok && whole {
				known[id] = struct{}{}
			}
			m, err := manifest.Decode(v.Manifest, s.pub)
			if err != nil {
				return nil
			}
			for _, seg := range m.Segments {
				refs[seg.ID]++
				if refs[seg.ID] == 1 {
					p := codec.Params{K: seg.K, M: seg.M, BlockSize: seg.BlockSize}
					prog.BytesTotal += int64(seg.Written()) * p.ShardFileSize(seg.Size)
				}
			}
			return nil
		})
		if err != nil {
			return st, err
		}
		err = s.eachPart(ctx, b, o.Prefix, func(p partRef) error {
			prog.VersionsTotal++
			cp := codec.Params{K: p.seg.K, M: p.seg.M, BlockSize: p.seg.BlockSize}
			prog.BytesTotal += int64(p.seg.Written()) * cp.ShardFileSize(p.seg.Size)
			return nil
		})
		if err != nil {
			return st, err
		}
	}
	shared := map[string]*segCheck{}
	for id, n := range refs {
		if n > 1 {
			shared[id] = nil
		}
	}
	refs = nil
	sc := &scrubber{s: s, quick: o.Quick, pace: newPacer(o.Rate), shared: shared}

	par := o.Parallel
	if par <= 0 {
		par = 4
	}
	type job struct {
		v   index.Version
		p   *partRef
		res ScrubResult
	}
	jobs := make(chan *job)
	done := make(chan *job)
	var wg sync.WaitGroup
	for range par {
		wg.Go(func() {
			for j := range jobs {
				if j.p != nil {
					j.res = sc.part(ctx, *j.p)
				} else {
					j.res = sc.version(ctx, j.v)
				}
				done <- j
			}
		})
	}
	var fnErr error         // the collector's; read by others after collected
	var stopped atomic.Bool // fnErr is set: the walk stops
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for j := range done {
			r := j.res
			if ctx.Err() != nil {
				continue
			}
			if r.Kind == KindPart {
				st.Parts++
				switch r.Health {
				case Damaged:
					st.PartsDamaged++
				case Unreadable:
					st.PartsUnreadable++
				}
				if fnErr == nil && fn != nil {
					fnErr = fn(r)
					stopped.Store(fnErr != nil)
				}
				if o.Progress != nil {
					prog.Versions++
					prog.Bytes = sc.bytesChecked()
					o.Progress(prog)
				}
				continue
			}
			st.Checked++
			switch r.Health {
			case Healthy:
				st.Healthy++
			case Damaged:
				st.Repairable++
			default:
				st.Unreadable++
				if r.BackendsDown {
					st.UnreadableDown++
				}
			}
			if r.Health != Unreadable && !j.v.DeleteMarker && r.Healthy == s.cfg.K && s.cfg.M > 0 {
				st.AtRisk++
			}
			s.recordHealth(ctx, j.v, r)
			if !o.NoQueue && needsRepair(r) {
				if err := s.queue(ctx, j.v.Bucket, j.v.Key, j.v.ID, "scrub", r.Shards, r.Pieces); err != nil {
					s.log.Warn("repair not queued", "bucket", r.Bucket, "key", r.Key, "version", r.VersionID, "err", err)
				} else {
					r.Queued = true
					st.Queued++
				}
			}
			if fnErr == nil && fn != nil {
				fnErr = fn(r)
				stopped.Store(fnErr != nil)
			}
			if o.Progress != nil {
				prog.Versions++
				prog.Bytes = sc.bytesChecked()
				o.Progress(prog)
			}
		}
	}()
	var walkErr error
feed:
	for _, b := range buckets {
		walkErr = s.eachVersion(ctx, b, o.Prefix, true, func(v index.Version) error {
			if stopped.Load() {
				return errStopScrub
			}
			select {
			case jobs <- &job{v: v}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if walkErr != nil {
			break feed
		}
		walkErr = s.eachPart(ctx, b, o.Prefix, func(p partRef) error {
			if stopped.Load() {
				return errStopScrub
			}
			select {
			case jobs <- &job{p: &p}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if walkErr != nil {
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	close(done)
	<-collected
	st.Finished = s.now().UTC()
	st.Segments, st.Shards, st.BytesRead = sc.totals()
	if errors.Is(walkErr, errStopScrub) {
		walkErr = nil
	}
	if err := cmpErr(ctx.Err(), walkErr, fnErr); err != nil {
		return st, classify("scrub", err)
	}
	if whole {
		if err := s.scrubRecords(ctx, known, &st, sc.pace, fn); err != nil {
			return st, classify("scrub", err)
		}
		st.Finished = s.now().UTC()
		st.BytesRead = sc.pace.total()
	}
	if o.Bucket == "" && o.Prefix == "" {
		if b, err := json.Marshal(st); err == nil {
			if err := s.idx.PutState(ctx, scrubStateName, b); err != nil {
				s.log.Warn("scrub summary not recorded", "err", err)
			}
		}
	}
	s.log.Info("scrub done", "mode", st.Mode, "checked", st.Checked, "healthy", st.Healthy,
		"repairable", st.Repairable, "unreadable", st.Unreadable, "bytes_read", st.BytesRead)
	return st, nil
}

var errStopScrub = errors.New("store: scrub stopped")

// scrubRecords checks the manifest pieces of every record and reports
// each to fn.
func (s *Store) scrubRecords(ctx context.Context, known map[[16]byte]struct{}, st *ScrubStats, pace *pacer, fn func(ScrubResult) error) error {
	recs, unopened, err := s.records(ctx, known, pace)
	if err != nil {
		return err
	}
	st.RecordsUnopened = int64(unopened)
	for _, rec := range recs {
		r := rec.result()
		st.Records++
		if r.Health != Healthy {
			st.RecordsDamaged++
		}
		if fn != nil {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// cmpErr returns the first non-nil error.
func cmpErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// LastScrub returns the summary of the last scrub of the whole store, or
// nil when none has finished.
func (s *Store) LastScrub(ctx context.Context) (*ScrubStats, error) {
	b, err := s.idx.State(ctx, scrubStateName)
	if errors.Is(err, index.ErrNoSuchState) {
		return nil, nil
	}
	if err != nil {
		return nil, classify("last scrub", err)
	}
	var st ScrubStats
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, &Error{Kind: ErrCorrupt, Op: "last scrub", Err: err}
	}
	return &st, nil
}

func (s *Store) bucketNames(ctx context.Context, only string) ([]string, error) {
	if only != "" {
		if _, err := s.idx.Bucket(ctx, only); err != nil {
			return nil, classify("scrub "+only, err)
		}
		return []string{only}, nil
	}
	bs, err := s.idx.Buckets(ctx)
	if err != nil {
		return nil, classify("list buckets", err)
	}
	names := make([]string, len(bs))
	for i, b := range bs {
		names[i] = b.Name
	}
	return names, nil
}

// needsRepair reports whether a scrub result is worth queueing: something
// repair can fix (not only backends that did not answer).
func needsRepair(r ScrubResult) bool {
	for _, p := range r.Shards {
		if p.repairable() {
			return true
		}
	}
	for _, p := range r.Pieces {
		if p.repairable() {
			return true
		}
	}
	return false
}

// recordHealth stores the healthy shard count a scrub found in the index
// (Version.Shards), which Status counts.
func (s *Store) recordHealth(ctx context.Context, v index.Version, r ScrubResult) {
	if v.DeleteMarker || v.Shards == r.Healthy {
		return
	}
	err := s.idx.UpdateVersion(ctx, v.Bucket, v.Key, v.ID, func(c *index.Version) error {
		if !bytes.Equal(c.Manifest, v.Manifest) {
			return errStale // revised meanwhile: its own repair sets the count
		}
		c.Shards = r.Healthy
		return nil
	})
	if err != nil && !errors.Is(err, errStale) && !errors.Is(err, index.ErrNoSuchVersion) {
		s.log.Warn("health not recorded", "bucket", v.Bucket, "key", v.Key, "version", v.ID, "err", err)
	}
}

var errStale = errors.New("store: version changed meanwhile")

// scrubber holds one scrub's shared state.
type scrubber struct {
	s     *Store
	quick bool
	pace  *pacer

	mu       sync.Mutex
	shared   map[string]*segCheck // segments several versions use: result once known
	inflight map[string]chan struct{}
	segments int64
	shards   int64
	bytes    int64 // shard bytes covered (stored size)
}

func (sc *scrubber) totals() (segments, shards, read int64) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.segments, sc.shards, sc.pace.total()
}

func (sc *scrubber) bytesChecked() int64 {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.bytes
}

// segCheck is what checking one segment found.
type segCheck struct {
	issues     []ShardIssue
	healthy    int
	unreadable error
	// waiting: enough shards would be healthy if the backends that did
	// not answer did.
	waiting bool
}

// version checks one version.
func (sc *scrubber) version(ctx context.Context, v index.Version) ScrubResult {
	s := sc.s
	r := ScrubResult{Bucket: v.Bucket, Key: v.Key, VersionID: v.ID, Size: v.Size, Health: Healthy, Healthy: s.cfg.K + s.cfg.M}
	m, err := manifest.Decode(v.Manifest, s.pub)
	if err != nil {
		r.Health, r.Healthy, r.Err = Unreadable, 0, err.Error()
		return r
	}
	for i, seg := range m.Segments {
		c := sc.segment(ctx, seg)
		r.Shards = append(r.Shards, c.issues...)
		if i == 0 || c.healthy < r.Healthy {
			r.Healthy = c.healthy
		}
		if c.unreadable != nil && r.Err == "" {
			r.Err = c.unreadable.Error()
			r.BackendsDown = c.waiting
		} else if c.unreadable != nil && !c.waiting {
			r.BackendsDown = false
		}
	}
	r.Pieces = s.checkPieceSet(ctx, m, v.Manifest, sc.quick, sc.pace)
	if m.Inlined() {
		// Inlined: the pieces are its copies (the index's copy lets
		// repair rewrite them however few are left).
		_, names := piecePlacement(m)
		r.Healthy = max(len(names)-len(r.Pieces), 0)
	}
	switch {
	case r.Err != "":
		r.Health = Unreadable
	case len(r.Shards) > 0 || len(r.Pieces) > 0:
		r.Health = Damaged
	}
	if ctx.Err() != nil && r.Health != Healthy {
		r.Err = ctx.Err().Error()
	}
	return r
}

// segment checks a segment, or returns the result for a shared one that
// another version already checked in this scrub.
func (sc *scrubber) segment(ctx context.Context, seg manifest.Segment) segCheck {
	sc.mu.Lock()
	if c, ok := sc.shared[seg.ID]; ok {
		if c != nil {
			sc.mu.Unlock()
			return *c
		}
		if ch, busy := sc.inflight[seg.ID]; busy {
			sc.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return segCheck{unreadable: ctx.Err()}
			}
			return sc.segment(ctx, seg)
		}
		if sc.inflight == nil {
			sc.inflight = map[string]chan struct{}{}
		}
		ch := make(chan struct{})
		sc.inflight[seg.ID] = ch
		sc.mu.Unlock()
		c := sc.check(ctx, seg)
		sc.mu.Lock()
		sc.shared[seg.ID] = &c
		delete(sc.inflight, seg.ID)
		close(ch)
		sc.mu.Unlock()
		return c
	}
	sc.mu.Unlock()
	return sc.check(ctx, seg)
}

func (sc *scrubber) check(ctx context.Context, seg manifest.Segment) segCheck {
	c := sc.s.checkSegment(ctx, seg, sc.quick, sc.pace)
	p := codec.Params{K: seg.K, M: seg.M, BlockSize: seg.BlockSize}
	sc.mu.Lock()
	sc.segments++
	sc.shards += int64(seg.K + seg.M)
	sc.bytes += int64(seg.Written()) * p.ShardFileSize(seg.Size)
	sc.mu.Unlock()
	return c
}

// statShards stats every shard of seg at once and classifies it. Shards
// whose issue is known come back with it; the others are present with the
// right size.
func (s *Store) statShards(ctx context.Context, seg manifest.Segment) []*ShardIssue {
	n := seg.K + seg.M
	p := codec.Params{K: seg.K, M: seg.M, BlockSize: seg.BlockSize}
	want := p.ShardFileSize(seg.Size)
	out := make([]*ShardIssue, n)
	var wg sync.WaitGroup
	for i := range n {
		name := seg.Backends[i]
		issue := &ShardIssue{Segment: seg.ID, Index: i, Backend: name}
		j, ok := s.byName[name]
		switch {
		case name == "":
			issue.Issue = IssueNotWritten
			out[i] = issue
			continue
		case !ok:
			issue.Issue = IssueGone
			out[i] = issue
			continue
		}
		wg.Go(func() {
			in, err := s.backends[j].Stat(ctx, shardName(seg.ID, i))
			switch {
			case errors.Is(err, backend.ErrNotFound):
				issue.Issue, issue.Err = IssueMissing, err.Error()
			case err != nil:
				issue.Issue, issue.Err = IssueUnavailable, err.Error()
			case in.Size != want:
				issue.Issue, issue.Err = IssueCorrupt, fmt.Sprintf("%d bytes, want %d", in.Size, want)
			default:
				return
			}
			out[i] = issue
		})
	}
	wg.Wait()
	return out
}

// checkSegment checks one segment's shards: presence and size, and in
// full mode everything Decoder.Verify checks.
func (s *Store) checkSegment(ctx context.Context, seg manifest.Segment, quick bool, pace *pacer) segCheck {
	n := seg.K + seg.M
	found := s.statShards(ctx, seg)
	if !quick {
		skip := make([]bool, n)
		for i, f := range found {
			skip[i] = f != nil
		}
		dec, err := s.segmentDecoder(seg, skip, pace)
		if err != nil {
			return segCheck{unreadable: err, issues: issuesOf(found)}
		}
		roots := make([][32]byte, n)
		for i, r := range seg.Roots {
			copy(roots[i][:], r)
		}
		rep, verr := dec.Verify(ctx, vidBytes(seg.ID), roots)
		for i, st := range rep.Shards {
			if found[i] != nil || (st != codec.ShardCorrupt && st != codec.ShardUnavailable) {
				continue
			}
			issue := &ShardIssue{Segment: seg.ID, Index: i, Backend: seg.Backends[i], Issue: IssueUnavailable}
			if st == codec.ShardCorrupt {
				issue.Issue = IssueCorrupt
			}
			if e := rep.Errs[i]; e != nil {
				issue.Err = e.Error()
				if errors.Is(e, backend.ErrNotFound) {
					issue.Issue = IssueMissing
				}
			}
			found[i] = issue
		}
		c := segCheck{issues: issuesOf(found), healthy: n - len(issuesOf(found))}
		c.waiting = c.healthy+countIssue(c.issues, IssueUnavailable) >= seg.K
		if verr != nil {
			c.unreadable = verr
			if errors.Is(verr, codec.ErrTooFewShards) {
				c.unreadable = fmt.Errorf("too few healthy shards (%d of %d, need %d; %d on backends that did not answer)",
					c.healthy, n, seg.K, countIssue(c.issues, IssueUnavailable))
			}
		}
		return c
	}
	c := segCheck{issues: issuesOf(found)}
	c.healthy = n - len(c.issues)
	c.waiting = c.healthy+countIssue(c.issues, IssueUnavailable) >= seg.K
	if c.healthy < seg.K {
		c.unreadable = fmt.Errorf("too few shards present (%d of %d, need %d; %d on backends that did not answer)",
			c.healthy, n, seg.K, countIssue(c.issues, IssueUnavailable))
	}
	return c
}

func countIssue(is []ShardIssue, issue string) int {
	n := 0
	for _, i := range is {
		if i.Issue == issue {
			n++
		}
	}
	return n
}

func issuesOf(found []*ShardIssue) []ShardIssue {
	var out []ShardIssue
	for _, f := range found {
		if f != nil {
			out = append(out, *f)
		}
	}
	return out
}

// segmentDecoder is a decoder over seg that never opens the shards skip
// marks and paces what it reads.
func (s *Store) segmentDecoder(seg manifest.Segment, skip []bool, pace *pacer) (*codec.Decoder, error) {
	p := codec.Params{K: seg.K, M: seg.M, BlockSize: seg.BlockSize}
	return codec.NewDecoder(p, keys.Derive(seg.Key, "block"), vidAAD(seg.ID), seg.Size, s.shardOpener(seg, skip, pace))
}

// shardOpener opens seg's shards on their backends, refusing those skip
// marks and pacing reads.
func (s *Store) shardOpener(seg manifest.Segment, skip []bool, pace *pacer) codec.Opener {
	return func(ctx context.Context, shard int, off, length int64) (io.ReadCloser, error) {
		if skip != nil && skip[shard] {
			return nil, fmt.Errorf("shard %d: %w (known bad or unavailable)", shard, errSkipped)
		}
		name := seg.Backends[shard]
		j, ok := s.byName[name]
		if !ok {
			return nil, fmt.Errorf("shard %d: backend %q: %w", shard, name, backend.ErrNotFound)
		}
		rc, err := s.backends[j].Get(ctx, shardName(seg.ID, shard), off, length)
		if err != nil || pace == nil {
			return rc, err
		}
		return pace.reader(ctx, rc), nil
	}
}

var errSkipped = errors.New("not read")

// piecePlacement returns the live part of a manifest's placement: the
// indexes and backends of the pieces of its current revision. A revised
// manifest leaves the first half of Placement empty (see docs/design.md,
// "Manifest revisions").
func piecePlacement(m *manifest.Manifest) (first int, names []string) {
	for first < len(m.Placement) && m.Placement[first] == "" {
		first++
	}
	return first, m.Placement[first:]
}

// readPieces reads the pieces of m's current revision. raw is indexed by
// piece index; issues lists pieces that are missing or unavailable.
func (s *Store) readPieces(ctx context.Context, m *manifest.Manifest, pace *pacer) (raw [][]byte, issues []*ShardIssue) {
	raw = make([][]byte, len(m.Placement))
	issues = make([]*ShardIssue, len(m.Placement))
	first, names := piecePlacement(m)
	var wg sync.WaitGroup
	for j, name := range names {
		i := first + j
		j, ok := s.byName[name]
		if !ok {
			issues[i] = &ShardIssue{Index: i, Backend: name, Issue: IssueGone}
			continue
		}
		wg.Go(func() {
			b, err := readAll(ctx, s.backends[j], pieceName(m.ID, i))
			switch {
			case errors.Is(err, backend.ErrNotFound):
				issues[i] = &ShardIssue{Index: i, Backend: name, Issue: IssueMissing}
			case err != nil:
				issues[i] = &ShardIssue{Index: i, Backend: name, Issue: IssueUnavailable, Err: err.Error()}
			default:
				raw[i] = b
				if pace != nil {
					pace.wait(ctx, len(b))
				}
			}
		})
	}
	wg.Wait()
	return raw, issues
}

// checkPieceSet checks the manifest pieces of m, whose envelope in the
// index is env: in quick mode that each is present, in full mode that
// they open to that very envelope and each fits it.
func (s *Store) checkPieceSet(ctx context.Context, m *manifest.Manifest, env []byte, quick bool, pace *pacer) []ShardIssue {
	first, names := piecePlacement(m)
	issues := make([]*ShardIssue, len(m.Placement))
	if quick {
		var wg sync.WaitGroup
		for j, name := range names {
			i := first + j
			bi, ok := s.byName[name]
			if !ok {
				issues[i] = &ShardIssue{Index: i, Backend: name, Issue: IssueGone}
				continue
			}
			wg.Go(func() {
				_, err := s.backends[bi].Stat(ctx, pieceName(m.ID, i))
				switch {
				case errors.Is(err, backend.ErrNotFound):
					issues[i] = &ShardIssue{Index: i, Backend: name, Issue: IssueMissing}
				case err != nil:
					issues[i] = &ShardIssue{Index: i, Backend: name, Issue: IssueUnavailable, Err: err.Error()}
				}
			})
		}
		wg.Wait()
		return issuesOf(issues)
	}
	raw, issues := s.readPieces(ctx, m, pace)
	for _, i := range s.badPieces(raw, env) {
		if issues[i] == nil {
			issues[i] = &ShardIssue{Index: i, Backend: m.Placement[i], Issue: IssueCorrupt, Err: "does not open to the indexed manifest"}
		}
	}
	return issuesOf(issues)
}

// badPieces returns the indexes of pieces in raw that are present but do
// not belong to the manifest revision env: malformed, tampered, or of
// another revision. When k or more are present but no k of them open to
// env, every present piece is bad; with fewer than k nothing can be told.
func (s *Store) badPieces(raw [][]byte, env []byte) []int {
	var present []int
	k := 0
	for i, b := range raw {
		if b != nil {
			present = append(present, i)
			if h, err := manifest.ParsePiece(b); err == nil {
				k = h.K
			}
		}
	}
	if len(present) == 0 {
		return nil
	}
	res, err := manifest.Open(raw, s.master, s.pub)
	if err != nil || !bytes.Equal(res.Envelope, env) {
		if k > 0 && len(present) < k {
			return nil
		}
		return present
	}
	bad := append([]int(nil), res.Bad...)
	for _, i := range present {
		// A piece stored under another index (a copy of a sibling).
		if h, err := manifest.ParsePiece(raw[i]); err != nil || h.Index != i {
			bad = append(bad, i)
		}
	}
	sort.Ints(bad)
	return dedupe(bad)
}

// pacer spreads reads over time so that they average at most rate bytes
// per second. A nil pacer does not wait; it also counts bytes read.
type pacer struct {
	rate int64
	mu   sync.Mutex
	next time.Time
	read int64
}

func newPacer(rate int64) *pacer { return &pacer{rate: rate} }

func (p *pacer) total() int64 {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.read
}

// wait accounts for n bytes read and sleeps until the rate allows them.
func (p *pacer) wait(ctx context.Context, n int) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	p.read += int64(n)
	if p.rate <= 0 {
		p.mu.Unlock()
		return nil
	}
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	d := p.next.Sub(now)
	p.next = p.next.Add(time.Duration(float64(n) / float64(p.rate) * float64(time.Second)))
	p.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pacer) reader(ctx context.Context, rc io.ReadCloser) io.ReadCloser {
	return &pacedReader{ctx: ctx, rc: rc, p: p}
}

type pacedReader struct {
	ctx context.Context
	rc  io.ReadCloser
	p   *pacer
}

func (r *pacedReader) Read(b []byte) (int, error) {
	n, err := r.rc.Read(b)
	if n > 0 {
		if werr := r.p.wait(r.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

func (r *pacedReader) Close() error { return r.rc.Close() }

// ScrubLoop runs until ctx ends: a full scrub of the whole store every
// interval (starting at once), reading at most rate bytes per second (0:
// no cap), followed by a repair of what it queued; and, every minute in
// between, a repair of what reads and writes queued. With every <= 0 it
// only repairs what is queued. `rhizome serve` runs it in the background
// with the config's scrub settings (config.Config.Scrub). It returns ctx's
// error.
func (s *Store) ScrubLoop(ctx context.Context, rate int64, every time.Duration) error {
	log := s.log.With("component", "scrub")
	nextScrub := s.now()
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		if every > 0 && !s.now().Before(nextScrub) {
			if _, err := s.Scrub(ctx, ScrubOptions{Rate: rate, Parallel: 2}, nil); err != nil && ctx.Err() == nil {
				log.Warn("scrub failed", "err", err)
			}
			nextScrub = s.now().Add(every)
		}
		_, err := s.Repair(ctx, &RepairOptions{Scan: ScanNone, op: "background repair"}, nil)
		switch {
		case err == nil, ctx.Err() != nil:
		case errors.Is(err, ErrLeaseHeld):
			log.Info("background repair skipped: another repair is running", "err", err)
		default:
			log.Warn("repair failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// maintenanceStatus adds the repair queue and the last scrub to st.
func (s *Store) maintenanceStatus(ctx context.Context, st *Status) error {
	n, err := s.idx.RepairQueueLen(ctx)
	if err != nil {
		return classify("status", err)
	}
	st.RepairQueue = n
	if st.Maintenance, err = s.MaintenanceLease(ctx); err != nil {
		return err
	}
	st.LastScrub, err = s.LastScrub(ctx)
	return err
}

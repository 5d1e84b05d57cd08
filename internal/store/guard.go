package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rhizome-data/rhizome/internal/guard"
	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/manifest"
)

// Alert states.
const (
	AlertOpen     = "open"
	AlertApproved = "approved"
	AlertRejected = "rejected"
)

// ErrBlocked is wrapped (with ErrForbidden) when a policy in block mode
// refuses a write the guard flagged.
var ErrBlocked = errors.New("write blocked by the guard")

// GuardRecord is what the guard stores in a version's manifest (Extra).
type GuardRecord struct {
	Profile *guard.Profile `json:"profile,omitempty"`
	Signals []guard.Signal `json:"signals,omitempty"`
	Mode    string         `json:"mode,omitempty"`
	Flagged bool           `json:"flagged,omitempty"`
	Summary string         `json:"summary,omitempty"`
}

// Alert is a flagged write, as the CLI and webhooks see it.
type Alert struct {
	VersionID string         `json:"version_id"`
	Bucket    string         `json:"bucket"`
	Key       string         `json:"key"`
	Time      time.Time      `json:"time"`
	Mode      string         `json:"mode"`
	State     string         `json:"state"`
	Identity  string         `json:"identity,omitempty"`
	Summary   string         `json:"summary"`
	Signals   []guard.Signal `json:"signals"`
	Delete    bool           `json:"delete,omitempty"`
}

// guardState is the store's guard machinery.
type guardState struct {
	off      bool
	policies []guard.Policy
	siblings int
	maxGzip  int64 // ProfileOptions.MaxDecompressed
	webhooks []string
	client   *http.Client
	hooks    sync.WaitGroup // webhook deliveries in flight
	hookSem  chan struct{}  // bounds them

	massKeep time.Duration // the largest MassWindow of the policies

	mu        sync.Mutex
	baseline  map[string]cachedSiblings // by bucket/prefix
	lastPrune time.Time                 // of the index's mass changes
}

// cachedSiblings keeps a prefix's sibling profiles for a short while, so
// that a stream of writes into one prefix lists and decodes it once, not
// once per write.
type cachedSiblings struct {
	at       time.Time
	versions []index.Version // most recent first
	profiles []*guard.Profile
	count    int
}

// maxPrefixCount is how many objects of a prefix the guard counts at most.
const maxPrefixCount = 10000

// siblingTTL is how long sibling profiles are reused.
const siblingTTL = 30 * time.Second

func newGuardState(s *Store) *guardState {
	g := s.cfg.Guard
	gs := &guardState{
		off: g.Off, policies: g.GuardPolicies(), siblings: g.Siblings, maxGzip: g.MaxDecompressed, webhooks: g.Webhooks,
		client: &http.Client{Timeout: 10 * time.Second}, hookSem: make(chan struct{}, webhookParallel),
		baseline: map[string]cachedSiblings{},
		massKeep: guard.DefaultThresholds().MassWindow, // the policy of unmatched keys
	}
	for _, p := range gs.policies {
		gs.massKeep = max(gs.massKeep, p.MassWindow) // zero is the default, negative off
	}
	return gs
}

// guardWrite follows one write through the guard.
type guardWrite struct {
	bucket, key, identity string
	policy                guard.Policy
	profiler              *guard.Profiler
}

// guardStart returns the profiler to feed the plaintext to, or nil when
// the guard is off. The profiler gets the model of the relationships
// between columns that the key's siblings show, so that it can count the
// records that do not fit them; the siblings stay cached for judge.
func (s *Store) guardStart(ctx context.Context, bucket, key, identity string, profile bool, size int64) *guardWrite {
	if s.guard == nil || s.guard.off {
		return nil
	}
	gw := &guardWrite{bucket: bucket, key: key, identity: identity, policy: guard.Match(s.guard.policies, bucket, key)}
	if profile {
		siblings, _ := s.siblingProfiles(ctx, bucket, key)
		model := guard.NewModel(siblings, gw.policy.Thresholds)
		gw.profiler = guard.NewProfiler(key, &guard.ProfileOptions{Size: max(size, 0), MaxDecompressed: s.guard.maxGzip, Model: model})
	}
	return gw
}

// keyPrefix is the table a key belongs to: its "directory", without the
// Hive-style partition directories ("date=2026-11-22/") at its end, so
// that tbl/date=.../part-0.csv files are siblings of each other.
func keyPrefix(key string) string {
	dir := ""
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		dir = key[:i+1]
	}
	for dir != "" {
		trimmed := strings.TrimSuffix(dir, "/")
		i := strings.LastIndexByte(trimmed, '/')
		if !strings.Contains(trimmed[i+1:], "=") {
			break
		}
		dir = trimmed[:i+1]
	}
	return dir
}

// partitioned reports whether key lies below partition directories of
// prefix (so its siblings are not all directly under prefix).
func partitioned(prefix, key string) bool {
	return strings.Contains(key[len(prefix):], "/")
}

// judge runs the checks for a write (a new version, or a delete when
// isDelete) and returns the record to store in the manifest. A flagged
// write under a block policy returns an ErrForbidden error.
func (s *Store) judge(ctx context.Context, gw *guardWrite, isDelete bool) (*GuardRecord, error) {
	if gw == nil {
		return nil, nil
	}
	th := gw.policy.Thresholds
	rec := &GuardRecord{Mode: gw.policy.Mode}
	now := s.now()
	prev, prevErr := s.idx.Latest(ctx, gw.bucket, gw.key, timeZero)
	hasPrev := prevErr == nil && !prev.DeleteMarker
	siblings, prefixSize := s.siblingProfiles(ctx, gw.bucket, gw.key)
	if gw.profiler != nil {
		rec.Profile = gw.profiler.Profile()
		base := guard.Baseline{Siblings: siblings}
		if hasPrev {
			base.Previous = profileOf(s, prev)
		}
		rec.Signals = append(rec.Signals, guard.Check(rec.Profile, base, th)...)
	}
	if hasPrev {
		if sig := guard.HistoryRewrite(prev.Time, now, th); sig != nil {
			rec.Signals = append(rec.Signals, *sig)
		}
		if sig := s.massChange(ctx, gw, prefixSize, now, isDelete); sig != nil {
			rec.Signals = append(rec.Signals, *sig)
		}
	}
	rec.Flagged, rec.Summary = guard.Verdict(rec.Signals)
	if rec.Flagged && gw.policy.Mode == guard.ModeBlock {
		s.log.Warn("guard blocked a write", "bucket", gw.bucket, "key", gw.key, "identity", gw.identity, "signals", rec.Summary)
		return rec, &Error{Kind: ErrForbidden, Op: "put " + gw.bucket + "/" + gw.key, Err: ErrBlocked,
			Msg: "policy " + policyName(gw.policy) + " blocks flagged writes: " + rec.Summary}
	}
	return rec, nil
}

// massChange records an overwrite or delete in the index and judges the
// identity's changes under the key's table prefix within the policy's
// window. The changes live in the index, not in this process, so that
// every process sharing the index (the gateway, CLI runs) counts toward
// one window and a restart does not reset it. The guard never fails a
// write of its own accord: when the index cannot record or count, the
// check is skipped and logged.
func (s *Store) massChange(ctx context.Context, gw *guardWrite, prefixSize int, now time.Time, isDelete bool) *guard.Signal {
	th := gw.policy.Thresholds
	if th.MassShare < 0 || th.MassWindow < 0 {
		return nil
	}
	c := index.MassChange{Policy: gw.policy.Prefix, Prefix: gw.bucket + "/" + keyPrefix(gw.key), Identity: gw.identity,
		Key: gw.key, Delete: isDelete, Time: now, Size: max(prefixSize, 0)}
	if err := s.idx.PutMassChange(ctx, c); err != nil {
		s.log.Warn("guard mass-change check skipped: the index did not record the change", "bucket", gw.bucket, "key", gw.key, "err", err)
		return nil
	}
	s.pruneMassChanges(ctx, now)
	// Prefix sizes are at most maxPrefixCount+1, so once this many keys
	// are counted the change is a mass change whatever the size: counting
	// further would cost time (the index scans one row per key) and could
	// not change the verdict, only the count in the reason.
	limit := int(math.Ceil(th.MassShare * float64(maxPrefixCount+1)))
	limit = min(max(limit, th.MassMinObjects), maxPrefixCount+1)
	t, err := s.idx.MassTally(ctx, c.Policy, c.Prefix, c.Identity, now.Add(-th.MassWindow), limit)
	if err != nil {
		s.log.Warn("guard mass-change check skipped: the index did not count the changes", "bucket", gw.bucket, "key", gw.key, "err", err)
		return nil
	}
	return guard.MassSignal(c.Identity, c.Prefix, guard.MassTally{Keys: t.Keys, Deletes: t.Deletes,
		Overwrites: t.Keys - t.Deletes, Size: t.Size}, th)
}

// pruneMassChanges removes the index's mass changes older than the
// largest window of any policy, at most once per that window per process.
func (s *Store) pruneMassChanges(ctx context.Context, now time.Time) {
	g := s.guard
	g.mu.Lock()
	due := now.Sub(g.lastPrune) >= g.massKeep || now.Before(g.lastPrune)
	if due {
		g.lastPrune = now
	}
	g.mu.Unlock()
	if !due {
		return
	}
	if n, err := s.idx.PruneMassChanges(ctx, now.Add(-g.massKeep)); err != nil {
		s.log.Warn("guard could not prune old mass changes; retrying after the next window", "err", err)
	} else if n > 0 {
		s.log.Debug("guard pruned old mass changes", "changes", n)
	}
}

func policyName(p guard.Policy) string {
	if p.Prefix == "" {
		return "(default)"
	}
	return p.Prefix
}

// quarantine reports whether the version must be hidden until reviewed.
func (r *GuardRecord) quarantine() bool {
	return r != nil && r.Flagged && r.Mode == guard.ModeQuarantine
}

// siblingProfiles returns the profiles of up to guard.siblings recent
// objects under the key's prefix (not the key itself), most recent first,
// and how many objects the prefix holds (counted up to 10,000). Results are
// cached per prefix for siblingTTL.
func (s *Store) siblingProfiles(ctx context.Context, bucket, key string) ([]*guard.Profile, int) {
	prefix := keyPrefix(key)
	ck := bucket + "/" + prefix
	now := s.now()
	g := s.guard
	g.mu.Lock()
	c, ok := g.baseline[ck]
	g.mu.Unlock()
	if !ok || now.Sub(c.at) > siblingTTL || now.Before(c.at) {
		c = s.loadSiblings(ctx, bucket, prefix, partitioned(prefix, key))
		c.at = now
		g.mu.Lock()
		if len(g.baseline) > 4096 {
			clear(g.baseline)
		}
		g.baseline[ck] = c
		g.mu.Unlock()
	}
	out := make([]*guard.Profile, 0, len(c.profiles))
	for i, p := range c.profiles {
		if c.versions[i].Key != key {
			out = append(out, p)
		}
	}
	return out, c.count + 1
}

func (s *Store) loadSiblings(ctx context.Context, bucket, prefix string, deep bool) cachedSiblings {
	var vs []index.Version
	after := ""
	delim := "/"
	if deep {
		delim = "" // partition directories: the table's objects lie below them
	}
	for len(vs) < maxPrefixCount {
		r, err := s.idx.List(ctx, index.ListOptions{Bucket: bucket, Prefix: prefix, Delimiter: delim, StartAfter: after, Limit: 1000})
		if err != nil {
			break
		}
		vs = append(vs, r.Versions...)
		if !r.Truncated {
			break
		}
		after = r.Next
	}
	c := cachedSiblings{count: len(vs)}
	sort.Slice(vs, func(i, j int) bool { return vs[i].ID > vs[j].ID })
	for _, v := range vs {
		if len(c.profiles) == s.guard.siblings+1 { // one more: the key itself may be among them
			break
		}
		if p := profileOf(s, v); p != nil {
			c.profiles = append(c.profiles, p)
			c.versions = append(c.versions, v)
		}
	}
	return c
}

// guardRecordOf reads the guard record of a version's manifest.
func guardRecordOf(m *manifest.Manifest) *GuardRecord {
	if m == nil || len(m.Extra) == 0 {
		return nil
	}
	var r GuardRecord
	if json.Unmarshal(m.Extra, &r) != nil {
		return nil
	}
	return &r
}

func profileOf(s *Store, v index.Version) *guard.Profile {
	m, err := manifest.Decode(v.Manifest, s.pub)
	if err != nil {
		return nil
	}
	if r := guardRecordOf(m); r != nil {
		return r.Profile
	}
	return nil
}

func (r *GuardRecord) extra() json.RawMessage {
	if r == nil {
		return nil
	}
	b, _ := json.Marshal(r)
	return b
}

// noteSibling adds a committed version to its prefix's cached baseline,
// so the next write there is judged against it without a new listing.
func (s *Store) noteSibling(info *ObjectInfo, rec *GuardRecord) {
	if s.guard == nil || rec == nil || info.Quarantined {
		return
	}
	ck := info.Bucket + "/" + keyPrefix(info.Key)
	g := s.guard
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.baseline[ck]
	if !ok {
		return
	}
	vs := []index.Version{info.Version}
	ps := []*guard.Profile{rec.Profile}
	isNew := true
	for i, v := range c.versions {
		if v.Key == info.Key {
			isNew = false
			continue
		}
		vs, ps = append(vs, v), append(ps, c.profiles[i])
	}
	if info.DeleteMarker || rec.Profile == nil {
		vs, ps = vs[1:], ps[1:]
	}
	if len(vs) > g.siblings+1 {
		vs, ps = vs[:g.siblings+1], ps[:g.siblings+1]
	}
	c.versions, c.profiles = vs, ps
	switch {
	case info.DeleteMarker && !isNew:
		c.count--
	case !info.DeleteMarker && isNew:
		c.count++
	}
	g.baseline[ck] = c
}

// afterCommit records an alert for a flagged version and notifies.
func (s *Store) afterCommit(ctx context.Context, gw *guardWrite, rec *GuardRecord, info *ObjectInfo) {
	s.noteSibling(info, rec)
	if gw == nil || rec == nil || !rec.Flagged {
		return
	}
	a := Alert{VersionID: info.ID, Bucket: info.Bucket, Key: info.Key, Time: info.Time, Mode: rec.Mode, State: AlertOpen,
		Identity: gw.identity, Summary: rec.Summary, Signals: rec.Signals, Delete: info.DeleteMarker}
	if rec.Mode == guard.ModeObserve {
		a.State = AlertApproved // nothing to review: readers already see it
	}
	data, _ := json.Marshal(a)
	if err := s.idx.PutAlert(ctx, index.Alert{VersionID: a.VersionID, Bucket: a.Bucket, Key: a.Key, Time: a.Time, Mode: a.Mode,
		State: a.State, Identity: a.Identity, Summary: a.Summary, Data: data}); err != nil {
		s.log.Error("guard alert not recorded", "version", a.VersionID, "err", err)
	}
	s.log.Warn("guard flagged a write", "bucket", a.Bucket, "key", a.Key, "version", a.VersionID, "mode", a.Mode,
		"identity", a.Identity, "signals", a.Summary)
	if s.onAlert != nil {
		s.onAlert(a)
	}
	for _, url := range s.guard.webhooks {
		s.guard.hooks.Go(func() {
			s.guard.hookSem <- struct{}{}
			defer func() { <-s.guard.hookSem }()
			s.postWebhook(url, data)
		})
	}
}

// Webhook delivery: at most webhookParallel posts at once (a mass change
// flags many writes), and Close waits up to webhookDrain for those still
// pending, so a short-lived CLI process delivers its alerts too.
const (
	webhookParallel = 8
	webhookDrain    = 10 * time.Second
)

// drainWebhooks waits for pending webhook deliveries, for at most d.
func (s *Store) drainWebhooks(d time.Duration) {
	done := make(chan struct{})
	go func() { s.guard.hooks.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		s.log.Warn("guard webhooks still pending at close; the alerts are recorded (rhizome guard alerts)", "waited", d)
	}
}

func (s *Store) postWebhook(url string, body []byte) {
	for attempt := 0; attempt < 3; attempt++ {
		resp, err := s.guard.client.Post(url, "application/json", bytes.NewReader(body))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 300 {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		s.log.Warn("guard webhook failed", "url", url, "attempt", attempt+1, "err", err)
		time.Sleep(time.Duration(1<<attempt) * time.Second)
	}
}

// Alerts lists guard alerts in a state ("" for all), newest first.
func (s *Store) Alerts(ctx context.Context, state string, limit int) ([]Alert, error) {
	as, err := s.idx.Alerts(ctx, state, "", limit)
	if err != nil {
		return nil, classify("alerts", err)
	}
	out := make([]Alert, 0, len(as))
	for _, a := range as {
		out = append(out, alertOf(a))
	}
	return out, nil
}

// EachAlert calls fn for every alert in state ("" for all), newest first,
// until fn returns an error.
func (s *Store) EachAlert(ctx context.Context, state string, fn func(Alert) error) error {
	before := ""
	for {
		as, err := s.idx.Alerts(ctx, state, before, 1000)
		if err != nil {
			return classify("alerts", err)
		}
		for _, a := range as {
			if err := fn(alertOf(a)); err != nil {
				return err
			}
		}
		if len(as) < 1000 {
			return nil
		}
		before = as[len(as)-1].VersionID
	}
}

func alertOf(a index.Alert) Alert {
	var al Alert
	if json.Unmarshal(a.Data, &al) != nil {
		al = Alert{VersionID: a.VersionID, Bucket: a.Bucket, Key: a.Key, Time: a.Time, Mode: a.Mode, Summary: a.Summary}
	}
	al.State = a.State
	return al
}

// AlertDetail is an alert with the profiles it was judged on.
type AlertDetail struct {
	Alert
	Profile  *guard.Profile
	Previous *guard.Profile // the last known-good version's, when there was one
	Diff     []string       // column-level differences, human readable
}

// Alert returns one alert with its profile and the column-level diff
// against the version readers get instead.
func (s *Store) Alert(ctx context.Context, versionID string) (*AlertDetail, error) {
	op := "alert " + versionID
	a, err := s.idx.Alert(ctx, versionID)
	if errors.Is(err, index.ErrNoSuchAlert) {
		return nil, errorf(ErrNotFound, op, err, "no alert for version %s; `rhizome guard alerts` lists them", versionID)
	}
	if err != nil {
		return nil, classify(op, err)
	}
	var d AlertDetail
	json.Unmarshal(a.Data, &d.Alert)
	d.State = a.State
	v, err := s.idx.Version(ctx, a.Bucket, a.Key, versionID)
	if err != nil {
		return nil, classify(op, err)
	}
	d.Profile = profileOf(s, v)
	if vs, err := s.idx.Versions(ctx, a.Bucket, a.Key); err == nil {
		for _, o := range vs {
			if o.ID < versionID && !o.Quarantined && !o.DeleteMarker {
				d.Previous = profileOf(s, o)
				break
			}
		}
	}
	d.Diff = describeProfiles(d.Previous, d.Profile)
	return &d, nil
}

// Review approves or rejects a quarantined version. Approving makes it
// visible (current, if it is the newest); rejecting keeps it hidden for
// good. The decision is recorded as a signed review manifest on the
// backends, so an index rebuild keeps it.
func (s *Store) Review(ctx context.Context, versionID string, approve bool, identity string) error {
	op := "review " + versionID
	a, err := s.idx.Alert(ctx, versionID)
	if errors.Is(err, index.ErrNoSuchAlert) {
		return errorf(ErrNotFound, op, err, "no alert for version %s", versionID)
	}
	if err != nil {
		return classify(op, err)
	}
	if a.State != AlertOpen {
		return errorf(ErrConflict, op, nil, "the alert is already %s", a.State)
	}
	decision := AlertRejected
	if approve {
		decision = AlertApproved
	}
	vid, t := s.newVersionID()
	m := &manifest.Manifest{Kind: manifest.KindReview, ID: vid, Bucket: a.Bucket, Key: a.Key, Time: t, Identity: identity,
		Review: &manifest.Review{VersionID: versionID, Decision: decision}}
	if _, err := s.commit(ctx, m); err != nil {
		return classify(op, err)
	}
	return classify(op, s.applyReview(ctx, s.idx, a.Bucket, a.Key, versionID, decision))
}

func (s *Store) applyReview(ctx context.Context, idx index.Index, bucket, key, versionID, decision string) error {
	if decision == AlertApproved {
		err := idx.UpdateVersion(ctx, bucket, key, versionID, func(v *index.Version) error {
			v.Quarantined = false
			return nil
		})
		if err != nil {
			return err
		}
	}
	a, err := idx.Alert(ctx, versionID)
	if err != nil {
		return nil // rebuilt index without the alert record: the version state is what matters
	}
	a.State = decision
	return idx.PutAlert(ctx, a)
}

// describeProfiles lists column-level differences between two profiles.
func describeProfiles(from, to *guard.Profile) []string {
	if to == nil {
		return nil
	}
	if from == nil {
		return []string{fmt.Sprintf("no earlier profile to compare with; format %s, %d rows, entropy %.2f bits/byte", to.Format, to.Rows, to.Entropy)}
	}
	var out []string
	if from.Format != to.Format || from.Parseable != to.Parseable {
		out = append(out, fmt.Sprintf("format %s (parseable %v) -> %s (parseable %v)", from.Format, from.Parseable, to.Format, to.Parseable))
	}
	if math.Abs(from.Entropy-to.Entropy) > 0.5 {
		out = append(out, fmt.Sprintf("entropy %.2f -> %.2f bits/byte", from.Entropy, to.Entropy))
	}
	if from.Rows != to.Rows {
		out = append(out, fmt.Sprintf("rows %d -> %d", from.Rows, to.Rows))
	}
	fc := map[string]*guard.Column{}
	for i := range from.Columns {
		fc[from.Columns[i].Name] = &from.Columns[i]
	}
	seen := map[string]bool{}
	for i := range to.Columns {
		c := &to.Columns[i]
		seen[c.Name] = true
		o, ok := fc[c.Name]
		if !ok {
			out = append(out, fmt.Sprintf("column %q added (%s)", c.Name, c.Type))
			continue
		}
		if o.Type != c.Type {
			out = append(out, fmt.Sprintf("column %q type %s -> %s", c.Name, o.Type, c.Type))
		}
		if d := c.NullRate() - o.NullRate(); math.Abs(d) >= 0.01 {
			out = append(out, fmt.Sprintf("column %q nulls %.1f%% -> %.1f%%", c.Name, 100*o.NullRate(), 100*c.NullRate()))
		}
		if c.Numeric() && o.Numeric() && o.Std > 0 && math.Abs(c.Mean-o.Mean) > 0.05*o.Std {
			out = append(out, fmt.Sprintf("column %q mean %.4g -> %.4g (%.2f std)", c.Name, o.Mean, c.Mean, (c.Mean-o.Mean)/o.Std))
		}
		if len(c.Top) > 0 && len(o.Top) > 0 && c.Top[0].Value != o.Top[0].Value {
			out = append(out, fmt.Sprintf("column %q most common value %q -> %q", c.Name, o.Top[0].Value, c.Top[0].Value))
		}
	}
	for _, c := range from.Columns {
		if !seen[c.Name] {
			out = append(out, fmt.Sprintf("column %q dropped", c.Name))
		}
	}
	return out
}

// profileDiff summarizes the profile change between two versions in one
// line, for diff listings.
func (s *Store) profileDiff(from, to index.Version) string {
	d := describeProfiles(profileOf(s, from), profileOf(s, to))
	if len(d) == 0 || profileOf(s, from) == nil {
		return ""
	}
	if len(d) > 4 {
		d = append(d[:4], fmt.Sprintf("and %d more", len(d)-4))
	}
	return strings.Join(d, "; ")
}

// rebuildAlert recreates the alert of a flagged version from its
// manifest; reviews replayed later set its final state.
func (s *Store) rebuildAlert(ctx context.Context, idx index.Index, m *manifest.Manifest) {
	rec := guardRecordOf(m)
	if rec == nil || !rec.Flagged {
		return
	}
	a := Alert{VersionID: m.ID, Bucket: m.Bucket, Key: m.Key, Time: m.Time, Mode: rec.Mode, State: AlertOpen,
		Identity: m.Identity, Summary: rec.Summary, Signals: rec.Signals, Delete: m.DeleteMarker}
	if rec.Mode == guard.ModeObserve {
		a.State = AlertApproved
	}
	data, _ := json.Marshal(a)
	idx.PutAlert(ctx, index.Alert{VersionID: a.VersionID, Bucket: a.Bucket, Key: a.Key, Time: a.Time, Mode: a.Mode,
		State: a.State, Identity: a.Identity, Summary: a.Summary, Data: data})
}

package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/backend/mem"
	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/manifest"
)

// recordPieces lists, on the fleet's backends, the manifest pieces whose
// ID is not a version in the index: the records. It maps each record ID
// to "piece index -> backend".
func (f *fleet) recordPieces(s *Store) map[string]map[int]string {
	f.t.Helper()
	ctx := context.Background()
	versions := map[string]bool{}
	bs, _ := s.Buckets(ctx)
	for _, b := range bs {
		s.eachVersion(ctx, b.Name, "", true, func(v index.Version) error { versions[v.ID] = true; return nil })
	}
	out := map[string]map[int]string{}
	for name, m := range f.mems {
		m.List(ctx, "m/", func(in backend.Info) error {
			_, id, i, ok := parseBlobName(in.Name)
			if ok && !versions[id] {
				if out[id] == nil {
					out[id] = map[int]string{}
				}
				out[id][i] = name
			}
			return nil
		})
	}
	return out
}

// scrubAll runs a scrub of the whole store and returns its stats and the
// results that are not healthy, described as "kind key: issues".
func scrubAll(t *testing.T, s *Store, quick bool) (ScrubStats, []string) {
	t.Helper()
	var bad []string
	st, err := s.Scrub(context.Background(), ScrubOptions{Quick: quick}, func(r ScrubResult) error {
		if r.Health == Healthy {
			return nil
		}
		var is []string
		for _, p := range r.Shards {
			is = append(is, fmt.Sprintf("shard %d %s", p.Index, p.Issue))
		}
		for _, p := range r.Pieces {
			is = append(is, fmt.Sprintf("piece %d %s", p.Index, p.Issue))
		}
		name := r.Key
		if r.Kind == KindPart {
			name = fmt.Sprintf("%s#%d", r.Key, r.Part)
		}
		bad = append(bad, fmt.Sprintf("%s %s %s: %s", r.Health, cmpKind(r.Kind), name, strings.Join(is, ", ")))
		return nil
	})
	if err != nil {
		t.Fatalf("Scrub() = %v", err)
	}
	sort.Strings(bad)
	return st, bad
}

func cmpKind(k string) string {
	if k == "" {
		return "version"
	}
	return k
}

func TestScrubRepairRecords(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 6, 3)
	s := f.open(nil)
	f.put(s, "a", 50_000)
	if _, err := s.CreateCheckpoint(ctx, "lake", "", "before", "test"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucket(ctx, "gone"); err != nil {
		t.Fatal(err)
	}

	recs := f.recordPieces(s)
	// Three bucket manifests (lake, gone created, gone deleted) and a
	// checkpoint, each with a piece on every backend.
	if len(recs) != 4 {
		t.Fatalf("found %d records on the backends; want 4", len(recs))
	}
	st, bad := scrubAll(t, s, false)
	if st.Records != 4 || st.RecordsDamaged != 0 || st.RecordsUnopened != 0 || len(bad) != 0 {
		t.Fatalf("scrub of a healthy store: %d records, %d damaged, %d unopened, %v; want 4 healthy", st.Records, st.RecordsDamaged, st.RecordsUnopened, bad)
	}

	// Damage: delete a piece of lake's bucket manifest, flip a bit in
	// another, and delete a piece of the checkpoint's manifest.
	var lakeID, cpID string
	for id := range recs {
		raw := map[int][]byte{}
		for i, be := range recs[id] {
			raw[i] = blob(t, f.mems[be], pieceName(id, i))
		}
		all := make([][]byte, 256)
		for i, b := range raw {
			all[i] = b
		}
		res, err := manifest.Open(all, nil, s.pub)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case res.Manifest.Kind == manifest.KindBucket && res.Manifest.Bucket == "lake":
			lakeID = id
		case res.Manifest.Kind == manifest.KindCheckpoint:
			cpID = id
		}
	}
	if lakeID == "" || cpID == "" {
		t.Fatalf("records %v: lake's bucket manifest or the checkpoint not found", recs)
	}
	f.mems[recs[lakeID][1]].Delete(ctx, pieceName(lakeID, 1))
	p := blob(t, f.mems[recs[lakeID][4]], pieceName(lakeID, 4))
	p[len(p)-10] ^= 1
	putBlob(t, f.mems[recs[lakeID][4]], pieceName(lakeID, 4), p)
	f.mems[recs[cpID][0]].Delete(ctx, pieceName(cpID, 0))

	want := []string{
		"damaged bucket : piece 1 missing, piece 4 corrupt",
		"damaged checkpoint before: piece 0 missing",
	}
	// Quick scrubs see the pieces too: records must be opened to be known.
	for _, quick := range []bool{true, false} {
		st, bad = scrubAll(t, s, quick)
		if st.Records != 4 || st.RecordsDamaged != 2 || !slices.Equal(bad, want) {
			t.Fatalf("scrub (quick %v): %d records, %d damaged: %q; want 4, 2: %q", quick, st.Records, st.RecordsDamaged, bad, want)
		}
	}

	var results []string
	rst, err := s.Repair(ctx, nil, func(r RepairResult) error {
		results = append(results, r.String())
		return nil
	})
	if err != nil {
		t.Fatalf("Repair() = %v", err)
	}
	if rst.Records != 2 || rst.Pieces != 3 || rst.Deferred != 0 {
		t.Fatalf("Repair() = %d records repaired, %d pieces, %d deferred (%q); want 2, 3, 0", rst.Records, rst.Pieces, rst.Deferred, results)
	}
	if !slices.ContainsFunc(results, func(s string) bool {
		return strings.HasPrefix(s, "repaired bucket manifest of lake ("+lakeID+"); rewrote manifest pieces [1 4]")
	}) {
		t.Errorf("repair results %q do not report lake's bucket manifest", results)
	}
	if st, bad := scrubAll(t, s, false); st.RecordsDamaged != 0 || len(bad) != 0 {
		t.Fatalf("scrub after repair: %d records damaged: %q; want none", st.RecordsDamaged, bad)
	}
	// The rewritten pieces are the originals, bit for bit.
	if q := blob(t, f.mems[recs[lakeID][4]], pieceName(lakeID, 4)); bytes.Equal(q, p) {
		t.Fatal("the corrupt piece is still there after repair")
	}
}

func TestScrubRepairUploadParts(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 6, 3)
	s := f.open(nil)
	f.put(s, "a", 10_000)
	up, err := s.CreateUpload(ctx, "lake", "big", nil)
	if err != nil {
		t.Fatal(err)
	}
	parts := [][]byte{random(MinPartSize), random(300_000)}
	for i, data := range parts {
		if _, err := s.PutPart(ctx, up.ID, i+1, bytes.NewReader(data), nil); err != nil {
			t.Fatal(err)
		}
	}
	segOf := func(n int) manifest.Segment {
		t.Helper()
		ps, err := s.idx.Parts(ctx, up.ID)
		if err != nil {
			t.Fatal(err)
		}
		var seg manifest.Segment
		json.Unmarshal(ps[n-1].Data, &seg)
		return seg
	}
	shard := func(n, i int) (string, *mem.Backend) {
		seg := segOf(n)
		return shardName(seg.ID, i), f.mems[seg.Backends[i]]
	}

	if st, bad := scrubAll(t, s, false); st.Parts != 2 || st.PartsDamaged != 0 || len(bad) != 0 {
		t.Fatalf("scrub of a healthy upload: %d parts, %d damaged: %q; want 2 healthy", st.Parts, st.PartsDamaged, bad)
	}
	name, b := shard(1, 2)
	b.Delete(ctx, name)
	name, b = shard(2, 4)
	flipped := blob(t, b, name)
	flipped[len(flipped)/2] ^= 1
	putBlob(t, b, name, flipped)

	// Quick: the missing shard only; full: the flipped bit as well.
	if st, bad := scrubAll(t, s, true); st.PartsDamaged != 1 || !slices.Equal(bad, []string{"damaged part big#1: shard 2 missing"}) {
		t.Fatalf("quick scrub: %d parts damaged: %q; want part 1's shard 2 missing", st.PartsDamaged, bad)
	}
	st, bad := scrubAll(t, s, false)
	if want := []string{"damaged part big#1: shard 2 missing", "damaged part big#2: shard 4 corrupt"}; st.PartsDamaged != 2 || !slices.Equal(bad, want) {
		t.Fatalf("full scrub: %d parts damaged: %q; want %q", st.PartsDamaged, bad, want)
	}
	if st.Queued != 0 {
		t.Fatalf("scrub queued %d versions; parts are not versions", st.Queued)
	}

	// A quick repair fixes what a stat finds; a full one the bit flip.
	rst := mustRepair(t, s, nil)
	if rst.Parts != 2 || rst.PartsRepaired != 1 || rst.Shards != 1 {
		t.Fatalf("quick Repair() = %d parts, %d repaired, %d shards; want 2, 1, 1", rst.Parts, rst.PartsRepaired, rst.Shards)
	}
	var results []string
	rst, err = s.Repair(ctx, &RepairOptions{Scan: ScanFull}, func(r RepairResult) error {
		results = append(results, r.String())
		return nil
	})
	if err != nil || rst.PartsRepaired != 1 || rst.Shards != 1 {
		t.Fatalf("full Repair() = %d parts repaired, %d shards, %v; want 1, 1", rst.PartsRepaired, rst.Shards, err)
	}
	if len(results) != 1 || !strings.HasPrefix(results[0], "repaired part 2 of upload "+up.ID+" to lake/big; rebuilt shard 4 (corrupt)") {
		t.Fatalf("full Repair() results = %q; want part 2's shard 4 rebuilt", results)
	}
	if st, bad := scrubAll(t, s, false); st.PartsDamaged != 0 || len(bad) != 0 {
		t.Fatalf("scrub after repair: %d parts damaged: %q; want none", st.PartsDamaged, bad)
	}
	if got := blob(t, b, name); bytes.Equal(got, flipped) {
		t.Fatal("part 2's shard 4 is still the corrupt one")
	}

	// Every shard back: the upload completes and reads back whole even
	// with two other backends gone.
	ps, _, _ := s.ListParts(ctx, up.ID, 0, 0)
	info, err := s.CompleteUpload(ctx, up.ID, []CompletePart{{1, ps[0].ETag}, {2, ps[1].ETag}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1} {
		seg := info.Manifest.Segments[1]
		f.mems[seg.Backends[i]].Delete(ctx, shardName(seg.ID, i))
	}
	var buf bytes.Buffer
	if _, err := s.Read(ctx, info, &buf, 0, -1); err != nil || !bytes.Equal(buf.Bytes(), append(parts[0], parts[1]...)) {
		t.Fatalf("read of the completed upload: %v, %d bytes; want the %d written", err, buf.Len(), len(parts[0])+len(parts[1]))
	}
}

// TestScrubRepairReviewRecord covers the third kind of record: a guard
// review decision.
func TestScrubRepairReviewRecord(t *testing.T) {
	ts := guardStore(t, "quarantine")
	ctx := context.Background()
	seedPartitions(t, ts, 8)
	bad := putString(t, ts, "t/day03.csv", encrypted(9000))
	if !bad.Quarantined {
		t.Fatal("the overwrite was not quarantined")
	}
	if err := ts.Review(ctx, bad.ID, true, "ana"); err != nil {
		t.Fatal(err)
	}
	s := ts.Store
	// The review's pieces: the record whose kind is review.
	known, err := s.versionIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs, _, err := s.records(ctx, known, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rev *record
	for _, r := range recs {
		if r.m.Kind == manifest.KindReview {
			rev = r
		}
	}
	if rev == nil || rev.m.Key != "t/day03.csv" {
		t.Fatalf("no review record for t/day03.csv among %d records", len(recs))
	}
	be := s.backends[s.byName[rev.at[3]]]
	if err := be.Delete(ctx, pieceName(rev.id, 3)); err != nil {
		t.Fatal(err)
	}
	st, bad2 := scrubAll(t, s, true)
	if want := []string{"damaged review t/day03.csv: piece 3 missing"}; st.RecordsDamaged != 1 || !slices.Equal(bad2, want) {
		t.Fatalf("scrub: %d records damaged: %q; want %q", st.RecordsDamaged, bad2, want)
	}
	if rst := mustRepair(t, s, nil); rst.Records != 1 || rst.Pieces != 1 {
		t.Fatalf("Repair() = %d records, %d pieces; want 1, 1", rst.Records, rst.Pieces)
	}
	if _, err := be.Stat(ctx, pieceName(rev.id, 3)); err != nil {
		t.Fatalf("review piece 3 after repair: %v", err)
	}
	if st, bad2 := scrubAll(t, s, false); st.RecordsDamaged != 0 || len(bad2) != 0 {
		t.Fatalf("scrub after repair: %q; want clean", bad2)
	}
}

package store

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/backend/faulty"
	"github.com/rhizome-data/rhizome/internal/backend/mem"
	"github.com/rhizome-data/rhizome/internal/config"
	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/index/sqlite"
	"github.com/rhizome-data/rhizome/internal/manifest"
)

// fleet is a set of in-memory backends (each behind a fault injector), a
// signing key and an index, from which stores with different configs can
// be opened, as an operator editing rhizome.yaml would.
type fleet struct {
	t      *testing.T
	cfg    *config.Config
	mems   map[string]*mem.Backend
	faults map[string]*faulty.Backend
	priv   ed25519.PrivateKey
	idx    index.Index
	data   map[string][]byte // key -> what was written last
}

// newFleet makes n backends in r regions, 4+2, 64 KiB blocks.
func newFleet(t *testing.T, n, r int) *fleet {
	t.Helper()
	cfg := config.Generate(t.TempDir(), n, r, 4, 2)
	cfg.BlockSize = 64 << 10
	if _, err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	idx, err := sqlite.Open(filepath.Join(t.TempDir(), "index.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	f := &fleet{t: t, cfg: cfg, mems: map[string]*mem.Backend{}, faults: map[string]*faulty.Backend{}, priv: priv, idx: idx, data: map[string][]byte{}}
	for _, b := range cfg.Backends {
		m := mem.New()
		f.mems[b.Name] = m
		f.faults[b.Name] = faulty.New(m)
	}
	return f
}

// open opens a store over the backends the config lists. without removes
// backends from the config (they are gone); extra adds new ones.
func (f *fleet) open(without []string, extra ...config.Backend) *Store {
	f.t.Helper()
	cfg := *f.cfg
	cfg.Backends = nil
	for _, b := range f.cfg.Backends {
		if !slices.Contains(without, b.Name) {
			cfg.Backends = append(cfg.Backends, b)
		}
	}
	for _, b := range extra {
		cfg.Backends = append(cfg.Backends, b)
		if f.mems[b.Name] == nil {
			m := mem.New()
			f.mems[b.Name] = m
			f.faults[b.Name] = faulty.New(m)
		}
	}
	bs := make([]backend.Backend, len(cfg.Backends))
	for i, b := range cfg.Backends {
		bs[i] = f.faults[b.Name]
	}
	s, err := New(&cfg, bs, f.idx, f.priv, nil, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fleet) put(s *Store, key string, n int) *ObjectInfo {
	f.t.Helper()
	ctx := context.Background()
	if err := s.EnsureBucket(ctx, "lake"); err != nil {
		f.t.Fatal(err)
	}
	data := random(n)
	info, err := s.Put(ctx, "lake", key, bytes.NewReader(data), &PutOptions{Size: int64(n), SizeKnown: true})
	if err != nil {
		f.t.Fatalf("Put(%s) = %v", key, err)
	}
	f.data[key] = data
	return info
}

// checkAll reads every key back (byte-identical, not degraded unless
// allowed) and verifies every version completely.
func (f *fleet) checkAll(s *Store, allowDegraded bool) {
	f.t.Helper()
	ctx := context.Background()
	for key, want := range f.data {
		info, err := s.Stat(ctx, "lake", key, StatOptions{})
		if err != nil {
			f.t.Fatalf("Stat(%s) = %v", key, err)
		}
		var buf bytes.Buffer
		rep, err := s.Read(ctx, info, &buf, 0, -1)
		if err != nil {
			f.t.Fatalf("Read(%s) = %v", key, err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			f.t.Fatalf("Read(%s): %d bytes differ from the %d written", key, buf.Len(), len(want))
		}
		if rep.Degraded && !allowDegraded {
			f.t.Fatalf("Read(%s) degraded after repair: %v", key, rep.Problems)
		}
	}
	if allowDegraded {
		return
	}
	err := s.Verify(ctx, VerifyOptions{AllVersions: true}, func(r VerifyResult) error {
		if r.Health != Healthy {
			f.t.Errorf("after repair: %s", r)
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// shardBlob returns the name and backend of shard i of the key's current
// version's first segment.
func (f *fleet) shardBlob(s *Store, key string, i int) (string, *mem.Backend) {
	f.t.Helper()
	info, err := s.Stat(context.Background(), "lake", key, StatOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	seg := info.Manifest.Segments[0]
	return shardName(seg.ID, i), f.mems[seg.Backends[i]]
}

func blob(t testing.TB, b backend.Backend, name string) []byte {
	t.Helper()
	p, err := readAll(context.Background(), b, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return p
}

func putBlob(t testing.TB, b backend.Backend, name string, p []byte) {
	t.Helper()
	if err := b.Put(context.Background(), name, bytes.NewReader(p), int64(len(p))); err != nil {
		t.Fatal(err)
	}
}

func mustRepair(t testing.TB, s *Store, o *RepairOptions) RepairStats {
	t.Helper()
	st, err := s.Repair(context.Background(), o, nil)
	if err != nil {
		t.Fatalf("Repair() = %v", err)
	}
	return st
}

// TestRepairRestoresExactShards damages shards and pieces in every way a
// backend can and checks that repair puts back the very bytes that were
// written.
func TestRepairRestoresExactShards(t *testing.T) {
	for _, tc := range []struct {
		name    string
		scan    ScanMode
		damage  func(t *testing.T, f *fleet, s *Store, key string)
		shard   int // the damaged shard, -1 for none
		outcome string
	}{
		{"shard deleted", ScanQuick, func(t *testing.T, f *fleet, s *Store, key string) {
			name, b := f.shardBlob(s, key, 1)
			b.Delete(context.Background(), name)
		}, 1, Repaired},
		{"shard truncated", ScanQuick, func(t *testing.T, f *fleet, s *Store, key string) {
			name, b := f.shardBlob(s, key, 4)
			p := blob(t, b, name)
			putBlob(t, b, name, p[:len(p)/3])
		}, 4, Repaired},
		{"bit flip", ScanFull, func(t *testing.T, f *fleet, s *Store, key string) {
			name, b := f.shardBlob(s, key, 0)
			p := blob(t, b, name)
			p[len(p)-100] ^= 0x04
			putBlob(t, b, name, p)
		}, 0, Repaired},
		{"swapped with another version's shard", ScanFull, func(t *testing.T, f *fleet, s *Store, key string) {
			other := f.put(s, "other", 200<<10)
			_ = other
			name, b := f.shardBlob(s, key, 2)
			oname, ob := f.shardBlob(s, "other", 2)
			putBlob(t, b, name, blob(t, ob, oname))
		}, 2, Repaired},
		{"swapped with a sibling shard", ScanFull, func(t *testing.T, f *fleet, s *Store, key string) {
			n3, b3 := f.shardBlob(s, key, 3)
			n5, b5 := f.shardBlob(s, key, 5)
			putBlob(t, b3, n3, blob(t, b5, n5))
		}, 3, Repaired},
		{"healthy", ScanFull, func(t *testing.T, f *fleet, s *Store, key string) {}, -1, Intact},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t, 6, 3)
			s := f.open(nil)
			key := "k"
			f.put(s, key, 300<<10+5)
			var before []byte
			var name string
			var b *mem.Backend
			if tc.shard >= 0 {
				name, b = f.shardBlob(s, key, tc.shard)
				before = blob(t, b, name)
			}
			tc.damage(t, f, s, key)
			var results []RepairResult
			st, err := s.Repair(context.Background(), &RepairOptions{Scan: tc.scan}, func(r RepairResult) error {
				results = append(results, r)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if tc.outcome == Intact {
				if len(results) != 0 || st.Shards != 0 {
					t.Fatalf("healthy store: Repair did %+v, %v; want nothing", st, results)
				}
				f.checkAll(s, false)
				return
			}
			if len(results) != 1 || results[0].Outcome != tc.outcome || results[0].VersionID == "" {
				t.Fatalf("Repair results = %v; want one %s", results, tc.outcome)
			}
			if st.Shards != 1 || len(results[0].Shards) != 1 || results[0].Shards[0].Index != tc.shard {
				t.Fatalf("Repair rebuilt %d shards (%v); want shard %d", st.Shards, results[0].Shards, tc.shard)
			}
			if got := blob(t, b, name); !bytes.Equal(got, before) {
				t.Fatalf("shard %d after repair: %d bytes, not the %d bytes first written", tc.shard, len(got), len(before))
			}
			f.checkAll(s, false)
			if n, _ := s.Index().RepairQueueLen(context.Background()); n != 0 {
				t.Fatalf("queue holds %d entries after a successful repair; want 0", n)
			}
		})
	}
}

func TestRepairManifestPieces(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (*fleet, *Store, *manifest.Manifest, [][]byte) {
		f := newFleet(t, 6, 3)
		s := f.open(nil)
		m := f.put(s, "k", 10_000).Manifest
		var orig [][]byte
		for i, name := range m.Placement {
			orig = append(orig, blob(t, f.mems[name], pieceName(m.ID, i)))
		}
		return f, s, m, orig
	}
	t.Run("regenerated in place", func(t *testing.T) {
		f, s, m, orig := setup(t)
		// Piece 0 gone, piece 5 replaced by a copy of piece 4.
		f.mems[m.Placement[0]].Delete(ctx, pieceName(m.ID, 0))
		putBlob(t, f.mems[m.Placement[5]], pieceName(m.ID, 5), orig[4])
		var res RepairResult
		st, err := s.Repair(ctx, &RepairOptions{Scan: ScanFull}, func(r RepairResult) error { res = r; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if st.Pieces != 2 || fmt.Sprint(res.Pieces) != "[0 5]" || res.Revised {
			t.Fatalf("Repair rewrote pieces %v (revised %v); want [0 5] in place", res.Pieces, res.Revised)
		}
		for i, name := range m.Placement {
			if got := blob(t, f.mems[name], pieceName(m.ID, i)); !bytes.Equal(got, orig[i]) {
				t.Errorf("piece %d after repair differs from the one first written", i)
			}
		}
		f.checkAll(s, false)
	})
	t.Run("too few left: revised", func(t *testing.T) {
		f, s, m, orig := setup(t)
		// Three of six damaged: the other three cannot open it (k=4).
		f.mems[m.Placement[0]].Delete(ctx, pieceName(m.ID, 0))
		p3 := bytes.Clone(orig[3])
		p3[40] ^= 1
		putBlob(t, f.mems[m.Placement[3]], pieceName(m.ID, 3), p3)
		putBlob(t, f.mems[m.Placement[5]], pieceName(m.ID, 5), orig[4])
		var res RepairResult
		if _, err := s.Repair(ctx, &RepairOptions{Scan: ScanFull}, func(r RepairResult) error { res = r; return nil }); err != nil {
			t.Fatal(err)
		}
		if !res.Revised || res.Outcome != Repaired {
			t.Fatalf("Repair = %s; want the manifest revised from the index", res)
		}
		after, err := s.Stat(ctx, "lake", "k", StatOptions{})
		if err != nil {
			t.Fatal(err)
		}
		first, names := piecePlacement(after.Manifest)
		if first != 6 || !slices.Equal(names, m.Placement) {
			t.Fatalf("revised placement %q; want the same backends on piece indexes 6-11", after.Manifest.Placement)
		}
		for i, name := range m.Placement {
			if _, err := f.mems[name].Stat(ctx, pieceName(m.ID, i)); !errors.Is(err, backend.ErrNotFound) {
				t.Errorf("piece %d of the first revision still on %s (%v)", i, name, err)
			}
			if _, err := f.mems[name].Stat(ctx, pieceName(m.ID, 6+i)); err != nil {
				t.Errorf("piece %d of the revision not on %s: %v", 6+i, name, err)
			}
		}
		f.checkAll(s, false)
		f.checkRebuild(s)
	})
}

func TestRegeneratePieceIsBitExact(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		k, n   int
		master bool
	}{{4, 6, false}, {4, 6, true}, {1, 3, false}, {6, 9, true}, {4, 12, false}} {
		t.Run(fmt.Sprintf("k%d-n%d-master%v", tc.k, tc.n, tc.master), func(t *testing.T) {
			var master []byte
			if tc.master {
				master = random(32)
			}
			m := &manifest.Manifest{Kind: manifest.KindObject, ID: strings.Repeat("ab", 16), Bucket: "b", Key: "k"}
			env, err := manifest.Encode(m, priv)
			if err != nil {
				t.Fatal(err)
			}
			pieces, err := manifest.Seal(env, vidBytes(m.ID), tc.k, tc.n, master)
			if err != nil {
				t.Fatal(err)
			}
			for missing := range tc.n {
				var good []int
				for i := range tc.n {
					if i != missing && len(good) < tc.k {
						good = append(good, i)
					}
				}
				raw := slices.Clone(pieces)
				raw[missing] = nil
				got, err := regeneratePiece(raw, good, missing, master, priv.Public().(ed25519.PublicKey))
				if err != nil {
					t.Fatalf("regeneratePiece(%d) = %v", missing, err)
				}
				if !bytes.Equal(got, pieces[missing]) {
					t.Fatalf("regenerated piece %d differs from the sealed one", missing)
				}
			}
		})
	}
}

func TestRepairUnderProtectedWrite(t *testing.T) {
	f := newFleet(t, 6, 3)
	s := f.open(nil)
	ctx := context.Background()
	down := f.cfg.Backends[2].Name
	f.faults[down].SetDown(true)
	info := f.put(s, "k", 150<<10)
	if info.Protected {
		t.Fatal("write with a backend down reports full protection")
	}
	var missing = -1
	for i, b := range info.Manifest.Segments[0].Backends {
		if b == "" {
			missing = i
		}
	}
	if missing < 0 {
		t.Fatalf("no shard left unwritten: %v", info.Manifest.Segments[0].Backends)
	}
	q, err := s.Index().RepairQueue(ctx, timeZero, "", "", "", 0)
	if err != nil || len(q) != 1 || q[0].Reason != "write" {
		t.Fatalf("queue after an under-protected write = %+v, %v; want one entry queued by the write", q, err)
	}

	// Still down: nothing can be done; the entry waits.
	st := mustRepair(t, s, &RepairOptions{Scan: ScanNone})
	if st.Deferred != 1 || st.Shards != 0 || st.QueueLeft != 1 {
		t.Fatalf("repair with the backend still down: %+v; want 1 deferred, 1 left", st)
	}
	// Back: the missing shard is added on its backend and the manifest
	// revised to record it.
	f.faults[down].SetDown(false)
	st = mustRepair(t, s, &RepairOptions{Scan: ScanNone, RetryDeferred: true})
	if st.Repaired != 1 || st.Shards != 1 || st.Revised != 1 || st.QueueLeft != 0 {
		t.Fatalf("repair with the backend back: %+v; want 1 shard rebuilt, 1 manifest revised, empty queue", st)
	}
	after, err := s.Stat(ctx, "lake", "k", StatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !after.Protected || after.Shards != 6 || after.Manifest.Segments[0].Backends[missing] != down {
		t.Fatalf("after repair: protected %v, shards %d, shard %d on %q; want protected, 6, on %s",
			after.Protected, after.Shards, missing, after.Manifest.Segments[0].Backends[missing], down)
	}
	if after.ID != info.ID || after.Manifest.Prev != info.Manifest.Prev || !after.Time.Equal(info.Time) {
		t.Fatal("the revision changed the version's identity")
	}
	f.checkAll(s, false)
	f.checkRebuild(s)
}

// checkRebuild rebuilds an index from the backends alone and checks that
// it holds exactly the manifests of the live index.
func (f *fleet) checkRebuild(s *Store) {
	f.t.Helper()
	ctx := context.Background()
	dst, err := sqlite.Open(filepath.Join(f.t.TempDir(), "rebuilt.db"), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	defer dst.Close()
	rst, err := s.RebuildIndex(ctx, dst, nil)
	if err != nil || rst.Unreadable != 0 {
		f.t.Fatalf("RebuildIndex = %+v, %v; want no unreadable manifests", rst, err)
	}
	for _, b := range []string{"lake"} {
		err := s.eachVersion(ctx, b, "", true, func(v index.Version) error {
			got, err := dst.Version(ctx, v.Bucket, v.Key, v.ID)
			if err != nil {
				return fmt.Errorf("rebuilt index lacks %s/%s %s: %w", v.Bucket, v.Key, v.ID, err)
			}
			if !bytes.Equal(got.Manifest, v.Manifest) {
				return fmt.Errorf("rebuilt index holds another revision of %s/%s %s", v.Bucket, v.Key, v.ID)
			}
			return nil
		})
		if err != nil {
			f.t.Fatal(err)
		}
	}
}

// checkPlacement checks that every segment of every version keeps its
// shards on distinct configured backends, at most m per region.
func (f *fleet) checkPlacement(s *Store) {
	f.t.Helper()
	ctx := context.Background()
	err := s.eachVersion(ctx, "lake", "", true, func(v index.Version) error {
		m, err := manifest.Decode(v.Manifest, s.pub)
		if err != nil {
			return err
		}
		_, pieces := piecePlacement(m)
		sets := [][]string{pieces}
		for _, seg := range m.Segments {
			sets = append(sets, seg.Backends)
		}
		for _, set := range sets {
			per := map[string]int{}
			seen := map[string]bool{}
			for _, name := range set {
				bi, ok := s.byName[name]
				if !ok {
					return fmt.Errorf("%s: %q is not a configured backend (%v)", v.Key, name, set)
				}
				if seen[name] {
					return fmt.Errorf("%s: %s used twice (%v)", v.Key, name, set)
				}
				seen[name] = true
				per[s.pb[bi].Region]++
				if per[s.pb[bi].Region] > s.cfg.M {
					return fmt.Errorf("%s: more than m=%d in region %s (%v)", v.Key, s.cfg.M, s.pb[bi].Region, set)
				}
			}
		}
		if v.Shards != s.cfg.K+s.cfg.M && !v.DeleteMarker {
			return fmt.Errorf("%s: index records %d healthy shards; want %d", v.Key, v.Shards, s.cfg.K+s.cfg.M)
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// TestRepairMovesOffGoneBackend removes a backend from the config: its
// shards and pieces are rebuilt on the one other backend of its region
// (the others are at the region cap), and every manifest that referenced
// it, copies sharing a segment included, is revised.
func TestRepairMovesOffGoneBackend(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 7, 3) // region-a has three backends, b and c two
	s := f.open(nil)
	for i := range 8 {
		f.put(s, fmt.Sprintf("obj-%d", i), 70<<10*i+3)
	}
	src, err := s.Stat(ctx, "lake", "obj-5", StatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Copy(ctx, src, "lake", "copy-of-5", nil); err != nil {
		t.Fatal(err)
	}
	f.data["copy-of-5"] = f.data["obj-5"]
	if _, err := s.Delete(ctx, "lake", "obj-7", "test"); err != nil {
		t.Fatal(err)
	}
	delete(f.data, "obj-7")
	gone := "region-a-1"
	using := 0
	s.eachVersion(ctx, "lake", "", true, func(v index.Version) error {
		if s.references(v, gone) {
			using++
		}
		return nil
	})
	if using < 3 {
		t.Fatalf("only %d versions use %s; the test needs several", using, gone)
	}

	s2 := f.open([]string{gone})
	f.checkAll(s2, true) // readable while it is gone
	var results []RepairResult
	st, err := s2.Repair(ctx, nil, func(r RepairResult) error { results = append(results, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if st.Revised != int64(using) || st.Deferred != 0 || st.Unreadable != 0 {
		t.Fatalf("Repair = %+v; want %d manifests revised, nothing deferred\n%v", st, using, results)
	}
	for _, r := range results {
		for _, sh := range r.Shards {
			if sh.From != gone || !strings.HasPrefix(sh.To, "region-a-") || sh.Issue != IssueGone {
				t.Errorf("%s: shard %d moved %s -> %s (%s); want from %s to its region", r.Key, sh.Index, sh.From, sh.To, sh.Issue, gone)
			}
		}
	}
	f.checkPlacement(s2)
	f.checkAll(s2, false)
	f.checkRebuild(s2)
	a, _ := s2.Stat(ctx, "lake", "obj-5", StatOptions{})
	b, _ := s2.Stat(ctx, "lake", "copy-of-5", StatOptions{})
	if !slices.Equal(a.Manifest.Segments[0].Backends, b.Manifest.Segments[0].Backends) {
		t.Fatalf("the copy's manifest does not follow its shared segment: %v vs %v", a.Manifest.Segments[0].Backends, b.Manifest.Segments[0].Backends)
	}
	// A second repair finds nothing to do.
	if st := mustRepair(t, s2, nil); st.Versions != 0 || st.Scan.Repairable != 0 {
		t.Fatalf("second repair = %+v; want nothing found", st)
	}
}

func TestReplaceBackendResumes(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 6, 3)
	s := f.open(nil)
	for i := range 10 {
		f.put(s, fmt.Sprintf("obj-%d", i), 30<<10*i+1)
	}
	src, _ := s.Stat(ctx, "lake", "obj-3", StatOptions{})
	if _, err := s.Copy(ctx, src, "lake", "copy-of-3", nil); err != nil {
		t.Fatal(err)
	}
	f.data["copy-of-3"] = f.data["obj-3"]
	old := "region-b-1"
	segs := map[string]bool{}
	s.eachVersion(ctx, "lake", "", true, func(v index.Version) error {
		m, _ := manifest.Decode(v.Manifest, s.pub)
		for _, seg := range m.Segments {
			if slices.Contains(seg.Backends, old) {
				segs[seg.ID] = true
			}
		}
		return nil
	})
	nb := config.Backend{Name: "region-b-9", Region: "region-b", Type: "fs", Path: "unused"}
	// OLD stays configured (and readable) but nothing may be read from it.
	f.faults[old].SetDown(true)
	s2 := f.open(nil, nb)

	// Interrupted after a few versions ...
	cctx, cancel := context.WithCancel(ctx)
	first, err := s2.ReplaceBackend(cctx, old, nb.Name, &ReplaceOptions{Parallel: 2, Progress: func(p ReplaceProgress) {
		if p.Versions >= 4 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted ReplaceBackend = %v; want context.Canceled", err)
	}
	if _, err := s2.Index().State(ctx, replacePrefix+old); err != nil {
		t.Fatalf("no progress recorded for the interrupted replacement: %v", err)
	}
	// ... another replacement of the same backend is refused ...
	if _, err := s2.ReplaceBackend(ctx, old, "region-c-1", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("a second replacement of %s: %v; want ErrConflict", old, err)
	}
	// ... and the same command continues it.
	second, err := s2.ReplaceBackend(ctx, old, nb.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Resumed || first.Shards+second.Shards+second.Adopted < int64(len(segs)) || second.Elsewhere != 0 || first.Versions+second.Versions < 11 {
		t.Fatalf("replace: first %+v, then %+v; want resumed, every shard of %s moved to %s", first, second, old, nb.Name)
	}
	if _, err := s2.Index().State(ctx, replacePrefix+old); !errors.Is(err, index.ErrNoSuchState) {
		t.Fatalf("progress record left after a finished replacement: %v", err)
	}
	s.eachVersion(ctx, "lake", "", true, func(v index.Version) error {
		if s2.references(v, old) {
			t.Errorf("%s still references %s", v.Key, old)
		}
		return nil
	})
	// Nothing was read from OLD, and the store no longer needs it: not
	// for the versions, nor for the bucket manifest.
	if second.Records != 1 {
		t.Fatalf("replace copied %d record pieces; want the bucket manifest's piece", second.Records)
	}
	s3 := f.open([]string{old}, nb)
	f.checkAll(s3, false)
	f.checkPlacement(s3)
	f.checkRebuild(s3)
	if st, bad := scrubAll(t, s3, false); st.Records != 1 || st.RecordsDamaged != 0 || len(bad) != 0 {
		t.Fatalf("scrub without %s: %d records, %d damaged: %q; want the bucket manifest whole", old, st.Records, st.RecordsDamaged, bad)
	}
}

// pieceFault fails puts of manifest pieces with an index at or above from
// (a revision's new half), after running hook.
type pieceFault struct {
	backend.Backend
	from int
	hook func()
}

func (p *pieceFault) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if kind, _, i, ok := parseBlobName(name); ok && kind == "m" && i >= p.from {
		if p.hook != nil {
			p.hook()
		}
		return fmt.Errorf("injected: %w", backend.ErrUnavailable)
	}
	return p.Backend.Put(ctx, name, r, size)
}

type deleteFault struct{ backend.Backend }

func (d deleteFault) Delete(ctx context.Context, name string) error {
	return fmt.Errorf("injected: %w", backend.ErrUnavailable)
}

// TestRevisionInterrupted stops a manifest revision at its two delicate
// points and checks that the manifest stays readable from the backends
// alone and that the next repair finishes the job.
func TestRevisionInterrupted(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 7, 3)
	s := f.open(nil)
	var first *ObjectInfo
	for i := range 4 {
		if info := f.put(s, fmt.Sprintf("obj-%d", i), 50<<10); i == 0 {
			first = info
		}
	}
	// A backend of the region with three that holds a piece of obj-0, so
	// that there is something to revise (a fixed name is left out of
	// every placement now and then).
	var gone string
	for _, name := range first.Manifest.Placement {
		if strings.HasPrefix(name, "region-a-") {
			gone = name
			break
		}
	}
	reopen := func(wrap func(name string, b backend.Backend) backend.Backend) *Store {
		s2 := f.open([]string{gone})
		for i, b := range s2.backends {
			s2.backends[i] = wrap(s2.pb[i].Name, b)
		}
		return s2
	}

	// Crash while new pieces are written: some land, the index is not
	// updated. Two of the six succeed; then the process "dies".
	var puts atomic.Int64 // pieces are written in parallel
	crashed := reopen(func(name string, b backend.Backend) backend.Backend {
		return &pieceFault{Backend: b, from: 6, hook: func() { puts.Add(1) }}
	})
	st, err := crashed.Repair(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Revised != 0 || st.Deferred == 0 || puts.Load() == 0 {
		t.Fatalf("repair with failing piece writes = %+v (%d piece puts); want deferred, nothing revised", st, puts.Load())
	}
	f.checkRebuild(crashed)

	// Crash after the index took the revision, before old pieces went:
	// here, deletes fail.
	undeleted := reopen(func(name string, b backend.Backend) backend.Backend { return deleteFault{b} })
	st, err = undeleted.Repair(ctx, &RepairOptions{RetryDeferred: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Revised == 0 {
		t.Fatalf("repair = %+v; want manifests revised", st)
	}
	recs, _ := undeleted.Index().States(ctx, cleanupPrefix)
	if len(recs) == 0 {
		t.Fatal("no clean-up recorded while old pieces could not be removed")
	}

	// The next repair removes the stale pieces; every version is whole.
	s3 := f.open([]string{gone})
	st, err = s3.Repair(ctx, &RepairOptions{RetryDeferred: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.CleanedUp == 0 {
		t.Fatalf("repair = %+v; want stale pieces removed", st)
	}
	if recs, _ := s3.Index().States(ctx, cleanupPrefix); len(recs) != 0 {
		t.Fatalf("clean-up records left: %v", recs)
	}
	f.checkAll(s3, false)
	f.checkPlacement(s3)
	f.checkRebuild(s3)
	// Only the current revision's pieces remain on the backends.
	err = s3.eachVersion(ctx, "lake", "", true, func(v index.Version) error {
		m, _ := manifest.Decode(v.Manifest, s3.pub)
		for _, b := range s3.backends {
			err := b.List(ctx, "m/"+v.ID[30:]+"/"+v.ID, func(in backend.Info) error {
				_, _, i, _ := parseBlobName(in.Name)
				if i >= len(m.Placement) || m.Placement[i] == "" {
					return fmt.Errorf("stale piece %s left", in.Name)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDegradedReadQueuesRepair(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 6, 3)
	s := f.open(nil)
	f.put(s, "k", 200<<10)
	name, b := f.shardBlob(s, "k", 1)
	orig := blob(t, b, name)
	bad := bytes.Clone(orig)
	bad[100] ^= 0x80 // in the first block: the read sees it
	putBlob(t, b, name, bad)
	f.checkAll(s, true)
	q, err := s.Index().RepairQueue(ctx, timeZero, "", "", "", 0)
	if err != nil || len(q) != 1 || q[0].Reason != "read" || !strings.Contains(string(q[0].Data), IssueCorrupt) {
		t.Fatalf("queue after a degraded read = %+v, %v; want one entry naming the corrupt shard", q, err)
	}
	// Reading again within a minute does not queue it again.
	f.checkAll(s, true)
	if q2, _ := s.Index().RepairQueue(ctx, timeZero, "", "", "", 0); len(q2) != 1 || q2[0].Seq != q[0].Seq {
		t.Fatalf("a second degraded read requeued the version: %+v", q2)
	}
	// The quick scan cannot see a flipped bit; the queue entry can.
	st := mustRepair(t, s, &RepairOptions{Scan: ScanNone})
	if st.Shards != 1 || st.QueueLeft != 0 {
		t.Fatalf("repair from the queue = %+v; want the shard rebuilt", st)
	}
	if got := blob(t, b, name); !bytes.Equal(got, orig) {
		t.Fatal("rebuilt shard differs from the one first written")
	}
	f.checkAll(s, false)
}

func TestRepairUnreadable(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 6, 3)
	s := f.open(nil)
	f.put(s, "lost", 100<<10)
	f.put(s, "fine", 100<<10)
	for _, i := range []int{0, 2, 4} {
		name, b := f.shardBlob(s, "lost", i)
		b.Delete(ctx, name)
	}
	var res []RepairResult
	st, err := s.Repair(ctx, nil, func(r RepairResult) error { res = append(res, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if st.Unreadable != 1 || st.Repaired != 0 || len(res) != 1 || res[0].Key != "lost" || res[0].Outcome != Unreadable {
		t.Fatalf("repair with 3 of 6 shards gone = %+v %v; want lost unreadable", st, res)
	}
	q, _ := s.Index().RepairQueue(ctx, timeZero, "", "", "", 0)
	if len(q) != 1 || q[0].Attempts != 1 || q[0].LastError == "" || !q[0].NotBefore.After(s.now()) {
		t.Fatalf("queue = %+v; want the unreadable version kept with one attempt and a backoff", q)
	}
	delete(f.data, "lost")
	f.checkAll(s, true)
}

// TestRepairUnseenBadSource: one shard is missing (a quick scan sees it),
// another was replaced by the same shard of another object of the same
// size (valid checksums; only a full scrub or the roots tell). The fast
// Reed-Solomon rebuild uses it as a source; the roots expose it, and both
// shards come back exactly.
func TestRepairUnseenBadSource(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 6, 3)
	s := f.open(nil)
	f.put(s, "k", 200<<10)
	f.put(s, "other", 200<<10)
	n1, b1 := f.shardBlob(s, "k", 1)
	n2, b2 := f.shardBlob(s, "k", 2)
	o2, ob2 := f.shardBlob(s, "other", 2)
	orig1, orig2 := blob(t, b1, n1), blob(t, b2, n2)
	b1.Delete(ctx, n1)
	putBlob(t, b2, n2, blob(t, ob2, o2))

	var res RepairResult
	st, err := s.Repair(ctx, &RepairOptions{Scan: ScanQuick}, func(r RepairResult) error {
		if r.Key == "k" {
			res = r
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Shards != 2 || res.Outcome != Repaired {
		t.Fatalf("repair = %+v, %s; want shards 1 and 2 rebuilt", st, res)
	}
	if !bytes.Equal(blob(t, b1, n1), orig1) || !bytes.Equal(blob(t, b2, n2), orig2) {
		t.Fatal("shards after repair differ from those first written")
	}
	f.checkAll(s, false)
}

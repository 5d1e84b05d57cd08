package store

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/backend/faulty"
	"github.com/rhizome-data/rhizome/internal/backend/mem"
	"github.com/rhizome-data/rhizome/internal/config"
	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/index/sqlite"
)

type testStore struct {
	*Store
	faults    []*faulty.Backend
	priv      ed25519.PrivateKey
	indexPath string
}

// newTestStore builds a 4+2 store over six in-memory backends in three
// regions, each wrapped for fault injection, with a real SQLite index.
func newTestStore(t *testing.T, adjust ...func(*config.Config)) *testStore {
	t.Helper()
	return newTestStoreWith(t, func(c *config.Config) {
		for _, f := range adjust {
			f(c)
		}
	})
}

// noInline turns inlining off, for tests about shard files.
func noInline(c *config.Config) { zero := config.Size(0); c.InlineMax = &zero }

// newTestStoreWith lets a test adjust the config before the store opens.
func newTestStoreWith(t *testing.T, adjust func(*config.Config)) *testStore {
	t.Helper()
	cfg := config.Default(t.TempDir())
	cfg.BlockSize = 64 << 10
	if adjust != nil {
		adjust(cfg)
	}
	if _, err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	ts := &testStore{priv: priv}
	bs := make([]backend.Backend, len(cfg.Backends))
	for i := range bs {
		f := faulty.New(mem.New())
		ts.faults = append(ts.faults, f)
		bs[i] = f
	}
	ts.indexPath = filepath.Join(t.TempDir(), "index.db")
	idx, err := sqlite.Open(ts.indexPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, bs, idx, priv, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ts.Store = s
	if err := s.CreateBucket(context.Background(), "lake"); err != nil {
		t.Fatal(err)
	}
	return ts
}

func (ts *testStore) get(t *testing.T, key string) ([]byte, ReadReport, error) {
	t.Helper()
	ctx := context.Background()
	info, err := ts.Stat(ctx, "lake", key, StatOptions{})
	if err != nil {
		return nil, ReadReport{}, err
	}
	var buf bytes.Buffer
	rep, err := ts.Read(ctx, info, &buf, 0, -1)
	return buf.Bytes(), rep, err
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestPutGetRanges(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	data := random(300<<10 + 7)
	if _, err := ts.Put(ctx, "lake", "k", bytes.NewReader(data), &PutOptions{Size: int64(len(data)), SizeKnown: true}); err != nil {
		t.Fatal(err)
	}
	info, err := ts.Stat(ctx, "lake", "k", StatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int64{{0, 1}, {65535, 2}, {65536, 65536}, {100, -1}, {int64(len(data)) - 1, 1}, {0, int64(len(data)) + 100}} {
		var buf bytes.Buffer
		if _, err := ts.Read(ctx, info, &buf, r[0], r[1]); err != nil {
			t.Fatalf("Read(%d,%d): %v", r[0], r[1], err)
		}
		end := int64(len(data))
		if r[1] >= 0 && r[0]+r[1] < end {
			end = r[0] + r[1]
		}
		if !bytes.Equal(buf.Bytes(), data[r[0]:end]) {
			t.Fatalf("Read(%d,%d) differs", r[0], r[1])
		}
	}
	if _, err := ts.Read(ctx, info, io.Discard, int64(len(data)), 1); !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrRange) {
		t.Fatalf("Read past end: %v; want ErrInvalid wrapping ErrRange", err)
	}
}

func TestAnnouncedSizeMismatchCreatesNothing(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	_, err := ts.Put(ctx, "lake", "k", bytes.NewReader(random(1000)), &PutOptions{Size: 2000, SizeKnown: true})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("short body: err = %v; want ErrInvalid", err)
	}
	if _, err := ts.Stat(ctx, "lake", "k", StatOptions{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after failed put: Stat err = %v; want not found", err)
	}
	for i, f := range ts.faults {
		n := 0
		f.Unwrap().List(ctx, "d/", func(backend.Info) error { n++; return nil })
		if n != 0 {
			t.Fatalf("backend %d kept %d shard files of a failed put", i, n)
		}
	}
}

func TestBackendFailsMidWrite(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	ts.faults[0].FailPutAfter(100 << 10)
	data := random(1 << 20)
	info, err := ts.Put(ctx, "lake", "k", bytes.NewReader(data), nil)
	if err != nil {
		t.Fatalf("one backend failing mid-write: %v", err)
	}
	if info.Protected || info.Shards != 5 {
		t.Fatalf("Protected=%v Shards=%d; want under-protected with 5 shards", info.Protected, info.Shards)
	}
	ts.faults[0].Reset()
	got, _, err := ts.get(t, "k")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get after partial write: %v", err)
	}
	// Two failing mid-write: below quorum, nothing visible.
	ts.faults[1].FailPutAfter(10 << 10)
	ts.faults[2].FailPutAfter(10 << 10)
	if _, err := ts.Put(ctx, "lake", "k2", bytes.NewReader(data), nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("two failing: err = %v; want ErrUnavailable", err)
	}
	if _, err := ts.Stat(ctx, "lake", "k2", StatOptions{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed put visible: %v", err)
	}
}

func TestReadsWithFaults(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	data := random(500 << 10)
	info, err := ts.Put(ctx, "lake", "k", bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	// shard i's backend, so faults hit shards the read needs (data shards
	// 0..3 are read first; parity only on failure).
	sh := func(i int) *faulty.Backend { return ts.faults[ts.byName[info.Manifest.Segments[0].Backends[i]]] }
	cases := []struct {
		name    string
		inject  func()
		wantErr bool
	}{
		{"two data shards down", func() { sh(0).SetDown(true); sh(3).SetDown(true) }, false},
		{"reads fail mid-stream on two", func() { sh(1).FailGetAfter(70 << 10); sh(2).FailGetAfter(1) }, false},
		{"bit flips on a data and a parity shard", func() { sh(2).FlipBit(80<<10, 3); sh(4).FlipBit(200, 0) }, false},
		{"three down", func() {
			for _, i := range []int{0, 2, 4} {
				sh(i).SetDown(true)
			}
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range ts.faults {
				f.Reset()
			}
			tc.inject()
			got, rep, err := ts.get(t, "k")
			if tc.wantErr {
				if err == nil || !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("err = %v; want unavailable or corrupt", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get: %v (%d bytes)", err, len(got))
			}
			if !rep.Degraded || len(rep.Problems) == 0 {
				t.Fatalf("report %+v; want degraded with problems named", rep)
			}
		})
	}
}

func TestHashChainAndDeleteMarker(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	first, err := ts.Put(ctx, "lake", "k", strings.NewReader("a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := ts.Put(ctx, "lake", "k", strings.NewReader("b"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if second.Manifest.Prev == "" || second.Manifest.Prev == first.Manifest.Prev {
		t.Fatalf("second.Prev = %q; want the hash of the first manifest", second.Manifest.Prev)
	}
	vs, _ := ts.Versions(ctx, "lake", "k")
	if got := vs[1].Manifest; second.Manifest.Prev != hashOf(got) {
		t.Fatal("Prev does not match the previous envelope's hash")
	}
	if _, err := ts.Delete(ctx, "lake", "k", "test"); err != nil {
		t.Fatal(err)
	}
	_, err = ts.Stat(ctx, "lake", "k", StatOptions{})
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrDeleteMarker) {
		t.Fatalf("Stat after delete: %v; want not found (delete marker)", err)
	}
	if err := ts.DeleteBucket(ctx, "lake"); !errors.Is(err, ErrConflict) {
		t.Fatalf("DeleteBucket with versions: %v; want conflict", err)
	}
}

func TestRebuildFromAnyK(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	for i := 0; i < 6; i++ {
		if _, err := ts.Put(ctx, "lake", string(rune('a'+i%3)), bytes.NewReader(random(i*1000)), nil); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := ts.ListVersions(ctx, index.ListVersionsOptions{Bucket: "lake"})
	ts.faults[1].SetDown(true)
	ts.faults[4].SetDown(true)
	dst, err := sqlite.Open(filepath.Join(t.TempDir(), "rebuilt.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	st, err := ts.RebuildIndex(ctx, dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.BackendsDown != 2 || st.Unreadable != 0 {
		t.Fatalf("stats %+v", st)
	}
	got, _ := dst.ListVersions(ctx, index.ListVersionsOptions{Bucket: "lake"})
	if len(got.Versions) != len(want.Versions) {
		t.Fatalf("rebuilt %d versions; want %d", len(got.Versions), len(want.Versions))
	}
	for i := range got.Versions {
		g, w := got.Versions[i], want.Versions[i]
		if g.ID != w.ID || g.Key != w.Key || g.Size != w.Size || g.ETag != w.ETag || !bytes.Equal(g.Manifest, w.Manifest) || !g.Time.Equal(w.Time) {
			t.Fatalf("version %d: rebuilt %+v; want %+v", i, g, w)
		}
	}
}

func TestVersionIDsOrdered(t *testing.T) {
	ts := newTestStore(t)
	fixed := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ts.now = func() time.Time { return fixed } // a clock that stands still
	prev := ""
	for i := 0; i < 1000; i++ {
		id, tm := ts.newVersionID()
		if id <= prev {
			t.Fatalf("ID %s not after %s", id, prev)
		}
		if got, _ := VersionTime(id); !got.Equal(tm) {
			t.Fatalf("VersionTime(%s) = %v; want %v", id, got, tm)
		}
		prev = id
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{{"lake", true}, {"my-bucket.v2", true}, {"ab", false}, {"Upper", false}, {"-x-", false}, {"a..b", false}, {"192.168.1.1", false}} {
		if err := ValidBucket(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidBucket(%q) = %v; want ok=%v", tc.name, err, tc.ok)
		}
	}
	if err := ValidKey(strings.Repeat("k", 1025)); err == nil {
		t.Error("1025-byte key accepted")
	}
	if err := ValidKey("bad\x00key"); err == nil {
		t.Error("NUL in key accepted")
	}
	id := "18ea395d036c4f4d6a91f6502088b9be"
	for i, name := range []string{shardName(id, 3), pieceName(id, 5)} {
		kind, gotID, n, ok := parseBlobName(name)
		if !ok || gotID != id || (i == 0 && (kind != "d" || n != 3)) || (i == 1 && (kind != "m" || n != 5)) {
			t.Fatalf("parseBlobName(%q) = %s %s %d %v", name, kind, gotID, n, ok)
		}
	}
	for _, bad := range []string{"d/xx/" + id + ".1", "x/be/" + id + ".1", "d/be/" + id, "d/be/" + id + ".z"} {
		if _, _, _, ok := parseBlobName(bad); ok {
			t.Errorf("parseBlobName(%q) accepted", bad)
		}
	}
}

func hashOf(env []byte) string { return manifestHash(env) }

// A hanging backend is reported within the probe timeout, not after a
// listing that never ends.
func TestStatusWithHangingBackend(t *testing.T) {
	ts := newTestStore(t)
	ts.faults[2].Hang(faulty.OpAll)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	st, err := ts.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("Status took %v with one backend hanging", took)
	}
	b := st.Backends[2]
	if b.Reachable || !strings.Contains(b.Error, "no answer within") {
		t.Fatalf("hanging backend reported as %+v", b)
	}
	for i, b := range st.Backends {
		if i != 2 && !b.Reachable {
			t.Fatalf("backend %d reported unreachable: %s", i, b.Error)
		}
	}
}

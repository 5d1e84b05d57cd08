package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/config"
	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/index/sqlite"
	"github.com/rhizome-data/rhizome/internal/manifest"
)

// blobs counts the blobs under prefix ("d/" shards, "m/" pieces) on every
// backend.
func (ts *testStore) blobs(t *testing.T, prefix string) int {
	t.Helper()
	n := 0
	for _, f := range ts.faults {
		if err := f.Unwrap().List(context.Background(), prefix, func(backend.Info) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// onlyReader hides io.WriterTo and the size, as a stream of unknown length.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestInlineSmallObjects(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		size      int
		sizeKnown bool
		inline    bool
	}{
		{"empty", 0, true, true},
		{"one byte, unknown size", 1, false, true},
		{"at the limit", config.DefaultInline, true, true},
		{"at the limit, unknown size", config.DefaultInline, false, true},
		{"one past the limit", config.DefaultInline + 1, true, false},
		{"one past the limit, unknown size", config.DefaultInline + 1, false, false},
		{"large, unknown size", 300 << 10, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestStore(t)
			data := random(tc.size)
			var r io.Reader = onlyReader{bytes.NewReader(data)}
			opts := &PutOptions{}
			if tc.sizeKnown {
				r, opts.Size, opts.SizeKnown = bytes.NewReader(data), int64(tc.size), true
			}
			info, err := ts.Put(ctx, "lake", "k", r, opts)
			if err != nil {
				t.Fatal(err)
			}
			m := info.Manifest
			if got := len(m.Segments) == 0; got != tc.inline {
				t.Fatalf("inline = %v (%d segments); want %v", got, len(m.Segments), tc.inline)
			}
			shards := ts.blobs(t, "d/")
			if tc.inline && shards != 0 {
				t.Fatalf("%d shard files written for an inlined object", shards)
			}
			if !tc.inline && shards != 6 {
				t.Fatalf("%d shard files; want 6", shards)
			}
			if pieces := ts.blobs(t, "m/"); pieces != 6+6 { // + the bucket's
				t.Fatalf("%d manifest pieces; want 12", pieces)
			}
			if !info.Protected || m.Size != int64(tc.size) {
				t.Fatalf("protected %v size %d", info.Protected, m.Size)
			}
			got, _, err := ts.get(t, "k")
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get: %v (%d of %d bytes)", err, len(got), len(data))
			}
			if tc.size > 10 {
				var buf bytes.Buffer
				if _, err := ts.Read(ctx, info, &buf, 3, 7); err != nil || !bytes.Equal(buf.Bytes(), data[3:10]) {
					t.Fatalf("range read: %v %q", err, buf.Bytes())
				}
			}
			if res := ts.VerifyVersion(ctx, info.Version); res.Health != Healthy {
				t.Fatalf("verify: %+v", res)
			}
		})
	}
}

func TestInlineOff(t *testing.T) {
	ts := newTestStore(t, noInline)
	info, err := ts.Put(context.Background(), "lake", "k", strings.NewReader("small"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Manifest.Segments) != 1 || len(info.Manifest.Data) != 0 || ts.blobs(t, "d/") != 6 {
		t.Fatalf("inline_max 0 still inlined: %d segments, %d shard files", len(info.Manifest.Segments), ts.blobs(t, "d/"))
	}
}

func TestInlineConfigBounds(t *testing.T) {
	for _, v := range []config.Size{-1, config.MaxInline + 1} {
		c := config.Default(t.TempDir())
		c.InlineMax = &v
		if _, err := c.Check(); !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "inline_max") {
			t.Fatalf("inline_max %d: %v; want an error naming inline_max", v, err)
		}
	}
}

// An inlined object lives in its manifest pieces: it must survive what
// shards survive (m lost backends, damaged pieces), be found by an index
// rebuild, and have its pieces repaired.
func TestInlineSurvivesLossAndRepair(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	data := random(3000)
	info, err := ts.Put(ctx, "lake", "small", bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	copied, err := ts.Copy(ctx, info, "lake", "copy", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(copied.Manifest.Data, data) {
		t.Fatal("copy lost the inline bytes")
	}

	// Two backends gone: the index rebuild still finds both versions.
	ts.faults[0].SetDown(true)
	ts.faults[5].SetDown(true)
	dst, err := sqlite.Open(filepath.Join(t.TempDir(), "rebuilt.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if st, err := ts.RebuildIndex(ctx, dst, nil); err != nil || st.Unreadable != 0 {
		t.Fatalf("rebuild: %+v %v", st, err)
	}
	for _, key := range []string{"small", "copy"} {
		v, err := dst.Latest(ctx, "lake", key, timeZero)
		if err != nil {
			t.Fatalf("rebuilt index lacks %s: %v", key, err)
		}
		ri := &ObjectInfo{Version: v}
		if ri.Manifest, err = manifest.Decode(v.Manifest, ts.pub); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := ts.Read(ctx, ri, &buf, 0, -1); err != nil || !bytes.Equal(buf.Bytes(), data) {
			t.Fatalf("read %s from the rebuilt index: %v", key, err)
		}
	}
	ts.faults[0].SetDown(false)
	ts.faults[5].SetDown(false)

	// A piece deleted and another flipped out of band: verify names them,
	// repair rewrites them, verify is clean again.
	place := info.Manifest.Placement
	b1 := ts.faults[ts.byName[place[1]]].Unwrap()
	if err := b1.Delete(ctx, pieceName(info.ID, 1)); err != nil {
		t.Fatal(err)
	}
	ts.faults[ts.byName[place[3]]].FlipBit(40, 2)
	res := ts.VerifyVersion(ctx, info.Version)
	if res.Health != Damaged || len(res.BadPieces) != 2 {
		t.Fatalf("verify after damage: %+v; want two bad pieces", res)
	}
	ts.faults[ts.byName[place[3]]].Reset()
	// Make the flip permanent: rewrite the piece with the bit flipped.
	b3 := ts.faults[ts.byName[place[3]]].Unwrap()
	raw := readBlob(t, b3, pieceName(info.ID, 3))
	raw[40] ^= 4
	if err := b3.Put(ctx, pieceName(info.ID, 3), bytes.NewReader(raw), int64(len(raw))); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Repair(ctx, &RepairOptions{Scan: ScanFull}, nil); err != nil {
		t.Fatal(err)
	}
	if res := ts.VerifyVersion(ctx, info.Version); res.Health != Healthy {
		t.Fatalf("verify after repair: %+v", res)
	}
	got, _, err := ts.get(t, "small")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get after repair: %v", err)
	}
}

func readBlob(t *testing.T, b backend.Backend, name string) []byte {
	t.Helper()
	rc, err := b.Get(context.Background(), name, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A truncated small upload creates nothing, as a large one does.
func TestInlineTruncatedBody(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	_, err := ts.Put(ctx, "lake", "k", strings.NewReader("short"), &PutOptions{Size: 100, SizeKnown: true})
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrBodySize) {
		t.Fatalf("err = %v; want invalid body size", err)
	}
	_, err = ts.Put(ctx, "lake", "k", strings.NewReader("longer than said"), &PutOptions{Size: 4, SizeKnown: true})
	if !errors.Is(err, ErrBodySize) {
		t.Fatalf("err = %v; want invalid body size", err)
	}
	if _, err := ts.Stat(ctx, "lake", "k", StatOptions{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed put visible: %v", err)
	}
	if n := ts.blobs(t, "m/"); n != 6 { // the bucket's pieces only
		t.Fatalf("%d pieces left behind; want the bucket's 6", n)
	}
	if vs, err := ts.ListVersions(ctx, index.ListVersionsOptions{Bucket: "lake"}); err != nil || len(vs.Versions) != 0 {
		t.Fatalf("versions after failed puts: %v %v", vs, err)
	}
}

// Removing an inlined version after its retention removes its bytes: they
// were only ever in its pieces.
func TestInlineDeleteVersion(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	info, err := ts.Put(ctx, "lake", "k", strings.NewReader("secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ts.now = func() time.Time { return time.Now().Add(31 * 24 * time.Hour) }
	if err := ts.DeleteVersion(ctx, "lake", "k", info.ID, "t"); err != nil {
		t.Fatal(err)
	}
	for i, f := range ts.faults {
		f.Unwrap().List(ctx, "m/", func(b backend.Info) error {
			if strings.Contains(b.Name, info.ID) {
				t.Errorf("backend %d still holds piece %s of the removed version", i, b.Name)
			}
			return nil
		})
	}
	if _, err := ts.Stat(ctx, "lake", "k", StatOptions{VersionID: info.ID}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed version still readable: %v", err)
	}
}

// An inlined write that lands on five of six backends is under-protected
// in the index and in Status until repair adds the sixth piece; a scrub
// that finds a piece gone says so too.
func TestInlineUnderProtected(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	ts.faults[2].SetDown(true)
	info, err := ts.Put(ctx, "lake", "k", strings.NewReader("small"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ts.faults[2].SetDown(false)
	if info.Protected || info.Shards != 5 {
		t.Fatalf("protected %v, %d copies; want under-protected with 5", info.Protected, info.Shards)
	}
	st, err := ts.Status(ctx)
	if err != nil || st.UnderProtect != 1 {
		t.Fatalf("status: %d under-protected, %v; want 1", st.UnderProtect, err)
	}
	if _, err := ts.Repair(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	cur, _ := ts.Stat(ctx, "lake", "k", StatOptions{})
	if cur.Shards != 6 {
		t.Fatalf("after repair %d copies recorded; want 6", cur.Shards)
	}
	if st, _ := ts.Status(ctx); st.UnderProtect != 0 || st.Protected != 1 {
		t.Fatalf("status after repair: %+v", st)
	}
	// A piece lost out of band: a scrub counts five again.
	place := cur.Manifest.Placement
	if err := ts.faults[ts.byName[place[4]]].Unwrap().Delete(ctx, pieceName(cur.ID, 4)); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Scrub(ctx, ScrubOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	if cur, _ := ts.Stat(ctx, "lake", "k", StatOptions{}); cur.Shards != 5 {
		t.Fatalf("after a scrub that found a piece gone: %d copies recorded; want 5", cur.Shards)
	}
}

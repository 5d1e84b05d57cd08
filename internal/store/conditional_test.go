package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/rhizome-data/rhizome/internal/backend"
)

// blobCount counts every blob (shards and manifest pieces) on the backends.
func (ts *testStore) blobCount(t *testing.T) int {
	t.Helper()
	n := 0
	for _, b := range ts.faults {
		if err := b.List(context.Background(), "", func(backend.Info) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func TestConditionalPut(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	put := func(key, data string, c *Condition) (*ObjectInfo, error) {
		return ts.Put(ctx, "lake", key, bytes.NewReader([]byte(data)), &PutOptions{Size: int64(len(data)), SizeKnown: true, If: c})
	}
	first, err := put("k", "one", &Condition{IfNoneMatch: true})
	if err != nil {
		t.Fatalf("Put(If-None-Match, new key) = %v", err)
	}
	blobs := ts.blobCount(t)
	for _, tc := range []struct {
		name string
		key  string
		c    *Condition
		kind error
		why  error
	}{
		{"If-None-Match over an object", "k", &Condition{IfNoneMatch: true}, ErrConflict, ErrPreconditionFailed},
		{"If-Match with another ETag", "k", &Condition{IfMatch: "0123"}, ErrConflict, ErrPreconditionFailed},
		{"If-Match on a missing key", "nope", &Condition{IfMatch: first.ETag}, ErrNotFound, nil},
		{"If-Match: * on a missing key", "nope", &Condition{IfMatch: "*"}, ErrNotFound, nil},
	} {
		_, err := put(tc.key, "refused", tc.c)
		if !errors.Is(err, tc.kind) || (tc.why != nil && !errors.Is(err, tc.why)) {
			t.Errorf("%s: Put() = %v; want %v (%v)", tc.name, err, tc.kind, tc.why)
		}
	}
	if got := ts.blobCount(t); got != blobs {
		t.Errorf("refused puts left %d blobs; want none", got-blobs)
	}
	if vs, _ := ts.Versions(ctx, "lake", "k"); len(vs) != 1 {
		t.Errorf("Versions(k) = %d; want 1", len(vs))
	}
	second, err := put("k", "two", &Condition{IfMatch: `"` + first.ETag + `"`})
	if err != nil {
		t.Fatalf("Put(If-Match current ETag) = %v", err)
	}
	if _, err := put("k", "three", &Condition{IfMatch: first.ETag}); !errors.Is(err, ErrPreconditionFailed) {
		t.Errorf("Put(If-Match old ETag) = %v; want ErrPreconditionFailed", err)
	}
	// A delete marker is no object: If-None-Match succeeds, If-Match fails.
	if _, err := ts.Delete(ctx, "lake", "k", "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := put("k", "four", &Condition{IfMatch: second.ETag}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Put(If-Match over a delete marker) = %v; want ErrNotFound", err)
	}
	if _, err := put("k", "five", &Condition{IfNoneMatch: true}); err != nil {
		t.Errorf("Put(If-None-Match over a delete marker) = %v; want nil", err)
	}
	if got, _, err := ts.get(t, "k"); err != nil || string(got) != "five" {
		t.Errorf("get(k) = %q, %v; want five", got, err)
	}
}

// racingReader runs race once, when the write first reads its body: after
// the write's early check, before its commit.
type racingReader struct {
	r    io.Reader
	race func()
}

func (r *racingReader) Read(p []byte) (int, error) {
	if r.race != nil {
		r.race()
		r.race = nil
	}
	return r.r.Read(p)
}

// TestConditionalPutLosesRace checks the commit-time check: a write whose
// condition held when it began, but not when it commits, stores nothing.
func TestConditionalPutLosesRace(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	blobs := ts.blobCount(t)
	var winner *ObjectInfo
	body := &racingReader{r: bytes.NewReader(random(200 << 10)), race: func() {
		var err error
		winner, err = ts.Put(ctx, "lake", "k", bytes.NewReader([]byte("winner")), &PutOptions{If: &Condition{IfNoneMatch: true}})
		if err != nil {
			t.Errorf("winning Put() = %v", err)
		}
	}}
	_, err := ts.Put(ctx, "lake", "k", body, &PutOptions{If: &Condition{IfNoneMatch: true}})
	if !errors.Is(err, ErrConflict) || !errors.Is(err, ErrConditionalConflict) {
		t.Fatalf("losing Put() = %v; want ErrConditionalConflict", err)
	}
	if vs, _ := ts.Versions(ctx, "lake", "k"); len(vs) != 1 || winner == nil || vs[0].ID != winner.ID {
		t.Fatalf("Versions(k) = %v; want only the winner's", vs)
	}
	// The loser's shards and manifest pieces are gone: only the winner's
	// 6 pieces remain (its few bytes are inline in them).
	if got := ts.blobCount(t) - blobs; got != 6 {
		t.Errorf("%d new blobs; want 6 (the winner's pieces)", got)
	}
	if got, _, err := ts.get(t, "k"); err != nil || string(got) != "winner" {
		t.Errorf("get(k) = %q, %v; want winner", got, err)
	}
}

func TestConditionalCompleteAndCopy(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	if _, err := ts.Put(ctx, "lake", "k", bytes.NewReader([]byte("old")), nil); err != nil {
		t.Fatal(err)
	}
	u, err := ts.CreateUpload(ctx, "lake", "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ts.PutPart(ctx, u.ID, 1, bytes.NewReader([]byte("new")), nil)
	if err != nil {
		t.Fatal(err)
	}
	parts := []CompletePart{{Number: 1, ETag: p.ETag}}
	_, err = ts.CompleteUploadWith(ctx, u.ID, parts, &CompleteOptions{If: &Condition{IfNoneMatch: true}})
	if !errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("CompleteUploadWith(If-None-Match over an object) = %v; want ErrPreconditionFailed", err)
	}
	// The refused completion left the upload as it was.
	if ps, _, err := ts.ListParts(ctx, u.ID, 0, 0); err != nil || len(ps) != 1 {
		t.Fatalf("ListParts after a refused completion = %v, %v; want the part", ps, err)
	}
	cur, err := ts.Stat(ctx, "lake", "k", StatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := ts.CompleteUploadWith(ctx, u.ID, parts, &CompleteOptions{If: &Condition{IfMatch: cur.ETag}})
	if err != nil {
		t.Fatalf("CompleteUploadWith(If-Match current ETag) = %v", err)
	}
	if got, _, _ := ts.get(t, "k"); string(got) != "new" {
		t.Errorf("get(k) = %q; want new", got)
	}
	if _, err := ts.Copy(ctx, info, "lake", "k", &PutOptions{If: &Condition{IfNoneMatch: true}}); !errors.Is(err, ErrPreconditionFailed) {
		t.Errorf("Copy(If-None-Match over an object) = %v; want ErrPreconditionFailed", err)
	}
	if _, err := ts.Copy(ctx, info, "lake", "k2", &PutOptions{If: &Condition{IfNoneMatch: true}}); err != nil {
		t.Errorf("Copy(If-None-Match, new key) = %v", err)
	}
}

func TestPartChecksumsReachComplete(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	u, err := ts.CreateUpload(ctx, "lake", "k", &PutOptions{ChecksumAlgorithm: "CRC32", ChecksumType: "COMPOSITE"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ts.Upload(ctx, u.ID); err != nil || got.Opts.ChecksumAlgorithm != "CRC32" || got.Opts.ChecksumType != "COMPOSITE" {
		t.Fatalf("Upload() = %+v, %v; want the checksum algorithm and type kept", got, err)
	}
	one := random(MinPartSize)
	p1, err := ts.PutPart(ctx, u.ID, 1, bytes.NewReader(one), &PutOptions{Checksums: map[string]string{"CRC32": "sent"}})
	if err != nil {
		t.Fatal(err)
	}
	var seen int
	p2, err := ts.PutPart(ctx, u.ID, 2, bytes.NewReader([]byte("tail")), &PutOptions{
		Plain:    writerFunc(func(p []byte) (int, error) { seen += len(p); return len(p), nil }),
		PartSums: func() map[string]string { return map[string]string{"CRC32": "computed"} },
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != 4 || p2.Checksums["CRC32"] != "computed" {
		t.Errorf("PutPart with PartSums: Plain saw %d bytes, Checksums %v; want 4, computed", seen, p2.Checksums)
	}
	ps, _, err := ts.ListParts(ctx, u.ID, 0, 0)
	if err != nil || len(ps) != 2 || ps[0].Checksums["CRC32"] != "sent" || ps[1].Checksums["CRC32"] != "computed" {
		t.Fatalf("ListParts() = %+v, %v; want the parts' checksums", ps, err)
	}
	parts := []CompletePart{{Number: 1, ETag: p1.ETag}, {Number: 2, ETag: p2.ETag}}
	refuse := errors.New("refused by the checksum callback")
	_, err = ts.CompleteUploadWith(ctx, u.ID, parts, &CompleteOptions{Checksum: func([]Part) (map[string]string, error) { return nil, refuse }})
	if !errors.Is(err, refuse) {
		t.Fatalf("CompleteUploadWith(refusing callback) = %v; want its error", err)
	}
	var got []Part
	info, err := ts.CompleteUploadWith(ctx, u.ID, parts, &CompleteOptions{Checksum: func(ps []Part) (map[string]string, error) {
		got = ps
		return map[string]string{"CRC32": "object-2"}, nil
	}})
	if err != nil {
		t.Fatalf("CompleteUploadWith() = %v", err)
	}
	if len(got) != 2 || got[0].Number != 1 || got[0].Size != MinPartSize || got[1].Size != 4 || got[1].Checksums["CRC32"] != "computed" {
		t.Errorf("the callback got %+v; want parts 1 and 2 in order with sizes and checksums", got)
	}
	if info.Manifest.Checksums["CRC32"] != "object-2" {
		t.Errorf("object checksums = %v; want the callback's", info.Manifest.Checksums)
	}
	st, err := ts.Stat(ctx, "lake", "k", StatOptions{})
	if err != nil || st.Manifest.Checksums["CRC32"] != "object-2" {
		t.Errorf("Stat() checksums = %v, %v; want the callback's", st.Manifest.Checksums, err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

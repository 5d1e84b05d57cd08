package store

import (
	"bytes"
	"context"
	"errors"
	"github.com/rhizome-data/rhizome/internal/backend"
	"strings"
	"testing"
	"time"
)

func TestMultipartUpload(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	up, err := ts.CreateUpload(ctx, "lake", "big", &PutOptions{ContentType: "text/csv"})
	if err != nil {
		t.Fatal(err)
	}
	p1, p2, p3 := random(MinPartSize), random(MinPartSize+3), random(1000)
	put := func(n int, b []byte) *Part {
		t.Helper()
		p, err := ts.PutPart(ctx, up.ID, n, bytes.NewReader(b), &PutOptions{Size: int64(len(b)), SizeKnown: true})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	put(1, random(MinPartSize)) // replaced below
	e1 := put(1, p1)
	e2, e3 := put(2, p2), put(3, p3)
	put(4, random(10)) // uploaded but not listed: discarded on completion

	// Errors first: order, unknown part, wrong ETag, small part.
	for name, tc := range map[string]struct {
		parts []CompletePart
		want  error
	}{
		"order":     {[]CompletePart{{2, e2.ETag}, {1, e1.ETag}}, ErrInvalidPartOrder},
		"missing":   {[]CompletePart{{1, e1.ETag}, {7, "x"}}, ErrInvalidPart},
		"etag":      {[]CompletePart{{1, e2.ETag}}, ErrInvalidPart},
		"too small": {[]CompletePart{{3, e3.ETag}, {4, ""}}, ErrEntityTooSmall},
	} {
		if _, err := ts.CompleteUpload(ctx, up.ID, tc.parts, "t"); !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v; want %v", name, err, tc.want)
		}
	}
	ps, trunc, err := ts.ListParts(ctx, up.ID, 0, 2)
	if err != nil || len(ps) != 2 || !trunc || ps[0].Number != 1 || ps[0].ETag != e1.ETag {
		t.Fatalf("ListParts = %+v %v %v", ps, trunc, err)
	}
	info, err := ts.CompleteUpload(ctx, up.ID, []CompletePart{{1, `"` + e1.ETag + `"`}, {2, e2.ETag}, {3, e3.ETag}}, "t")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(info.ETag, "-3") || info.Size != int64(len(p1)+len(p2)+len(p3)) || info.Manifest.ContentType != "text/csv" {
		t.Fatalf("completed: etag %s size %d ct %q", info.ETag, info.Size, info.Manifest.ContentType)
	}
	got, _, err := ts.get(t, "big")
	want := append(append(append([]byte{}, p1...), p2...), p3...)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("get completed upload: %v (%d bytes, want %d)", err, len(got), len(want))
	}
	// A range across the part boundary.
	var buf bytes.Buffer
	if _, err := ts.Read(ctx, info, &buf, int64(len(p1))-10, 20); err != nil || !bytes.Equal(buf.Bytes(), want[len(p1)-10:len(p1)+10]) {
		t.Fatalf("range across parts: %v", err)
	}
	if _, err := ts.PutPart(ctx, up.ID, 5, strings.NewReader("x"), nil); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("part after completion: %v; want ErrNoSuchUpload", err)
	}
	// The replaced part and the unlisted part left no garbage.
	st, err := ts.CollectGarbage(ctx, 0, true)
	if err != nil || st.Segments != 0 {
		t.Fatalf("garbage after completion: %+v, %v", st, err)
	}
}

func TestAbortAndCleanUploads(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	up, _ := ts.CreateUpload(ctx, "lake", "k", nil)
	if _, err := ts.PutPart(ctx, up.ID, 1, strings.NewReader("abc"), nil); err != nil {
		t.Fatal(err)
	}
	if st, _ := ts.CollectGarbage(ctx, 0, true); st.Segments != 0 {
		t.Fatal("gc would remove the part of an upload in progress")
	}
	if err := ts.AbortUpload(ctx, up.ID); err != nil {
		t.Fatal(err)
	}
	if err := ts.AbortUpload(ctx, up.ID); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("second abort: %v", err)
	}
	if st, _ := ts.CollectGarbage(ctx, 0, true); st.Segments != 0 {
		t.Fatalf("abort left %d segments", st.Segments)
	}
	old, _ := ts.CreateUpload(ctx, "lake", "k", nil)
	ts.now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	fresh, _ := ts.CreateUpload(ctx, "lake", "k", nil)
	n, err := ts.CleanUploads(ctx, 24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("CleanUploads = %d, %v; want 1", n, err)
	}
	if _, _, err := ts.UploadBucketKey(ctx, old.ID); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatal("old upload survived cleaning")
	}
	if _, _, err := ts.UploadBucketKey(ctx, fresh.ID); err != nil {
		t.Fatal("fresh upload was cleaned")
	}
}

func TestCopyReferencesShards(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	data := random(200 << 10)
	src, err := ts.Put(ctx, "lake", "src", bytes.NewReader(data), &PutOptions{ContentType: "a/b", Meta: map[string]string{"x-amz-meta-a": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	puts := ts.faults[0].Calls(1) // shard writes so far on one backend
	dst, err := ts.Copy(ctx, src, "lake", "dst", nil)
	if err != nil {
		t.Fatal(err)
	}
	if dst.Manifest.Segments[0].ID != src.Manifest.Segments[0].ID || dst.Manifest.ContentType != "a/b" || dst.Manifest.Meta["x-amz-meta-a"] != "1" {
		t.Fatalf("copy does not reference the source's segment or lost metadata: %+v", dst.Manifest)
	}
	if got := ts.faults[0].Calls(1) - puts; got > 1 {
		t.Fatalf("copy wrote %d blobs to a backend; want at most one manifest piece", got)
	}
	got, _, err := ts.get(t, "dst")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatal("copy reads back wrong")
	}
	rep, _ := ts.Copy(ctx, src, "lake", "dst2", &PutOptions{ContentType: "c/d"})
	if rep.Manifest.ContentType != "c/d" || rep.Manifest.Meta != nil {
		t.Fatalf("REPLACE kept old metadata: %+v", rep.Manifest)
	}
}

func TestDeleteVersionRetention(t *testing.T) {
	ts := newTestStore(t, noInline) // so the version has shards for gc to remove
	ctx := context.Background()
	info, err := ts.Put(ctx, "lake", "k", strings.NewReader("v1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = ts.DeleteVersion(ctx, "lake", "k", info.ID, "t")
	if !errors.Is(err, ErrForbidden) || !errors.Is(err, ErrRetention) || !strings.Contains(err.Error(), "30 days") {
		t.Fatalf("DeleteVersion within retention: %v; want forbidden naming the period", err)
	}
	marker, _ := ts.Delete(ctx, "lake", "k", "t")
	if err := ts.DeleteVersion(ctx, "lake", "k", marker.ID, "t"); err != nil {
		t.Fatalf("removing a delete marker: %v", err)
	}
	if got, _, err := ts.get(t, "k"); err != nil || string(got) != "v1" {
		t.Fatalf("after removing the marker: %q, %v; want v1 current again", got, err)
	}
	ts.now = func() time.Time { return time.Now().Add(31 * 24 * time.Hour) }
	if err := ts.DeleteVersion(ctx, "lake", "k", info.ID, "t"); err != nil {
		t.Fatalf("DeleteVersion after retention: %v", err)
	}
	if _, err := ts.Stat(ctx, "lake", "k", StatOptions{VersionID: info.ID}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed version still readable: %v", err)
	}
	st, err := ts.CollectGarbage(ctx, 0, false)
	if err != nil || st.Segments != 1 || st.Shards != 6 {
		t.Fatalf("gc after removal = %+v, %v; want the version's 6 shards", st, err)
	}
	// A rebuild cannot resurrect it: none of its manifest pieces is left.
	for i, f := range ts.faults {
		f.Unwrap().List(ctx, "m/", func(b backend.Info) error {
			if strings.Contains(b.Name, info.ID) {
				t.Errorf("backend %d still holds piece %s of the removed version", i, b.Name)
			}
			return nil
		})
	}
}

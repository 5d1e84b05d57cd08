package indextest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/rhizome-data/rhizome/internal/index"
)

func testUploads(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	ctx := context.Background()
	if err := ix.CreateUpload(ctx, index.Upload{ID: "u0", Bucket: "nobucket", Key: "k"}); !errors.Is(err, index.ErrNoSuchBucket) {
		t.Fatalf("CreateUpload in a missing bucket: %v; want ErrNoSuchBucket", err)
	}
	if err := ix.CreateBucket(ctx, "b", t0); err != nil {
		t.Fatal(err)
	}
	keys := []string{"a/1", "a/2", "a/2", "b/é", "b/z"}
	for i, k := range keys {
		u := index.Upload{ID: fmt.Sprintf("u%d", i+1), Bucket: "b", Key: k, Created: minute(i), Meta: []byte("m")}
		if err := ix.CreateUpload(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ix.Upload(ctx, "u4")
	if err != nil || got.Key != "b/é" || !got.Created.Equal(minute(3)) || string(got.Meta) != "m" {
		t.Fatalf("Upload(u4) = %+v, %v", got, err)
	}
	if _, err := ix.Upload(ctx, "nope"); !errors.Is(err, index.ErrNoSuchUpload) {
		t.Fatalf("Upload(nope): %v; want ErrNoSuchUpload", err)
	}

	// Listing: order by key then ID, prefix (multi-byte), markers, limit.
	list := func(prefix, km, im string, limit int) (ids []string, trunc bool) {
		t.Helper()
		us, trunc, err := ix.Uploads(ctx, "b", prefix, km, im, limit)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			ids = append(ids, u.ID)
		}
		return ids, trunc
	}
	for _, tc := range []struct {
		prefix, km, im string
		limit          int
		want           string
		trunc          bool
	}{
		{"", "", "", 0, "[u1 u2 u3 u5 u4]", false}, // byte order: "b/z" < "b/é"
		{"a/", "", "", 0, "[u1 u2 u3]", false},
		{"b/é", "", "", 0, "[u4]", false},
		{"", "a/2", "u2", 0, "[u3 u5 u4]", false},
		{"", "a/2", "", 0, "[u5 u4]", false}, // key marker alone: after every upload of a/2
		{"", "", "", 2, "[u1 u2]", true},
	} {
		ids, trunc := list(tc.prefix, tc.km, tc.im, tc.limit)
		if fmt.Sprint(ids) != tc.want || trunc != tc.trunc {
			t.Errorf("Uploads(%q, %q, %q, %d) = %v, %v; want %s, %v", tc.prefix, tc.km, tc.im, tc.limit, ids, trunc, tc.want, tc.trunc)
		}
	}

	// Parts: replace returns the old part, listing by number.
	for _, n := range []int{3, 1, 2} {
		old, err := ix.PutPart(ctx, index.Part{UploadID: "u1", Number: n, ETag: fmt.Sprint("e", n), Size: int64(n), Modified: minute(n), Data: []byte{byte(n)}})
		if err != nil || old != nil {
			t.Fatalf("PutPart(%d) = %v, %v", n, old, err)
		}
	}
	old, err := ix.PutPart(ctx, index.Part{UploadID: "u1", Number: 2, ETag: "e2b", Size: 20, Modified: minute(9), Data: []byte{9}})
	if err != nil || old == nil || old.ETag != "e2" || old.Data[0] != 2 {
		t.Fatalf("replacing part 2: old = %+v, %v; want the first part 2", old, err)
	}
	ps, err := ix.Parts(ctx, "u1")
	if err != nil || len(ps) != 3 || ps[0].Number != 1 || ps[1].ETag != "e2b" || ps[2].Number != 3 || !ps[1].Modified.Equal(minute(9)) {
		t.Fatalf("Parts = %+v, %v", ps, err)
	}
	if _, err := ix.PutPart(ctx, index.Part{UploadID: "nope", Number: 1}); !errors.Is(err, index.ErrNoSuchUpload) {
		t.Fatalf("PutPart to a missing upload: %v", err)
	}
	if err := ix.DeleteUpload(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if ps, _ := ix.Parts(ctx, "u1"); len(ps) != 0 {
		t.Fatalf("parts survive their upload: %v", ps)
	}
	if err := ix.DeleteUpload(ctx, "u1"); !errors.Is(err, index.ErrNoSuchUpload) {
		t.Fatalf("second DeleteUpload: %v; want ErrNoSuchUpload", err)
	}
}

package s3api

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/store"
)

// FuzzParseRange checks that any Range header either is ignored, selects
// a non-empty range inside the object, or is unsatisfiable, and never
// panics; and that an accepted x-amz-copy-source-range lies inside the
// source.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=10-", "bytes=-5", "bytes=-0", "bytes=5-1", "bytes=0-1,3-4",
		"bytes= 1-2", "items=1-2", "bytes=99999999999999999999-", "bytes=-99999999999999999999", "bytes=1-2-3", ""} {
		f.Add(s, int64(100))
		f.Add(s, int64(0))
	}
	f.Fuzz(func(t *testing.T, hdr string, size int64) {
		if size < 0 {
			size = -size
		}
		if size < 0 {
			return
		}
		if off, length, err := parseCopyRange(hdr, size); err == nil && (off < 0 || length < 1 || off+length > size) {
			t.Fatalf("parseCopyRange(%q, %d) = %d+%d: outside the source", hdr, size, off, length)
		}
		off, length, ok, err := parseRange(hdr, size)
		switch {
		case err != nil:
			var ae *apiError
			if ok || !errors.As(err, &ae) || ae.code != "InvalidRange" {
				t.Fatalf("parseRange(%q, %d) = ok %v, %v; an error must be InvalidRange alone", hdr, size, ok, err)
			}
		case ok:
			if off < 0 || length < 1 || off+length > size {
				t.Fatalf("parseRange(%q, %d) = %d+%d: outside the object", hdr, size, off, length)
			}
		}
	})
}

// FuzzParseCopySource checks x-amz-copy-source parsing: no panics, and a
// source built the way clients build one parses back to its parts.
func FuzzParseCopySource(f *testing.F) {
	for _, s := range []string{"lake/k", "/lake/a%20b", "lake/k?versionId=0123456789abcdef0123456789abcdef", "lake", "/%zz", "a/b?x=y", "a/b?versionId="} {
		f.Add(s, "lake", "key/with space+plus", "")
	}
	f.Fuzz(func(t *testing.T, raw, bucket, key, version string) {
		cs, err := parseCopySource(raw)
		if err == nil && (cs.Bucket == "" || cs.Key == "" || len(cs.Key) > store.MaxKeyLen) {
			t.Fatalf("parseCopySource(%q) = %+v: accepted without bucket or key", raw, cs)
		}
		if bucket == "" || strings.ContainsAny(bucket, "/?%") || key == "" || len(key) > store.MaxKeyLen {
			return
		}
		src := url.PathEscape(bucket) + "/" + strings.ReplaceAll(url.PathEscape(key), "%2F", "/")
		if version != "" {
			src += "?versionId=" + url.QueryEscape(version)
		}
		cs, err = parseCopySource(src)
		if err != nil || cs.Bucket != bucket || cs.Key != key || cs.VersionID != version {
			t.Fatalf("parseCopySource(%q) = %+v, %v; want %q %q %q", src, cs, err, bucket, key, version)
		}
	})
}

// FuzzParseView checks time-travel bucket names: no panics, a view always
// names a valid real bucket, and a name made by the documented scheme
// parses back to its bucket and time.
func FuzzParseView(f *testing.F) {
	for _, s := range []string{"lake", "lake--at-20261122t100000z", "lake--cp-monday", "lake--at-", "--at-20261122t100000z",
		"a--at-b--cp-c", "lake--AT-20261122T100000Z", "lake--at-20261399t000000z", "x--cp-", "İ--at-20261122t100000z"} {
		f.Add(s, int64(1795312411))
	}
	f.Fuzz(func(t *testing.T, name string, unix int64) {
		v, err := parseView(name)
		if err == nil && v.isView() {
			if store.ValidBucket(v.Bucket) != nil || reservedBucketName(v.Bucket) {
				t.Fatalf("parseView(%q) = %+v: the real bucket is not a valid bucket name", name, v)
			}
		}
		if err == nil && !v.isView() && v.Bucket != name {
			t.Fatalf("parseView(%q) = %+v: a plain name must be kept", name, v)
		}
		if store.ValidBucket(name) != nil || reservedBucketName(name) || len(name) > 40 {
			return
		}
		at := time.Unix(unix%(1<<34), 0).UTC()
		if at.Year() < 1 || at.Year() > 9999 {
			return
		}
		vn := name + "--at-" + at.Format("20060102t150405z")
		v, err = parseView(vn)
		if err != nil || v.Bucket != name || !v.AsOf.Equal(at) {
			t.Fatalf("parseView(%q) = %+v, %v; want %s at %s", vn, v, err, name, at)
		}
	})
}

package s3api

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestVersionsAndDeletes(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{retainD: 1})
	ts.mkBucket(t, "lake")
	ctx := context.Background()
	c := ts.client
	v1 := aws.ToString(ts.put(t, "lake", "k", []byte("one")).VersionId)
	v2 := aws.ToString(ts.put(t, "lake", "k", []byte("two")).VersionId)

	del, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("lake"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	marker := aws.ToString(del.VersionId)
	if !aws.ToBool(del.DeleteMarker) || len(marker) != 32 {
		t.Errorf("DeleteObject = marker %v, version %q; want a delete marker with a version ID", aws.ToBool(del.DeleteMarker), marker)
	}

	// The current version is the marker: 404 with x-amz-delete-marker.
	req := ts.signedRequest(t, "GET", "/lake/k", nil, sha256Hex(nil), time.Now(), nil)
	status, h, body := ts.do(t, req)
	if status != 404 || errorCodeOf(body) != "NoSuchKey" || h.Get("X-Amz-Delete-Marker") != "true" || h.Get("X-Amz-Version-Id") != marker {
		t.Errorf("GET deleted key: %d %s, delete-marker %q, version %q; want 404 NoSuchKey, true, %s",
			status, errorCodeOf(body), h.Get("X-Amz-Delete-Marker"), h.Get("X-Amz-Version-Id"), marker)
	}
	// Old versions stay readable by ID.
	for id, want := range map[string]string{v1: "one", v2: "two"} {
		got, out := ts.get(t, "lake", "k", func(in *s3.GetObjectInput) { in.VersionId = aws.String(id) })
		if string(got) != want || aws.ToString(out.VersionId) != id {
			t.Errorf("GetObject(versionId=%s) = %q (version %s); want %q", id, got, aws.ToString(out.VersionId), want)
		}
	}
	// The marker itself by ID: 405.
	req = ts.signedRequest(t, "GET", "/lake/k?versionId="+marker, nil, sha256Hex(nil), time.Now(), nil)
	if status, h, body := ts.do(t, req); status != 405 || errorCodeOf(body) != "MethodNotAllowed" || h.Get("X-Amz-Delete-Marker") != "true" {
		t.Errorf("GET delete marker by ID: %d %s, delete-marker %q; want 405 MethodNotAllowed, true", status, errorCodeOf(body), h.Get("X-Amz-Delete-Marker"))
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("k"), VersionId: aws.String("0123456789abcdef0123456789abcdef")})
	wantCode(t, "GetObject unknown version", err, "NoSuchVersion", http.StatusNotFound)
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("k"), VersionId: aws.String("not-a-version")})
	wantCode(t, "GetObject malformed version", err, "InvalidArgument", http.StatusBadRequest)

	lv, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("lake")})
	if err != nil {
		t.Fatal(err)
	}
	if len(lv.DeleteMarkers) != 1 || aws.ToString(lv.DeleteMarkers[0].VersionId) != marker || !aws.ToBool(lv.DeleteMarkers[0].IsLatest) {
		t.Errorf("ListObjectVersions delete markers = %+v; want the marker, latest", lv.DeleteMarkers)
	}
	if len(lv.Versions) != 2 || aws.ToString(lv.Versions[0].VersionId) != v2 || aws.ToString(lv.Versions[1].VersionId) != v1 ||
		aws.ToBool(lv.Versions[0].IsLatest) || aws.ToBool(lv.Versions[1].IsLatest) {
		t.Errorf("ListObjectVersions versions = %v; want %s then %s, neither latest", versionIDs(lv.Versions), v2, v1)
	}

	// Removing a version within retention is refused, saying until when.
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("lake"), Key: aws.String("k"), VersionId: aws.String(v1)})
	wantCode(t, "DeleteObject(version within retention)", err, "AccessDenied", http.StatusForbidden)
	if err != nil && !strings.Contains(err.Error(), "may be removed after") {
		t.Errorf("retention refusal %q does not say when the version may be removed", err)
	}
	if n := ts.versionCount(t, "lake", "k"); n != 3 {
		t.Errorf("after refused version delete: %d versions; want 3", n)
	}
	// Removing the delete marker is always allowed and makes v2 current.
	dm, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("lake"), Key: aws.String("k"), VersionId: aws.String(marker)})
	if err != nil || !aws.ToBool(dm.DeleteMarker) || aws.ToString(dm.VersionId) != marker {
		t.Fatalf("DeleteObject(marker version) = %+v, %v; want the marker removed", dm, err)
	}
	if got, _ := ts.get(t, "lake", "k"); string(got) != "two" {
		t.Errorf("after removing the marker GetObject = %q; want two", got)
	}
	// After the retention period (1 day here) versions may be removed.
	ts.storeSkew.Store(int64(25 * time.Hour))
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("lake"), Key: aws.String("k"), VersionId: aws.String(v1)}); err != nil {
		t.Fatalf("DeleteObject(version after retention): %v", err)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("k"), VersionId: aws.String(v1)})
	wantCode(t, "GetObject(removed version)", err, "NoSuchVersion", http.StatusNotFound)
	// Removing it again succeeds (idempotent, as on S3).
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("lake"), Key: aws.String("k"), VersionId: aws.String(v1)}); err != nil {
		t.Errorf("DeleteObject(removed version) again: %v", err)
	}
	// A delete of a key that never existed still writes a marker.
	d2, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("lake"), Key: aws.String("never")})
	if err != nil || !aws.ToBool(d2.DeleteMarker) {
		t.Errorf("DeleteObject(never existed) = %+v, %v; want a delete marker", d2, err)
	}
}

func versionIDs(vs []types.ObjectVersion) []string {
	var out []string
	for _, v := range vs {
		out = append(out, aws.ToString(v.Key)+"@"+aws.ToString(v.VersionId))
	}
	return out
}

func TestDeleteObjects(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	ctx := context.Background()
	v := aws.ToString(ts.put(t, "lake", "a", []byte("a")).VersionId)
	ts.put(t, "lake", "b", []byte("b"))
	out, err := ts.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("lake"), Delete: &types.Delete{
		Objects: []types.ObjectIdentifier{{Key: aws.String("a")}, {Key: aws.String("b")}, {Key: aws.String("a"), VersionId: aws.String(v)}, {Key: aws.String("c")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Deleted) != 3 || len(out.Errors) != 1 {
		t.Fatalf("DeleteObjects: %d deleted, %d errors; want 3 and 1 (the retained version)", len(out.Deleted), len(out.Errors))
	}
	if e := out.Errors[0]; aws.ToString(e.Key) != "a" || aws.ToString(e.Code) != "AccessDenied" || aws.ToString(e.VersionId) != v {
		t.Errorf("DeleteObjects error = %s %s %s; want a %s AccessDenied", aws.ToString(e.Key), aws.ToString(e.VersionId), aws.ToString(e.Code), v)
	}
	for _, d := range out.Deleted {
		if !aws.ToBool(d.DeleteMarker) || len(aws.ToString(d.DeleteMarkerVersionId)) != 32 {
			t.Errorf("Deleted %s: marker %v id %q; want a delete marker", aws.ToString(d.Key), aws.ToBool(d.DeleteMarker), aws.ToString(d.DeleteMarkerVersionId))
		}
	}
	ts.put(t, "lake", "q", []byte("q"))
	quiet, err := ts.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("lake"), Delete: &types.Delete{
		Quiet: aws.Bool(true), Objects: []types.ObjectIdentifier{{Key: aws.String("q")}},
	}})
	if err != nil || len(quiet.Deleted) != 0 || len(quiet.Errors) != 0 {
		t.Errorf("quiet DeleteObjects = %d deleted, %d errors, %v; want nothing listed", len(quiet.Deleted), len(quiet.Errors), err)
	}
	if _, err := ts.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("lake"), Key: aws.String("q")}); httpStatus(err) != 404 {
		t.Errorf("HeadObject after quiet delete: %v; want 404", err)
	}
	_, err = ts.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("nope"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("q")}}}})
	wantCode(t, "DeleteObjects(no bucket)", err, "NoSuchBucket", http.StatusNotFound)

	// Malformed and oversized bodies.
	for name, tc := range map[string]struct{ body, code string }{
		"not XML":        {"<Delete><Object><Key>a</Key>", "MalformedXML"},
		"no objects":     {"<Delete></Delete>", "MalformedXML"},
		"DTD":            {`<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]><Delete><Object><Key>&x;</Key></Object></Delete>`, "MalformedXML"},
		"too many":       {"<Delete>" + strings.Repeat("<Object><Key>k</Key></Object>", 1001) + "</Delete>", "MalformedXML"},
		"wrong root":     {"<Remove><Object><Key>a</Key></Object></Remove>", "MalformedXML"},
		"oversized body": {"<Delete>" + strings.Repeat(" ", 5<<20) + "</Delete>", "MaxMessageLengthExceeded"},
	} {
		b := []byte(tc.body)
		req := ts.signedRequest(t, "POST", "/lake?delete", bytes.NewReader(b), sha256Hex(b), time.Now(), nil)
		if status, _, body := ts.do(t, req); status != 400 || errorCodeOf(body) != tc.code {
			t.Errorf("DeleteObjects %s: %d %s; want 400 %s", name, status, errorCodeOf(body), tc.code)
		}
	}
}

func TestCopyObject(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	ts.mkBucket(t, "other")
	ctx := context.Background()
	data := random(3 << 20)
	src := ts.put(t, "lake", "src key+odd", data, func(in *s3.PutObjectInput) {
		in.ContentType = aws.String("text/csv")
		in.Metadata = map[string]string{"a": "1"}
	})
	before := ts.blobFiles(t)

	cp, err := ts.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("other"), Key: aws.String("copy"),
		CopySource: aws.String("lake/src%20key%2Bodd")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(cp.CopyObjectResult.ETag) != aws.ToString(src.ETag) || aws.ToString(cp.CopySourceVersionId) != aws.ToString(src.VersionId) {
		t.Errorf("CopyObject = ETag %s, source version %s; want %s, %s", aws.ToString(cp.CopyObjectResult.ETag),
			aws.ToString(cp.CopySourceVersionId), aws.ToString(src.ETag), aws.ToString(src.VersionId))
	}
	got, g := ts.get(t, "other", "copy")
	if !bytes.Equal(got, data) || aws.ToString(g.ContentType) != "text/csv" || g.Metadata["a"] != "1" {
		t.Errorf("copy (COPY directive) = %d bytes, type %q, meta %v; want the source's bytes, text/csv, a=1", len(got), aws.ToString(g.ContentType), g.Metadata)
	}
	// No shard was written: only manifest pieces.
	for _, f := range newBlobs(before, ts.blobFiles(t)) {
		if strings.Contains(f, "/d/") {
			t.Errorf("CopyObject wrote shard file %s; a copy must reference the source's shards", f)
		}
	}

	// REPLACE takes the request's metadata.
	_, err = ts.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("lake"), Key: aws.String("src key+odd"),
		CopySource: aws.String("/lake/src%20key%2Bodd"), MetadataDirective: types.MetadataDirectiveReplace,
		ContentType: aws.String("application/json"), Metadata: map[string]string{"b": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	_, g = ts.get(t, "lake", "src key+odd")
	if aws.ToString(g.ContentType) != "application/json" || g.Metadata["b"] != "2" || g.Metadata["a"] != "" {
		t.Errorf("REPLACE copy = type %q, meta %v; want application/json, only b=2", aws.ToString(g.ContentType), g.Metadata)
	}
	// Copying onto itself without a change is illegal; from an older
	// version it restores that version.
	_, err = ts.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("lake"), Key: aws.String("src key+odd"), CopySource: aws.String("lake/src%20key%2Bodd")})
	wantCode(t, "CopyObject onto itself", err, "InvalidRequest", http.StatusBadRequest)
	_, err = ts.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("lake"), Key: aws.String("src key+odd"),
		CopySource: aws.String("lake/src%20key%2Bodd?versionId=" + aws.ToString(src.VersionId))})
	if err != nil {
		t.Fatalf("CopyObject from the old version: %v", err)
	}
	_, g = ts.get(t, "lake", "src key+odd")
	if aws.ToString(g.ContentType) != "text/csv" {
		t.Errorf("restored version has type %q; want text/csv", aws.ToString(g.ContentType))
	}

	for name, tc := range map[string]struct{ src, code string }{
		"missing key":     {"lake/nope", "NoSuchKey"},
		"missing bucket":  {"nobucket/k", "NoSuchBucket"},
		"no key":          {"lake", "InvalidArgument"},
		"bad version":     {"lake/src%20key%2Bodd?versionId=0123456789abcdef0123456789abcdef", "NoSuchVersion"},
		"bad escape":      {"lake/%zz", "InvalidArgument"},
		"other parameter": {"lake/k?foo=bar", "InvalidArgument"},
	} {
		_, err := ts.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("other"), Key: aws.String("x"), CopySource: aws.String(tc.src)})
		wantCode(t, "CopyObject "+name, err, tc.code, 0)
	}
	// Copy-source conditions fail with 412.
	_, err = ts.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("other"), Key: aws.String("x"),
		CopySource: aws.String("lake/src%20key%2Bodd"), CopySourceIfMatch: aws.String(`"nope"`)})
	wantCode(t, "CopyObject if-match miss", err, "PreconditionFailed", http.StatusPreconditionFailed)
	_, err = ts.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("other"), Key: aws.String("x"),
		CopySource: aws.String("lake/src%20key%2Bodd"), CopySourceIfNoneMatch: aws.String(aws.ToString(src.ETag))})
	wantCode(t, "CopyObject if-none-match hit", err, "PreconditionFailed", http.StatusPreconditionFailed)
}

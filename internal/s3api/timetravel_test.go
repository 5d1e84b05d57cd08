package s3api

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// viewAt returns the time-travel bucket name of bucket at t.
func viewAt(bucket string, t time.Time) string {
	return bucket + "--at-" + t.UTC().Format("20060102t150405z")
}

// timeTravelState writes a first state of bucket lake, waits for the next
// whole second T, then changes it: a is overwritten, c deleted, d created.
// It returns T and the version IDs of the first state.
func timeTravelState(t *testing.T, ts *testServer) (time.Time, map[string]string) {
	t.Helper()
	ctx := context.Background()
	ts.mkBucket(t, "lake")
	first := map[string]string{}
	for _, k := range []string{"a", "b", "c", "dir/e"} {
		first[k] = aws.ToString(ts.put(t, "lake", k, []byte(k+"-old")).VersionId)
	}
	at := time.Now().UTC().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(at) + 10*time.Millisecond)
	ts.put(t, "lake", "a", []byte("a-new"))
	if _, err := ts.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("lake"), Key: aws.String("c")}); err != nil {
		t.Fatal(err)
	}
	ts.put(t, "lake", "d", []byte("d-new"))
	return at, first
}

func TestTimeTravelViews(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{domains: []string{"s3.test"}})
	ctx := context.Background()
	c := ts.client
	at, first := timeTravelState(t, ts)
	view := viewAt("lake", at)

	keys := func(c *s3.Client, bucket string) []string {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatalf("ListObjectsV2(%s): %v", bucket, err)
		}
		var ks []string
		for _, o := range out.Contents {
			ks = append(ks, aws.ToString(o.Key))
		}
		if aws.ToString(out.Name) != bucket {
			t.Errorf("ListObjectsV2 Name = %q; want %q", aws.ToString(out.Name), bucket)
		}
		return ks
	}
	if got := keys(c, "lake"); !slices.Equal(got, []string{"a", "b", "d", "dir/e"}) {
		t.Errorf("lake now = %v", got)
	}
	if got := keys(c, view); !slices.Equal(got, []string{"a", "b", "c", "dir/e"}) {
		t.Errorf("%s = %v; want a b c dir/e", view, got)
	}
	for k, want := range map[string]string{"a": "a-old", "c": "c-old", "b": "b-old"} {
		if got, out := ts.get(t, view, k); string(got) != want || aws.ToString(out.VersionId) != first[k] {
			t.Errorf("GET %s/%s = %q (version %s); want %q (%s)", view, k, got, aws.ToString(out.VersionId), want, first[k])
		}
	}
	_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(view), Key: aws.String("d")})
	wantCode(t, "GET a key created after the view's time", err, "NoSuchKey", http.StatusNotFound)
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(view)}); err != nil {
		t.Errorf("HeadBucket(%s): %v", view, err)
	}
	// A version written after the view's time is not in the view.
	newA, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("lake"), Key: aws.String("a")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(view), Key: aws.String("a"), VersionId: newA.VersionId})
	wantCode(t, "GET a later version through the view", err, "NoSuchVersion", http.StatusNotFound)
	// Versions in the view: only those written up to its time, latest as then.
	lv, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(view)})
	if err != nil {
		t.Fatal(err)
	}
	if len(lv.Versions) != 4 || len(lv.DeleteMarkers) != 0 {
		t.Errorf("ListObjectVersions(view) = %d versions, %d markers; want 4, 0", len(lv.Versions), len(lv.DeleteMarkers))
	}
	for _, v := range lv.Versions {
		if !aws.ToBool(v.IsLatest) || aws.ToString(v.VersionId) != first[aws.ToString(v.Key)] {
			t.Errorf("view version %s@%s latest=%v; want the first-state version, latest", aws.ToString(v.Key), aws.ToString(v.VersionId), aws.ToBool(v.IsLatest))
		}
	}

	// Views are read-only.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(view), Key: aws.String("x"), Body: strings.NewReader("x")})
	wantCode(t, "PutObject into a view", err, "AccessDenied", http.StatusForbidden)
	if err != nil && !strings.Contains(err.Error(), "read-only") {
		t.Errorf("PutObject into a view: %q does not say the view is read-only", err)
	}
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(view), Key: aws.String("a")})
	wantCode(t, "DeleteObject in a view", err, "AccessDenied", http.StatusForbidden)
	_, err = c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(view), Key: aws.String("x")})
	wantCode(t, "CreateMultipartUpload in a view", err, "AccessDenied", http.StatusForbidden)
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(view)})
	wantCode(t, "CreateBucket of a view name", err, "InvalidBucketName", http.StatusBadRequest)
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(view)})
	wantCode(t, "DeleteBucket of a view", err, "AccessDenied", http.StatusForbidden)

	// Restoring yesterday's file is a copy out of the view.
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("lake"), Key: aws.String("a"), CopySource: aws.String(view + "/a")}); err != nil {
		t.Fatalf("CopyObject from the view: %v", err)
	}
	if got, _ := ts.get(t, "lake", "a"); string(got) != "a-old" {
		t.Errorf("after restoring from the view lake/a = %q; want a-old", got)
	}
	// The view itself did not change.
	if got := keys(c, view); !slices.Equal(got, []string{"a", "b", "c", "dir/e"}) {
		t.Errorf("%s after the restore = %v", view, got)
	}

	// Virtual-hosted style: lake--at-....s3.test.
	vh := ts.newClient(adminKey, adminSecret, func(o *s3.Options) {
		o.UsePathStyle = false
		_, port, _ := net.SplitHostPort(ts.hs.Listener.Addr().String())
		o.BaseEndpoint = aws.String("http://s3.test:" + port)
		o.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: dialAlways(ts.hs.Listener.Addr().String())}}
	})
	ts.record.Store(true)
	got := keys(vh, view)
	ts.record.Store(false)
	if !slices.Equal(got, []string{"a", "b", "c", "dir/e"}) {
		t.Errorf("virtual-hosted %s = %v; want a b c dir/e", view, got)
	}
	ts.recMu.Lock()
	var hosts []string
	for _, h := range ts.recorded {
		hosts = append(hosts, h.Get("Host"))
	}
	ts.recMu.Unlock()
	if len(hosts) == 0 || !strings.HasPrefix(hosts[0], view+".s3.test:") {
		t.Errorf("virtual-hosted requests went to hosts %v; want %s.s3.test", hosts, view)
	}
	if b, _ := ts.get(t, "lake", "b"); string(b) != "b-old" {
		t.Errorf("lake/b = %q", b)
	}

	// Upper-case letters in the time are accepted in path style.
	req := ts.signedRequest(t, "GET", "/lake--at-"+at.Format("20060102T150405Z")+"/c", nil, sha256Hex(nil), time.Now(), nil)
	if status, _, body := ts.do(t, req); status != 200 || body != "c-old" {
		t.Errorf("GET upper-case view name: %d %q; want 200 c-old", status, body)
	}
}

func TestTimeTravelErrors(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ctx := context.Background()
	ts.mkBucket(t, "lake")
	ts.put(t, "lake", "k", []byte("v"))
	for _, tc := range []struct{ bucket, code string }{
		{"lake--at-2026", "InvalidBucketName"},
		{"lake--at-20261399t000000z", "InvalidBucketName"},
		{"lake--at-20261122t100000", "InvalidBucketName"},
		{"lake--cp-monday", "NoSuchBucket"}, // no such checkpoint
		{"nope--at-20261122t100000z", "NoSuchBucket"},
		{"lake--at-20000101t000000z", "NoSuchBucket"}, // before the bucket existed
	} {
		_, err := ts.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(tc.bucket)})
		wantCode(t, "ListObjectsV2("+tc.bucket+")", err, tc.code, 0)
	}
	// A checkpoint view shows the bucket when the checkpoint was taken.
	if _, err := ts.st.CreateCheckpoint(ctx, "lake", "", "before-change", "test"); err != nil {
		t.Fatal(err)
	}
	ts.mkBucket(t, "other")
	if _, err := ts.st.CreateCheckpoint(ctx, "other", "", "of-other", "test"); err != nil {
		t.Fatal(err)
	}
	ts.put(t, "lake", "k", []byte("changed"))
	ts.put(t, "lake", "new", []byte("new"))
	if got, _ := ts.get(t, "lake--cp-before-change", "k"); string(got) != "v" {
		t.Errorf("GET lake--cp-before-change/k = %q; want v", got)
	}
	out, err := ts.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake--cp-before-change")})
	if err != nil || len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "k" {
		t.Errorf("ListObjectsV2(lake--cp-before-change) = %+v, %v; want only k", out, err)
	}
	_, err = ts.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake--cp-of-other")})
	wantCode(t, "a checkpoint of another bucket", err, "NoSuchBucket", http.StatusNotFound)
	_, err = ts.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake--cp-before-change"), Key: aws.String("x"), Body: strings.NewReader("x")})
	wantCode(t, "PutObject into a checkpoint view", err, "AccessDenied", http.StatusForbidden)
}

package s3api

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestTimeTravelListingsFilterPrefixes checks that every listing of a view
// (ListObjectVersions, ListObjectsV2, ListObjects) shows only what existed
// at the view's time, common prefixes included, in --at- and --cp- views.
func TestTimeTravelListingsFilterPrefixes(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{small: true})
	ctx := context.Background()
	c := ts.client
	ts.mkBucket(t, "lake")
	for _, k := range []string{"old/a", "mixed/x", "top"} {
		ts.put(t, "lake", k, []byte(k))
	}
	if _, err := ts.st.CreateCheckpoint(ctx, "lake", "", "before", "test"); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(at) + 10*time.Millisecond)
	// After the view's time: a prefix that did not exist, a new key in an
	// old prefix, a new top-level key, new versions and a delete marker.
	for _, k := range []string{"new/b", "new/deep/c", "mixed/y", "top-new", "top", "top", "top"} {
		ts.put(t, "lake", k, []byte(k))
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("lake"), Key: aws.String("old/a")}); err != nil {
		t.Fatal(err)
	}

	for _, view := range []string{viewAt("lake", at), "lake--cp-before"} {
		// ListObjectVersions, walked one entry per page so that versions
		// written later cannot hide behind a page's limit either.
		var prefixes, versions []string
		in := &s3.ListObjectVersionsInput{Bucket: aws.String(view), Delimiter: aws.String("/"), MaxKeys: aws.Int32(1)}
		for page := 0; ; page++ {
			out, err := c.ListObjectVersions(ctx, in)
			if err != nil {
				t.Fatalf("ListObjectVersions(%s) page %d: %v", view, page, err)
			}
			for _, p := range out.CommonPrefixes {
				prefixes = append(prefixes, aws.ToString(p.Prefix))
			}
			for _, v := range out.Versions {
				versions = append(versions, aws.ToString(v.Key))
				if !aws.ToBool(v.IsLatest) {
					t.Errorf("%s: version %s of %s is not latest; it was then", view, aws.ToString(v.VersionId), aws.ToString(v.Key))
				}
			}
			if len(out.DeleteMarkers) != 0 {
				t.Errorf("%s: ListObjectVersions shows delete markers %v written after the view's time", view, out.DeleteMarkers)
			}
			if n := len(out.CommonPrefixes) + len(out.Versions) + len(out.DeleteMarkers); n != 1 && aws.ToBool(out.IsTruncated) {
				t.Errorf("%s: truncated page %d holds %d entries; want 1", view, page, n)
			}
			if !aws.ToBool(out.IsTruncated) || page > 20 {
				break
			}
			in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
		}
		if want := []string{"mixed/", "old/"}; !slices.Equal(prefixes, want) {
			t.Errorf("%s: ListObjectVersions CommonPrefixes = %q; want %q", view, prefixes, want)
		}
		if want := []string{"top"}; !slices.Equal(versions, want) {
			t.Errorf("%s: ListObjectVersions Versions = %q; want %q", view, versions, want)
		}
		under, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(view), Prefix: aws.String("new/")})
		if err != nil || len(under.Versions)+len(under.DeleteMarkers)+len(under.CommonPrefixes) != 0 {
			t.Errorf("%s: ListObjectVersions(new/) = %v; want nothing", view, err)
		}

		// ListObjectsV2 and ListObjects.
		v2, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(view), Delimiter: aws.String("/")})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := prefixesOf(v2.CommonPrefixes), []string{"mixed/", "old/"}; !slices.Equal(got, want) {
			t.Errorf("%s: ListObjectsV2 CommonPrefixes = %q; want %q", view, got, want)
		}
		if len(v2.Contents) != 1 || aws.ToString(v2.Contents[0].Key) != "top" || aws.ToInt32(v2.KeyCount) != 3 {
			t.Errorf("%s: ListObjectsV2 Contents = %d objects, KeyCount %d; want top, 3", view, len(v2.Contents), aws.ToInt32(v2.KeyCount))
		}
		v1, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String(view), Delimiter: aws.String("/")})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := prefixesOf(v1.CommonPrefixes), []string{"mixed/", "old/"}; !slices.Equal(got, want) {
			t.Errorf("%s: ListObjects CommonPrefixes = %q; want %q", view, got, want)
		}
		if len(v1.Contents) != 1 || aws.ToString(v1.Contents[0].Key) != "top" {
			t.Errorf("%s: ListObjects Contents = %d objects; want top", view, len(v1.Contents))
		}
		mixed, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(view), Prefix: aws.String("mixed/")})
		if err != nil || len(mixed.Contents) != 1 || aws.ToString(mixed.Contents[0].Key) != "mixed/x" {
			t.Errorf("%s: ListObjectsV2(mixed/) = %v; want only mixed/x", view, err)
		}
	}

	// The bucket itself shows the present.
	now, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("lake"), Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := prefixesOf(now.CommonPrefixes), []string{"mixed/", "new/", "old/"}; !slices.Equal(got, want) {
		t.Errorf("lake: ListObjectVersions CommonPrefixes = %q; want %q", got, want)
	}
}

func prefixesOf(ps []types.CommonPrefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, aws.ToString(p.Prefix))
	}
	return out
}

package s3api

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// listingKeys returns n keys in a few directories, with neighbours that
// sort around the delimiter ("d01-x" < "d01.x" < "d01/..." byte-wise),
// spaces, '+', '%' and non-ASCII characters.
func listingKeys(n int) []string {
	var keys []string
	odd := []string{"d01-x", "d01.x", "d01", "d010/z", "space key", "plus+key", "pct%key", "ünï/cödé", "日本/データ", "z/deep/er/key", "z/a"}
	keys = append(keys, odd...)
	for i := 0; len(keys) < n; i++ {
		keys = append(keys, fmt.Sprintf("d%02d/part-%05d.parquet", i%17, i))
	}
	return keys
}

// fill stores one small object per key through the gateway, concurrently.
func fill(t *testing.T, ts *testServer, bucket string, keys []string) {
	t.Helper()
	var wg sync.WaitGroup
	work := make(chan string)
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				_, err := ts.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader(k)})
				if err != nil {
					select {
					case errs <- fmt.Errorf("PutObject(%s): %w", k, err):
					default:
					}
				}
			}
		}()
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// rollup computes the expected ListObjects result for prefix/delimiter.
func rollup(keys []string, prefix, delim string) (contents, prefixes []string) {
	seen := map[string]bool{}
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				p := k[:len(prefix)+i+len(delim)]
				if !seen[p] {
					seen[p] = true
					prefixes = append(prefixes, p)
				}
				continue
			}
		}
		contents = append(contents, k)
	}
	return contents, prefixes
}

func TestListing10000Keys(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{small: true, ramDisk: true})
	ts.mkBucket(t, "lake")
	ctx := context.Background()
	keys := listingKeys(10_050)
	start := time.Now()
	fill(t, ts, "lake", keys)
	t.Logf("stored %d objects through the gateway in %v", len(keys), time.Since(start).Round(time.Millisecond))
	slices.Sort(keys) // byte-wise, as S3 orders keys

	t.Run("V2 pages", func(t *testing.T) {
		for _, pageSize := range []int32{1000, 777} {
			var got []string
			pages := 0
			p := s3.NewListObjectsV2Paginator(ts.client, &s3.ListObjectsV2Input{Bucket: aws.String("lake"), MaxKeys: aws.Int32(pageSize)})
			for p.HasMorePages() {
				out, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if int(aws.ToInt32(out.KeyCount)) != len(out.Contents) {
					t.Errorf("page %d: KeyCount %d for %d keys", pages, aws.ToInt32(out.KeyCount), len(out.Contents))
				}
				if aws.ToBool(out.IsTruncated) && len(out.Contents) != int(pageSize) {
					t.Errorf("page %d: truncated with %d keys; want %d", pages, len(out.Contents), pageSize)
				}
				for _, o := range out.Contents {
					got = append(got, aws.ToString(o.Key))
				}
			}
			if !slices.Equal(got, keys) {
				t.Errorf("max-keys %d: %d keys in %d pages differ from the %d expected in order (first difference at %d)", pageSize, len(got), pages, len(keys), firstDiff(got, keys))
			}
			if want := (len(keys) + int(pageSize) - 1) / int(pageSize); pages != want {
				t.Errorf("max-keys %d: %d pages; want %d", pageSize, pages, want)
			}
		}
	})

	t.Run("V2 start-after", func(t *testing.T) {
		after := keys[4321]
		out, err := ts.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake"), StartAfter: aws.String(after), MaxKeys: aws.Int32(5)})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range out.Contents {
			got = append(got, aws.ToString(o.Key))
		}
		if !slices.Equal(got, keys[4322:4327]) {
			t.Errorf("start-after %q = %v; want %v", after, got, keys[4322:4327])
		}
	})

	t.Run("V2 delimiter", func(t *testing.T) {
		for _, tc := range []struct{ prefix, delim string }{{"", "/"}, {"d03/", "/"}, {"d01", "/"}, {"z/", "/"}, {"d0", "-"}} {
			wantC, wantP := rollup(keys, tc.prefix, tc.delim)
			var gotC, gotP []string
			p := s3.NewListObjectsV2Paginator(ts.client, &s3.ListObjectsV2Input{Bucket: aws.String("lake"), Prefix: aws.String(tc.prefix), Delimiter: aws.String(tc.delim), MaxKeys: aws.Int32(100)})
			for p.HasMorePages() {
				out, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range out.Contents {
					gotC = append(gotC, aws.ToString(o.Key))
				}
				for _, cp := range out.CommonPrefixes {
					gotP = append(gotP, aws.ToString(cp.Prefix))
				}
			}
			if !slices.Equal(gotC, wantC) || !slices.Equal(gotP, wantP) {
				t.Errorf("prefix %q delimiter %q: %d keys %v..., prefixes %v; want %d keys, prefixes %v",
					tc.prefix, tc.delim, len(gotC), head(gotC), gotP, len(wantC), wantP)
			}
		}
	})

	t.Run("V1 markers", func(t *testing.T) {
		var got []string
		marker := ""
		for pages := 0; ; pages++ {
			out, err := ts.client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("lake"), Marker: aws.String(marker), MaxKeys: aws.Int32(1000)})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out.Contents {
				got = append(got, aws.ToString(o.Key))
				if o.Owner == nil {
					t.Fatalf("ListObjects V1 entry without Owner")
				}
			}
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			marker = aws.ToString(out.NextMarker)
			if marker != got[len(got)-1] {
				t.Fatalf("NextMarker %q; want the last key %q", marker, got[len(got)-1])
			}
			if pages > 20 {
				t.Fatal("too many pages")
			}
		}
		if !slices.Equal(got, keys) {
			t.Errorf("V1: %d keys differ from the %d expected (first difference at %d)", len(got), len(keys), firstDiff(got, keys))
		}
		// With a delimiter, a common prefix as marker skips everything under it.
		out, err := ts.client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("lake"), Delimiter: aws.String("/"), Marker: aws.String("d05/")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.CommonPrefixes) == 0 || aws.ToString(out.CommonPrefixes[0].Prefix) != "d06/" {
			t.Errorf("V1 marker d05/ with delimiter: first prefix %v; want d06/", out.CommonPrefixes)
		}
	})

	t.Run("versions pages", func(t *testing.T) {
		var got []string
		p := s3.NewListObjectVersionsPaginator(ts.client, &s3.ListObjectVersionsInput{Bucket: aws.String("lake"), MaxKeys: aws.Int32(1000)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range out.Versions {
				if !aws.ToBool(v.IsLatest) {
					t.Fatalf("version %s of %s is not latest but is the only one", aws.ToString(v.VersionId), aws.ToString(v.Key))
				}
				got = append(got, aws.ToString(v.Key))
			}
		}
		if !slices.Equal(got, keys) {
			t.Errorf("ListObjectVersions: %d keys differ from the %d expected (first difference at %d)", len(got), len(keys), firstDiff(got, keys))
		}
	})

	t.Run("encoding-type url", func(t *testing.T) {
		for _, path := range []string{"/lake?list-type=2&encoding-type=url&prefix=pl", "/lake?encoding-type=url&prefix=pl", "/lake?versions&encoding-type=url&prefix=pl"} {
			req := ts.signedRequest(t, "GET", path, nil, sha256Hex(nil), time.Now(), nil)
			status, _, body := ts.do(t, req)
			if status != 200 || !strings.Contains(body, "<Key>plus%2Bkey</Key>") || !strings.Contains(body, "<EncodingType>url</EncodingType>") {
				t.Errorf("GET %s: %d %s; want the key URL-encoded as plus%%2Bkey", path, status, body)
			}
		}
		req := ts.signedRequest(t, "GET", "/lake?list-type=2&encoding-type=base64", nil, sha256Hex(nil), time.Now(), nil)
		if status, _, body := ts.do(t, req); status != 400 || errorCodeOf(body) != "InvalidArgument" {
			t.Errorf("encoding-type=base64: %d %s; want 400 InvalidArgument", status, errorCodeOf(body))
		}
	})

	t.Run("fetch-owner and max-keys 0", func(t *testing.T) {
		out, err := ts.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake"), FetchOwner: aws.Bool(true), MaxKeys: aws.Int32(2)})
		if err != nil || len(out.Contents) != 2 || out.Contents[0].Owner == nil {
			t.Errorf("fetch-owner: %v; want 2 keys with owners", err)
		}
		out, err = ts.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake")})
		if err != nil || len(out.Contents) != 1000 || out.Contents[0].Owner != nil {
			t.Errorf("no fetch-owner: %v; want 1000 keys without owners", err)
		}
		out, err = ts.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake"), MaxKeys: aws.Int32(0)})
		if err != nil || len(out.Contents) != 0 {
			t.Errorf("max-keys 0: %d keys, %v; want none", len(out.Contents), err)
		}
		_, err = ts.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake"), ContinuationToken: aws.String("garbage!")})
		wantCode(t, "bad continuation token", err, "InvalidArgument", 400)
		_, err = ts.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("nope")})
		wantCode(t, "ListObjectsV2(nope)", err, "NoSuchBucket", 404)
	})
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func head(s []string) []string {
	if len(s) > 3 {
		return s[:3]
	}
	return s
}

func TestListObjectVersionsMarkers(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	ctx := context.Background()
	// Three keys, several versions each, one deleted.
	var want []string // key@version in listing order: key, then newest first
	for _, k := range []string{"a", "b", "c"} {
		var ids []string
		for i := range 4 {
			ids = append(ids, aws.ToString(ts.put(t, "lake", k, []byte(fmt.Sprint(k, i))).VersionId))
		}
		if k == "b" {
			d, err := ts.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("lake"), Key: aws.String(k)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, aws.ToString(d.VersionId))
		}
		for i := len(ids) - 1; i >= 0; i-- {
			want = append(want, k+"@"+ids[i])
		}
	}
	var got []string
	latest := map[string]string{}
	km, vm := "", ""
	for {
		out, err := ts.client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("lake"), MaxKeys: aws.Int32(3),
			KeyMarker: aws.String(km), VersionIdMarker: aws.String(vm)})
		if err != nil {
			t.Fatal(err)
		}
		type entry struct {
			key, id string
			latest  bool
			t       time.Time
		}
		var es []entry
		for _, v := range out.Versions {
			es = append(es, entry{aws.ToString(v.Key), aws.ToString(v.VersionId), aws.ToBool(v.IsLatest), aws.ToTime(v.LastModified)})
		}
		for _, d := range out.DeleteMarkers {
			es = append(es, entry{aws.ToString(d.Key), aws.ToString(d.VersionId), aws.ToBool(d.IsLatest), aws.ToTime(d.LastModified)})
		}
		// The SDK splits versions and markers; restore listing order.
		slices.SortFunc(es, func(a, b entry) int {
			if c := strings.Compare(a.key, b.key); c != 0 {
				return c
			}
			return -strings.Compare(a.id, b.id)
		})
		for _, e := range es {
			got = append(got, e.key+"@"+e.id)
			if e.latest {
				latest[e.key] = e.id
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		km, vm = aws.ToString(out.NextKeyMarker), aws.ToString(out.NextVersionIdMarker)
	}
	if !slices.Equal(got, want) {
		t.Errorf("versions in pages of 3:\n got %v\nwant %v", got, want)
	}
	for _, k := range []string{"a", "b", "c"} {
		var first string
		for _, w := range want {
			if strings.HasPrefix(w, k+"@") {
				first = strings.TrimPrefix(w, k+"@")
				break
			}
		}
		if latest[k] != first {
			t.Errorf("IsLatest for %s on %q; want the newest, %q", k, latest[k], first)
		}
	}
	_, err := ts.client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("lake"), VersionIdMarker: aws.String("0123456789abcdef0123456789abcdef")})
	wantCode(t, "version-id-marker without key-marker", err, "InvalidArgument", 400)
}

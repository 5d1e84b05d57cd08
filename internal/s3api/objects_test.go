package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/rhizome-data/rhizome/internal/store"
)

// checkETag checks the form of a single-part object's ETag: 32 lowercase
// hex characters (16 bytes of the store's content hash, see
// docs/design.md), quoted, and not the MD5 of the data.
func checkETag(t testing.TB, etag string, data []byte) {
	t.Helper()
	inner, ok := strings.CutPrefix(etag, `"`)
	inner, ok2 := strings.CutSuffix(inner, `"`)
	if _, err := hex.DecodeString(inner); !ok || !ok2 || err != nil || len(inner) != 32 || strings.ToLower(inner) != inner {
		t.Errorf("ETag %s is not 32 quoted lowercase hex characters", etag)
	}
	if md := md5.Sum(data); inner == hex.EncodeToString(md[:]) {
		t.Errorf("ETag %s is the MD5 of the data; the content hash was expected", etag)
	}
}

func TestPutGetObjectMetadata(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	ctx := context.Background()
	data := random(300_000)
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	out := ts.put(t, "lake", "dir/obj.parquet", data, func(in *s3.PutObjectInput) {
		in.ContentType = aws.String("application/vnd.apache.parquet")
		in.CacheControl = aws.String("max-age=60")
		in.ContentDisposition = aws.String(`attachment; filename="obj.parquet"`)
		in.ContentEncoding = aws.String("identity")
		in.ContentLanguage = aws.String("en")
		in.Expires = aws.Time(exp)
		in.Metadata = map[string]string{"owner": "team-a", "Run-Id": "42"}
	})
	checkETag(t, aws.ToString(out.ETag), data)
	info, err := ts.st.Stat(ctx, "lake", "dir/obj.parquet", store.StatOptions{})
	if err != nil || `"`+info.ETag+`"` != aws.ToString(out.ETag) {
		t.Errorf("store ETag = %v, %v; PutObject answered %s", info, err, aws.ToString(out.ETag))
	}
	again := ts.put(t, "lake", "copy-of-data", data)
	other := ts.put(t, "lake", "other-data", append([]byte{1}, data...))
	if aws.ToString(again.ETag) != aws.ToString(out.ETag) || aws.ToString(other.ETag) == aws.ToString(out.ETag) {
		t.Errorf("ETags of equal data %s, %s and other data %s: want equal, equal, different",
			aws.ToString(out.ETag), aws.ToString(again.ETag), aws.ToString(other.ETag))
	}
	if len(aws.ToString(out.VersionId)) != 32 {
		t.Errorf("PutObject VersionId = %q; want 32 hex characters", aws.ToString(out.VersionId))
	}
	var h *s3.HeadObjectOutput
	body, g := ts.get(t, "lake", "dir/obj.parquet")
	if !bytes.Equal(body, data) {
		t.Fatalf("GetObject returned %d bytes that differ from the %d put", len(body), len(data))
	}
	checks := []struct{ name, got, want string }{
		{"ETag", aws.ToString(g.ETag), aws.ToString(out.ETag)},
		{"VersionId", aws.ToString(g.VersionId), aws.ToString(out.VersionId)},
		{"ContentType", aws.ToString(g.ContentType), "application/vnd.apache.parquet"},
		{"CacheControl", aws.ToString(g.CacheControl), "max-age=60"},
		{"ContentDisposition", aws.ToString(g.ContentDisposition), `attachment; filename="obj.parquet"`},
		{"ContentEncoding", aws.ToString(g.ContentEncoding), "identity"},
		{"ContentLanguage", aws.ToString(g.ContentLanguage), "en"},
		{"ExpiresString", aws.ToString(g.ExpiresString), exp.Format(http.TimeFormat)},
		{"meta owner", g.Metadata["owner"], "team-a"},
		{"meta run-id", g.Metadata["run-id"], "42"},
		{"ContentLength", strconv.FormatInt(aws.ToInt64(g.ContentLength), 10), strconv.Itoa(len(data))},
		{"AcceptRanges", aws.ToString(g.AcceptRanges), "bytes"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("GetObject %s = %q; want %q", c.name, c.got, c.want)
		}
	}
	h, err = ts.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("lake"), Key: aws.String("dir/obj.parquet")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(h.ContentLength) != int64(len(data)) || h.Metadata["owner"] != "team-a" || aws.ToString(h.ETag) != aws.ToString(out.ETag) {
		t.Errorf("HeadObject = length %d, meta %v, ETag %s; want %d, owner=team-a, %s",
			aws.ToInt64(h.ContentLength), h.Metadata, aws.ToString(h.ETag), len(data), aws.ToString(out.ETag))
	}

	// No content type given: S3's default. (The SDK always sends one.)
	req := ts.signedRequest(t, "PUT", "/lake/plain", strings.NewReader("abc"), sha256Hex([]byte("abc")), time.Now(), nil)
	if status, _, body := ts.do(t, req); status != 200 {
		t.Fatalf("raw PUT: %d %s", status, body)
	}
	_, g = ts.get(t, "lake", "plain")
	if got := aws.ToString(g.ContentType); got != "binary/octet-stream" {
		t.Errorf("default ContentType = %q; want binary/octet-stream", got)
	}

	// User metadata over 2 KiB is refused, and nothing is stored.
	_, err = ts.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("fat"),
		Body: strings.NewReader("x"), Metadata: map[string]string{"big": strings.Repeat("v", 2100)}})
	wantCode(t, "PutObject with 2100 bytes of metadata", err, "MetadataTooLarge", http.StatusBadRequest)
	if n := ts.versionCount(t, "lake", "fat"); n != 0 {
		t.Errorf("refused put left %d versions", n)
	}

	// Keys: 1024 bytes is the limit; odd characters and double slashes are kept.
	long := strings.Repeat("k", 1024)
	ts.put(t, "lake", long, []byte("long"))
	_, err = ts.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String(long + "k"), Body: strings.NewReader("x")})
	wantCode(t, "PutObject with a 1025-byte key", err, "KeyTooLongError", http.StatusBadRequest)
	for _, key := range []string{"a//b", "/leading", "sp ace+plus%percent?q#h", "ünïcödé/日本", "trailing/"} {
		d := []byte("key " + key)
		ts.put(t, "lake", key, d)
		if got, _ := ts.get(t, "lake", key); !bytes.Equal(got, d) {
			t.Errorf("GetObject(%q) = %q; want %q", key, got, d)
		}
	}

	_, err = ts.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("missing")})
	wantCode(t, "GetObject(missing)", err, "NoSuchKey", http.StatusNotFound)
	_, err = ts.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("nope"), Key: aws.String("k")})
	wantCode(t, "GetObject(no bucket)", err, "NoSuchBucket", http.StatusNotFound)
	_, err = ts.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("nope"), Key: aws.String("k"), Body: strings.NewReader("x")})
	wantCode(t, "PutObject(no bucket)", err, "NoSuchBucket", http.StatusNotFound)
	_, err = ts.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("lake"), Key: aws.String("missing")})
	if httpStatus(err) != http.StatusNotFound {
		t.Errorf("HeadObject(missing): %v; want 404", err)
	}
}

func TestEmptyObject(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	out := ts.put(t, "lake", "empty", nil)
	checkETag(t, aws.ToString(out.ETag), nil)
	b, g := ts.get(t, "lake", "empty")
	if len(b) != 0 || aws.ToInt64(g.ContentLength) != 0 {
		t.Errorf("GetObject(empty) = %d bytes, length %d; want 0", len(b), aws.ToInt64(g.ContentLength))
	}
	_, err := ts.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("empty"), Range: aws.String("bytes=0-")})
	wantCode(t, "range of an empty object", err, "InvalidRange", http.StatusRequestedRangeNotSatisfiable)
}

func TestRanges(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{blockKiB: 64})
	ts.mkBucket(t, "lake")
	data := random(200_000) // several 64 KiB blocks
	ts.put(t, "lake", "obj", data)
	n := int64(len(data))
	tests := []struct {
		name, rng  string
		off, len   int64
		wantStatus int // 206, 200 (header ignored) or 416
	}{
		{"first byte", "bytes=0-0", 0, 1, 206},
		{"closed", "bytes=10-99", 10, 90, 206},
		{"across blocks", "bytes=65530-131080", 65530, 131080 - 65530 + 1, 206},
		{"open", "bytes=150000-", 150000, n - 150000, 206},
		{"suffix", "bytes=-500", n - 500, 500, 206},
		{"suffix longer than object", "bytes=-999999", 0, n, 206},
		{"end past the end", "bytes=199990-300000", 199990, 10, 206},
		{"last byte", fmt.Sprintf("bytes=%d-%d", n-1, n-1), n - 1, 1, 206},
		{"start at size", fmt.Sprintf("bytes=%d-", n), 0, 0, 416},
		{"start past size", "bytes=300000-300010", 0, 0, 416},
		{"zero suffix", "bytes=-0", 0, 0, 416},
		{"end before start: ignored", "bytes=10-5", 0, n, 200},
		{"not bytes: ignored", "items=0-5", 0, n, 200},
		{"garbage: ignored", "bytes=a-b", 0, n, 200},
		{"several ranges: ignored", "bytes=0-1,5-6", 0, n, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := ts.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("obj"), Range: aws.String(tc.rng)})
			if tc.wantStatus == 416 {
				wantCode(t, "GetObject Range "+tc.rng, err, "InvalidRange", http.StatusRequestedRangeNotSatisfiable)
				return
			}
			if err != nil {
				t.Fatalf("GetObject Range %s: %v", tc.rng, err)
			}
			defer out.Body.Close()
			var buf bytes.Buffer
			buf.ReadFrom(out.Body)
			if !bytes.Equal(buf.Bytes(), data[tc.off:tc.off+tc.len]) {
				t.Errorf("Range %s returned %d bytes; want bytes %d..%d", tc.rng, buf.Len(), tc.off, tc.off+tc.len)
			}
			wantCR := ""
			if tc.wantStatus == 206 {
				wantCR = fmt.Sprintf("bytes %d-%d/%d", tc.off, tc.off+tc.len-1, n)
			}
			if got := aws.ToString(out.ContentRange); got != wantCR {
				t.Errorf("Content-Range = %q; want %q", got, wantCR)
			}
		})
	}

	// The raw status codes.
	for rng, want := range map[string]int{"bytes=0-9": 206, "bytes=a-": 200, "bytes=999999-": 416} {
		req := ts.signedRequest(t, "GET", "/lake/obj", nil, sha256Hex(nil), time.Now(), map[string]string{"Range": rng})
		status, h, body := ts.do(t, req)
		if status != want {
			t.Errorf("Range %s: status %d; want %d", rng, status, want)
		}
		if want == 416 {
			if got := h.Get("Content-Range"); got != fmt.Sprintf("bytes */%d", n) {
				t.Errorf("416 Content-Range = %q; want bytes */%d", got, n)
			}
			if !strings.Contains(body, "<ActualObjectSize>200000</ActualObjectSize>") {
				t.Errorf("416 body lacks ActualObjectSize: %s", body)
			}
		}
	}
}

func TestConditionalRequests(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	out := ts.put(t, "lake", "obj", []byte("conditional"))
	etag := aws.ToString(out.ETag)
	h, err := ts.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("lake"), Key: aws.String("obj")})
	if err != nil {
		t.Fatal(err)
	}
	mod := aws.ToTime(h.LastModified)
	before, after := mod.Add(-time.Hour).Format(http.TimeFormat), mod.Add(time.Hour).Format(http.TimeFormat)
	same := mod.Format(http.TimeFormat)
	tests := []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"If-Match hit", map[string]string{"If-Match": etag}, 200},
		{"If-Match unquoted hit", map[string]string{"If-Match": strings.Trim(etag, `"`)}, 200},
		{"If-Match star", map[string]string{"If-Match": "*"}, 200},
		{"If-Match list hit", map[string]string{"If-Match": `"nope", ` + etag}, 200},
		{"If-Match miss", map[string]string{"If-Match": `"0123"`}, 412},
		{"If-None-Match hit", map[string]string{"If-None-Match": etag}, 304},
		{"If-None-Match miss", map[string]string{"If-None-Match": `"0123"`}, 200},
		{"If-Modified-Since before", map[string]string{"If-Modified-Since": before}, 200},
		{"If-Modified-Since same second", map[string]string{"If-Modified-Since": same}, 304},
		{"If-Modified-Since after", map[string]string{"If-Modified-Since": after}, 304},
		{"If-Unmodified-Since after", map[string]string{"If-Unmodified-Since": after}, 200},
		{"If-Unmodified-Since before", map[string]string{"If-Unmodified-Since": before}, 412},
		{"If-Match true wins over If-Unmodified-Since false", map[string]string{"If-Match": etag, "If-Unmodified-Since": before}, 200},
		{"If-None-Match false, If-Modified-Since true: 304", map[string]string{"If-None-Match": etag, "If-Modified-Since": before}, 304},
		{"If-None-Match true wins over If-Modified-Since false", map[string]string{"If-None-Match": `"x"`, "If-Modified-Since": after}, 200},
	}
	for _, tc := range tests {
		for _, method := range []string{"GET", "HEAD"} {
			req := ts.signedRequest(t, method, "/lake/obj", nil, sha256Hex(nil), time.Now(), tc.hdr)
			status, hdr, body := ts.do(t, req)
			if status != tc.status {
				t.Errorf("%s %s: status %d; want %d", method, tc.name, status, tc.status)
			}
			switch {
			case tc.status == 304 && hdr.Get("ETag") != etag:
				t.Errorf("%s %s: 304 without the ETag (%q)", method, tc.name, hdr.Get("ETag"))
			case tc.status == 412 && method == "GET" && errorCodeOf(body) != "PreconditionFailed":
				t.Errorf("%s %s: body %s; want PreconditionFailed", method, tc.name, body)
			case tc.status == 200 && method == "GET" && body != "conditional":
				t.Errorf("%s %s: body %q", method, tc.name, body)
			}
		}
	}
	// The SDK's typed fields reach the same logic.
	_, err = ts.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("obj"), IfMatch: aws.String(`"other"`)})
	wantCode(t, "GetObject IfMatch other", err, "PreconditionFailed", http.StatusPreconditionFailed)
}

func TestResponseOverrides(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	ts.put(t, "lake", "obj", []byte("x"), func(in *s3.PutObjectInput) { in.ContentType = aws.String("text/plain") })
	_, g := ts.get(t, "lake", "obj", func(in *s3.GetObjectInput) {
		in.ResponseContentType = aws.String("application/json")
		in.ResponseContentDisposition = aws.String("attachment")
		in.ResponseCacheControl = aws.String("no-cache")
		in.ResponseContentLanguage = aws.String("de")
		in.ResponseContentEncoding = aws.String("gzip")
		in.ResponseExpires = aws.Time(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	})
	got := []string{aws.ToString(g.ContentType), aws.ToString(g.ContentDisposition), aws.ToString(g.CacheControl),
		aws.ToString(g.ContentLanguage), aws.ToString(g.ContentEncoding), aws.ToString(g.ExpiresString)}
	want := []string{"application/json", "attachment", "no-cache", "de", "gzip", "Wed, 01 Jan 2031 00:00:00 GMT"}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("override %d = %q; want %q", i, got[i], want[i])
		}
	}
}

func TestContentMD5AndChecksumHeaders(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	data := []byte("checked body")
	md := md5.Sum(data)
	good := base64.StdEncoding.EncodeToString(md[:])
	ts.put(t, "lake", "md5", data, func(in *s3.PutObjectInput) { in.ContentMD5 = aws.String(good) })

	before := ts.blobFiles(t)
	bad := md5.Sum([]byte("other"))
	for name, tc := range map[string]struct{ hdr map[string]string }{
		"wrong Content-MD5":   {map[string]string{"Content-Md5": base64.StdEncoding.EncodeToString(bad[:])}},
		"invalid Content-MD5": {map[string]string{"Content-Md5": "not-base64!"}},
		"wrong CRC32":         {map[string]string{"X-Amz-Checksum-Crc32": "AAAAAA=="}},
		"invalid CRC32":       {map[string]string{"X-Amz-Checksum-Crc32": "AAAA"}},
	} {
		req := ts.signedRequest(t, "PUT", "/lake/bad", bytes.NewReader(data), "UNSIGNED-PAYLOAD", time.Now(), tc.hdr)
		status, _, body := ts.do(t, req)
		want := map[string]string{"wrong Content-MD5": "BadDigest", "invalid Content-MD5": "InvalidDigest", "wrong CRC32": "BadDigest", "invalid CRC32": "InvalidRequest"}[name]
		if status != 400 || errorCodeOf(body) != want {
			t.Errorf("%s: %d %s; want 400 %s", name, status, errorCodeOf(body), want)
		}
	}
	if n := ts.versionCount(t, "lake", "bad"); n != 0 {
		t.Errorf("bad digests left %d versions", n)
	}
	if extra := newBlobs(before, ts.blobFiles(t)); len(extra) > 0 {
		t.Errorf("bad digests left %d files on the backends: %v", len(extra), extra)
	}

	// A checksum header sent with the upload is stored and returned.
	crc := crc32.ChecksumIEEE(data)
	want := base64.StdEncoding.EncodeToString([]byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
	req := ts.signedRequest(t, "PUT", "/lake/crc", bytes.NewReader(data), sha256Hex(data), time.Now(), map[string]string{"X-Amz-Checksum-Crc32": want})
	if status, _, body := ts.do(t, req); status != 200 {
		t.Fatalf("PUT with x-amz-checksum-crc32: %d %s", status, body)
	}
	_, g := ts.get(t, "lake", "crc", func(in *s3.GetObjectInput) { in.ChecksumMode = types.ChecksumModeEnabled })
	if got := aws.ToString(g.ChecksumCRC32); got != want {
		t.Errorf("GetObject ChecksumCRC32 = %q; want %q", got, want)
	}
}

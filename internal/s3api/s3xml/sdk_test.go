package s3xml_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/rhizome-data/rhizome/internal/s3api/s3xml"
)

// fakeS3 answers every request with the next prepared response and keeps
// the last request body.
type fakeS3 struct {
	*httptest.Server
	mu       sync.Mutex
	status   int
	response []byte
	header   http.Header
	lastBody []byte
}

func newFakeS3(t *testing.T) (*fakeS3, *s3.Client) {
	t.Helper()
	f := &fakeS3{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.lastBody = b
		for k, v := range f.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/xml")
		if f.status != 0 {
			w.WriteHeader(f.status)
		}
		w.Write(f.response)
	}))
	t.Cleanup(f.Close)
	client := s3.New(s3.Options{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint:     aws.String(f.URL),
		UsePathStyle:     true,
		RetryMaxAttempts: 1,
	})
	return f, client
}

// respond makes the next responses v, encoded by this package.
func (f *fakeS3) respond(t *testing.T, status int, v any) {
	t.Helper()
	b, err := s3xml.Marshal(v)
	if err != nil {
		t.Fatalf("Marshal(%T): %v", v, err)
	}
	f.mu.Lock()
	f.status, f.response, f.header = status, b, nil
	f.mu.Unlock()
}

func (f *fakeS3) body() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastBody
}

var (
	t1 = time.Date(2026, 3, 1, 12, 30, 45, 123_000_000, time.UTC)
	t2 = time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC)
)

func eq[T comparable](t *testing.T, what string, got *T, want T) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = nil; want %v", what, want)
		return
	}
	if *got != want {
		t.Errorf("%s = %v; want %v", what, *got, want)
	}
}

func eqTime(t *testing.T, what string, got *time.Time, want time.Time) {
	t.Helper()
	if got == nil || !got.Equal(want) {
		t.Errorf("%s = %v; want %v", what, got, want)
	}
}

func TestSDKParsesListObjectsV2(t *testing.T) {
	f, client := newFakeS3(t)
	keys := []string{"plain.txt", "dir/with space+plus.txt", "ünï/日本語 😀", "amp&lt<gt>\"quote'", "ctl\x01char\ttab", "%2F literal"}
	res := s3xml.ListBucketV2Result{
		Name: "bucket", Prefix: "pré fix/", KeyCount: len(keys), MaxKeys: 1000, Delimiter: "/",
		IsTruncated: true, ContinuationToken: "tok+/=", NextContinuationToken: "next/tok==", StartAfter: "after key",
		CommonPrefixes: []s3xml.CommonPrefix{{Prefix: "pré fix/sub dir/"}, {Prefix: "pré fix/&/"}},
	}
	for i, k := range keys {
		res.Contents = append(res.Contents, s3xml.Object{
			Key: k, LastModified: s3xml.Time(t1), ETag: `"9b2cf535f27731c974343645a3985328"`, Size: int64(i * 1000),
			Owner: &s3xml.Owner{ID: "owner-id", DisplayName: "owner"}, StorageClass: "STANDARD",
			ChecksumAlgorithm: []string{"CRC64NVME"}, ChecksumType: "FULL_OBJECT",
		})
	}
	res.URLEncode()
	f.respond(t, 200, res)

	out, err := client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("bucket"), EncodingType: types.EncodingTypeUrl})
	if err != nil {
		t.Fatalf("ListObjectsV2: %v", err)
	}
	eq(t, "Name", out.Name, "bucket")
	eq(t, "KeyCount", out.KeyCount, int32(len(keys)))
	eq(t, "MaxKeys", out.MaxKeys, int32(1000))
	eq(t, "IsTruncated", out.IsTruncated, true)
	eq(t, "ContinuationToken", out.ContinuationToken, "tok+/=")
	eq(t, "NextContinuationToken", out.NextContinuationToken, "next/tok==")
	if out.EncodingType != types.EncodingTypeUrl {
		t.Errorf("EncodingType = %q; want url", out.EncodingType)
	}
	// The SDK for Go leaves url-encoded fields encoded; clients decode
	// them with URL unescaping (botocore uses unquote_plus).
	decode := func(what string, p *string, want string) {
		t.Helper()
		if p == nil {
			t.Errorf("%s = nil; want %q", what, want)
			return
		}
		for _, unescape := range []func(string) (string, error){url.QueryUnescape, url.PathUnescape} {
			if got, err := unescape(*p); err != nil || got != want {
				t.Errorf("%s = %q, which unescapes to %q, %v; want %q", what, *p, got, err, want)
			}
		}
	}
	decode("Prefix", out.Prefix, "pré fix/")
	decode("Delimiter", out.Delimiter, "/")
	decode("StartAfter", out.StartAfter, "after key")
	if len(out.Contents) != len(keys) {
		t.Fatalf("%d Contents; want %d", len(out.Contents), len(keys))
	}
	for i, o := range out.Contents {
		decode("Key", o.Key, keys[i])
		eqTime(t, "LastModified", o.LastModified, t1)
		eq(t, "ETag", o.ETag, `"9b2cf535f27731c974343645a3985328"`)
		eq(t, "Size", o.Size, int64(i*1000))
		if o.Owner == nil {
			t.Errorf("Owner = nil")
		} else {
			eq(t, "Owner.ID", o.Owner.ID, "owner-id")
			eq(t, "Owner.DisplayName", o.Owner.DisplayName, "owner")
		}
		if o.StorageClass != types.ObjectStorageClassStandard {
			t.Errorf("StorageClass = %q", o.StorageClass)
		}
		if len(o.ChecksumAlgorithm) != 1 || o.ChecksumAlgorithm[0] != types.ChecksumAlgorithmCrc64nvme {
			t.Errorf("ChecksumAlgorithm = %v", o.ChecksumAlgorithm)
		}
		if o.ChecksumType != types.ChecksumTypeFullObject {
			t.Errorf("ChecksumType = %q", o.ChecksumType)
		}
	}
	if len(out.CommonPrefixes) != 2 {
		t.Fatalf("CommonPrefixes = %v; want 2", out.CommonPrefixes)
	}
	decode("CommonPrefixes[0]", out.CommonPrefixes[0].Prefix, "pré fix/sub dir/")
	decode("CommonPrefixes[1]", out.CommonPrefixes[1].Prefix, "pré fix/&/")
}

func TestSDKParsesListObjectsV1(t *testing.T) {
	f, client := newFakeS3(t)
	f.respond(t, 200, s3xml.ListBucketResult{
		Name: "b", Prefix: "p", Marker: "m", NextMarker: "p/z", MaxKeys: 2, Delimiter: "/", IsTruncated: true,
		Contents:       []s3xml.Object{{Key: "p/a&b", LastModified: s3xml.Time(t2), ETag: `"e"`, Size: 5, StorageClass: "STANDARD"}},
		CommonPrefixes: []s3xml.CommonPrefix{{Prefix: "p/d/"}},
	})
	out, err := client.ListObjects(context.Background(), &s3.ListObjectsInput{Bucket: aws.String("b")})
	if err != nil {
		t.Fatalf("ListObjects: %v", err)
	}
	eq(t, "Marker", out.Marker, "m")
	eq(t, "NextMarker", out.NextMarker, "p/z")
	eq(t, "MaxKeys", out.MaxKeys, int32(2))
	eq(t, "IsTruncated", out.IsTruncated, true)
	if len(out.Contents) != 1 || len(out.CommonPrefixes) != 1 {
		t.Fatalf("Contents %v, CommonPrefixes %v; want one each", out.Contents, out.CommonPrefixes)
	}
	eq(t, "Key", out.Contents[0].Key, "p/a&b")
	eqTime(t, "LastModified", out.Contents[0].LastModified, t2)
	eq(t, "CommonPrefixes[0]", out.CommonPrefixes[0].Prefix, "p/d/")
}

func versionsFixture() s3xml.ListVersionsResult {
	owner := &s3xml.Owner{ID: "o"}
	return s3xml.ListVersionsResult{
		Name: "b", Prefix: "", KeyMarker: "", VersionIdMarker: "", NextKeyMarker: "z", NextVersionIdMarker: "v9",
		MaxKeys: 5, IsTruncated: true,
		Versions: []s3xml.VersionEntry{
			&s3xml.DeleteMarker{Key: "a", VersionId: "v3", IsLatest: true, LastModified: s3xml.Time(t1), Owner: owner},
			&s3xml.Version{Key: "a", VersionId: "v2", LastModified: s3xml.Time(t2), ETag: `"e2"`, Size: 2, StorageClass: "STANDARD", Owner: owner},
			&s3xml.Version{Key: "b c", VersionId: "v1", IsLatest: true, LastModified: s3xml.Time(t2), ETag: `"e1"`, Size: 1, StorageClass: "STANDARD"},
			&s3xml.DeleteMarker{Key: "d", VersionId: "v0", IsLatest: false, LastModified: s3xml.Time(t2)},
			&s3xml.Version{Key: "d", VersionId: "null", LastModified: s3xml.Time(t2), ETag: `"e0"`, Size: 0, StorageClass: "STANDARD"},
		},
		CommonPrefixes: []s3xml.CommonPrefix{{Prefix: "dir/"}},
	}
}

func TestSDKParsesListObjectVersions(t *testing.T) {
	f, client := newFakeS3(t)
	f.respond(t, 200, versionsFixture())
	out, err := client.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String("b")})
	if err != nil {
		t.Fatalf("ListObjectVersions: %v", err)
	}
	eq(t, "NextKeyMarker", out.NextKeyMarker, "z")
	eq(t, "NextVersionIdMarker", out.NextVersionIdMarker, "v9")
	eq(t, "IsTruncated", out.IsTruncated, true)
	if len(out.Versions) != 3 || len(out.DeleteMarkers) != 2 || len(out.CommonPrefixes) != 1 {
		t.Fatalf("%d versions, %d delete markers, %d prefixes; want 3, 2, 1", len(out.Versions), len(out.DeleteMarkers), len(out.CommonPrefixes))
	}
	wantV := []struct {
		key, id string
		latest  bool
		size    int64
	}{{"a", "v2", false, 2}, {"b c", "v1", true, 1}, {"d", "null", false, 0}}
	for i, w := range wantV {
		v := out.Versions[i]
		eq(t, "Version.Key", v.Key, w.key)
		eq(t, "Version.VersionId", v.VersionId, w.id)
		eq(t, "Version.IsLatest", v.IsLatest, w.latest)
		eq(t, "Version.Size", v.Size, w.size)
	}
	eq(t, "DeleteMarker[0].Key", out.DeleteMarkers[0].Key, "a")
	eq(t, "DeleteMarker[0].VersionId", out.DeleteMarkers[0].VersionId, "v3")
	eq(t, "DeleteMarker[0].IsLatest", out.DeleteMarkers[0].IsLatest, true)
	eqTime(t, "DeleteMarker[0].LastModified", out.DeleteMarkers[0].LastModified, t1)
	if out.DeleteMarkers[0].Owner == nil {
		t.Error("DeleteMarker[0].Owner = nil")
	}
	eq(t, "DeleteMarker[1].Key", out.DeleteMarkers[1].Key, "d")
}

func TestSDKParsesOtherResponses(t *testing.T) {
	f, client := newFakeS3(t)
	ctx := context.Background()
	b, k := aws.String("b"), aws.String("k")

	f.respond(t, 200, s3xml.ListAllMyBucketsResult{
		Owner:   s3xml.Owner{ID: "oid", DisplayName: "me"},
		Buckets: []s3xml.Bucket{{Name: "one", CreationDate: s3xml.Time(t1), BucketRegion: "eu"}, {Name: "two", CreationDate: s3xml.Time(t2)}},
	})
	if out, err := client.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil {
		t.Errorf("ListBuckets: %v", err)
	} else if len(out.Buckets) != 2 {
		t.Errorf("ListBuckets: %d buckets; want 2", len(out.Buckets))
	} else {
		eq(t, "Owner.ID", out.Owner.ID, "oid")
		eq(t, "Buckets[0].Name", out.Buckets[0].Name, "one")
		eqTime(t, "Buckets[0].CreationDate", out.Buckets[0].CreationDate, t1)
		eq(t, "Buckets[0].BucketRegion", out.Buckets[0].BucketRegion, "eu")
	}

	f.respond(t, 200, s3xml.LocationConstraint{Region: "eu-west-1"})
	if out, err := client.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: b}); err != nil || out.LocationConstraint != "eu-west-1" {
		t.Errorf("GetBucketLocation = %v, %v; want eu-west-1", out, err)
	}
	f.respond(t, 200, s3xml.LocationConstraint{})
	if out, err := client.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: b}); err != nil || out.LocationConstraint != "" {
		t.Errorf("GetBucketLocation(us-east-1) = %v, %v; want empty", out, err)
	}

	f.respond(t, 200, s3xml.VersioningConfiguration{Status: "Enabled"})
	if out, err := client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b}); err != nil || out.Status != types.BucketVersioningStatusEnabled {
		t.Errorf("GetBucketVersioning = %v, %v; want Enabled", out, err)
	}

	f.respond(t, 200, s3xml.CopyObjectResult{LastModified: s3xml.Time(t1), ETag: `"ce"`, Checksums: s3xml.Checksums{ChecksumCRC32: "AAAAAA=="}})
	if out, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: k, CopySource: aws.String("b/src")}); err != nil {
		t.Errorf("CopyObject: %v", err)
	} else {
		eq(t, "CopyObjectResult.ETag", out.CopyObjectResult.ETag, `"ce"`)
		eqTime(t, "CopyObjectResult.LastModified", out.CopyObjectResult.LastModified, t1)
		eq(t, "CopyObjectResult.ChecksumCRC32", out.CopyObjectResult.ChecksumCRC32, "AAAAAA==")
	}

	f.respond(t, 200, s3xml.CopyPartResult{LastModified: s3xml.Time(t2), ETag: `"cp"`})
	if out, err := client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: k, CopySource: aws.String("b/src"), PartNumber: aws.Int32(1), UploadId: aws.String("u")}); err != nil {
		t.Errorf("UploadPartCopy: %v", err)
	} else {
		eq(t, "CopyPartResult.ETag", out.CopyPartResult.ETag, `"cp"`)
		eqTime(t, "CopyPartResult.LastModified", out.CopyPartResult.LastModified, t2)
	}

	f.respond(t, 200, s3xml.InitiateMultipartUploadResult{Bucket: "b", Key: "k y", UploadId: "up/1+2"})
	if out, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: k}); err != nil {
		t.Errorf("CreateMultipartUpload: %v", err)
	} else {
		eq(t, "UploadId", out.UploadId, "up/1+2")
		eq(t, "Key", out.Key, "k y")
	}

	f.respond(t, 200, s3xml.CompleteMultipartUploadResult{Location: "http://h/b/k", Bucket: "b", Key: "k", ETag: `"x-2"`, ChecksumType: "COMPOSITE",
		Checksums: s3xml.Checksums{ChecksumSHA256: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=-2"}})
	if out, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: aws.String("u"),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(`"p"`)}}}}); err != nil {
		t.Errorf("CompleteMultipartUpload: %v", err)
	} else {
		eq(t, "ETag", out.ETag, `"x-2"`)
		eq(t, "Location", out.Location, "http://h/b/k")
		eq(t, "ChecksumSHA256", out.ChecksumSHA256, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=-2")
		if out.ChecksumType != types.ChecksumTypeComposite {
			t.Errorf("ChecksumType = %q", out.ChecksumType)
		}
	}

	f.respond(t, 200, s3xml.ListPartsResult{Bucket: "b", Key: "k", UploadId: "u", PartNumberMarker: 0, NextPartNumberMarker: 2, MaxParts: 2, IsTruncated: true,
		Parts: []s3xml.Part{
			{PartNumber: 1, LastModified: s3xml.Time(t1), ETag: `"p1"`, Size: 5 << 20, Checksums: s3xml.Checksums{ChecksumCRC32C: "AAAAAA=="}},
			{PartNumber: 2, LastModified: s3xml.Time(t2), ETag: `"p2"`, Size: 7},
		},
		Initiator: &s3xml.Initiator{ID: "i"}, Owner: &s3xml.Owner{ID: "o"}, StorageClass: "STANDARD", ChecksumAlgorithm: "CRC32C"})
	if out, err := client.ListParts(ctx, &s3.ListPartsInput{Bucket: b, Key: k, UploadId: aws.String("u")}); err != nil {
		t.Errorf("ListParts: %v", err)
	} else if len(out.Parts) != 2 {
		t.Errorf("ListParts: %d parts; want 2", len(out.Parts))
	} else {
		eq(t, "NextPartNumberMarker", out.NextPartNumberMarker, "2")
		eq(t, "IsTruncated", out.IsTruncated, true)
		eq(t, "Parts[0].Size", out.Parts[0].Size, int64(5<<20))
		eq(t, "Parts[0].ChecksumCRC32C", out.Parts[0].ChecksumCRC32C, "AAAAAA==")
		eq(t, "Parts[1].PartNumber", out.Parts[1].PartNumber, int32(2))
		eq(t, "Initiator.ID", out.Initiator.ID, "i")
	}

	uploads := s3xml.ListMultipartUploadsResult{Bucket: "b", Prefix: "p ", MaxUploads: 10, IsTruncated: false,
		Uploads:        []s3xml.Upload{{Key: "p k", UploadId: "u1", Initiated: s3xml.Time(t1), StorageClass: "STANDARD", Owner: &s3xml.Owner{ID: "o"}}},
		CommonPrefixes: []s3xml.CommonPrefix{{Prefix: "p d/"}}}
	uploads.URLEncode()
	f.respond(t, 200, uploads)
	if out, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: b, EncodingType: types.EncodingTypeUrl}); err != nil {
		t.Errorf("ListMultipartUploads: %v", err)
	} else if len(out.Uploads) != 1 {
		t.Errorf("ListMultipartUploads: %d uploads; want 1", len(out.Uploads))
	} else {
		eq(t, "Uploads[0].Key", out.Uploads[0].Key, "p%20k")
		eq(t, "Uploads[0].UploadId", out.Uploads[0].UploadId, "u1")
		eqTime(t, "Uploads[0].Initiated", out.Uploads[0].Initiated, t1)
		eq(t, "Prefix", out.Prefix, "p%20")
	}

	f.respond(t, 200, s3xml.DeleteResult{
		Deleted: []s3xml.DeletedObject{{Key: "a"}, {Key: "b", VersionId: "v", DeleteMarker: true, DeleteMarkerVersionId: "dm"}},
		Errors:  []s3xml.DeleteError{{Key: "c", Code: "AccessDenied", Message: "no"}},
	})
	if out, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("a")}}}}); err != nil {
		t.Errorf("DeleteObjects: %v", err)
	} else if len(out.Deleted) != 2 || len(out.Errors) != 1 {
		t.Errorf("DeleteObjects: %d deleted, %d errors; want 2, 1", len(out.Deleted), len(out.Errors))
	} else {
		eq(t, "Deleted[1].DeleteMarker", out.Deleted[1].DeleteMarker, true)
		eq(t, "Deleted[1].DeleteMarkerVersionId", out.Deleted[1].DeleteMarkerVersionId, "dm")
		eq(t, "Errors[0].Code", out.Errors[0].Code, "AccessDenied")
	}
}

func TestSDKParsesError(t *testing.T) {
	f, client := newFakeS3(t)
	f.respond(t, 404, s3xml.Error{Code: "NoSuchKey", Message: "The specified key does not exist.", Resource: "/b/k", RequestId: "req-1",
		Extra: []s3xml.Field{s3xml.NewField("Key", "k")}})
	_, err := client.GetObjectAcl(context.Background(), &s3.GetObjectAclInput{Bucket: aws.String("b"), Key: aws.String("k")})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("GetObjectAcl = %v; want an API error", err)
	}
	if apiErr.ErrorCode() != "NoSuchKey" || apiErr.ErrorMessage() != "The specified key does not exist." {
		t.Errorf("error code, message = %q, %q; want NoSuchKey and its message", apiErr.ErrorCode(), apiErr.ErrorMessage())
	}
}

// TestDecodeSDKRequests decodes the request bodies the AWS SDK for Go
// builds.
func TestDecodeSDKRequests(t *testing.T) {
	f, client := newFakeS3(t)
	ctx := context.Background()
	b := aws.String("b")

	f.respond(t, 200, s3xml.DeleteResult{})
	keys := []string{"a", "b&c<d>", "ünï 😀", " lead and trail ", "line\nbreak"}
	var objs []types.ObjectIdentifier
	for i, k := range keys {
		o := types.ObjectIdentifier{Key: aws.String(k)}
		if i%2 == 1 {
			o.VersionId = aws.String("v" + k)
		}
		objs = append(objs, o)
	}
	if _, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: objs, Quiet: aws.Bool(true)}}); err != nil {
		t.Fatalf("DeleteObjects: %v", err)
	}
	var del s3xml.Delete
	if err := s3xml.Decode(bytes.NewReader(f.body()), 0, &del); err != nil {
		t.Fatalf("Decode(Delete %q): %v", f.body(), err)
	}
	if !del.Quiet || len(del.Objects) != len(keys) {
		t.Fatalf("Delete = %+v; want Quiet and %d objects", del, len(keys))
	}
	for i, o := range del.Objects {
		wantVersion := ""
		if i%2 == 1 {
			wantVersion = "v" + keys[i]
		}
		if o.Key != keys[i] || o.VersionId != wantVersion {
			t.Errorf("Objects[%d] = %q, %q; want %q, %q", i, o.Key, o.VersionId, keys[i], wantVersion)
		}
	}
	if err := del.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	f.respond(t, 200, s3xml.CompleteMultipartUploadResult{ETag: `"e"`})
	parts := []types.CompletedPart{
		{PartNumber: aws.Int32(1), ETag: aws.String(`"p1"`), ChecksumCRC32: aws.String("AAAAAA==")},
		{PartNumber: aws.Int32(2), ETag: aws.String(`"p2"`), ChecksumSHA256: aws.String("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")},
		{PartNumber: aws.Int32(10000), ETag: aws.String(`"p3"`)},
	}
	if _, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("k"), UploadId: aws.String("u"),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	var cmu s3xml.CompleteMultipartUpload
	if err := s3xml.Decode(bytes.NewReader(f.body()), 0, &cmu); err != nil {
		t.Fatalf("Decode(CompleteMultipartUpload %q): %v", f.body(), err)
	}
	if len(cmu.Parts) != 3 || cmu.Parts[0].PartNumber != 1 || cmu.Parts[0].ETag != `"p1"` || cmu.Parts[0].ChecksumCRC32 != "AAAAAA==" ||
		cmu.Parts[1].ChecksumSHA256 != "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" || cmu.Parts[2].PartNumber != 10000 {
		t.Errorf("CompleteMultipartUpload = %+v", cmu)
	}
	if err := cmu.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	f.respond(t, 200, s3xml.LocationConstraint{}) // ignored by CreateBucket
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b, CreateBucketConfiguration: &types.CreateBucketConfiguration{
		LocationConstraint: types.BucketLocationConstraintEuWest1}}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	var cbc s3xml.CreateBucketConfiguration
	if err := s3xml.Decode(bytes.NewReader(f.body()), 0, &cbc); err != nil || cbc.LocationConstraint != "eu-west-1" {
		t.Errorf("Decode(CreateBucketConfiguration %q) = %+v, %v; want eu-west-1", f.body(), cbc, err)
	}

	if _, err := client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b, VersioningConfiguration: &types.VersioningConfiguration{
		Status: types.BucketVersioningStatusSuspended}}); err != nil {
		t.Fatalf("PutBucketVersioning: %v", err)
	}
	var vc s3xml.VersioningConfiguration
	if err := s3xml.Decode(bytes.NewReader(f.body()), 0, &vc); err != nil || vc.Status != "Suspended" {
		t.Errorf("Decode(VersioningConfiguration %q) = %+v, %v; want Suspended", f.body(), vc, err)
	}
}

package s3api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestBuckets(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ctx := context.Background()
	c := ts.client

	ts.mkBucket(t, "lake")
	ts.mkBucket(t, "logs.2026")

	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("lake")})
	wantCode(t, "CreateBucket(lake) again", err, "BucketAlreadyOwnedByYou", http.StatusConflict)

	for _, name := range []string{"lake--at-20261122t100000z", "lake--cp-monday", "my--at-bucket", "x--cp-", "ab", "Upper", "bad_name", "-dash", "192.168.1.1", strings.Repeat("a", 64)} {
		_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
		wantCode(t, "CreateBucket("+name+")", err, "InvalidBucketName", http.StatusBadRequest)
	}

	// CreateBucket with a location constraint, as aws s3 mb sends outside us-east-1.
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("eu-data"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1}})
	if err != nil {
		t.Fatalf("CreateBucket with LocationConstraint: %v", err)
	}

	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range lb.Buckets {
		names = append(names, aws.ToString(b.Name))
		if b.CreationDate == nil || b.CreationDate.IsZero() {
			t.Errorf("bucket %s has no creation date", aws.ToString(b.Name))
		}
	}
	if got, want := strings.Join(names, ","), "eu-data,lake,logs.2026"; got != want {
		t.Errorf("ListBuckets = %s; want %s", got, want)
	}

	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("lake")}); err != nil {
		t.Errorf("HeadBucket(lake): %v", err)
	}
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("nope")})
	if httpStatus(err) != http.StatusNotFound {
		t.Errorf("HeadBucket(nope): %v; want 404", err)
	}

	loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("lake")})
	if err != nil || loc.LocationConstraint != "" {
		t.Errorf("GetBucketLocation = %q, %v; want \"\" (us-east-1)", loc.LocationConstraint, err)
	}
	_, err = c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("nope")})
	wantCode(t, "GetBucketLocation(nope)", err, "NoSuchBucket", http.StatusNotFound)

	v, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("lake")})
	if err != nil || v.Status != types.BucketVersioningStatusEnabled {
		t.Errorf("GetBucketVersioning = %q, %v; want Enabled", v.Status, err)
	}
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("lake"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}})
	wantCode(t, "PutBucketVersioning(Suspended)", err, "InvalidBucketState", http.StatusConflict)
	if err != nil && !strings.Contains(err.Error(), "cannot be suspended") {
		t.Errorf("PutBucketVersioning(Suspended) error %q does not say versioning cannot be suspended", err)
	}
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("lake"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	if err != nil {
		t.Errorf("PutBucketVersioning(Enabled): %v", err)
	}

	ts.put(t, "lake", "a", []byte("x"))
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("lake")})
	wantCode(t, "DeleteBucket(non-empty)", err, "BucketNotEmpty", http.StatusConflict)
	// A delete marker does not empty a versioned bucket.
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("lake"), Key: aws.String("a")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("lake")})
	wantCode(t, "DeleteBucket(only delete markers and old versions)", err, "BucketNotEmpty", http.StatusConflict)

	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("logs.2026")}); err != nil {
		t.Errorf("DeleteBucket(empty): %v", err)
	}
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("logs.2026")})
	wantCode(t, "DeleteBucket(gone)", err, "NoSuchBucket", http.StatusNotFound)
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("logs.2026")})
	if httpStatus(err) != http.StatusNotFound {
		t.Errorf("HeadBucket after delete: %v; want 404", err)
	}
}

func TestUnsupportedRequests(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	ctx := context.Background()
	_, err := ts.client.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String("lake")})
	wantCode(t, "GetBucketAcl", err, "NotImplemented", http.StatusNotImplemented)
	_, err = ts.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("k"),
		Body: strings.NewReader("x"), ServerSideEncryption: types.ServerSideEncryptionAwsKms})
	wantCode(t, "PutObject with SSE-KMS", err, "NotImplemented", http.StatusNotImplemented)
	_, err = ts.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("k"),
		Body: strings.NewReader("x"), StorageClass: types.StorageClassGlacier})
	wantCode(t, "PutObject to GLACIER", err, "InvalidStorageClass", http.StatusBadRequest)
	_, err = ts.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("k"),
		Body: strings.NewReader("x"), IfNoneMatch: aws.String(`"0123"`)})
	wantCode(t, "PutObject with If-None-Match: ETAG", err, "NotImplemented", http.StatusNotImplemented)
	if n := ts.versionCount(t, "lake", "k"); n != 0 {
		t.Errorf("refused puts left %d versions", n)
	}
	// SSE-S3 (AES256) is accepted: every object is encrypted anyway.
	ts.put(t, "lake", "k", []byte("x"), func(in *s3.PutObjectInput) { in.ServerSideEncryption = types.ServerSideEncryptionAes256 })
}

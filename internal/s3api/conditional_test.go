package s3api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestConditionalPutObject(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	ctx := context.Background()
	c := ts.client
	put := func(key, data string, f func(*s3.PutObjectInput)) (*s3.PutObjectOutput, error) {
		in := &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String(key), Body: strings.NewReader(data)}
		f(in)
		return c.PutObject(ctx, in)
	}
	ifNoneMatch := func(in *s3.PutObjectInput) { in.IfNoneMatch = aws.String("*") }
	ifMatch := func(etag string) func(*s3.PutObjectInput) {
		return func(in *s3.PutObjectInput) { in.IfMatch = aws.String(etag) }
	}

	first, err := put("k", "one", ifNoneMatch)
	if err != nil {
		t.Fatalf("PutObject(If-None-Match: *, new key) = %v", err)
	}
	before := ts.blobFiles(t)
	_, err = put("k", "two", ifNoneMatch)
	wantCode(t, "PutObject(If-None-Match: * over an object)", err, "PreconditionFailed", http.StatusPreconditionFailed)
	_, err = put("k", "two", ifMatch(`"00000000000000000000000000000000"`))
	wantCode(t, "PutObject(If-Match: another ETag)", err, "PreconditionFailed", http.StatusPreconditionFailed)
	_, err = put("missing", "two", ifMatch(aws.ToString(first.ETag)))
	wantCode(t, "PutObject(If-Match on a missing key)", err, "NoSuchKey", http.StatusNotFound)
	if n := ts.versionCount(t, "lake", "k"); n != 1 {
		t.Errorf("k has %d versions after refused writes; want 1", n)
	}
	if added := newBlobs(before, ts.blobFiles(t)); len(added) != 0 {
		t.Errorf("refused conditional writes left files: %v", added)
	}

	second, err := put("k", "two", ifMatch(aws.ToString(first.ETag)))
	if err != nil {
		t.Fatalf("PutObject(If-Match: current ETag) = %v", err)
	}
	if got, _ := ts.get(t, "lake", "k"); string(got) != "two" {
		t.Errorf("GetObject(k) = %q; want two", got)
	}
	_, err = put("k", "three", ifMatch(aws.ToString(first.ETag)))
	wantCode(t, "PutObject(If-Match: the previous ETag)", err, "PreconditionFailed", http.StatusPreconditionFailed)

	// After a delete the key has no object: If-Match is NoSuchKey,
	// If-None-Match succeeds.
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("lake"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	_, err = put("k", "four", ifMatch(aws.ToString(second.ETag)))
	wantCode(t, "PutObject(If-Match over a delete marker)", err, "NoSuchKey", http.StatusNotFound)
	if _, err := put("k", "five", ifNoneMatch); err != nil {
		t.Errorf("PutObject(If-None-Match: * over a delete marker) = %v", err)
	}

	// CopyObject's destination conditions.
	src := func(in *s3.CopyObjectInput) *s3.CopyObjectInput {
		in.Bucket, in.CopySource = aws.String("lake"), aws.String("lake/k")
		return in
	}
	_, err = c.CopyObject(ctx, src(&s3.CopyObjectInput{Key: aws.String("k"), IfNoneMatch: aws.String("*"), MetadataDirective: types.MetadataDirectiveReplace}))
	wantCode(t, "CopyObject(If-None-Match: * onto an object)", err, "PreconditionFailed", http.StatusPreconditionFailed)
	if _, err := c.CopyObject(ctx, src(&s3.CopyObjectInput{Key: aws.String("copy"), IfNoneMatch: aws.String("*")})); err != nil {
		t.Errorf("CopyObject(If-None-Match: *, new key) = %v", err)
	}
	_, err = c.CopyObject(ctx, src(&s3.CopyObjectInput{Key: aws.String("copy"), IfMatch: aws.String(`"nope"`)}))
	wantCode(t, "CopyObject(If-Match: another ETag)", err, "PreconditionFailed", http.StatusPreconditionFailed)
	if got, _ := ts.get(t, "lake", "copy"); string(got) != "five" {
		t.Errorf("GetObject(copy) = %q; want five", got)
	}
}

// TestConditionalPutRace races writers of one key with If-None-Match: *:
// exactly one wins, the others get 412 or 409 and leave nothing behind.
func TestConditionalPutRace(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	ctx := context.Background()
	// What one write leaves on the backends, to compare with the race.
	before := ts.blobFiles(t)
	ts.put(t, "lake", "single", random(256<<10))
	perWrite := len(newBlobs(before, ts.blobFiles(t)))

	const writers = 12
	before = ts.blobFiles(t)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := append([]byte(fmt.Sprintf("writer %02d ", i)), random(256<<10)...)
			_, errs[i] = ts.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("race"),
				Body: bytes.NewReader(data), IfNoneMatch: aws.String("*")})
		}()
	}
	wg.Wait()
	winner, codes := -1, map[string]int{}
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Errorf("writers %d and %d both succeeded", winner, i)
			}
			winner = i
			continue
		}
		code := apiCode(err)
		codes[code]++
		if !(code == "PreconditionFailed" && httpStatus(err) == http.StatusPreconditionFailed) &&
			!(code == "ConditionalRequestConflict" && httpStatus(err) == http.StatusConflict) {
			t.Errorf("writer %d: %v; want 412 PreconditionFailed or 409 ConditionalRequestConflict", i, err)
		}
	}
	t.Logf("race of %d: %v", writers, codes)
	if winner < 0 {
		t.Fatal("no writer succeeded")
	}
	if n := ts.versionCount(t, "lake", "race"); n != 1 {
		t.Errorf("race has %d versions; want 1", n)
	}
	got, _ := ts.get(t, "lake", "race")
	if want := fmt.Sprintf("writer %02d ", winner); !bytes.HasPrefix(got, []byte(want)) {
		t.Errorf("GetObject(race) starts %q; want the winner's %q", got[:10], want)
	}
	if added := newBlobs(before, ts.blobFiles(t)); len(added) != perWrite {
		t.Errorf("the race left %d new files; want %d, those of the one winning write", len(added), perWrite)
	}
}

func TestConditionalCompleteMultipartUpload(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	ctx := context.Background()
	c := ts.client
	upload := func(key, data string) (*string, []types.CompletedPart) {
		t.Helper()
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("lake"), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: aws.Int32(1), Body: strings.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		return up.UploadId, []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: p.ETag}}
	}
	complete := func(key string, id *string, parts []types.CompletedPart, f func(*s3.CompleteMultipartUploadInput)) (*s3.CompleteMultipartUploadOutput, error) {
		in := &s3.CompleteMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String(key), UploadId: id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}
		f(in)
		return c.CompleteMultipartUpload(ctx, in)
	}
	ifNoneMatch := func(in *s3.CompleteMultipartUploadInput) { in.IfNoneMatch = aws.String("*") }

	// A new key: the conditional completion succeeds.
	id, parts := upload("mp", "first")
	first, err := complete("mp", id, parts, ifNoneMatch)
	if err != nil {
		t.Fatalf("CompleteMultipartUpload(If-None-Match: *, new key) = %v", err)
	}

	// The key exists now: refused, and the upload stays for a retry.
	id, parts = upload("mp", "second")
	_, err = complete("mp", id, parts, ifNoneMatch)
	wantCode(t, "CompleteMultipartUpload(If-None-Match: * over an object)", err, "PreconditionFailed", http.StatusPreconditionFailed)
	_, err = complete("mp", id, parts, func(in *s3.CompleteMultipartUploadInput) { in.IfMatch = aws.String(`"0123"`) })
	wantCode(t, "CompleteMultipartUpload(If-Match: another ETag)", err, "PreconditionFailed", http.StatusPreconditionFailed)
	if n := ts.versionCount(t, "lake", "mp"); n != 1 {
		t.Errorf("mp has %d versions after refused completions; want 1", n)
	}
	if lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("lake"), Key: aws.String("mp"), UploadId: id}); err != nil || len(lp.Parts) != 1 {
		t.Fatalf("ListParts after a refused completion = %v; want the upload with its part", err)
	}
	if _, err := complete("mp", id, parts, func(in *s3.CompleteMultipartUploadInput) { in.IfMatch = first.ETag }); err != nil {
		t.Fatalf("CompleteMultipartUpload(If-Match: current ETag) = %v", err)
	}
	if got, _ := ts.get(t, "lake", "mp"); string(got) != "second" {
		t.Errorf("GetObject(mp) = %q; want second", got)
	}
	id, parts = upload("other", "x")
	_, err = complete("other", id, parts, func(in *s3.CompleteMultipartUploadInput) { in.IfMatch = first.ETag })
	wantCode(t, "CompleteMultipartUpload(If-Match on a missing key)", err, "NoSuchKey", http.StatusNotFound)
}

package s3api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// shardFiles counts the shard files (not manifest pieces) on the backends.
func shardFiles(files map[string]bool) int {
	n := 0
	for f := range files {
		if strings.Contains(f, "/d/") {
			n++
		}
	}
	return n
}

func TestMultipart100MiB(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	ctx := context.Background()
	c := ts.client
	const partSize = 8 << 20
	data := random(13*partSize + 3<<20) // 107 MiB in 14 parts
	nParts := (len(data) + partSize - 1) / partSize

	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String("big/model.bin"),
		ContentType: aws.String("application/x-model"), Metadata: map[string]string{"epoch": "7"}})
	if err != nil {
		t.Fatal(err)
	}
	id := up.UploadId
	lu, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("lake")})
	if err != nil || len(lu.Uploads) != 1 || aws.ToString(lu.Uploads[0].UploadId) != aws.ToString(id) || aws.ToString(lu.Uploads[0].Key) != "big/model.bin" {
		t.Fatalf("ListMultipartUploads = %+v, %v; want the one upload", lu, err)
	}

	before := shardFiles(ts.blobFiles(t))
	etags := make([]string, nParts)
	var wg sync.WaitGroup
	errs := make(chan error, nParts)
	sem := make(chan struct{}, 4)
	for i := range nParts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			part := data[i*partSize : min((i+1)*partSize, len(data))]
			out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("lake"), Key: aws.String("big/model.bin"),
				UploadId: id, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(part)})
			if err != nil {
				errs <- fmt.Errorf("UploadPart %d: %w", i+1, err)
				return
			}
			etags[i] = aws.ToString(out.ETag)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Each part was sharded as it arrived: k+m shard files per part.
	afterParts := ts.blobFiles(t)
	if got, want := shardFiles(afterParts)-before, nParts*6; got != want {
		t.Errorf("after %d parts: %d new shard files; want %d (k+m per part)", nParts, got, want)
	}

	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("lake"), Key: aws.String("big/model.bin"), UploadId: id, MaxParts: aws.Int32(5)})
	if err != nil || len(lp.Parts) != 5 || !aws.ToBool(lp.IsTruncated) || aws.ToString(lp.NextPartNumberMarker) != "5" {
		t.Fatalf("ListParts(max 5) = %d parts, truncated %v, next %q, %v; want 5, true, 5", len(lp.Parts), aws.ToBool(lp.IsTruncated), aws.ToString(lp.NextPartNumberMarker), err)
	}
	lp, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("lake"), Key: aws.String("big/model.bin"), UploadId: id, PartNumberMarker: aws.String("5")})
	if err != nil || len(lp.Parts) != nParts-5 || aws.ToInt32(lp.Parts[0].PartNumber) != 6 || aws.ToString(lp.Parts[0].ETag) != etags[5] ||
		aws.ToInt64(lp.Parts[0].Size) != partSize {
		t.Fatalf("ListParts(after 5) = %+v, %v", lp, err)
	}

	completed := func(order []int, mutate func([]types.CompletedPart)) []types.CompletedPart {
		var ps []types.CompletedPart
		for _, i := range order {
			ps = append(ps, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: aws.String(etags[i])})
		}
		if mutate != nil {
			mutate(ps)
		}
		return ps
	}
	all := make([]int, nParts)
	for i := range all {
		all[i] = i
	}
	complete := func(ps []types.CompletedPart) (*s3.CompleteMultipartUploadOutput, error) {
		return c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String("big/model.bin"),
			UploadId: id, MultipartUpload: &types.CompletedMultipartUpload{Parts: ps}})
	}
	_, err = complete(completed(all, func(ps []types.CompletedPart) { ps[3].ETag = aws.String(`"00000000000000000000000000000000"`) }))
	wantCode(t, "Complete with a wrong ETag", err, "InvalidPart", http.StatusBadRequest)
	_, err = complete(completed([]int{0, 2, 1}, nil))
	wantCode(t, "Complete out of order", err, "InvalidPartOrder", http.StatusBadRequest)
	_, err = complete(completed([]int{0, 1}, func(ps []types.CompletedPart) {
		ps[1] = types.CompletedPart{PartNumber: aws.Int32(41), ETag: aws.String(etags[1])}
	}))
	wantCode(t, "Complete with a part never uploaded", err, "InvalidPart", http.StatusBadRequest)

	out, err := complete(completed(all, nil))
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	if !regexp.MustCompile(`^"[0-9a-f]{32}-14"$`).MatchString(aws.ToString(out.ETag)) {
		t.Errorf("multipart ETag = %s; want \"<32 hex>-14\"", aws.ToString(out.ETag))
	}
	// Completing wrote manifests only.
	if got := shardFiles(ts.blobFiles(t)) - shardFiles(afterParts); got != 0 {
		t.Errorf("CompleteMultipartUpload wrote %d shard files; want none (metadata only)", got)
	}
	_, err = complete(completed(all, nil))
	wantCode(t, "Complete again", err, "NoSuchUpload", http.StatusNotFound)

	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("big/model.bin")})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, g.Body)
	g.Body.Close()
	if err != nil || n != int64(len(data)) || !bytes.Equal(h.Sum(nil), sha256Sum(data)) {
		t.Fatalf("GetObject: %d bytes, %v; the object differs from the %d uploaded", n, err, len(data))
	}
	if aws.ToString(g.ContentType) != "application/x-model" || g.Metadata["epoch"] != "7" || aws.ToString(g.ETag) != aws.ToString(out.ETag) {
		t.Errorf("GetObject = type %q meta %v ETag %s; want the upload's", aws.ToString(g.ContentType), g.Metadata, aws.ToString(g.ETag))
	}
	// A part by number, and a range across a part boundary.
	p3, po := ts.get(t, "lake", "big/model.bin", func(in *s3.GetObjectInput) { in.PartNumber = aws.Int32(3) })
	if !bytes.Equal(p3, data[2*partSize:3*partSize]) || aws.ToInt32(po.PartsCount) != 14 {
		t.Errorf("GetObject partNumber=3: %d bytes, parts count %d; want part 3 and 14", len(p3), aws.ToInt32(po.PartsCount))
	}
	rng, _ := ts.get(t, "lake", "big/model.bin", func(in *s3.GetObjectInput) {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", partSize-10, partSize+9))
	})
	if !bytes.Equal(rng, data[partSize-10:partSize+10]) {
		t.Errorf("range across parts 1 and 2 differs")
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("big/model.bin"), PartNumber: aws.Int32(15)})
	wantCode(t, "GetObject partNumber=15", err, "InvalidPartNumber", http.StatusRequestedRangeNotSatisfiable)
}

func sha256Sum(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

func TestMultipartErrorsAndCopy(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	ctx := context.Background()
	c := ts.client
	src := random(6 << 20)
	ts.put(t, "lake", "src", src)

	_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("lake"), Key: aws.String("k"), UploadId: aws.String("0123456789abcdef0123456789abcdef"),
		PartNumber: aws.Int32(1), Body: strings.NewReader("x")})
	wantCode(t, "UploadPart to an unknown upload", err, "NoSuchUpload", http.StatusNotFound)

	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("lake"), Key: aws.String("other-key"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("x")})
	wantCode(t, "UploadPart naming another key", err, "NoSuchUpload", http.StatusNotFound)
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("lake"), Key: aws.String("k"), UploadId: up.UploadId,
		PartNumber: aws.Int32(10001), Body: strings.NewReader("x")})
	wantCode(t, "UploadPart number 10001", err, "InvalidArgument", http.StatusBadRequest)

	// Part 1 copied from a range of src, part 2 uploaded, part 3 a whole copy.
	cp1, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("lake"), Key: aws.String("k"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), CopySource: aws.String("lake/src"), CopySourceRange: aws.String("bytes=0-5242879")})
	if err != nil {
		t.Fatalf("UploadPartCopy: %v", err)
	}
	small := []byte("a small part")
	p2, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("lake"), Key: aws.String("k"), UploadId: up.UploadId,
		PartNumber: aws.Int32(2), Body: bytes.NewReader(small)})
	if err != nil {
		t.Fatal(err)
	}
	cp3, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("lake"), Key: aws.String("k"), UploadId: up.UploadId,
		PartNumber: aws.Int32(3), CopySource: aws.String("lake/src")})
	if err != nil {
		t.Fatalf("UploadPartCopy (whole): %v", err)
	}
	_, err = c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("lake"), Key: aws.String("k"), UploadId: up.UploadId,
		PartNumber: aws.Int32(4), CopySource: aws.String("lake/src"), CopySourceRange: aws.String("bytes=0-99999999")})
	wantCode(t, "UploadPartCopy beyond the source", err, "InvalidRange", http.StatusRequestedRangeNotSatisfiable)
	parts := []types.CompletedPart{
		{PartNumber: aws.Int32(1), ETag: cp1.CopyPartResult.ETag},
		{PartNumber: aws.Int32(2), ETag: p2.ETag},
		{PartNumber: aws.Int32(3), ETag: cp3.CopyPartResult.ETag},
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String("k"),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	wantCode(t, "Complete with a small middle part", err, "EntityTooSmall", http.StatusBadRequest)
	// Without part 3 the small part is last: fine.
	out, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String("k"),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts[:2]}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := ts.get(t, "lake", "k")
	if want := append(bytes.Clone(src[:5<<20]), small...); !bytes.Equal(got, want) {
		t.Errorf("completed object: %d bytes; want the copied range then the small part (%d bytes)", len(got), len(want))
	}
	if !strings.HasSuffix(aws.ToString(out.ETag), `-2"`) {
		t.Errorf("ETag %s; want a -2 suffix", aws.ToString(out.ETag))
	}

	// Malformed CompleteMultipartUpload bodies.
	up2, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String("m")})
	if err != nil {
		t.Fatal(err)
	}
	for body, code := range map[string]string{
		"<CompleteMultipartUpload></CompleteMultipartUpload>":                                                      "MalformedXML",
		"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>": "MalformedXML",
		"garbage": "MalformedXML",
		"<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>e</ETag></Part><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>": "InvalidPartOrder",
	} {
		b := []byte(body)
		req := ts.signedRequest(t, "POST", "/lake/m?uploadId="+aws.ToString(up2.UploadId), bytes.NewReader(b), sha256Hex(b), time.Now(), nil)
		if status, _, resp := ts.do(t, req); status != 400 || errorCodeOf(resp) != code {
			t.Errorf("Complete with body %.40q: %d %s; want 400 %s", body, status, errorCodeOf(resp), code)
		}
	}

	// Abort removes the upload and its parts' shards.
	before := ts.blobFiles(t)
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("lake"), Key: aws.String("m"), UploadId: up2.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(random(1 << 20))}); err != nil {
		t.Fatal(err)
	}
	if n := len(newBlobs(before, ts.blobFiles(t))); n != 6 {
		t.Errorf("one part wrote %d files; want 6 shards", n)
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String("m"), UploadId: up2.UploadId}); err != nil {
		t.Fatal(err)
	}
	if extra := newBlobs(before, ts.blobFiles(t)); len(extra) != 0 {
		t.Errorf("after abort %d part files remain: %v", len(extra), extra)
	}
	_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("lake"), Key: aws.String("m"), UploadId: up2.UploadId})
	wantCode(t, "ListParts after abort", err, "NoSuchUpload", http.StatusNotFound)
	if n := ts.versionCount(t, "lake", "m"); n != 0 {
		t.Errorf("aborted upload left %d versions", n)
	}
}

func TestListMultipartUploads(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	ctx := context.Background()
	keys := []string{"a/1", "a/2", "b", "c/x/1", "c/y", "d"}
	ids := map[string]string{}
	for _, k := range keys {
		up, err := ts.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		ids[k] = aws.ToString(up.UploadId)
	}
	var pages []string
	km, im := "", ""
	for {
		out, err := ts.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("lake"), Delimiter: aws.String("/"),
			MaxUploads: aws.Int32(2), KeyMarker: aws.String(km), UploadIdMarker: aws.String(im)})
		if err != nil {
			t.Fatal(err)
		}
		var page []string
		for _, u := range out.Uploads {
			page = append(page, aws.ToString(u.Key))
			if aws.ToString(u.UploadId) != ids[aws.ToString(u.Key)] {
				t.Errorf("upload %s has ID %s; want %s", aws.ToString(u.Key), aws.ToString(u.UploadId), ids[aws.ToString(u.Key)])
			}
		}
		for _, p := range out.CommonPrefixes {
			page = append(page, aws.ToString(p.Prefix))
		}
		slices.Sort(page) // the SDK returns uploads and prefixes in separate lists
		pages = append(pages, strings.Join(page, ","))
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		km, im = aws.ToString(out.NextKeyMarker), aws.ToString(out.NextUploadIdMarker)
		if len(pages) > 10 {
			t.Fatal("too many pages")
		}
	}
	if got, want := strings.Join(pages, " | "), "a/,b | c/,d"; got != want {
		t.Errorf("ListMultipartUploads with delimiter, pages of 2 = %q; want %q", got, want)
	}
	out, err := ts.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("lake"), Prefix: aws.String("c/")})
	if err != nil || len(out.Uploads) != 2 || aws.ToString(out.Uploads[0].Key) != "c/x/1" || aws.ToString(out.Uploads[1].Key) != "c/y" {
		t.Errorf("ListMultipartUploads prefix c/ = %+v, %v; want c/x/1, c/y", out.Uploads, err)
	}
}

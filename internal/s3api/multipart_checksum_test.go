package s3api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Independent checksum definitions for the tests: the standard library's
// CRCs and SHA-256, and CRC-64/NVME from its published polynomial.
var testHashes = map[types.ChecksumAlgorithm]func() hash.Hash{
	types.ChecksumAlgorithmCrc32:     func() hash.Hash { return crc32.NewIEEE() },
	types.ChecksumAlgorithmCrc32c:    func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
	types.ChecksumAlgorithmSha256:    sha256.New,
	types.ChecksumAlgorithmCrc64nvme: func() hash.Hash { return crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5)) },
}

func digest(algo types.ChecksumAlgorithm, data []byte) []byte {
	h := testHashes[algo]()
	h.Write(data)
	return h.Sum(nil)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// partSum and objectSum read the checksum of algo from SDK outputs.
func partSum(algo types.ChecksumAlgorithm, p types.CompletedPart) string {
	switch algo {
	case types.ChecksumAlgorithmCrc32:
		return aws.ToString(p.ChecksumCRC32)
	case types.ChecksumAlgorithmCrc32c:
		return aws.ToString(p.ChecksumCRC32C)
	case types.ChecksumAlgorithmSha256:
		return aws.ToString(p.ChecksumSHA256)
	}
	return aws.ToString(p.ChecksumCRC64NVME)
}

func setPartSum(algo types.ChecksumAlgorithm, p *types.CompletedPart, v string) {
	switch algo {
	case types.ChecksumAlgorithmCrc32:
		p.ChecksumCRC32 = aws.String(v)
	case types.ChecksumAlgorithmCrc32c:
		p.ChecksumCRC32C = aws.String(v)
	case types.ChecksumAlgorithmSha256:
		p.ChecksumSHA256 = aws.String(v)
	default:
		p.ChecksumCRC64NVME = aws.String(v)
	}
}

func headSum(algo types.ChecksumAlgorithm, crc32v, crc32c, sha, crc64v *string) string {
	switch algo {
	case types.ChecksumAlgorithmCrc32:
		return aws.ToString(crc32v)
	case types.ChecksumAlgorithmCrc32c:
		return aws.ToString(crc32c)
	case types.ChecksumAlgorithmSha256:
		return aws.ToString(sha)
	}
	return aws.ToString(crc64v)
}

// TestMultipartChecksums runs over http (checksums in headers) and https
// (the SDK sends them as aws-chunked trailers).
func TestMultipartChecksums(t *testing.T) { overHTTPAndHTTPS(t, testMultipartChecksums) }

// overHTTPAndHTTPS runs test against a server over http and one over
// https, in parallel.
func overHTTPAndHTTPS(t *testing.T, test func(*testing.T, *testServer)) {
	t.Parallel()
	for _, tls := range []bool{false, true} {
		name := "http"
		if tls {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, startServer(t, serverOptions{small: true, tls: tls}))
		})
	}
}

func testMultipartChecksums(t *testing.T, ts *testServer) {
	ts.mkBucket(t, "lake")
	ctx := context.Background()
	c := ts.client
	// A client that sends no checksum at all: the gateway computes the
	// parts' checksums itself.
	bare := ts.newClient(adminKey, adminSecret, func(o *s3.Options) {
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
	copySrc := random(700 << 10)
	ts.put(t, "lake", "copy-source", copySrc)

	for _, tc := range []struct {
		name string
		algo types.ChecksumAlgorithm
		typ  types.ChecksumType // "" for the default
		// how each part is sent: "sdk" (the SDK's checksum), "bare" (none
		// sent), "copy" (UploadPartCopy of copy-source)
		parts []string
		full  bool
	}{
		{"CRC32 composite", types.ChecksumAlgorithmCrc32, "", []string{"sdk", "bare", "copy"}, false},
		{"SHA256 composite", types.ChecksumAlgorithmSha256, types.ChecksumTypeComposite, []string{"sdk", "sdk"}, false},
		{"CRC64NVME full object", types.ChecksumAlgorithmCrc64nvme, "", []string{"sdk", "bare", "copy"}, true},
		{"CRC32C full object", types.ChecksumAlgorithmCrc32c, types.ChecksumTypeFullObject, []string{"sdk", "sdk"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "mp/" + strings.ReplaceAll(tc.name, " ", "-")
			up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String(key),
				ChecksumAlgorithm: tc.algo, ChecksumType: tc.typ})
			if err != nil {
				t.Fatal(err)
			}
			wantType := types.ChecksumTypeComposite
			if tc.full {
				wantType = types.ChecksumTypeFullObject
			}
			if up.ChecksumAlgorithm != tc.algo || up.ChecksumType != wantType {
				t.Errorf("CreateMultipartUpload = algorithm %q, type %q; want %q, %q", up.ChecksumAlgorithm, up.ChecksumType, tc.algo, wantType)
			}
			var whole []byte
			var rawSums []byte
			var parts []types.CompletedPart
			for i, how := range tc.parts {
				n := aws.Int32(int32(i + 1))
				var data []byte
				var got string
				switch how {
				case "copy":
					data = copySrc
					out, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("lake"), Key: aws.String(key), UploadId: up.UploadId,
						PartNumber: n, CopySource: aws.String("lake/copy-source")})
					if err != nil {
						t.Fatalf("UploadPartCopy %d: %v", i+1, err)
					}
					p := out.CopyPartResult
					got = headSum(tc.algo, p.ChecksumCRC32, p.ChecksumCRC32C, p.ChecksumSHA256, p.ChecksumCRC64NVME)
					parts = append(parts, types.CompletedPart{PartNumber: n, ETag: p.ETag})
				default:
					size := 5 << 20
					if i == len(tc.parts)-1 {
						size = 300 << 10
					}
					data = random(size)
					in := &s3.UploadPartInput{Bucket: aws.String("lake"), Key: aws.String(key), UploadId: up.UploadId,
						PartNumber: n, Body: bytes.NewReader(data)}
					cl := bare
					if how == "sdk" {
						cl, in.ChecksumAlgorithm = c, tc.algo
					}
					out, err := cl.UploadPart(ctx, in)
					if err != nil {
						t.Fatalf("UploadPart %d: %v", i+1, err)
					}
					got = headSum(tc.algo, out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumSHA256, out.ChecksumCRC64NVME)
					parts = append(parts, types.CompletedPart{PartNumber: n, ETag: out.ETag})
				}
				sum := digest(tc.algo, data)
				if got != b64(sum) {
					t.Errorf("part %d (%s): checksum %q; want %q", i+1, how, got, b64(sum))
				}
				setPartSum(tc.algo, &parts[i], b64(sum))
				whole = append(whole, data...)
				rawSums = append(rawSums, sum...)
			}
			want := b64(digest(tc.algo, rawSums)) + "-" + string(rune('0'+len(parts)))
			if tc.full {
				want = b64(digest(tc.algo, whole))
			}

			// A wrong part checksum is InvalidPart, and the upload stays.
			bad := append([]types.CompletedPart(nil), parts...)
			setPartSum(tc.algo, &bad[0], b64(digest(tc.algo, []byte("other data"))))
			_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String(key),
				UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: bad}})
			wantCode(t, "CompleteMultipartUpload with a wrong part checksum", err, "InvalidPart", http.StatusBadRequest)

			lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("lake"), Key: aws.String(key), UploadId: up.UploadId})
			if err != nil || len(lp.Parts) != len(parts) || lp.ChecksumAlgorithm != tc.algo {
				t.Fatalf("ListParts = %v (algorithm %q); want %d parts, %q", err, lp.ChecksumAlgorithm, len(parts), tc.algo)
			}
			for i, p := range lp.Parts {
				if got := headSum(tc.algo, p.ChecksumCRC32, p.ChecksumCRC32C, p.ChecksumSHA256, p.ChecksumCRC64NVME); got != partSum(tc.algo, parts[i]) {
					t.Errorf("ListParts part %d checksum %q; want %q", i+1, got, partSum(tc.algo, parts[i]))
				}
			}

			out, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String(key),
				UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
			if err != nil {
				t.Fatalf("CompleteMultipartUpload: %v", err)
			}
			if got := headSum(tc.algo, out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumSHA256, out.ChecksumCRC64NVME); got != want || out.ChecksumType != wantType {
				t.Errorf("CompleteMultipartUpload checksum = %q (%s); want %q (%s)", got, out.ChecksumType, want, wantType)
			}

			head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("lake"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			if got := headSum(tc.algo, head.ChecksumCRC32, head.ChecksumCRC32C, head.ChecksumSHA256, head.ChecksumCRC64NVME); got != want || head.ChecksumType != wantType {
				t.Errorf("HeadObject(ChecksumMode ENABLED) = %q (%s); want %q (%s)", got, head.ChecksumType, want, wantType)
			}
			// GetObject returns it too (the SDK validates a full-object
			// checksum against the body it reads).
			body, get := ts.get(t, "lake", key, func(in *s3.GetObjectInput) { in.ChecksumMode = types.ChecksumModeEnabled })
			if !bytes.Equal(body, whole) {
				t.Errorf("GetObject returned %d bytes, not the %d uploaded", len(body), len(whole))
			}
			if got := headSum(tc.algo, get.ChecksumCRC32, get.ChecksumCRC32C, get.ChecksumSHA256, get.ChecksumCRC64NVME); got != want {
				t.Errorf("GetObject(ChecksumMode ENABLED) checksum = %q; want %q", got, want)
			}
			// A range is not the object: no checksum.
			_, rng := ts.get(t, "lake", key, func(in *s3.GetObjectInput) {
				in.ChecksumMode, in.Range = types.ChecksumModeEnabled, aws.String("bytes=0-99")
			})
			if got := headSum(tc.algo, rng.ChecksumCRC32, rng.ChecksumCRC32C, rng.ChecksumSHA256, rng.ChecksumCRC64NVME); got != "" {
				t.Errorf("ranged GetObject returned checksum %q; want none", got)
			}
		})
	}
}

func TestMultipartChecksumRefusals(t *testing.T) { overHTTPAndHTTPS(t, testMultipartChecksumRefusals) }

func testMultipartChecksumRefusals(t *testing.T, ts *testServer) {
	ts.mkBucket(t, "lake")
	ctx := context.Background()
	c := ts.client
	for _, tc := range []struct {
		algo types.ChecksumAlgorithm
		typ  types.ChecksumType
	}{
		{types.ChecksumAlgorithmCrc64nvme, types.ChecksumTypeComposite},
		{types.ChecksumAlgorithmSha256, types.ChecksumTypeFullObject},
		{types.ChecksumAlgorithmSha1, types.ChecksumTypeFullObject},
	} {
		_, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String("k"),
			ChecksumAlgorithm: tc.algo, ChecksumType: tc.typ})
		wantCode(t, "CreateMultipartUpload("+string(tc.algo)+", "+string(tc.typ)+")", err, "InvalidRequest", http.StatusBadRequest)
	}

	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String("k"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	// A part with another algorithm's checksum is refused before it is stored.
	before := ts.blobFiles(t)
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("lake"), Key: aws.String("k"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("data"), ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
	wantCode(t, "UploadPart with SHA256 into a CRC32 upload", err, "InvalidRequest", http.StatusBadRequest)
	if added := newBlobs(before, ts.blobFiles(t)); len(added) != 0 {
		t.Errorf("the refused part left files: %v", added)
	}
	p, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("lake"), Key: aws.String("k"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("data"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	parts := []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: p.ETag, ChecksumCRC32: p.ChecksumCRC32}}
	complete := func(f func(*s3.CompleteMultipartUploadInput)) error {
		in := &s3.CompleteMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String("k"), UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}
		f(in)
		_, err := c.CompleteMultipartUpload(ctx, in)
		return err
	}
	err = complete(func(in *s3.CompleteMultipartUploadInput) { in.ChecksumType = types.ChecksumTypeFullObject })
	wantCode(t, "CompleteMultipartUpload with another checksum type", err, "InvalidRequest", http.StatusBadRequest)
	err = complete(func(in *s3.CompleteMultipartUploadInput) {
		in.ChecksumCRC32 = aws.String(b64(digest(types.ChecksumAlgorithmCrc32, []byte("x"))))
	})
	wantCode(t, "CompleteMultipartUpload with a wrong object checksum", err, "BadDigest", http.StatusBadRequest)
	want := b64(digest(types.ChecksumAlgorithmCrc32, digest(types.ChecksumAlgorithmCrc32, []byte("data")))) + "-1"
	if err := complete(func(in *s3.CompleteMultipartUploadInput) { in.ChecksumCRC32 = aws.String(want) }); err != nil {
		t.Fatalf("CompleteMultipartUpload with the right object checksum: %v", err)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("lake"), Key: aws.String("k"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil || aws.ToString(head.ChecksumCRC32) != want {
		t.Errorf("HeadObject checksum = %q, %v; want %q", aws.ToString(head.ChecksumCRC32), err, want)
	}
}

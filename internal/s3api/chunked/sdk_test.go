package chunked_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/rhizome-data/rhizome/internal/s3api/checksum"
	"github.com/rhizome-data/rhizome/internal/s3api/chunked"
)

// rawRequest is a request as the server received it, body undecoded.
type rawRequest struct {
	header http.Header
	body   []byte
}

// captureTLS starts an https server that records raw request bodies, and
// an S3 client that trusts it. Over https the AWS SDK for Go sends
// checksummed uploads as aws-chunked STREAMING-UNSIGNED-PAYLOAD-TRAILER.
func captureTLS(t *testing.T) (*s3.Client, func() rawRequest) {
	t.Helper()
	var mu sync.Mutex
	var last rawRequest
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		last = rawRequest{r.Header.Clone(), b}
		mu.Unlock()
		w.Header().Set("ETag", `"d41d8cd98f00b204e9800998ecf8427e"`)
	}))
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint:     aws.String(srv.URL),
		UsePathStyle:     true,
		HTTPClient:       srv.Client(),
		RetryMaxAttempts: 1,
	})
	return client, func() rawRequest {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

// onlyReader hides Seek and Len, so the SDK cannot know the length up
// front and streams the body in chunks.
type onlyReader struct{ io.Reader }

// TestDecodeAWSSDKBodies decodes what the AWS SDK for Go really sends for
// every checksum algorithm, body size and body kind, and checks that the
// checksum trailer is verified against the SDK's own computation.
func TestDecodeAWSSDKBodies(t *testing.T) {
	client, last := captureTLS(t)
	algos := []types.ChecksumAlgorithm{
		types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme,
		types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256,
	}
	sizes := []int{0, 1, 8191, 65536, 65537, 300_000}
	sawMultiChunk := false
	for _, algo := range algos {
		for _, size := range sizes {
			for _, seekable := range []bool{true, false} {
				data := pattern(size)
				var body io.Reader = bytes.NewReader(data)
				if !seekable {
					body = onlyReader{bytes.NewReader(data)}
				}
				name := string(algo) + "/" + strconv.Itoa(size) + map[bool]string{true: "/seekable", false: "/stream"}[seekable]
				_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
					Bucket: aws.String("b"), Key: aws.String("k"), Body: body,
					ContentLength: aws.Int64(int64(size)), ChecksumAlgorithm: algo,
				})
				if err != nil {
					t.Fatalf("%s: PutObject: %v", name, err)
				}
				req := last()
				if size == 0 {
					// The SDK sends an empty body plainly, its checksum in a header.
					if got, want := req.header.Get(checksum.Header(string(algo))), sum(t, string(algo), nil); got != want || len(req.body) != 0 {
						t.Errorf("%s: header %s = %q, body %q; want %q, empty", name, checksum.Header(string(algo)), got, req.body, want)
					}
					continue
				}
				mode, ok := chunked.ParseMode(req.header.Get("X-Amz-Content-Sha256"))
				if !ok || mode != chunked.UnsignedTrailer || req.header.Get("Content-Encoding") != "aws-chunked" {
					t.Fatalf("%s: the SDK sent x-amz-content-sha256 %q, Content-Encoding %q; want aws-chunked %s",
						name, req.header.Get("X-Amz-Content-Sha256"), req.header.Get("Content-Encoding"), chunked.UnsignedTrailer)
				}
				if bytes.Count(req.body, []byte("\r\n")) > 4 {
					sawMultiChunk = true
				}
				decoded, err := strconv.ParseInt(req.header.Get("X-Amz-Decoded-Content-Length"), 10, 64)
				if err != nil {
					t.Fatalf("%s: x-amz-decoded-content-length %q: %v", name, req.header.Get("X-Amz-Decoded-Content-Length"), err)
				}
				trailerName := checksum.Header(string(algo))
				if got := req.header.Get("X-Amz-Trailer"); got != trailerName {
					t.Fatalf("%s: x-amz-trailer = %q; want %q", name, got, trailerName)
				}
				opts := chunked.Options{Mode: mode, DecodedLength: decoded, Trailers: req.header.Values("X-Amz-Trailer")}

				r := chunked.NewReader(bytes.NewReader(req.body), opts)
				got, err := io.ReadAll(r)
				if err != nil {
					t.Fatalf("%s: decoding the SDK's body: %v\n%q", name, err, clipBody(req.body))
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("%s: decoded %d bytes that differ from the %d sent", name, len(got), len(data))
				}
				if v, want := r.Trailers()[trailerName], sum(t, string(algo), data); v != want {
					t.Errorf("%s: trailer %s = %q; want %q", name, trailerName, v, want)
				}

				// One changed data byte must be caught by the trailer.
				if size > 0 {
					bad := bytes.Clone(req.body)
					i := bytes.Index(bad, []byte("\r\n")) + 2 + size/2
					bad[i] ^= 0x20
					if _, err := io.ReadAll(chunked.NewReader(bytes.NewReader(bad), opts)); err == nil {
						t.Errorf("%s: a changed data byte decoded without error", name)
					}
				}
			}
		}
	}
	if !sawMultiChunk {
		t.Error("no SDK body had more than one chunk; the streaming case was not exercised")
	}
}

func clipBody(b []byte) []byte {
	if len(b) > 200 {
		return append(b[:100:100], append([]byte(" ... "), b[len(b)-100:]...)...)
	}
	return b
}

package sigv4_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/rhizome-data/rhizome/internal/s3api/sigv4"
)

// verifyingServer verifies every request it receives with Verify (and the
// body with VerifyingBody when the payload is hashed) and answers just
// enough for the AWS SDK to accept the response.
type verifyingServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	method, uri string
	payload     string
	err         error
}

func newVerifyingServer(t *testing.T, tls bool) *verifyingServer {
	t.Helper()
	v := &verifyingServer{}
	if tls {
		v.Server = httptest.NewTLSServer(v)
	} else {
		v.Server = httptest.NewServer(v)
	}
	t.Cleanup(v.Close)
	return v
}

func (v *verifyingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	res, err := sigv4.Verify(r, testLookup, time.Now(), nil)
	payload := ""
	if err == nil {
		payload = res.PayloadHash
		body := io.Reader(r.Body)
		if isHex(res.PayloadHash) {
			body = sigv4.VerifyingBody(r.Body, res.PayloadHash)
		}
		_, err = io.Copy(io.Discard, body)
	}
	v.mu.Lock()
	v.seen = append(v.seen, seenRequest{r.Method, r.URL.RequestURI(), payload, err})
	v.mu.Unlock()
	if err != nil {
		code, status := sigv4.Code(err)
		w.WriteHeader(status)
		fmt.Fprintf(w, "<Error><Code>%s</Code><Message>%s</Message></Error>", code, html.EscapeString(err.Error()))
		return
	}
	q := r.URL.Query()
	w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef"`)
	switch {
	case q.Has("list-type"):
		io.WriteString(w, `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`)
	case q.Has("delete"):
		io.WriteString(w, `<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>`)
	case q.Has("uploads"):
		io.WriteString(w, `<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>up-1</UploadId></InitiateMultipartUploadResult>`)
	case r.Method == http.MethodPost && q.Has("uploadId"):
		io.WriteString(w, `<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><ETag>"e"</ETag></CompleteMultipartUploadResult>`)
	case r.Header.Get("X-Amz-Copy-Source") != "":
		io.WriteString(w, `<CopyObjectResult><LastModified>2026-03-01T12:00:00.000Z</LastModified><ETag>"e"</ETag></CopyObjectResult>`)
	case r.Method == http.MethodGet:
		io.WriteString(w, "object data")
	}
}

func (v *verifyingServer) requests() []seenRequest {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]seenRequest(nil), v.seen...)
}

func newS3Client(srv *verifyingServer, region string) *s3.Client {
	return s3.New(s3.Options{
		Region:           region,
		Credentials:      credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, ""),
		BaseEndpoint:     aws.String(srv.URL),
		UsePathStyle:     true,
		HTTPClient:       srv.Client(),
		RetryMaxAttempts: 1,
	})
}

// TestVerifyAWSSDKClient drives the real S3 client through the common
// operations, over http (signed payload hashes, checksum headers) and
// https (aws-chunked with STREAMING-UNSIGNED-PAYLOAD-TRAILER), and requires
// every request to verify.
func TestVerifyAWSSDKClient(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[tls], func(t *testing.T) {
			srv := newVerifyingServer(t, tls)
			client := newS3Client(srv, "rhizome-test-1")
			ctx := context.Background()
			key := "dir/ünï cødé+key=1~x.txt"
			body := bytes.Repeat([]byte("rhizome "), 10000)

			calls := []struct {
				name string
				call func() error
			}{
				{"PutObject", func() error {
					_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String(key), Body: bytes.NewReader(body),
						Metadata: map[string]string{"color": "blue  green"}, ContentType: aws.String("text/plain")})
					return err
				}},
				{"PutObject SHA256", func() error {
					_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: bytes.NewReader(body),
						ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
					return err
				}},
				{"PutObject empty", func() error {
					_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("empty"), Body: bytes.NewReader(nil)})
					return err
				}},
				{"GetObject range", func() error {
					out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String(key), Range: aws.String("bytes=0-3")})
					if err == nil {
						out.Body.Close()
					}
					return err
				}},
				{"HeadObject", func() error {
					_, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("a b/c")})
					return err
				}},
				{"ListObjectsV2", func() error {
					_, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("b"), Prefix: aws.String("ünï +/="), Delimiter: aws.String("/"),
						StartAfter: aws.String("a~b"), EncodingType: types.EncodingTypeUrl, FetchOwner: aws.Bool(true)})
					return err
				}},
				{"DeleteObjects", func() error {
					_, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("b"), Delete: &types.Delete{
						Objects: []types.ObjectIdentifier{{Key: aws.String("a")}, {Key: aws.String("b&<c>"), VersionId: aws.String("v1")}}}})
					return err
				}},
				{"CopyObject", func() error {
					_, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("b"), Key: aws.String("copy"), CopySource: aws.String("b/" + key)})
					return err
				}},
				{"multipart", func() error {
					up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String(key)})
					if err != nil {
						return err
					}
					part, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("b"), Key: aws.String(key), UploadId: up.UploadId,
						PartNumber: aws.Int32(1), Body: bytes.NewReader(body)})
					if err != nil {
						return err
					}
					_, err = client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String(key), UploadId: up.UploadId,
						MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}})
					return err
				}},
				{"presigned GET and PUT", func() error {
					pc := s3.NewPresignClient(client, s3.WithPresignExpires(10*time.Minute))
					get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String(key)})
					if err != nil {
						return err
					}
					put, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String(key)})
					if err != nil {
						return err
					}
					for _, p := range []struct {
						method, url string
						hdr         http.Header
						body        io.Reader
					}{{get.Method, get.URL, get.SignedHeader, nil}, {put.Method, put.URL, put.SignedHeader, bytes.NewReader(body)}} {
						req, err := http.NewRequest(p.method, p.url, p.body)
						if err != nil {
							return err
						}
						for k, vs := range p.hdr {
							if !strings.EqualFold(k, "host") {
								req.Header[k] = vs
							}
						}
						resp, err := srv.Client().Do(req)
						if err != nil {
							return err
						}
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							return fmt.Errorf("presigned %s: status %s", p.method, resp.Status)
						}
					}
					return nil
				}},
			}
			for _, c := range calls {
				if err := c.call(); err != nil {
					t.Errorf("%s: %v", c.name, err)
				}
			}
			seen := srv.requests()
			if len(seen) < len(calls) {
				t.Fatalf("server saw %d requests; want at least %d", len(seen), len(calls))
			}
			streaming := 0
			for _, s := range seen {
				if s.err != nil {
					t.Errorf("%s %s: server-side error %v", s.method, s.uri, s.err)
				}
				if s.payload == sigv4.StreamingUnsignedPayloadTrailer {
					streaming++
				}
			}
			if tls && streaming == 0 {
				t.Errorf("no request over https used %s; the SDK's default changed?", sigv4.StreamingUnsignedPayloadTrailer)
			}
		})
	}
}

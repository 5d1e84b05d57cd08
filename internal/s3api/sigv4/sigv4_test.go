package sigv4_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"

	"github.com/rhizome-data/rhizome/internal/s3api/sigv4"
)

const (
	testAccessKey  = "AKIDRHIZOMETEST"
	testSecretKey  = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	otherAccessKey = "AKIDOTHER"
	otherSecretKey = "another/secret+key"
)

var (
	testLookup = sigv4.StaticLookup(
		sigv4.Credentials{AccessKey: testAccessKey, SecretKey: testSecretKey},
		sigv4.Credentials{AccessKey: otherAccessKey, SecretKey: otherSecretKey},
	)
	signTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	testCred = aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey}
)

// s3Signer signs like the S3 client: the path is signed as sent, never
// escaped a second time.
var s3Signer = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })

// captureServer is a real HTTP server that hands each request, as the
// server side sees it, to the test.
type captureServer struct {
	*httptest.Server
	reqs chan *http.Request
}

func newCaptureServer(t testing.TB) *captureServer {
	t.Helper()
	c := &captureServer{reqs: make(chan *http.Request, 1)}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		clone := r.Clone(context.Background())
		clone.Body = io.NopCloser(bytes.NewReader(body))
		c.reqs <- clone
	}))
	t.Cleanup(c.Close)
	return c
}

// roundTrip sends req and returns it as the server received it.
func (c *captureServer) roundTrip(t testing.TB, req *http.Request) *http.Request {
	t.Helper()
	resp, err := c.Client().Do(req)
	if err != nil {
		t.Fatalf("sending request: %v", err)
	}
	resp.Body.Close()
	return <-c.reqs
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// signed describes one request for the SDK to sign.
type signed struct {
	method  string
	target  string // escaped path and query, e.g. "/bucket/a%20b?list-type=2"
	headers http.Header
	body    []byte
	payload string // x-amz-content-sha256; "" means the body's SHA-256
	region  string
}

func (s signed) newRequest(t testing.TB, base string) *http.Request {
	t.Helper()
	var body io.Reader
	if s.body != nil {
		body = bytes.NewReader(s.body)
	}
	req, err := http.NewRequest(s.method, base+s.target, body)
	if err != nil {
		t.Fatalf("NewRequest(%q): %v", s.target, err)
	}
	for k, vs := range s.headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return req
}

func (s signed) payloadHash() string {
	if s.payload != "" {
		return s.payload
	}
	return sha256Hex(s.body)
}

func (s signed) regionOr() string {
	if s.region != "" {
		return s.region
	}
	return "us-east-1"
}

// sendSigned signs s with the AWS SDK's signer in the Authorization header
// form, sends it, and returns the server's view of it.
func sendSigned(t testing.TB, srv *captureServer, s signed, at time.Time) *http.Request {
	t.Helper()
	req := s.newRequest(t, srv.URL)
	req.Header.Set("X-Amz-Content-Sha256", s.payloadHash())
	if err := s3Signer.SignHTTP(context.Background(), testCred, req, s.payloadHash(), "s3", s.regionOr(), at); err != nil {
		t.Fatalf("SignHTTP: %v", err)
	}
	return srv.roundTrip(t, req)
}

// sendPresigned presigns s with the AWS SDK's signer for expires, sends a
// request to the URL with the headers the signer requires, and returns
// the server's view of it.
func sendPresigned(t testing.TB, srv *captureServer, s signed, at time.Time, expires time.Duration) *http.Request {
	t.Helper()
	req := s.newRequest(t, srv.URL)
	req.URL.RawQuery = joinQuery(req.URL.RawQuery, "X-Amz-Expires="+strconv.FormatInt(int64(expires/time.Second), 10))
	uri, hdr, err := s3Signer.PresignHTTP(context.Background(), testCred, req, sigv4.UnsignedPayload, "s3", s.regionOr(), at)
	if err != nil {
		t.Fatalf("PresignHTTP: %v", err)
	}
	out, err := http.NewRequest(s.method, uri, bytes.NewReader(s.body))
	if err != nil {
		t.Fatalf("NewRequest(presigned %q): %v", uri, err)
	}
	for k, vs := range hdr {
		if strings.EqualFold(k, "host") {
			continue
		}
		out.Header[k] = vs
	}
	return srv.roundTrip(t, out)
}

func joinQuery(raw, extra string) string {
	if raw == "" {
		return extra
	}
	return raw + "&" + extra
}

// objectTarget is the path an S3 client sends for bucket/key.
func objectTarget(bucket, key string) string {
	return "/" + bucket + "/" + httpbinding.EscapePath(key, false)
}

func TestVerifySDKSignedHeader(t *testing.T) {
	srv := newCaptureServer(t)
	putBody := []byte("hello, rhizome\n")
	tests := []struct {
		name string
		req  signed
	}{
		{"get plain", signed{method: "GET", target: objectTarget("bucket", "plain.txt")}},
		{"get space", signed{method: "GET", target: objectTarget("bucket", "with space.txt")}},
		{"get unicode", signed{method: "GET", target: objectTarget("bucket", "ünïcødé/ключ/日本語 😀.txt")}},
		{"get plus equals tilde", signed{method: "GET", target: objectTarget("bucket", "a+b=c~d.txt")}},
		{"get literal percent-2F", signed{method: "GET", target: objectTarget("bucket", "literal%2Fpercent")}},
		{"get encoded slash", signed{method: "GET", target: "/bucket/a%2Fb"}},
		{"get double slashes", signed{method: "GET", target: objectTarget("bucket", "dir//double//slash/")}},
		{"get dot segments", signed{method: "GET", target: objectTarget("bucket", "a/./b/../c")}},
		{"get punctuation", signed{method: "GET", target: objectTarget("bucket", "semi;colon,comma!$&'()*@:[]")}},
		{"get bucket root", signed{method: "GET", target: "/"}},
		{"head object", signed{method: "HEAD", target: objectTarget("bucket", "x y")}},
		{"list v2 query", signed{method: "GET", target: "/bucket?list-type=2&prefix=a%20b%2Bc&delimiter=%2F&encoding-type=url"}},
		{"empty value query", signed{method: "POST", target: "/bucket/key?uploads", payload: sigv4.EmptySHA256}},
		{"empty value with equals", signed{method: "GET", target: "/bucket/key?versionId="}},
		{"repeated keys sort after encoding", signed{method: "GET", target: "/bucket?tag=a%2Fb&tag=a-b&tag=&tag=a.b"}},
		{"special chars in query", signed{method: "GET", target: "/bucket?prefix=%E2%82%AC%20%2A%21%27%28%29&marker=x*y"}},
		{"plus in query is a space", signed{method: "GET", target: "/bucket?prefix=a+b"}},
		{"multiple header values", signed{method: "GET", target: "/bucket/k", headers: http.Header{
			"X-Amz-Meta-Multi": {"first", "  second   with   spaces  "},
			"Range":            {"bytes=0-9"},
			"If-None-Match":    {`"etag-1"`},
		}}},
		{"tab inside header value", signed{method: "GET", target: "/bucket/k", headers: http.Header{"X-Amz-Meta-Tab": {"a\tb  c"}}}},
		{"put hashed payload", signed{method: "PUT", target: objectTarget("bucket", "dir/file name.txt"), body: putBody, headers: http.Header{
			"Content-Type":     {"text/plain; charset=utf-8"},
			"X-Amz-Meta-Color": {"blue"},
		}}},
		{"put unsigned payload", signed{method: "PUT", target: objectTarget("bucket", "u.bin"), body: putBody, payload: sigv4.UnsignedPayload}},
		{"put empty body", signed{method: "PUT", target: objectTarget("bucket", "empty"), body: []byte{}}},
		{"custom region", signed{method: "GET", target: "/bucket/k", region: "rhizome-local"}},
		{"streaming unsigned trailer", signed{method: "PUT", target: "/bucket/k", body: []byte("0\r\n\r\n"), payload: sigv4.StreamingUnsignedPayloadTrailer, headers: http.Header{
			"Content-Encoding": {"aws-chunked"},
			"X-Amz-Trailer":    {"x-amz-checksum-crc32"},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sendSigned(t, srv, tt.req, signTime)
			res, err := sigv4.Verify(r, testLookup, signTime.Add(30*time.Second), nil)
			if err != nil {
				t.Fatalf("Verify(%s %s) = %v; want success", tt.req.method, tt.req.target, err)
			}
			if res.AccessKey != testAccessKey || res.Region != tt.req.regionOr() || !res.Date.Equal(signTime) || res.Presigned {
				t.Errorf("Result = %+v; want access key %s, region %s, date %v, not presigned", res, testAccessKey, tt.req.regionOr(), signTime)
			}
			if res.PayloadHash != tt.req.payloadHash() {
				t.Errorf("PayloadHash = %q; want %q", res.PayloadHash, tt.req.payloadHash())
			}
			if sig := r.Header.Get("Authorization"); !strings.HasSuffix(sig, "Signature="+res.SeedSignature) {
				t.Errorf("SeedSignature = %q; not the signature of %q", res.SeedSignature, sig)
			}
			if want := sigv4.SigningKey(testSecretKey, signTime, tt.req.regionOr(), "s3"); !bytes.Equal(res.SigningKey, want) {
				t.Errorf("SigningKey = %x; want %x", res.SigningKey, want)
			}
			if got, want := res.Scope(), "20260301/"+tt.req.regionOr()+"/s3/aws4_request"; got != want {
				t.Errorf("Scope() = %q; want %q", got, want)
			}
			if isHex(res.PayloadHash) {
				body, err := io.ReadAll(sigv4.VerifyingBody(r.Body, res.PayloadHash))
				if err != nil || !bytes.Equal(body, tt.req.body) {
					t.Errorf("VerifyingBody read %q, %v; want %q, nil", body, err, tt.req.body)
				}
			}
		})
	}
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && len(s) == 64
}

func TestVerifySDKPresigned(t *testing.T) {
	srv := newCaptureServer(t)
	tests := []struct {
		name    string
		req     signed
		expires time.Duration
	}{
		{"get", signed{method: "GET", target: objectTarget("bucket", "photos/2026/ünï code+x=y.jpg")}, time.Hour},
		{"get with query", signed{method: "GET", target: "/bucket/k?versionId=v%2B1&response-content-type=text%2Fplain"}, 15 * time.Minute},
		{"head", signed{method: "HEAD", target: objectTarget("bucket", "a b")}, time.Minute},
		{"put with signed meta header", signed{method: "PUT", target: objectTarget("bucket", "up load"), body: []byte("data"), headers: http.Header{
			"X-Amz-Meta-Owner": {"alice"},
			"Content-Type":     {"application/octet-stream"},
		}}, time.Hour},
		{"seven days", signed{method: "GET", target: "/bucket/k"}, sigv4.MaxPresignExpiry},
		{"custom region", signed{method: "GET", target: "/bucket/k", region: "eu-rhizome-1"}, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sendPresigned(t, srv, tt.req, signTime, tt.expires)
			for _, now := range []time.Time{signTime.Add(time.Second), signTime.Add(tt.expires)} {
				res, err := sigv4.Verify(r, testLookup, now, nil)
				if err != nil {
					t.Fatalf("Verify(%s %s) at %v = %v; want success", tt.req.method, r.URL.RequestURI(), now, err)
				}
				if !res.Presigned || res.PayloadHash != sigv4.UnsignedPayload || res.Region != tt.req.regionOr() || res.AccessKey != testAccessKey {
					t.Errorf("Result = %+v; want presigned, UNSIGNED-PAYLOAD, region %s", res, tt.req.regionOr())
				}
				if got := r.URL.Query().Get("X-Amz-Signature"); got != res.SeedSignature {
					t.Errorf("SeedSignature = %q; want %q", res.SeedSignature, got)
				}
			}
			if _, err := sigv4.Verify(r, testLookup, signTime.Add(tt.expires+time.Second), nil); !errors.Is(err, sigv4.ErrExpiredPresign) {
				t.Errorf("Verify one second after expiry = %v; want ErrExpiredPresign", err)
			}
		})
	}
}

// TestVerifyAWSExamples checks the worked examples of the S3 SigV4
// documentation (sig-v4-header-based-auth.html, sigv4-query-string-auth.html,
// sigv4-streaming.html).
func TestVerifyAWSExamples(t *testing.T) {
	const (
		ak     = "AKIAIOSFODNN7EXAMPLE"
		sk     = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
		prefix = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
	)
	lookup := sigv4.StaticLookup(sigv4.Credentials{AccessKey: ak, SecretKey: sk})
	now := time.Date(2013, 5, 24, 0, 5, 0, 0, time.UTC)
	tests := []struct {
		name    string
		method  string
		target  string
		host    string
		headers map[string]string
		payload string
	}{
		{
			name: "GET object", method: "GET", target: "/test.txt", host: "examplebucket.s3.amazonaws.com",
			headers: map[string]string{
				"Range":                "bytes=0-9",
				"X-Amz-Content-Sha256": sigv4.EmptySHA256,
				"X-Amz-Date":           "20130524T000000Z",
				"Authorization":        prefix + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
			},
			payload: sigv4.EmptySHA256,
		},
		{
			name: "PUT object, path sent encoded", method: "PUT", target: "/test%24file.text", host: "examplebucket.s3.amazonaws.com",
			headers: map[string]string{
				"Date":                 "Fri, 24 May 2013 00:00:00 GMT",
				"X-Amz-Date":           "20130524T000000Z",
				"X-Amz-Storage-Class":  "REDUCED_REDUNDANCY",
				"X-Amz-Content-Sha256": "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
				"Authorization":        prefix + "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
			},
			payload: "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
		},
		{
			name: "PUT object, path sent raw", method: "PUT", target: "/test$file.text", host: "examplebucket.s3.amazonaws.com",
			headers: map[string]string{
				"Date":                 "Fri, 24 May 2013 00:00:00 GMT",
				"X-Amz-Date":           "20130524T000000Z",
				"X-Amz-Storage-Class":  "REDUCED_REDUNDANCY",
				"X-Amz-Content-Sha256": "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
				"Authorization":        prefix + "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
			},
			payload: "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
		},
		{
			name: "GET bucket lifecycle", method: "GET", target: "/?lifecycle", host: "examplebucket.s3.amazonaws.com",
			headers: map[string]string{
				"X-Amz-Date":           "20130524T000000Z",
				"X-Amz-Content-Sha256": sigv4.EmptySHA256,
				"Authorization":        prefix + "SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
			},
			payload: sigv4.EmptySHA256,
		},
		{
			name: "GET bucket list objects", method: "GET", target: "/?max-keys=2&prefix=J", host: "examplebucket.s3.amazonaws.com",
			headers: map[string]string{
				"X-Amz-Date":           "20130524T000000Z",
				"X-Amz-Content-Sha256": sigv4.EmptySHA256,
				"Authorization":        prefix + "SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
			},
			payload: sigv4.EmptySHA256,
		},
		{
			name: "presigned GET", method: "GET", host: "examplebucket.s3.amazonaws.com",
			target: "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
				"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
				"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
			payload: sigv4.UnsignedPayload,
		},
		{
			name: "streaming PUT seed", method: "PUT", target: "/examplebucket/chunkObject.txt", host: "s3.amazonaws.com",
			headers: map[string]string{
				"X-Amz-Date":                   "20130524T000000Z",
				"X-Amz-Storage-Class":          "REDUCED_REDUNDANCY",
				"X-Amz-Content-Sha256":         sigv4.StreamingPayload,
				"Content-Encoding":             "aws-chunked",
				"X-Amz-Decoded-Content-Length": "66560",
				"Content-Length":               "66824",
				"Authorization": prefix + "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class," +
					"Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
			},
			payload: sigv4.StreamingPayload,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			r.Host = tt.host
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			res, err := sigv4.Verify(r, lookup, now, nil)
			if err != nil {
				t.Fatalf("Verify = %v; want success", err)
			}
			if res.PayloadHash != tt.payload {
				t.Errorf("PayloadHash = %q; want %q", res.PayloadHash, tt.payload)
			}
		})
	}
}

func TestSigningKeyAWSExample(t *testing.T) {
	// From the IAM documentation's "derive a signing key" example.
	got := sigv4.SigningKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", time.Date(2012, 2, 15, 0, 0, 0, 0, time.UTC), "us-east-1", "iam")
	const want = "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
	if hex.EncodeToString(got) != want {
		t.Errorf("SigningKey = %x; want %s", got, want)
	}
}

package s3api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/rhizome-data/rhizome/internal/config"
	"github.com/rhizome-data/rhizome/internal/s3api/sigv4"
)

func TestAuthFailuresStoreNothing(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	before := ts.blobFiles(t)
	data := []byte("should not be stored")
	ctx := context.Background()

	wrongSecret := ts.newClient(adminKey, "not-the-secret-at-all")
	_, err := wrongSecret.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("k"), Body: bytes.NewReader(data)})
	wantCode(t, "PutObject with a wrong secret", err, "SignatureDoesNotMatch", http.StatusForbidden)

	unknown := ts.newClient("UNKNOWNKEY", "whatever-secret-1234")
	_, err = unknown.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("k"), Body: bytes.NewReader(data)})
	wantCode(t, "PutObject with an unknown key", err, "InvalidAccessKeyId", http.StatusForbidden)

	for name, at := range map[string]time.Time{"16 minutes slow": time.Now().Add(-16 * time.Minute), "16 minutes fast": time.Now().Add(16 * time.Minute)} {
		req := ts.signedRequest(t, "PUT", "/lake/k", bytes.NewReader(data), sha256Hex(data), at, nil)
		if status, _, body := ts.do(t, req); status != 403 || errorCodeOf(body) != "RequestTimeTooSkewed" {
			t.Errorf("request %s: %d %s; want 403 RequestTimeTooSkewed", name, status, errorCodeOf(body))
		}
	}
	// 14 minutes off is within the limit.
	req := ts.signedRequest(t, "GET", "/lake?list-type=2", nil, sha256Hex(nil), time.Now().Add(-14*time.Minute), nil)
	if status, _, body := ts.do(t, req); status != 200 {
		t.Errorf("request 14 minutes slow: %d %s; want 200", status, body)
	}

	// Unsigned.
	r, _ := http.NewRequest("PUT", ts.url+"/lake/k", bytes.NewReader(data))
	if status, _, body := ts.do(t, r); status != 403 || errorCodeOf(body) != "AccessDenied" {
		t.Errorf("unsigned PUT: %d %s; want 403 AccessDenied", status, errorCodeOf(body))
	}
	// Signed, but the body is not the one signed.
	req = ts.signedRequest(t, "PUT", "/lake/k", bytes.NewReader(data), sha256Hex([]byte("something else")), time.Now(), nil)
	if status, _, body := ts.do(t, req); status != 400 || errorCodeOf(body) != "XAmzContentSHA256Mismatch" {
		t.Errorf("PUT with a wrong payload hash: %d %s; want 400 XAmzContentSHA256Mismatch", status, errorCodeOf(body))
	}
	// A header changed after signing.
	req = ts.signedRequest(t, "PUT", "/lake/k", bytes.NewReader(data), sha256Hex(data), time.Now(), map[string]string{"X-Amz-Meta-A": "1"})
	req.Header.Set("X-Amz-Meta-A", "2")
	if status, _, body := ts.do(t, req); status != 403 || errorCodeOf(body) != "SignatureDoesNotMatch" {
		t.Errorf("PUT with a header changed after signing: %d %s; want 403 SignatureDoesNotMatch", status, errorCodeOf(body))
	} else if !strings.Contains(body, "<StringToSign>") || !strings.Contains(body, "<CanonicalRequest>") {
		t.Errorf("SignatureDoesNotMatch body lacks StringToSign and CanonicalRequest: %s", body)
	}
	// An x-amz header that is not signed.
	req = ts.signedRequest(t, "PUT", "/lake/k", bytes.NewReader(data), sha256Hex(data), time.Now(), nil)
	req.Header.Set("X-Amz-Meta-Sneaky", "1")
	if status, _, body := ts.do(t, req); status != 403 || errorCodeOf(body) != "AccessDenied" {
		t.Errorf("PUT with an unsigned x-amz header: %d %s; want 403 AccessDenied", status, errorCodeOf(body))
	}

	if n := ts.versionCount(t, "lake", "k"); n != 0 {
		t.Errorf("failed authentications left %d versions", n)
	}
	if extra := newBlobs(before, ts.blobFiles(t)); len(extra) > 0 {
		t.Errorf("failed authentications left files on the backends: %v", extra)
	}
}

func TestPresignedURLs(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	ctx := context.Background()
	pc := s3.NewPresignClient(ts.client)
	data := []byte("uploaded through a presigned URL")

	put, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("pre/put.txt")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", put.URL, bytes.NewReader(data))
	for k, vs := range put.SignedHeader {
		if !strings.EqualFold(k, "Host") {
			req.Header[k] = vs
		}
	}
	if status, _, body := ts.do(t, req); status != 200 {
		t.Fatalf("presigned PUT: %d %s", status, body)
	}
	if got, _ := ts.get(t, "lake", "pre/put.txt"); !bytes.Equal(got, data) {
		t.Errorf("object from presigned PUT = %q; want %q", got, data)
	}

	get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("pre/put.txt")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest("GET", get.URL, nil)
	if status, _, body := ts.do(t, req); status != 200 || body != string(data) {
		t.Errorf("presigned GET: %d %q; want 200 %q", status, body, data)
	}
	// A tampered presigned URL.
	if !strings.Contains(get.URL, "put.txt") {
		t.Fatalf("unexpected presigned URL form %s", get.URL)
	}
	req, _ = http.NewRequest("GET", strings.Replace(get.URL, "put.txt", "other.txt", 1), nil)
	if status, _, body := ts.do(t, req); status != 403 || errorCodeOf(body) != "SignatureDoesNotMatch" {
		t.Errorf("tampered presigned GET: %d %s; want 403 SignatureDoesNotMatch", status, errorCodeOf(body))
	}

	// Expired: the server's clock is moved past the expiry.
	expPut, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("pre/late.txt")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ts.serverSkew.Store(int64(2 * time.Minute))
	req, _ = http.NewRequest("GET", get.URL, nil)
	status, _, body := ts.do(t, req)
	if status != 403 || errorCodeOf(body) != "AccessDenied" || !strings.Contains(body, "expired") {
		t.Errorf("expired presigned GET: %d %s; want 403 AccessDenied saying expired", status, body)
	}
	req, _ = http.NewRequest("PUT", expPut.URL, bytes.NewReader(data))
	for k, vs := range expPut.SignedHeader {
		if !strings.EqualFold(k, "Host") {
			req.Header[k] = vs
		}
	}
	if status, _, body := ts.do(t, req); status != 403 || errorCodeOf(body) != "AccessDenied" {
		t.Errorf("expired presigned PUT: %d %s; want 403 AccessDenied", status, errorCodeOf(body))
	}
	ts.serverSkew.Store(0)
	if n := ts.versionCount(t, "lake", "pre/late.txt"); n != 0 {
		t.Errorf("expired presigned PUT stored %d versions", n)
	}
}

func TestGrants(t *testing.T) {
	t.Parallel()
	users := []User{
		{AccessKey: adminKey, SecretKey: adminSecret, Buckets: map[string]Access{"*": WriteAccess}},
		{AccessKey: "READER", SecretKey: "reader-secret-123", Buckets: map[string]Access{"lake": ReadAccess}},
		{AccessKey: "WRITER", SecretKey: "writer-secret-123", Buckets: map[string]Access{"team-*": WriteAccess, "lake": ReadAccess, "team-secret": NoAccess}},
	}
	ts := startServer(t, serverOptions{users: users})
	ctx := context.Background()
	for _, b := range []string{"lake", "team-a", "team-secret", "private"} {
		ts.mkBucket(t, b)
	}
	ts.put(t, "lake", "k", []byte("data"))
	reader := ts.newClient("READER", "reader-secret-123")
	writer := ts.newClient("WRITER", "writer-secret-123")

	names := func(c *s3.Client) string {
		out, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, b := range out.Buckets {
			n = append(n, aws.ToString(b.Name))
		}
		return strings.Join(n, ",")
	}
	if got := names(reader); got != "lake" {
		t.Errorf("reader ListBuckets = %s; want lake", got)
	}
	if got := names(writer); got != "lake,team-a" {
		t.Errorf("writer ListBuckets = %s; want lake,team-a (exact team-secret: none wins over team-*)", got)
	}
	if _, err := reader.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("k")}); err != nil {
		t.Errorf("reader GetObject: %v", err)
	}
	if _, err := reader.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake")}); err != nil {
		t.Errorf("reader ListObjectsV2: %v", err)
	}
	_, err := reader.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("x"), Body: strings.NewReader("x")})
	wantCode(t, "reader PutObject", err, "AccessDenied", http.StatusForbidden)
	_, err = reader.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("lake"), Key: aws.String("k")})
	wantCode(t, "reader DeleteObject", err, "AccessDenied", http.StatusForbidden)
	_, err = reader.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("private"), Key: aws.String("k")})
	wantCode(t, "reader GetObject(private)", err, "AccessDenied", http.StatusForbidden)
	_, err = reader.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("new")})
	wantCode(t, "reader CreateBucket", err, "AccessDenied", http.StatusForbidden)

	if _, err := writer.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("team-a"), Key: aws.String("x"), Body: strings.NewReader("x")}); err != nil {
		t.Errorf("writer PutObject(team-a): %v", err)
	}
	if _, err := writer.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("team-b")}); err != nil {
		t.Errorf("writer CreateBucket(team-b): %v", err)
	}
	_, err = writer.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("team-secret"), Key: aws.String("x"), Body: strings.NewReader("x")})
	wantCode(t, "writer PutObject(team-secret)", err, "AccessDenied", http.StatusForbidden)
	// Copying needs read on the source and write on the destination.
	if _, err := writer.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("team-a"), Key: aws.String("c"), CopySource: aws.String("lake/k")}); err != nil {
		t.Errorf("writer CopyObject lake -> team-a: %v", err)
	}
	_, err = writer.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("team-a"), Key: aws.String("c"), CopySource: aws.String("private/k")})
	wantCode(t, "writer CopyObject from private", err, "AccessDenied", http.StatusForbidden)
	_, err = writer.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("lake"), Key: aws.String("c"), CopySource: aws.String("team-a/x")})
	wantCode(t, "writer CopyObject into lake", err, "AccessDenied", http.StatusForbidden)
}

// chunkedBody encodes data as a signed aws-chunked body, continuing the
// signature chain from seed; with trailer set it adds an
// x-amz-checksum-crc32 trailer and its signature.
func chunkedBody(key []byte, seed string, at time.Time, data []byte, chunk int, trailer string) []byte {
	stamp := at.UTC().Format(sigv4.TimeFormat)
	scope := at.UTC().Format("20060102") + "/" + region + "/s3/aws4_request"
	mac := func(s string) string {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(s))
		return hex.EncodeToString(h.Sum(nil))
	}
	var b bytes.Buffer
	prev := seed
	for off := 0; ; off = min(off+chunk, len(data)) {
		end := min(off+chunk, len(data))
		piece := data[off:end]
		sig := mac("AWS4-HMAC-SHA256-PAYLOAD\n" + stamp + "\n" + scope + "\n" + prev + "\n" + sigv4.EmptySHA256 + "\n" + sha256Hex(piece))
		fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n", len(piece), sig)
		b.Write(piece)
		if len(piece) > 0 {
			b.WriteString("\r\n")
		}
		prev = sig
		if len(piece) == 0 {
			break
		}
	}
	if trailer != "" {
		line := "x-amz-checksum-crc32:" + trailer
		sig := mac("AWS4-HMAC-SHA256-TRAILER\n" + stamp + "\n" + scope + "\n" + prev + "\n" + sha256Hex([]byte(line+"\n")))
		b.WriteString(line + "\r\nx-amz-trailer-signature:" + sig + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

func crc32Base64(data []byte) string {
	c := crc32.ChecksumIEEE(data)
	return base64.StdEncoding.EncodeToString([]byte{byte(c >> 24), byte(c >> 16), byte(c >> 8), byte(c)})
}

// TestSignedStreamingUploads sends STREAMING-AWS4-HMAC-SHA256-PAYLOAD and
// its -TRAILER variant (as minio-go and older SDKs do), good and bad.
func TestSignedStreamingUploads(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	data := random(200_000)
	send := func(key, mode string, corrupt func([]byte), trailer string) (int, string) {
		at := time.Now().UTC()
		hdr := map[string]string{"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": strconv.Itoa(len(data))}
		if trailer != "" {
			hdr["X-Amz-Trailer"] = "x-amz-checksum-crc32"
		}
		// Sign with a placeholder body; the real body follows the seed.
		req := ts.signedRequest(t, "PUT", "/lake/"+key, nil, mode, at, hdr)
		authz := req.Header.Get("Authorization")
		seed := authz[strings.LastIndex(authz, "Signature=")+len("Signature="):]
		body := chunkedBody(sigv4.SigningKey(adminSecret, at, region, "s3"), seed, at, data, 64<<10, trailer)
		if corrupt != nil {
			corrupt(body)
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		status, _, resp := ts.do(t, req)
		return status, errorCodeOf(resp)
	}
	if status, code := send("signed", sigv4.StreamingPayload, nil, ""); status != 200 {
		t.Fatalf("signed streaming PUT: %d %s", status, code)
	}
	if got, _ := ts.get(t, "lake", "signed"); !bytes.Equal(got, data) {
		t.Errorf("signed streaming object differs from what was sent")
	}
	if status, code := send("trailer", sigv4.StreamingPayloadTrailer, nil, crc32Base64(data)); status != 200 {
		t.Fatalf("signed streaming PUT with trailer: %d %s", status, code)
	}
	_, g := ts.get(t, "lake", "trailer", func(in *s3.GetObjectInput) { in.ChecksumMode = types.ChecksumModeEnabled })
	if got := aws.ToString(g.ChecksumCRC32); got != crc32Base64(data) {
		t.Errorf("trailer checksum stored as %q; want %q", got, crc32Base64(data))
	}

	before := ts.blobFiles(t)
	flip := func(b []byte) { b[len(b)/2] ^= 1 } // a byte of chunk data
	if status, code := send("bad-data", sigv4.StreamingPayload, flip, ""); status != 403 || code != "SignatureDoesNotMatch" {
		t.Errorf("streaming PUT with altered data: %d %s; want 403 SignatureDoesNotMatch", status, code)
	}
	if status, code := send("bad-trailer", sigv4.StreamingPayloadTrailer, nil, "AAAAAA=="); status != 400 || code != "BadDigest" {
		t.Errorf("streaming PUT with a wrong checksum trailer: %d %s; want 400 BadDigest", status, code)
	}
	truncate := func(b []byte) {
		// Zero the last chunk's terminating CRLFs: the body ends early.
		copy(b[len(b)-4:], "\x00\x00\x00\x00")
	}
	if status, code := send("truncated", sigv4.StreamingPayload, truncate, ""); status != 400 {
		t.Errorf("streaming PUT with a broken end: %d %s; want 400", status, code)
	}
	for _, k := range []string{"bad-data", "bad-trailer", "truncated"} {
		if n := ts.versionCount(t, "lake", k); n != 0 {
			t.Errorf("%s: failed streaming PUT stored %d versions", k, n)
		}
	}
	if extra := newBlobs(before, ts.blobFiles(t)); len(extra) > 0 {
		t.Errorf("failed streaming PUTs left files on the backends: %v", extra)
	}
}

// TestSDKDefaultsOverTLS checks what current SDKs send by default over
// https: aws-chunked STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32
// trailer, for every checksum algorithm.
func TestSDKDefaultsOverTLS(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{tls: true})
	ts.mkBucket(t, "lake")
	ctx := context.Background()
	data := random(1 << 20)
	ts.record.Store(true)
	out := ts.put(t, "lake", "default", data)
	ts.record.Store(false)
	var modes []string
	ts.recMu.Lock()
	for _, h := range ts.recorded {
		modes = append(modes, h.Get("X-Amz-Content-Sha256")+" trailer="+h.Get("X-Amz-Trailer"))
	}
	ts.recMu.Unlock()
	if len(modes) != 1 || modes[0] != "STREAMING-UNSIGNED-PAYLOAD-TRAILER trailer=x-amz-checksum-crc32" {
		t.Errorf("SDK default PUT over https sent %v; want one STREAMING-UNSIGNED-PAYLOAD-TRAILER with a crc32 trailer", modes)
	}
	if aws.ToString(out.ChecksumCRC32) != crc32Base64(data) {
		t.Errorf("PutObject ChecksumCRC32 = %q; want %q", aws.ToString(out.ChecksumCRC32), crc32Base64(data))
	}
	got, g := ts.get(t, "lake", "default", func(in *s3.GetObjectInput) { in.ChecksumMode = types.ChecksumModeEnabled })
	if !bytes.Equal(got, data) || aws.ToString(g.ChecksumCRC32) != crc32Base64(data) {
		t.Errorf("GetObject = %d bytes, CRC32 %q; want the data and %q", len(got), aws.ToString(g.ChecksumCRC32), crc32Base64(data))
	}
	for _, algo := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256} {
		key := "algo-" + string(algo)
		// A reader without Seek or Len: the SDK must stream it in chunks.
		_, err := ts.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String(key),
			Body: struct{ io.Reader }{bytes.NewReader(data)}, ChecksumAlgorithm: algo, ContentLength: aws.Int64(int64(len(data)))})
		if err != nil {
			t.Errorf("PutObject with %s: %v", algo, err)
			continue
		}
		got, g := ts.get(t, "lake", key, func(in *s3.GetObjectInput) { in.ChecksumMode = types.ChecksumModeEnabled })
		sums := map[types.ChecksumAlgorithm]*string{types.ChecksumAlgorithmCrc32c: g.ChecksumCRC32C, types.ChecksumAlgorithmCrc64nvme: g.ChecksumCRC64NVME,
			types.ChecksumAlgorithmSha1: g.ChecksumSHA1, types.ChecksumAlgorithmSha256: g.ChecksumSHA256}
		if !bytes.Equal(got, data) || aws.ToString(sums[algo]) == "" {
			t.Errorf("%s: GetObject = %d bytes, checksum %q; want the data and a stored checksum (validated by the SDK)", algo, len(got), aws.ToString(sums[algo]))
		}
	}
}

func TestUsersFromConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s.secret"), []byte("secret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_S3_SECRET", "secret-from-env")
	good := config.Server{Users: []config.User{
		{AccessKey: "A", SecretKey: "inline-secret", Buckets: map[string]string{"*": "write"}},
		{AccessKey: "B", SecretEnv: "TEST_S3_SECRET", Buckets: map[string]string{"lake": "read", "team-*": "write", "team-secret": "none"}},
		{AccessKey: "C", SecretFile: "s.secret", Buckets: map[string]string{"x": "READ"}},
	}}
	users, err := UsersFromConfig(&config.Config{Dir: dir, Server: good})
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{users[0].SecretKey, users[1].SecretKey, users[2].SecretKey}; got[0] != "inline-secret" || got[1] != "secret-from-env" || got[2] != "secret-from-file" {
		t.Errorf("secrets = %q", got)
	}
	b := users[1]
	for bucket, want := range map[string]Access{"lake": ReadAccess, "team-a": WriteAccess, "team-secret": NoAccess, "other": NoAccess} {
		if got := b.Access(bucket); got != want {
			t.Errorf("B.Access(%s) = %s; want %s", bucket, got, want)
		}
	}
	if got := users[0].Access("anything"); got != WriteAccess {
		t.Errorf("A.Access = %s; want write", got)
	}
	for name, u := range map[string]config.User{
		"no access key":   {SecretKey: "inline-secret", Buckets: map[string]string{"*": "write"}},
		"two secrets":     {AccessKey: "X", SecretKey: "inline-secret", SecretEnv: "TEST_S3_SECRET", Buckets: map[string]string{"*": "write"}},
		"no secret":       {AccessKey: "X", Buckets: map[string]string{"*": "write"}},
		"unset env":       {AccessKey: "X", SecretEnv: "TEST_S3_UNSET_VARIABLE", Buckets: map[string]string{"*": "write"}},
		"missing file":    {AccessKey: "X", SecretFile: "nope", Buckets: map[string]string{"*": "write"}},
		"short secret":    {AccessKey: "X", SecretKey: "short", Buckets: map[string]string{"*": "write"}},
		"no grants":       {AccessKey: "X", SecretKey: "inline-secret"},
		"bad access":      {AccessKey: "X", SecretKey: "inline-secret", Buckets: map[string]string{"*": "admin"}},
		"bad pattern":     {AccessKey: "X", SecretKey: "inline-secret", Buckets: map[string]string{"[": "read"}},
		"slash in key id": {AccessKey: "X/Y", SecretKey: "inline-secret", Buckets: map[string]string{"*": "read"}},
	} {
		_, err := UsersFromConfig(&config.Config{Dir: dir, Server: config.Server{Users: []config.User{u}}})
		if !errors.Is(err, ErrUsers) {
			t.Errorf("%s: err = %v; want ErrUsers", name, err)
		}
	}
	_, err = UsersFromConfig(&config.Config{Dir: dir, Server: config.Server{Users: []config.User{good.Users[0], good.Users[0]}}})
	if !errors.Is(err, ErrUsers) {
		t.Errorf("duplicate access key: err = %v; want ErrUsers", err)
	}
}

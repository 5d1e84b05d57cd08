package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// syncBuffer is a bytes.Buffer safe for a writing process and a reading test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server is a running `rhizome serve`.
type server struct {
	cmd            *exec.Cmd
	endpoint       string
	stdout, stderr *syncBuffer
	done           chan error
}

var endpointLine = regexp.MustCompile(`rhizome: S3 gateway on (https?://\S+)`)

// startServe starts `rhizome --dir dir serve --listen 127.0.0.1:0 args...`
// with env added to a copy of the environment without RHIZOME_* keys, and
// waits for it to print its endpoint.
func startServe(t *testing.T, dir string, env []string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"--dir", dir, "serve", "--listen", "127.0.0.1:0"}, args...)...)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "RHIZOME_ACCESS_KEY=") && !strings.HasPrefix(e, "RHIZOME_SECRET_KEY=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	s := &server{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = s.stdout, s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := endpointLine.FindStringSubmatch(s.stdout.String()); m != nil && strings.Contains(s.stdout.String(), "rhizome: try:") {
			s.endpoint = m[1]
			return s
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("rhizome serve exited: %v\nstdout: %s\nstderr: %s", err, s.stdout, s.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("rhizome serve printed no endpoint\nstdout: %s\nstderr: %s", s.stdout, s.stderr)
	return nil
}

// stop sends SIGTERM and waits for the exit status.
func (s *server) stop(t *testing.T) error {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("rhizome serve did not stop within 30s of SIGTERM\nstderr: %s", s.stderr)
		return nil
	}
}

func s3Client(endpoint, ak, sk string, hc *http.Client) *s3.Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return s3.New(s3.Options{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(ak, sk, ""),
		BaseEndpoint: aws.String(endpoint), UsePathStyle: true, HTTPClient: hc, RetryMaxAttempts: 1,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	})
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func TestServeGeneratesCredentials(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "store")
	srv := startServe(t, dir, nil)
	out := srv.stdout.String()
	credPath := filepath.Join(dir, "s3-credentials")
	abs, _ := filepath.Abs(credPath)
	if !strings.Contains(out, abs) || !strings.Contains(out, "AWS_SHARED_CREDENTIALS_FILE=") {
		t.Errorf("serve output does not say where the generated credentials are (%s):\n%s", abs, out)
	}
	fi, err := os.Stat(credPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %04o; want 0600", credPath, fi.Mode().Perm())
	}
	ak, sk, err := readCredentials(credPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(ak) != 20 || len(sk) != 40 {
		t.Errorf("generated key lengths %d and %d; want 20 and 40", len(ak), len(sk))
	}
	c := s3Client(srv.endpoint, ak, sk, nil)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("lake")}); err != nil {
		t.Fatalf("CreateBucket with the generated credentials: %v", err)
	}
	_, err = s3Client(srv.endpoint, ak, "wrong-secret-0123456789", nil).ListBuckets(ctx, &s3.ListBucketsInput{})
	if errCode(err) != "SignatureDoesNotMatch" {
		t.Errorf("wrong secret: %v; want SignatureDoesNotMatch", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/health":  "ok",
		"/ready":   `"ready":true`,
		"/metrics": `rhizome_backend_up{backend="region-a-1",region="region-a"} 1`,
	} {
		resp, err := http.Get(srv.endpoint + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s = %d %q; want 200 with %q", path, resp.StatusCode, b, want)
		}
		if path == "/metrics" {
			for _, m := range []string{`rhizome_versions{state="protected"} 1`, `rhizome_backend_calls_total{backend=`, `rhizome_s3_requests_total{`} {
				if !strings.Contains(string(b), m) {
					t.Errorf("/metrics lacks %s", m)
				}
			}
		}
	}
	if err := srv.stop(t); err != nil {
		t.Fatalf("serve exited with %v after SIGTERM\nstderr: %s", err, srv.stderr)
	}
	// A second start reuses the pair.
	srv2 := startServe(t, dir, nil)
	if !strings.Contains(srv2.stdout.String(), "access key "+ak) {
		t.Errorf("second start does not reuse access key %s:\n%s", ak, srv2.stdout)
	}
	if _, err := s3Client(srv2.endpoint, ak, sk, nil).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("lake")}); err != nil {
		t.Errorf("HeadBucket after restart: %v", err)
	}
	// A credentials file others can read is refused.
	srv2.stop(t)
	os.Chmod(credPath, 0o644)
	r := rz(t, dir, nil, "serve", "--listen", "127.0.0.1:0")
	if r.code != exitUsage || !strings.Contains(r.stderr, "chmod 600") {
		t.Errorf("serve with a world-readable credentials file: exit %d, %s; want 2 and advice", r.code, r.stderr)
	}
}

// slowReader yields n bytes in pieces, pausing between them.
type slowReader struct {
	data  []byte
	piece int
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.pause)
	n := copy(p[:min(len(p), s.piece)], s.data)
	s.data = s.data[n:]
	return n, nil
}

func TestServeGracefulShutdown(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "store")
	env := []string{"RHIZOME_ACCESS_KEY=GRACEFULKEY", "RHIZOME_SECRET_KEY=graceful-secret-123"}
	srv := startServe(t, dir, env)
	if !strings.Contains(srv.stdout.String(), "access key GRACEFULKEY from RHIZOME_ACCESS_KEY") {
		t.Errorf("serve does not say the credentials come from the environment:\n%s", srv.stdout)
	}
	c := s3Client(srv.endpoint, "GRACEFULKEY", "graceful-secret-123", nil)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("lake")}); err != nil {
		t.Fatal(err)
	}
	data := randBytes(t, 4<<20)
	// About 2 seconds of upload; SIGTERM arrives in the middle.
	started := make(chan struct{})
	putErr := make(chan error, 1)
	go func() {
		body := &slowReader{data: data, piece: 256 << 10, pause: 120 * time.Millisecond}
		close(started)
		putErr <- slowPut(srv.endpoint+"/lake/in-flight", "GRACEFULKEY", "graceful-secret-123", body, int64(len(data)))
	}()
	<-started
	time.Sleep(700 * time.Millisecond)
	stopErr := make(chan error, 1)
	go func() { stopErr <- srv.stop(t) }()
	time.Sleep(200 * time.Millisecond)
	// No new connections once shutting down.
	if _, err := http.Get(srv.endpoint + "/health"); err == nil {
		t.Error("a new request was served after SIGTERM")
	}
	if err := <-putErr; err != nil {
		t.Fatalf("the upload in flight at SIGTERM failed: %v\nstderr: %s", err, srv.stderr)
	}
	if err := <-stopErr; err != nil {
		t.Fatalf("serve exited with %v after SIGTERM\nstderr: %s", err, srv.stderr)
	}
	if se := srv.stderr.String(); !strings.Contains(se, "finishing requests in flight") || !strings.Contains(se, "rhizome: stopped") {
		t.Errorf("stderr does not report the graceful stop:\n%s", se)
	}
	// The upload is durable: read it back with the CLI.
	r := mustRZ(t, dir, nil, "get", "lake/in-flight")
	if r.stdout != string(data) {
		t.Errorf("the upload finished during shutdown reads back %d bytes; want the %d sent", len(r.stdout), len(data))
	}
}

func TestServeExpiresAbandonedUploads(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "store")
	srv := startServe(t, dir, []string{"RHIZOME_ACCESS_KEY=EXPIRYKEY", "RHIZOME_SECRET_KEY=expiry-secret-123"}, "--upload-expiry", "2s")
	c := s3Client(srv.endpoint, "EXPIRYKEY", "expiry-secret-123", nil)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("lake")}); err != nil {
		t.Fatal(err)
	}
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String("abandoned")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("lake"), Key: aws.String("abandoned"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(randBytes(t, 1<<20))}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("lake")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Uploads) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upload was not cleaned up 15s after its 2s expiry\nstderr: %s", srv.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("lake"), Key: aws.String("abandoned"), UploadId: up.UploadId,
		PartNumber: aws.Int32(2), Body: strings.NewReader("x")})
	if errCode(err) != "NoSuchUpload" {
		t.Errorf("UploadPart to the expired upload: %v; want NoSuchUpload", err)
	}
	if !strings.Contains(srv.stderr.String(), "multipart uploads expired") {
		t.Errorf("the cleanup is not logged:\n%s", srv.stderr)
	}
}

func TestServeConfigUsersAndTLS(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "store")
	mustRZ(t, dir, nil, "init")
	certFile, keyFile, pool := selfSignedCert(t, t.TempDir())
	cfgPath := filepath.Join(dir, "rhizome.yaml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "reader.secret"), []byte("reader-secret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = regexp.MustCompile(`(?m)^server:\n(\s+listen:.*\n)?`).ReplaceAll(cfg, nil)
	cfg = append(cfg, []byte(`server:
  tls_cert: `+certFile+`
  tls_key: `+keyFile+`
  users:
    - access_key: ADMIN
      secret_key_env: TEST_ADMIN_SECRET
      buckets: {"*": write}
    - access_key: READER
      secret_key_file: reader.secret
      buckets: {lake: read}
`)...)
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, dir, []string{"TEST_ADMIN_SECRET=admin-secret-from-env", "RHIZOME_ACCESS_KEY=IGNORED", "RHIZOME_SECRET_KEY=ignored-secret-1"})
	if !strings.HasPrefix(srv.endpoint, "https://") || !strings.Contains(srv.stdout.String(), "2 user(s) from") {
		t.Fatalf("serve with TLS and config users printed:\n%s", srv.stdout)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	ctx := context.Background()
	admin := s3Client(srv.endpoint, "ADMIN", "admin-secret-from-env", hc)
	if _, err := admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("lake")}); err != nil {
		t.Fatal(err)
	}
	data := randBytes(t, 300_000)
	if _, err := admin.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("k"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatalf("PutObject over https (aws-chunked with a checksum trailer): %v", err)
	}
	reader := s3Client(srv.endpoint, "READER", "reader-secret-from-file", hc)
	g, err := reader.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if !bytes.Equal(got, data) {
		t.Error("reader got other bytes")
	}
	if _, err := reader.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("x"), Body: strings.NewReader("x")}); errCode(err) != "AccessDenied" {
		t.Errorf("reader PutObject: %v; want AccessDenied", err)
	}
	if _, err := s3Client(srv.endpoint, "IGNORED", "ignored-secret-1", hc).ListBuckets(ctx, &s3.ListBucketsInput{}); errCode(err) != "InvalidAccessKeyId" {
		t.Errorf("environment credentials with config users: %v; want InvalidAccessKeyId", err)
	}
	srv.stop(t)

	// A user without grants is a configuration error.
	bad := regexp.MustCompile(`(?s)\n\s+buckets: \{lake: read\}\n`).ReplaceAll(cfg, []byte("\n"))
	bad = bytes.Replace(bad, []byte("secret_key_env: TEST_ADMIN_SECRET"), []byte("secret_key: admin-secret-inline"), 1)
	os.WriteFile(cfgPath, bad, 0o644)
	r := rz(t, dir, nil, "serve", "--listen", "127.0.0.1:0")
	if r.code != exitUsage || !strings.Contains(r.stderr, "grants no bucket") {
		t.Errorf("serve with a user without grants: exit %d, %s; want 2 and a message", r.code, r.stderr)
	}
	r = rz(t, dir, nil, "serve", "--tls-cert", certFile)
	if r.code != exitUsage {
		t.Errorf("serve --tls-cert without a key: exit %d; want 2", r.code)
	}
}

// slowPut sends a PUT signed with UNSIGNED-PAYLOAD whose body arrives
// slowly (the SDK cannot stream an unseekable body over plain http).
func slowPut(url, ak, sk string, body io.Reader, size int64) error {
	req, err := http.NewRequest("PUT", url, body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now())
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return errors.New(resp.Status + ": " + string(b))
	}
	return nil
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rhizome test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

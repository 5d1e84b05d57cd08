package s3api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/rhizome-data/rhizome/internal/config"
	"github.com/rhizome-data/rhizome/internal/store"
)

// Test credentials.
const (
	adminKey    = "ADMINKEY0000000000"
	adminSecret = "admin-secret-0123456789abcdefghij"
	region      = "us-east-1"
)

// testServer is a real gateway on a loopback port over a real store of
// six filesystem backends (4+2, three regions) in a temporary directory.
type testServer struct {
	t      testing.TB
	dir    string
	cfg    *config.Config
	st     *store.Store
	srv    *Server
	hs     *httptest.Server
	url    string
	client *s3.Client // the admin user, path-style
	http   *http.Client

	// clock offsets: the server's (signature checks) and the store's
	// (version times and retention).
	serverSkew, storeSkew atomic.Int64

	logMu sync.Mutex
	log   bytes.Buffer

	recMu    sync.Mutex
	recorded []http.Header // request headers, when recording
	record   atomic.Bool
}

type serverOptions struct {
	tls      bool
	users    []User
	domains  []string
	retainD  int
	blockKiB int
	// small is a 2+1 layout over three backends (one per region), for
	// tests that store many objects and test no placement.
	small bool
	// ramDisk puts the backends under /dev/shm when it exists.
	ramDisk bool
	// guard sets the guard's policies.
	guard []config.GuardPolicy
}

// startServer starts a gateway for one test; it stops with the test.
func startServer(t testing.TB, o serverOptions) *testServer {
	t.Helper()
	ts := &testServer{t: t, dir: t.TempDir()}
	if o.ramDisk {
		if d, err := os.MkdirTemp("/dev/shm", "rhizome-s3api-test-"); err == nil {
			ts.dir = d
			t.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	cfg := config.Default(ts.dir)
	if o.small {
		cfg = config.Generate(ts.dir, 3, 3, 2, 1)
	}
	for i := range cfg.Backends {
		cfg.Backends[i].NoSync = true
		if err := os.MkdirAll(cfg.Resolve(cfg.Backends[i].Path), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if o.retainD > 0 {
		cfg.RetentionDays = o.retainD
	}
	if o.blockKiB > 0 {
		cfg.BlockSize = config.Size(o.blockKiB << 10)
	}
	cfg.Guard.Policies = o.guard
	if _, err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	ts.cfg = cfg
	st, err := store.Open(context.Background(), cfg, &store.Options{
		Now: func() time.Time { return time.Now().Add(time.Duration(ts.storeSkew.Load())) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ts.st = st
	users := o.users
	if users == nil {
		users = []User{{AccessKey: adminKey, SecretKey: adminSecret, Buckets: map[string]Access{"*": WriteAccess}}}
	}
	srv, err := New(st, &Options{
		Users:   users,
		Domains: o.domains,
		Logger:  slog.New(slog.NewTextHandler(lockedWriter{&ts.logMu, &ts.log}, nil)),
		Now:     func() time.Time { return time.Now().Add(time.Duration(ts.serverSkew.Load())) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.srv = srv
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ts.record.Load() {
			ts.recMu.Lock()
			h := r.Header.Clone()
			h.Set("Host", r.Host)
			ts.recorded = append(ts.recorded, h)
			ts.recMu.Unlock()
		}
		srv.ServeHTTP(w, r)
	})
	ts.hs = httptest.NewUnstartedServer(h)
	ts.hs.Config.MaxHeaderBytes = MaxHeaderBytes
	ts.hs.Config.ErrorLog = nil
	if o.tls {
		ts.hs.StartTLS()
	} else {
		ts.hs.Start()
	}
	t.Cleanup(ts.hs.Close)
	ts.url = ts.hs.URL
	ts.http = ts.hs.Client()
	ts.client = ts.newClient(adminKey, adminSecret)
	return ts
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// accessLog returns the access log so far.
func (ts *testServer) accessLog() string {
	ts.logMu.Lock()
	defer ts.logMu.Unlock()
	return ts.log.String()
}

// newClient returns a path-style SDK client for the given credentials.
// Checksums are on as config.LoadDefaultConfig sets them (s3.New alone
// leaves them unset, which sends none): CRC32 on every upload, validated
// on downloads.
func (ts *testServer) newClient(ak, sk string, opts ...func(*s3.Options)) *s3.Client {
	o := s3.Options{
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
		Region:                     region,
		Credentials:                credentials.NewStaticCredentialsProvider(ak, sk, ""),
		BaseEndpoint:               aws.String(ts.url),
		UsePathStyle:               true,
		HTTPClient:                 ts.http,
		RetryMaxAttempts:           1,
	}
	for _, f := range opts {
		f(&o)
	}
	return s3.New(o)
}

func (ts *testServer) mkBucket(t testing.TB, name string) {
	t.Helper()
	if _, err := ts.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("CreateBucket(%s): %v", name, err)
	}
}

func (ts *testServer) put(t testing.TB, bucket, key string, data []byte, opts ...func(*s3.PutObjectInput)) *s3.PutObjectOutput {
	t.Helper()
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}
	for _, f := range opts {
		f(in)
	}
	out, err := ts.client.PutObject(context.Background(), in)
	if err != nil {
		t.Fatalf("PutObject(%s/%s): %v", bucket, key, err)
	}
	return out
}

func (ts *testServer) get(t testing.TB, bucket, key string, opts ...func(*s3.GetObjectInput)) ([]byte, *s3.GetObjectOutput) {
	t.Helper()
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	for _, f := range opts {
		f(in)
	}
	out, err := ts.client.GetObject(context.Background(), in)
	if err != nil {
		t.Fatalf("GetObject(%s/%s): %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("GetObject(%s/%s): reading body: %v", bucket, key, err)
	}
	return b, out
}

// versionCount returns how many versions and delete markers bucket/key has.
func (ts *testServer) versionCount(t testing.TB, bucket, key string) int {
	t.Helper()
	vs, err := ts.st.Index().Versions(context.Background(), bucket, key)
	if err != nil {
		t.Fatalf("Versions(%s/%s): %v", bucket, key, err)
	}
	return len(vs)
}

// blobFiles returns every regular file under the backend directories
// (shards, manifest pieces and temporary files).
func (ts *testServer) blobFiles(t testing.TB) map[string]bool {
	t.Helper()
	files := map[string]bool{}
	for _, b := range ts.cfg.Backends {
		root := ts.cfg.Resolve(b.Path)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				files[p] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// newBlobs returns the files in after that are not in before.
func newBlobs(before, after map[string]bool) []string {
	var out []string
	for f := range after {
		if !before[f] {
			out = append(out, f)
		}
	}
	return out
}

// apiCode returns the S3 error code of an SDK error ("" for nil).
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return "non-API error: " + err.Error()
	}
	return ""
}

// httpStatus returns the HTTP status of an SDK error.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// wantCode fails t unless err is an S3 error with the code and status.
func wantCode(t testing.TB, what string, err error, code string, status int) {
	t.Helper()
	if got := apiCode(err); got != code {
		t.Errorf("%s: error code %q (%v); want %q", what, got, err, code)
		return
	}
	if got := httpStatus(err); status != 0 && got != status {
		t.Errorf("%s: HTTP status %d; want %d", what, got, status)
	}
}

// signedRequest builds a request signed with SigV4 for the given body
// hash (a hex SHA-256, UNSIGNED-PAYLOAD or STREAMING-*), at time at.
func (ts *testServer) signedRequest(t testing.TB, method, path string, body io.Reader, payloadHash string, at time.Time, hdr map[string]string) *http.Request {
	t.Helper()
	return ts.signedRequestAs(t, adminKey, adminSecret, method, path, body, payloadHash, at, hdr)
}

func (ts *testServer) signedRequestAs(t testing.TB, ak, sk, method, path string, body io.Reader, payloadHash string, at time.Time, hdr map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, ts.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	err = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).
		SignHTTP(context.Background(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, req, payloadHash, "s3", region, at)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// do sends a request and returns the status and body.
func (ts *testServer) do(t testing.TB, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := ts.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// errorCodeOf extracts <Code> from an S3 XML error body.
func errorCodeOf(body string) string {
	_, rest, ok := strings.Cut(body, "<Code>")
	if !ok {
		return ""
	}
	code, _, _ := strings.Cut(rest, "</Code>")
	return code
}

// dialAlways is a DialContext that connects every host to addr, for
// virtual-hosted-style requests to names that do not resolve.
func dialAlways(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

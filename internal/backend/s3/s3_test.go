package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/backend/backendtest"
	"github.com/rhizome-data/rhizome/internal/testenv"
)

// config returns a Config for m with small parts and short timeouts, so
// the suite exercises multipart uploads and failures come quickly.
func testConfig(m *testenv.MinIO) Config {
	return Config{
		Endpoint:  m.Endpoint(),
		Bucket:    m.Bucket(),
		PathStyle: true,
		AccessKey: m.AccessKey(),
		SecretKey: m.SecretKey(),
		Timeout:   5 * time.Second,
		PartSize:  MinPartSize,
	}
}

func newBackend(t testing.TB, cfg Config) *Backend {
	t.Helper()
	b, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	return b
}

func TestConformance(t *testing.T) {
	t.Parallel()
	m := testenv.StartMinIO(t, nil)
	var n atomic.Int64
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		cfg := testConfig(m)
		cfg.Prefix = fmt.Sprintf("conformance/%d", n.Add(1))
		return newBackend(t, cfg)
	})
}

// TestConformanceMultipartKnownSize sends known-size puts above 6 MiB as
// multipart uploads, the path objects over 5 GiB take.
func TestConformanceMultipartKnownSize(t *testing.T) {
	t.Parallel()
	m := testenv.StartMinIO(t, nil)
	var n atomic.Int64
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		cfg := testConfig(m)
		cfg.Prefix = fmt.Sprintf("multipart/%d", n.Add(1))
		b := newBackend(t, cfg)
		b.maxSinglePut = 6 << 20
		return b
	})
}

// failAfter yields n bytes and then fails.
type failAfter struct{ n int }

var errBroken = errors.New("broken reader")

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errBroken
	}
	p = p[:min(len(p), f.n)]
	clear(p)
	f.n -= len(p)
	return len(p), nil
}

// TestMultipartAborted checks that a multipart upload that fails after its
// first part leaves no upload behind to hold storage.
func TestMultipartAborted(t *testing.T) {
	t.Parallel()
	m := testenv.StartMinIO(t, nil)
	b := newBackend(t, testConfig(m))
	uploads := func(name string) int {
		t.Helper()
		// MinIO lists the uploads of one key at a time.
		out, err := b.client.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: &b.bucket, Prefix: b.key(name)})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Uploads)
	}
	// The check can see an upload.
	if _, err := b.client.CreateMultipartUpload(t.Context(), &s3.CreateMultipartUploadInput{Bucket: &b.bucket, Key: b.key("control")}); err != nil {
		t.Fatal(err)
	}
	if n := uploads("control"); n != 1 {
		t.Fatalf("ListMultipartUploads sees %d uploads of %q; want 1", n, "control")
	}

	err := b.Put(t.Context(), "failed", &failAfter{n: MinPartSize + 1000}, -1)
	if !errors.Is(err, errBroken) {
		t.Errorf("Put = %v; want the reader's error", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := &cancelAfter{n: MinPartSize + 1000, cancel: cancel}
	if err := b.Put(ctx, "canceled", r, -1); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled Put = %v; want context.Canceled", err)
	}
	b.maxParts = 2
	err = b.Put(t.Context(), "too-large", io.LimitReader(zeros{}, 2*MinPartSize+1), -1)
	if err == nil || !strings.Contains(err.Error(), "more than 2 parts") {
		t.Errorf("Put of more than maxParts parts = %v; want an error saying so", err)
	}
	for _, name := range []string{"failed", "canceled", "too-large"} {
		if n := uploads(name); n != 0 {
			t.Errorf("%d multipart uploads of %q left behind", n, name)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// cancelAfter yields zeros and cancels after n bytes.
type cancelAfter struct {
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	p = p[:min(len(p), 64<<10)]
	clear(p)
	c.n -= len(p)
	return len(p), nil
}

// ops calls every Backend method once, concurrently, and returns their
// errors by name.
func ops(ctx context.Context, b backend.Backend) map[string]error {
	calls := map[string]func() error{
		"Put":          func() error { return b.Put(ctx, "blob", strings.NewReader("data"), 4) },
		"Put(size -1)": func() error { return b.Put(ctx, "blob", strings.NewReader("data"), -1) },
		"Delete":       func() error { return b.Delete(ctx, "blob") },
		"List":         func() error { return b.List(ctx, "", func(backend.Info) error { return nil }) },
		"Get":          func() error { return get(ctx, b, "existing", 0, -1) },
		"Get(range)":   func() error { return get(ctx, b, "existing", 1, 2) },
		"Stat": func() error {
			_, err := b.Stat(ctx, "existing")
			return err
		},
		"Stat(missing)": func() error {
			_, err := b.Stat(ctx, "missing")
			return err
		},
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := map[string]error{}
	for name, call := range calls {
		wg.Go(func() {
			err := call()
			mu.Lock()
			errs[name] = err
			mu.Unlock()
		})
	}
	wg.Wait()
	return errs
}

func get(ctx context.Context, b backend.Backend, name string, off, length int64) error {
	rc, err := b.Get(ctx, name, off, length)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.ReadAll(rc)
	return err
}

func putExisting(t *testing.T, b *Backend) {
	t.Helper()
	if err := b.Put(t.Context(), "existing", strings.NewReader("data"), 4); err != nil {
		t.Fatal(err)
	}
}

func TestForbidden(t *testing.T) {
	t.Parallel()
	m := testenv.StartMinIO(t, nil)
	putExisting(t, newBackend(t, testConfig(m)))
	tests := []struct {
		name           string
		access, secret string
	}{
		{"wrong secret", m.AccessKey(), "not-the-secret-key"},
		{"unknown access key", "revoked-key", m.SecretKey()},
	}
	for _, tt := range tests {
		cfg := testConfig(m)
		cfg.AccessKey, cfg.SecretKey = tt.access, tt.secret
		cfg.MaxRetries = 10 // a retried refusal would take seconds
		b := newBackend(t, cfg)
		start := time.Now()
		for op, err := range ops(t.Context(), b) {
			if !errors.Is(err, backend.ErrForbidden) {
				t.Errorf("%s: %s = %v; want ErrForbidden", tt.name, op, err)
			}
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: refused calls took %v; they must not be retried", tt.name, d)
		}
		if err := b.Check(t.Context()); !errors.Is(err, backend.ErrForbidden) {
			t.Errorf("%s: Check = %v; want ErrForbidden", tt.name, err)
		}
	}
}

func TestMissingBucket(t *testing.T) {
	t.Parallel()
	m := testenv.StartMinIO(t, nil)
	cfg := testConfig(m)
	cfg.Bucket = "no-such-bucket"
	b := newBackend(t, cfg)
	for op, err := range ops(t.Context(), b) {
		if !errors.Is(err, backend.ErrUnavailable) || !strings.Contains(err.Error(), `bucket "no-such-bucket" does not exist`) {
			t.Errorf("%s = %v; want ErrUnavailable saying the bucket does not exist", op, err)
		}
	}
	if err := b.Check(t.Context()); !errors.Is(err, backend.ErrUnavailable) || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Errorf("Check = %v; want ErrUnavailable naming the bucket", err)
	}
	if err := newBackend(t, testConfig(m)).Check(t.Context()); err != nil {
		t.Errorf("Check of the existing bucket = %v", err)
	}
}

// TestWipedServer loses a whole backend: the bucket and everything in it.
func TestWipedServer(t *testing.T) {
	t.Parallel()
	m := testenv.StartMinIO(t, nil)
	b := newBackend(t, testConfig(m))
	putExisting(t, b)
	m.Wipe()
	if _, err := b.Stat(t.Context(), "existing"); !errors.Is(err, backend.ErrUnavailable) || !strings.Contains(err.Error(), m.Bucket()) {
		t.Errorf("Stat after the server lost its data = %v; want ErrUnavailable naming bucket %q", err, m.Bucket())
	}
	if err := m.CreateBucket(t.Context(), m.Bucket()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(t.Context(), "existing"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Stat in the recreated, empty bucket = %v; want ErrNotFound", err)
	}
}

func TestServerStopped(t *testing.T) {
	t.Parallel()
	m := testenv.StartMinIO(t, nil)
	cfg := testConfig(m)
	cfg.Timeout = 2 * time.Second
	b := newBackend(t, cfg)
	putExisting(t, b)
	m.Stop()
	start := time.Now()
	for op, err := range ops(t.Context(), b) {
		if !errors.Is(err, backend.ErrUnavailable) {
			t.Errorf("%s on a stopped server = %v; want ErrUnavailable", op, err)
		}
	}
	// Connections are refused at once; retries back off briefly.
	if d := time.Since(start); d > cfg.Timeout {
		t.Errorf("calls on a stopped server took %v; want less than the %v timeout", d, cfg.Timeout)
	}
	m.Start()
	if _, err := b.Stat(t.Context(), "existing"); err != nil {
		t.Errorf("Stat after the server came back = %v", err)
	}
}

func TestServerPaused(t *testing.T) {
	t.Parallel()
	m := testenv.StartMinIO(t, nil)
	cfg := testConfig(m)
	cfg.Timeout = time.Second
	b := newBackend(t, cfg)
	putExisting(t, b)
	m.Pause()

	t.Run("caller deadline", func(t *testing.T) {
		// A Timeout far beyond the deadline, so only the deadline can end
		// the calls in time.
		cfg := cfg
		cfg.Timeout = 30 * time.Second
		b := newBackend(t, cfg)
		for _, op := range []string{"Put", "Put(size -1)", "Get", "Stat", "Delete", "List"} {
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			start := time.Now()
			var err error
			switch op {
			case "Put":
				err = b.Put(ctx, "blob", strings.NewReader("data"), 4)
			case "Put(size -1)":
				err = b.Put(ctx, "blob", strings.NewReader("data"), -1)
			case "Get":
				_, err = b.Get(ctx, "existing", 0, -1)
			case "Stat":
				_, err = b.Stat(ctx, "existing")
			case "Delete":
				err = b.Delete(ctx, "existing")
			case "List":
				err = b.List(ctx, "", func(backend.Info) error { return nil })
			}
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s on a paused server with a 200ms deadline = %v; want context.DeadlineExceeded", op, err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("%s on a paused server with a 200ms deadline returned after %v", op, d)
			}
		}
	})
	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		for op, err := range ops(t.Context(), b) {
			if !errors.Is(err, backend.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s on a paused server = %v; want ErrUnavailable, not the caller's deadline", op, err)
			}
		}
		// Calls without data give up after Timeout, retries included.
		// Small puts of unknown size are buffered and retried: each
		// attempt waits Timeout for an answer.
		if d := time.Since(start); d > time.Duration(DefaultMaxRetries+1)*cfg.Timeout+2*time.Second {
			t.Errorf("calls on a paused server took %v; want at most %d attempts of %v", d, DefaultMaxRetries+1, cfg.Timeout)
		}
	})

	m.Resume()
	if _, err := b.Stat(t.Context(), "existing"); err != nil {
		t.Errorf("Stat after the server resumed = %v", err)
	}
}

// TestServerPausedMidStream pauses the server while a Get body is being
// read: the read fails once no byte arrives for Timeout.
func TestServerPausedMidStream(t *testing.T) {
	t.Parallel()
	m := testenv.StartMinIO(t, nil)
	cfg := testConfig(m)
	cfg.Timeout = time.Second
	b := newBackend(t, cfg)
	p := bytes.Repeat([]byte("rhizome!"), 32<<20/8) // more than socket buffers hold
	if err := b.Put(t.Context(), "big", bytes.NewReader(p), int64(len(p))); err != nil {
		t.Fatal(err)
	}
	rc, err := b.Get(t.Context(), "big", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	m.Pause()
	defer m.Resume()
	start := time.Now()
	n, err := io.Copy(io.Discard, rc)
	if !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("reading from a paused server: %d bytes, error %v; want ErrUnavailable", n, err)
	}
	if d := time.Since(start); d > 5*cfg.Timeout {
		t.Errorf("reading from a paused server failed after %v; want about %v", d, cfg.Timeout)
	}
}

func TestPrefix(t *testing.T) {
	t.Parallel()
	m := testenv.StartMinIO(t, nil)
	ctx := t.Context()
	cfgA, cfgB := testConfig(m), testConfig(m)
	cfgA.Prefix, cfgB.Prefix = "tenant", "tenant-b/"
	a, b := newBackend(t, cfgA), newBackend(t, cfgB)
	for _, bk := range []*Backend{a, b} {
		if err := bk.Put(ctx, "blob", strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	// An object under the prefix that is not a valid blob name.
	_, err := a.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(m.Bucket()), Key: aws.String("tenant/bad name"), Body: strings.NewReader("")})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := a.List(ctx, "", func(i backend.Info) error { names = append(names, i.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names, ","); got != "blob" {
		t.Errorf("List with prefix %q = %q; want %q", cfgA.Prefix, got, "blob")
	}
	for _, key := range []string{"tenant/blob", "tenant-b/blob"} {
		if _, err := a.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(m.Bucket()), Key: aws.String(key)}); err != nil {
			t.Errorf("object %s: %v", key, err)
		}
	}
}

func TestCredentialsFile(t *testing.T) {
	t.Parallel()
	m := testenv.StartMinIO(t, nil)
	dir := t.TempDir()
	file := filepath.Join(dir, "credentials")
	ini := fmt.Sprintf("[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong-secret\n\n"+
		"[rhizome]\n# this backend's own key\naws_access_key_id = %s\naws_secret_access_key = %s\n\n[empty]\nregion = x\n",
		m.AccessKey(), m.SecretKey())
	if err := os.WriteFile(file, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(m)
	cfg.AccessKey, cfg.SecretKey = "", ""
	cfg.CredentialsFile, cfg.Profile = file, "rhizome"
	b := newBackend(t, cfg)
	if err := b.Check(t.Context()); err != nil {
		t.Errorf("Check with credentials from profile %q = %v", cfg.Profile, err)
	}
	cfg.Profile = ""
	if err := newBackend(t, cfg).Check(t.Context()); !errors.Is(err, backend.ErrForbidden) {
		t.Errorf("Check with the default profile's wrong keys = %v; want ErrForbidden", err)
	}

	for _, tt := range []struct{ file, profile, want string }{
		{filepath.Join(dir, "missing"), "", "no such file"},
		{file, "empty", "has no aws_access_key_id"},
		{file, "nonexistent", "nonexistent"},
		{dir, "", "is a directory"},
	} {
		cfg.CredentialsFile, cfg.Profile = tt.file, tt.profile
		if _, err := New(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "s3: ") {
			t.Errorf("New(file %s, profile %q) = %v; want an error containing %q", tt.file, tt.profile, err, tt.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	valid := Config{Bucket: "b", AccessKey: "a", SecretKey: "s"}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no bucket", func(c *Config) { c.Bucket = "" }, "no bucket"},
		{"endpoint without scheme", func(c *Config) { c.Endpoint = "127.0.0.1:9000" }, "endpoint"},
		{"endpoint with other scheme", func(c *Config) { c.Endpoint = "ftp://host" }, "endpoint"},
		{"no credentials", func(c *Config) { c.AccessKey, c.SecretKey = "", "" }, "no credentials"},
		{"access key alone", func(c *Config) { c.SecretKey = "" }, "together"},
		{"small parts", func(c *Config) { c.PartSize = 1 << 20 }, "part size"},
		{"bad CA file", func(c *Config) { c.CAFile = caFile }, "no PEM certificates"},
		{"missing CA file", func(c *Config) { c.CAFile = caFile + ".missing" }, "CA file"},
	}
	for _, tt := range tests {
		cfg := valid
		tt.edit(&cfg)
		if _, err := New(context.Background(), cfg); err == nil || !strings.HasPrefix(err.Error(), "s3: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New = %v; want an s3 error containing %q", tt.name, err, tt.want)
		}
	}
	if _, err := New(context.Background(), valid); err != nil {
		t.Errorf("New(valid) = %v", err)
	}
}

func responseError(status int, code string) error {
	var err error = &smithy.GenericAPIError{Code: code}
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      err,
	}}
}

func TestErrorKinds(t *testing.T) {
	b := &Backend{bucket: "bkt", where: "http://s3.test", timeout: time.Second}
	tests := []struct {
		op   string
		err  error
		want error
	}{
		{"get", responseError(404, "NoSuchKey"), backend.ErrNotFound},
		{"stat", responseError(404, "NotFound"), backend.ErrNotFound},
		{"put", responseError(404, "NoSuchUpload"), backend.ErrUnavailable},
		{"get", responseError(404, "NoSuchBucket"), backend.ErrUnavailable},
		{"get", responseError(403, "AccessDenied"), backend.ErrForbidden},
		{"put", responseError(403, "InvalidAccessKeyId"), backend.ErrForbidden},
		{"list", responseError(403, "SignatureDoesNotMatch"), backend.ErrForbidden},
		{"stat", responseError(403, "Forbidden"), backend.ErrForbidden},
		{"stat", responseError(400, "ExpiredToken"), backend.ErrForbidden},
		{"put", responseError(500, "InternalError"), backend.ErrUnavailable},
		{"put", responseError(503, "SlowDown"), backend.ErrUnavailable},
		{"get", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, backend.ErrUnavailable},
		{"get", fmt.Errorf("op: %w", context.DeadlineExceeded), backend.ErrUnavailable},
	}
	for _, tt := range tests {
		err := b.fail(context.Background(), tt.op, "x", tt.err)
		if !errors.Is(err, tt.want) {
			t.Errorf("fail(%s, %v) = %v; want kind %v", tt.op, tt.err, err, tt.want)
		}
		if !strings.HasPrefix(err.Error(), "s3: "+tt.op+" x: ") {
			t.Errorf("fail(%s, %v) = %q; want it to start with %q", tt.op, tt.err, err, "s3: "+tt.op+" x: ")
		}
	}
	if err := b.fail(context.Background(), "get", "x", responseError(404, "NoSuchBucket")); !strings.Contains(err.Error(), `bucket "bkt" does not exist at http://s3.test`) {
		t.Errorf("missing bucket: %q does not name the bucket and endpoint", err)
	}
	// Our own timeout must not look like the caller's deadline.
	if err := b.fail(context.Background(), "get", "x", fmt.Errorf("op: %w", context.DeadlineExceeded)); errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("internal timeout: %v wraps context.DeadlineExceeded", err)
	}
	// A done caller context wins over the service error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.fail(ctx, "get", "x", responseError(503, "SlowDown")); !errors.Is(err, context.Canceled) || errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("fail with a canceled context = %v; want context.Canceled only", err)
	}
}

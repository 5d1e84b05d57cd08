// Package s3 is a backend.Backend over a bucket of any S3-compatible object
// store (AWS S3, MinIO, Ceph RGW, ...), using the AWS SDK for Go v2.
//
// Each blob is the object Prefix+name. Puts of known size stream as one
// PutObject; puts of unknown size are cut into parts of PartSize bytes and
// sent as a multipart upload (one PutObject if they fit in one part), so
// memory stays at one part per Put. Either way S3 makes the object visible
// only when it is complete.
//
// The client sends no optional checksums (several S3-compatible services
// reject them; the layers above check every block) and signs requests but
// not payloads, so bodies stream without being read twice.
package s3

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/rhizome-data/rhizome/internal/backend"
)

var _ backend.Backend = (*Backend)(nil)

// Defaults for the zero values of Config.
const (
	DefaultRegion     = "us-east-1"
	DefaultTimeout    = 30 * time.Second
	DefaultMaxRetries = 3
	DefaultPartSize   = 16 << 20

	// MinPartSize is the smallest part S3 accepts but for the last one.
	MinPartSize = 5 << 20

	maxParts     = 10000
	maxSinglePut = 5 << 30 // largest PutObject S3 accepts
	maxBackoff   = 2 * time.Second
)

// Config locates a bucket and says how to reach it. Credentials come from
// AccessKey and SecretKey, or else from CredentialsFile; none are read from
// the environment, so each backend uses exactly the credentials it is
// given. Only the standard proxy variables (HTTPS_PROXY, NO_PROXY) apply.
type Config struct {
	// Endpoint is the service URL, such as "https://s3.example.com" or
	// "http://127.0.0.1:9000". Empty means AWS S3 in Region.
	Endpoint string
	// Bucket must exist; New does not create it.
	Bucket string
	// Prefix is prepended to every blob name; a "/" is added if missing.
	Prefix string
	// Region defaults to DefaultRegion.
	Region string
	// PathStyle addresses the bucket as Endpoint/Bucket rather than as
	// Bucket.Endpoint. Most services other than AWS need it.
	PathStyle bool

	AccessKey    string
	SecretKey    string
	SessionToken string
	// CredentialsFile is an AWS shared credentials file (INI, with
	// aws_access_key_id and aws_secret_access_key), read by New when
	// AccessKey is empty. Profile selects its section ("default").
	CredentialsFile string
	Profile         string

	// CAFile is a PEM bundle of certificate authorities trusted in addition
	// to the system's.
	CAFile string
	// Timeout bounds each wait on the service: connecting, any read or
	// write on the connection making no progress, and whole requests that
	// carry no data (Stat, Delete, one List page, a Get until its first
	// byte, retries included). Defaults to DefaultTimeout.
	Timeout time.Duration
	// MaxRetries is how often a request that failed transiently (network
	// error, 5xx, throttling) is retried, with exponential backoff. 0 means
	// DefaultMaxRetries; negative means none. Requests refused (403, 404)
	// are never retried, nor are streaming uploads, which cannot rewind.
	MaxRetries int
	// PartSize is the part size of multipart uploads, at least MinPartSize.
	// Defaults to DefaultPartSize.
	PartSize int64
}

// Backend stores blobs as objects in one bucket. It is safe for
// concurrent use.
type Backend struct {
	client   *s3.Client
	bucket   string
	prefix   string
	where    string // endpoint, for messages
	timeout  time.Duration
	partSize int64
	// maxSinglePut is the largest known-size Put sent as one PutObject,
	// and maxParts the most parts of an upload: fields so tests can reach
	// those limits with little data.
	maxSinglePut int64
	maxParts     int64
	parts        sync.Pool // *[]byte of partSize
	// bucketSeen is when a HEAD of the bucket last succeeded (unix
	// nanoseconds), so that a burst of 404s on missing blobs (a lost
	// disk being repaired) does not ask again for each.
	bucketSeen atomic.Int64
}

// bucketFresh is how long a successful HEAD of the bucket answers for.
const bucketFresh = 2 * time.Second

// New returns a Backend for cfg. It makes no request: a service that is
// down now is reported by the calls that need it (see Check).
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3: no bucket configured")
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3: endpoint %q: want an http:// or https:// URL", cfg.Endpoint)
		}
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	switch {
	case cfg.PartSize == 0:
		cfg.PartSize = DefaultPartSize
	case cfg.PartSize < MinPartSize:
		return nil, fmt.Errorf("s3: part size %d is below the minimum of %d bytes", cfg.PartSize, MinPartSize)
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	creds, err := loadCredentials(ctx, cfg)
	if err != nil {
		return nil, err
	}
	httpClient, err := newHTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	where := cfg.Endpoint
	if where == "" {
		where = "AWS region " + cfg.Region
	}
	opts := s3.Options{
		Region:      cfg.Region,
		Credentials: aws.NewCredentialsCache(creds),
		HTTPClient:  httpClient,
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = cfg.MaxRetries + 1
			o.MaxBackoff = maxBackoff
			o.Backoff = backoff{}
			// Failures are expected from a backend; each call has its own
			// retry budget rather than a shared one that runs dry.
			o.RateLimiter = ratelimit.None
		}),
		UsePathStyle:                cfg.PathStyle,
		RequestChecksumCalculation:  aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation:  aws.ResponseChecksumValidationWhenRequired,
		DisableS3ExpressSessionAuth: aws.Bool(true),
	}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	b := &Backend{
		client:       s3.New(opts),
		bucket:       cfg.Bucket,
		prefix:       cfg.Prefix,
		where:        where,
		timeout:      cfg.Timeout,
		partSize:     cfg.PartSize,
		maxSinglePut: maxSinglePut,
		maxParts:     maxParts,
	}
	b.parts.New = func() any { p := make([]byte, b.partSize); return &p }
	return b, nil
}

func loadCredentials(ctx context.Context, cfg Config) (aws.CredentialsProvider, error) {
	if cfg.AccessKey != "" || cfg.SecretKey != "" {
		if cfg.AccessKey == "" || cfg.SecretKey == "" {
			return nil, errors.New("s3: access key and secret key must be set together")
		}
		return credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken), nil
	}
	if cfg.CredentialsFile == "" {
		return nil, errors.New("s3: no credentials: set an access key and secret key, or a credentials file")
	}
	if fi, err := os.Stat(cfg.CredentialsFile); err != nil {
		return nil, fmt.Errorf("s3: credentials file: %w", err)
	} else if fi.IsDir() {
		return nil, fmt.Errorf("s3: credentials file %s is a directory", cfg.CredentialsFile)
	}
	profile := cfg.Profile
	if profile == "" {
		profile = "default"
	}
	sc, err := config.LoadSharedConfigProfile(ctx, profile, func(o *config.LoadSharedConfigOptions) {
		o.CredentialsFiles = []string{cfg.CredentialsFile}
		o.ConfigFiles = []string{}
	})
	if err != nil {
		return nil, fmt.Errorf("s3: credentials file %s: %w", cfg.CredentialsFile, err)
	}
	if !sc.Credentials.HasKeys() {
		return nil, fmt.Errorf("s3: credentials file %s: profile %q has no aws_access_key_id and aws_secret_access_key", cfg.CredentialsFile, profile)
	}
	return credentials.StaticCredentialsProvider{Value: sc.Credentials}, nil
}

func newHTTPClient(cfg Config) (*http.Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("s3: CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("s3: CA file %s: no PEM certificates", cfg.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &progressConn{Conn: c, timeout: cfg.Timeout}, nil
		},
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   cfg.Timeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		// The defaults (4 KiB) cut every shard upload into 4 KiB writes,
		// each a system call and a deadline update (progressConn).
		WriteBufferSize: connWriteBuffer,
		ReadBufferSize:  connReadBuffer,
	}}, nil
}

// Buffer sizes of each connection to the service (variables so that the
// benchmark can compare them).
var (
	connWriteBuffer = 128 << 10
	connReadBuffer  = 64 << 10
)

// progressConn fails a read or write that makes no progress for timeout.
// Any progress in either direction extends the read deadline, so waiting
// for the response while a long upload is still being sent is fine.
type progressConn struct {
	net.Conn
	timeout time.Duration
}

func (c *progressConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(p)
}

func (c *progressConn) Write(p []byte) (int, error) {
	c.Conn.SetDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// backoff waits about 100ms, 200ms, 400ms, ... (with jitter) up to
// maxBackoff between attempts: a backend's callers have deadlines.
type backoff struct{}

func (backoff) BackoffDelay(attempt int, _ error) (time.Duration, error) {
	d := maxBackoff
	if attempt < 6 {
		d = min(100*time.Millisecond<<(attempt-1), maxBackoff)
	}
	return d/2 + rand.N(d/2+1), nil
}

var unsignedPayload = s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)

// noRetries is for requests whose body is a stream that cannot be sent
// twice; without it the SDK reports its failure to rewind rather than the
// error that made it try.
func noRetries(o *s3.Options) { o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 1) }

// Check asks the service whether the bucket exists and the credentials may
// use it.
func (b *Backend) Check(ctx context.Context) error {
	opCtx, cancel := b.withTimeout(ctx)
	defer cancel()
	_, err := b.client.HeadBucket(opCtx, &s3.HeadBucketInput{Bucket: &b.bucket})
	if status(err) == http.StatusNotFound {
		err = noSuchBucket(err)
	}
	if err != nil {
		return b.fail(ctx, "check", "", err)
	}
	return nil
}

// noSuchBucket turns the bodiless 404 of a HEAD request on the bucket into
// the error a request with a body would have got.
func noSuchBucket(err error) error {
	return &smithy.GenericAPIError{Code: "NoSuchBucket", Message: err.Error()}
}

// Put implements backend.Backend.
func (b *Backend) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := check(ctx, "put", name); err != nil {
		return err
	}
	src := &tracker{r: backend.ExactReader(r, size)}
	var err error
	if size >= 0 && size <= b.maxSinglePut {
		var body io.Reader = src
		if size == 0 {
			// An empty body is never read: check r is empty here.
			_, err = io.Copy(io.Discard, src)
			body = bytes.NewReader(nil)
		}
		if err == nil {
			_, err = b.client.PutObject(ctx, &s3.PutObjectInput{
				Bucket:        &b.bucket,
				Key:           b.key(name),
				Body:          body,
				ContentLength: aws.Int64(size),
			}, unsignedPayload, noRetries)
		}
	} else {
		err = b.putParts(ctx, name, src, size)
	}
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("s3: put %s: %w", name, cerr)
	}
	if src.err != nil {
		return fmt.Errorf("s3: put %s: %w", name, src.err)
	}
	if errors.Is(err, errTooLarge) {
		return err
	}
	return b.fail(ctx, "put", name, err)
}

// putParts uploads src in parts. size is -1 or above maxSinglePut.
func (b *Backend) putParts(ctx context.Context, name string, src io.Reader, size int64) (err error) {
	src = backend.ContextReader(ctx, src)
	var buf []byte
	if partSize := max(b.partSize, (size+b.maxParts-1)/b.maxParts); partSize == b.partSize {
		bufp := b.parts.Get().(*[]byte)
		defer b.parts.Put(bufp)
		buf = *bufp
	} else {
		buf = make([]byte, partSize)
	}
	n, rerr := io.ReadFull(src, buf)
	if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
		return rerr
	}
	if rerr != nil {
		// All of it fits in one part.
		_, err := b.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        &b.bucket,
			Key:           b.key(name),
			Body:          bytes.NewReader(buf[:n]),
			ContentLength: aws.Int64(int64(n)),
		}, unsignedPayload)
		return err
	}

	opCtx, cancel := b.withTimeout(ctx)
	created, err := b.client.CreateMultipartUpload(opCtx, &s3.CreateMultipartUploadInput{
		Bucket: &b.bucket,
		Key:    b.key(name),
	})
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// Abort even when ctx is done, so no parts are left behind.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.timeout)
			defer cancel()
			b.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
				Bucket:   &b.bucket,
				Key:      b.key(name),
				UploadId: created.UploadId,
			})
		}
	}()
	var parts []types.CompletedPart
	for num := int32(1); ; num++ {
		out, err := b.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:        &b.bucket,
			Key:           b.key(name),
			UploadId:      created.UploadId,
			PartNumber:    aws.Int32(num),
			Body:          bytes.NewReader(buf[:n]),
			ContentLength: aws.Int64(int64(n)),
		}, unsignedPayload)
		if err != nil {
			return err
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		if rerr != nil {
			break // that was the last, short part
		}
		n, rerr = io.ReadFull(src, buf)
		if rerr == io.EOF {
			break
		}
		if rerr != nil && rerr != io.ErrUnexpectedEOF {
			return rerr
		}
		if int64(num) == b.maxParts {
			return fmt.Errorf("s3: put %s: %w: more than %d parts of %d bytes; raise PartSize", name, errTooLarge, b.maxParts, len(buf))
		}
	}
	_, err = b.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          &b.bucket,
		Key:             b.key(name),
		UploadId:        created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	return err
}

// tracker remembers the first error of r, to tell the caller's reader
// failing from the service failing.
type tracker struct {
	r   io.Reader
	err error
}

func (t *tracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// Get implements backend.Backend.
func (b *Backend) Get(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if err := check(ctx, "get", name); err != nil {
		return nil, err
	}
	if off < 0 || length < -1 {
		return nil, fmt.Errorf("s3: get %s: invalid range: offset %d, length %d", name, off, length)
	}
	if length == 0 {
		// S3 cannot express an empty range; only check that the blob exists.
		if _, err := b.Stat(ctx, name); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	in := &s3.GetObjectInput{Bucket: &b.bucket, Key: b.key(name)}
	switch {
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	case off > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	// The timeout covers the wait for the first byte, not the whole body.
	opCtx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(b.timeout, func() { cancel(errTimeout) })
	out, err := b.client.GetObject(opCtx, in)
	if !timer.Stop() {
		if err == nil {
			out.Body.Close()
		}
		err = fmt.Errorf("%w: %v", errTimeout, err)
	}
	if err != nil {
		cancel(nil)
		if code(err) == "InvalidRange" || status(err) == http.StatusRequestedRangeNotSatisfiable {
			return io.NopCloser(strings.NewReader("")), nil // off is at or past the end
		}
		return nil, b.fail(ctx, "get", name, err)
	}
	return &body{ctx: ctx, rc: out.Body, cancel: cancel, name: name}, nil
}

var errTooLarge = errors.New("blob too large")

// errTimeout is the cause of a request canceled by Config.Timeout. It is
// never returned: fail reports the timeout and drops it.
var errTimeout = errors.New("timed out")

// body is a Get's reader: it honours ctx between reads and classifies
// errors.
type body struct {
	ctx    context.Context
	rc     io.ReadCloser
	cancel context.CancelCauseFunc
	name   string
}

func (r *body) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, fmt.Errorf("s3: get %s: %w", r.name, err)
	}
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF {
		if cerr := r.ctx.Err(); cerr != nil {
			return n, fmt.Errorf("s3: get %s: %w", r.name, cerr)
		}
		return n, backend.WithKind(fmt.Errorf("s3: get %s: %w", r.name, err), backend.ErrUnavailable)
	}
	return n, err
}

func (r *body) Close() error {
	err := r.rc.Close()
	r.cancel(nil)
	return err
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, name string) (backend.Info, error) {
	if err := check(ctx, "stat", name); err != nil {
		return backend.Info{}, err
	}
	opCtx, cancel := b.withTimeout(ctx)
	defer cancel()
	out, err := b.client.HeadObject(opCtx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: b.key(name)})
	if err != nil {
		if status(err) == http.StatusNotFound {
			// A HEAD answer has no body to say whether the key or the
			// bucket is missing; ask.
			return backend.Info{}, b.missingBucket(ctx, "stat", name, err)
		}
		return backend.Info{}, b.fail(ctx, "stat", name, err)
	}
	return backend.Info{Name: name, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// missingBucket classifies a 404 from a HEAD request.
func (b *Backend) missingBucket(ctx context.Context, op, name string, err error) error {
	if time.Since(time.Unix(0, b.bucketSeen.Load())) < bucketFresh {
		return b.fail(ctx, op, name, err)
	}
	opCtx, cancel := b.withTimeout(ctx)
	defer cancel()
	_, berr := b.client.HeadBucket(opCtx, &s3.HeadBucketInput{Bucket: &b.bucket})
	switch {
	case berr == nil:
		b.bucketSeen.Store(time.Now().UnixNano())
		return b.fail(ctx, op, name, err)
	case status(berr) == http.StatusNotFound:
		return b.fail(ctx, op, name, noSuchBucket(berr))
	default:
		return b.fail(ctx, op, name, berr)
	}
}

// Delete implements backend.Backend.
func (b *Backend) Delete(ctx context.Context, name string) error {
	if err := check(ctx, "delete", name); err != nil {
		return err
	}
	opCtx, cancel := b.withTimeout(ctx)
	defer cancel()
	_, err := b.client.DeleteObject(opCtx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: b.key(name)})
	if err != nil && code(err) != "NoSuchKey" {
		return b.fail(ctx, "delete", name, err)
	}
	return nil
}

// List implements backend.Backend. Objects under Prefix whose names are not
// valid blob names are skipped.
func (b *Backend) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	if !backend.ValidPrefix(prefix) {
		return fmt.Errorf("s3: list %q: %w", prefix, backend.ErrInvalidName)
	}
	op := fmt.Sprintf("list %q", prefix)
	pages := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{
		Bucket: &b.bucket,
		Prefix: aws.String(b.prefix + prefix),
	})
	for pages.HasMorePages() {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("s3: %s: %w", op, err)
		}
		opCtx, cancel := b.withTimeout(ctx)
		page, err := pages.NextPage(opCtx)
		cancel()
		if err != nil {
			return b.fail(ctx, op, "", err)
		}
		for _, o := range page.Contents {
			name, ok := strings.CutPrefix(aws.ToString(o.Key), b.prefix)
			if !ok || !backend.ValidName(name) {
				continue
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("s3: %s: %w", op, err)
			}
			if err := fn(backend.Info{Name: name, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3: %s: %w", op, err)
	}
	return nil
}

func (b *Backend) key(name string) *string { return aws.String(b.prefix + name) }

// withTimeout bounds a request that carries no data.
func (b *Backend) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, b.timeout, errTimeout)
}

// check validates name and reports a done context.
func check(ctx context.Context, op, name string) error {
	if !backend.ValidName(name) {
		return fmt.Errorf("s3: %s %q: %w", op, name, backend.ErrInvalidName)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3: %s %s: %w", op, name, err)
	}
	return nil
}

func code(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func status(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// Error codes that mean the credentials are refused.
var forbiddenCodes = map[string]bool{
	"AccessDenied":          true,
	"AccountProblem":        true,
	"AllAccessDisabled":     true,
	"ExpiredToken":          true,
	"InvalidAccessKeyId":    true,
	"InvalidSecurity":       true,
	"InvalidToken":          true,
	"NotSignedUp":           true,
	"SignatureDoesNotMatch": true,
	"TokenRefreshRequired":  true,
}

// fail describes err from the service and marks it with its error kind.
// ctx is the caller's: if it is done, its error is what counts.
func (b *Backend) fail(ctx context.Context, op, name string, err error) error {
	what := op
	if name != "" {
		what += " " + name
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("s3: %s: %w", what, cerr)
	}
	c, s := code(err), status(err)
	switch {
	case c == "NoSuchBucket":
		return backend.WithKind(fmt.Errorf("s3: %s: bucket %q does not exist at %s: %w", what, b.bucket, b.where, err), backend.ErrUnavailable)
	case (c == "NoSuchKey" || s == http.StatusNotFound) && (op == "get" || op == "stat"):
		return backend.WithKind(fmt.Errorf("s3: %s: %w", what, err), backend.ErrNotFound)
	case forbiddenCodes[c] || s == http.StatusForbidden || s == http.StatusUnauthorized:
		return backend.WithKind(fmt.Errorf("s3: %s: %s refused the credentials for bucket %q: %w", what, b.where, b.bucket, err), backend.ErrForbidden)
	case errors.Is(err, errTimeout) || errors.Is(err, context.DeadlineExceeded):
		// Our own timeout: not the caller's deadline, so do not wrap it.
		return backend.WithKind(fmt.Errorf("s3: %s: no answer from %s within %v: %v", what, b.where, b.timeout, err), backend.ErrUnavailable)
	default:
		// Network errors, 5xx, throttling, and anything unexpected.
		return backend.WithKind(fmt.Errorf("s3: %s: %w", what, err), backend.ErrUnavailable)
	}
}

// Package s3api serves a Rhizome store over the S3 REST API, so that S3
// clients and data tools (the aws CLI, boto3, the AWS SDKs, rclone, Spark,
// DuckDB) use it unchanged.
//
// A Server is an http.Handler. It routes path-style (/bucket/key) and
// virtual-hosted-style (bucket.domain/key) requests, authenticates them
// with AWS Signature Version 4 (package sigv4; aws-chunked bodies through
// package chunked), checks each user's bucket grants, turns the request
// into store calls, and answers in S3's XML (package s3xml). Store error
// kinds and protocol errors become S3 error codes in one function,
// s3Error.
//
// Every bucket is versioned and versioning cannot be suspended. Besides
// real buckets a request may address a read-only time-travel view,
// BUCKET--at-YYYYMMDDTHHMMSSZ or BUCKET--cp-NAME (a checkpoint; see
// view.go), which lists and reads the bucket as it was at that time.
//
// Unsigned GET requests for /health, /ready and /metrics are answered by
// the gateway itself (liveness, readiness and Prometheus metrics); signed
// requests for those paths are S3 requests for buckets of that name.
package s3api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/s3api/s3xml"
	"github.com/rhizome-data/rhizome/internal/s3api/sigv4"
	"github.com/rhizome-data/rhizome/internal/store"
)

// MaxHeaderBytes is the largest request line plus headers the gateway's
// HTTP server should accept: room for a presigned URL of a 1024-byte key
// and S3's 8 KiB of headers.
const MaxHeaderBytes = 16 << 10

// Options tune New. A nil *Options means defaults, but a server without
// users refuses every request.
type Options struct {
	// Users are the identities allowed in, with their bucket grants.
	Users []User
	// Domains enable virtual-hosted-style requests: a request for host
	// BUCKET.DOMAIN addresses BUCKET. Requests for any other host are
	// path-style.
	Domains []string
	// Region is what GetBucketLocation answers; "" means us-east-1.
	// Requests signed for any region are accepted.
	Region string
	// Logger receives the access log (one record per request) and server
	// errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock signatures are checked against; nil is time.Now.
	Now func() time.Time
	// Registry receives the gateway's metrics; nil makes a registry of its
	// own with the Go and process collectors. /metrics serves it.
	Registry *prometheus.Registry
	// Checkpoint resolves a named checkpoint of a bucket to its time, for
	// BUCKET--cp-NAME views; an error of kind store.ErrNotFound makes the
	// view NoSuchBucket. Nil means the store's checkpoints.
	Checkpoint func(ctx context.Context, bucket, name string) (time.Time, error)
	// MaxSkew is the largest accepted clock difference of a signed
	// request; zero is sigv4.DefaultMaxSkew (15 minutes).
	MaxSkew time.Duration
}

// Server is the S3 gateway in front of one store.
type Server struct {
	st         *store.Store
	users      map[string]*User
	lookup     sigv4.Lookup
	domains    []string
	region     string
	log        *slog.Logger
	now        func() time.Time
	metrics    *metrics
	checkpoint func(ctx context.Context, bucket, name string) (time.Time, error)
	maxSkew    time.Duration

	idPrefix string
	seq      atomic.Uint64
	hostID   string

	readyMu    sync.Mutex
	readyAt    time.Time
	readyCache Readiness
}

// New returns a Server for st.
func New(st *store.Store, opts *Options) (*Server, error) {
	if opts == nil {
		opts = &Options{}
	}
	s := &Server{
		st: st, users: map[string]*User{}, region: opts.Region, log: opts.Logger, now: opts.Now,
		checkpoint: opts.Checkpoint, maxSkew: opts.MaxSkew,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "s3")
	if s.now == nil {
		s.now = time.Now
	}
	if s.checkpoint == nil {
		s.checkpoint = s.storeCheckpoint
	}
	for i := range opts.Users {
		u := opts.Users[i]
		if u.AccessKey == "" || u.SecretKey == "" {
			return nil, fmt.Errorf("%w: user %d has an empty access key or secret", ErrUsers, i+1)
		}
		if _, dup := s.users[u.AccessKey]; dup {
			return nil, fmt.Errorf("%w: access key %q appears twice", ErrUsers, u.AccessKey)
		}
		s.users[u.AccessKey] = &u
	}
	s.lookup = func(ak string) (string, bool) {
		u, ok := s.users[ak]
		if !ok {
			return "", false
		}
		return u.SecretKey, true
	}
	for _, d := range opts.Domains {
		d = strings.ToLower(strings.Trim(d, "."))
		if d != "" {
			s.domains = append(s.domains, d)
		}
	}
	var b [4]byte
	rand.Read(b[:])
	s.idPrefix = strings.ToUpper(hex.EncodeToString(b[:]))
	s.hostID = "rhizome-" + strings.ToLower(s.idPrefix)
	s.metrics = newMetrics(opts.Registry)
	return s, nil
}

// request is one S3 request on its way through the server.
type request struct {
	r     *http.Request
	w     *responseWriter
	in    *countingReader
	id    string
	start time.Time

	op     string // S3 operation name, for logs and metrics
	bucket string // the bucket name as addressed (may be a view)
	key    string
	view   view // what bucket addresses
	user   *User
	auth   *sigv4.Result

	version string // version ID written or read, for the log
	errCode string
	err     error
	abort   bool // the response started before the error: cut the connection
}

func (q *request) ctx() context.Context { return q.r.Context() }

// handler serves one S3 operation. It writes the response on success and
// returns an error otherwise (the server writes the error response).
type handler func(q *request) error

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 && r.ProtoAtLeast(1, 1) && strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		// net/http sends 100 Continue only before reading a non-empty
		// body. botocore sends Expect on every upload, empty ones too,
		// and when a final status arrives without a 100 Continue first it
		// keeps that status line on the pooled connection, where it
		// corrupts the next response (the client then waits for its read
		// timeout). Answer 100 Continue for empty bodies as S3 does.
		w.WriteHeader(http.StatusContinue)
	}
	q := &request{r: r, w: &responseWriter{ResponseWriter: w}, id: s.requestID(), start: time.Now()}
	h := q.w.Header()
	h.Set("X-Amz-Request-Id", q.id)
	h.Set("X-Amz-Id-2", s.hostID)
	h.Set("Server", "Rhizome")
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && unsigned(r) && s.serveSpecial(q) {
		return
	}
	// Count the body through a shallow copy of the request: net/http
	// inspects the original's Body type after the handler to decide
	// whether the connection can be reused.
	q.in = &countingReader{r: r.Body}
	r = r.WithContext(r.Context())
	r.Body = struct {
		io.Reader
		io.Closer
	}{q.in, q.r.Body}
	q.r = r
	s.metrics.inflight.Inc()
	defer s.metrics.inflight.Dec()
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if p == http.ErrAbortHandler {
			panic(p)
		}
		s.log.Error("panic serving a request", "request_id", q.id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		s.writeError(q, errorf("InternalError", http.StatusInternalServerError, "%s", standardMessage["InternalError"]))
		s.finish(q)
		if q.abort {
			panic(http.ErrAbortHandler)
		}
	}()
	if err := s.serve(q); err != nil {
		s.writeError(q, err)
	}
	s.finish(q)
	if q.abort {
		// The status line and part of the body are out: the only honest
		// signal left is to cut the connection, so the client sees a
		// truncated response instead of a short, valid-looking one.
		panic(http.ErrAbortHandler)
	}
}

func (s *Server) serve(q *request) error {
	if err := s.resolve(q); err != nil {
		q.op = "Unknown"
		return err
	}
	op, h, need, err := s.route(q)
	q.op = op
	if aerr := s.authenticate(q); aerr != nil {
		return aerr
	}
	if err != nil {
		return err
	}
	if op == "CreateBucket" && q.view.isView() {
		return errReservedName(q.bucket)
	}
	if err := s.authorize(q, need); err != nil {
		return err
	}
	if q.view.Checkpoint != "" {
		if err := s.resolveCheckpoint(q); err != nil {
			return err
		}
	}
	return h(q)
}

// resolve finds the bucket and key the request addresses, path-style or
// virtual-hosted-style, and the view a bucket name may denote. Object
// paths are taken as sent: no cleaning, double slashes are kept.
func (s *Server) resolve(q *request) error {
	p := q.r.URL.Path
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if b, ok := s.virtualBucket(q.r.Host); ok {
		q.bucket, q.key = b, p[1:]
	} else {
		q.bucket, q.key, _ = strings.Cut(p[1:], "/")
	}
	if q.bucket == "" {
		if q.key != "" {
			return errorf("InvalidBucketName", http.StatusBadRequest, "The request names no bucket before the key %q.", q.key)
		}
		return nil
	}
	v, err := parseView(q.bucket)
	if err != nil {
		return &apiError{code: "InvalidBucketName", status: http.StatusBadRequest, msg: err.Error(), err: err,
			extra: []s3xml.Field{s3xml.NewField("BucketName", q.bucket)}}
	}
	q.view = v
	if len(q.key) > store.MaxKeyLen {
		return errorf("KeyTooLongError", http.StatusBadRequest, "Your key is too long: %d bytes; the limit is %d.", len(q.key), store.MaxKeyLen)
	}
	return nil
}

// virtualBucket returns the bucket of a virtual-hosted-style host.
func (s *Server) virtualBucket(host string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, d := range s.domains {
		if b, ok := strings.CutSuffix(host, "."+d); ok && b != "" {
			return b, true
		}
	}
	return "", false
}

// Subresources Rhizome does not implement; a request naming one gets
// NotImplemented instead of being mistaken for a plain GET or PUT.
var unsupportedSubresources = []string{
	"acl", "policy", "policyStatus", "cors", "lifecycle", "tagging", "website", "logging", "notification",
	"replication", "encryption", "object-lock", "retention", "legal-hold", "accelerate", "requestPayment",
	"analytics", "inventory", "metrics", "intelligent-tiering", "ownershipControls", "publicAccessBlock",
	"select", "restore", "torrent", "attributes", "session", "renameObject",
}

// route picks the operation, its handler and the access it needs. An
// error (NotImplemented, MethodNotAllowed) is returned after the request
// is authenticated.
func (s *Server) route(q *request) (op string, h handler, need Access, err error) {
	r := q.r
	query := r.URL.Query()
	has := func(k string) bool { _, ok := query[k]; return ok }
	for _, sub := range unsupportedSubresources {
		if has(sub) {
			return "NotImplemented", nil, NoAccess, errNotImplemented("The ?" + sub + " subresource")
		}
	}
	notAllowed := func(what string) error {
		return errorf("MethodNotAllowed", http.StatusMethodNotAllowed, "The specified method %s is not allowed against %s.", r.Method, what)
	}
	switch {
	case q.bucket == "":
		if r.Method == http.MethodGet {
			return "ListBuckets", s.listBuckets, NoAccess, nil
		}
		return "Unknown", nil, NoAccess, notAllowed("the service")
	case q.key == "":
		switch r.Method {
		case http.MethodGet:
			switch {
			case has("location"):
				return "GetBucketLocation", s.getBucketLocation, ReadAccess, nil
			case has("versioning"):
				return "GetBucketVersioning", s.getBucketVersioning, ReadAccess, nil
			case has("versions"):
				return "ListObjectVersions", s.listObjectVersions, ReadAccess, nil
			case has("uploads"):
				return "ListMultipartUploads", s.listMultipartUploads, ReadAccess, nil
			case query.Get("list-type") == "2":
				return "ListObjectsV2", s.listObjectsV2, ReadAccess, nil
			}
			return "ListObjects", s.listObjectsV1, ReadAccess, nil
		case http.MethodHead:
			return "HeadBucket", s.headBucket, ReadAccess, nil
		case http.MethodPut:
			if has("versioning") {
				return "PutBucketVersioning", s.putBucketVersioning, WriteAccess, nil
			}
			return "CreateBucket", s.createBucket, WriteAccess, nil
		case http.MethodDelete:
			return "DeleteBucket", s.deleteBucket, WriteAccess, nil
		case http.MethodPost:
			if has("delete") {
				return "DeleteObjects", s.deleteObjects, WriteAccess, nil
			}
			return "PostObject", nil, NoAccess, errNotImplemented("Browser-form POST upload")
		}
		return "Unknown", nil, NoAccess, notAllowed("a bucket")
	}
	switch r.Method {
	case http.MethodGet:
		if has("uploadId") {
			return "ListParts", s.listParts, ReadAccess, nil
		}
		return "GetObject", s.getObject, ReadAccess, nil
	case http.MethodHead:
		return "HeadObject", s.headObject, ReadAccess, nil
	case http.MethodPut:
		copySource := r.Header.Get("X-Amz-Copy-Source") != ""
		switch {
		case has("uploadId") && copySource:
			return "UploadPartCopy", s.uploadPartCopy, WriteAccess, nil
		case has("uploadId"):
			return "UploadPart", s.uploadPart, WriteAccess, nil
		case copySource:
			return "CopyObject", s.copyObject, WriteAccess, nil
		}
		return "PutObject", s.putObject, WriteAccess, nil
	case http.MethodDelete:
		if has("uploadId") {
			return "AbortMultipartUpload", s.abortMultipartUpload, WriteAccess, nil
		}
		return "DeleteObject", s.deleteObject, WriteAccess, nil
	case http.MethodPost:
		switch {
		case has("uploads"):
			return "CreateMultipartUpload", s.createMultipartUpload, WriteAccess, nil
		case has("uploadId"):
			return "CompleteMultipartUpload", s.completeMultipartUpload, WriteAccess, nil
		}
		return "Unknown", nil, NoAccess, notAllowed("an object without ?uploads or ?uploadId")
	}
	return "Unknown", nil, NoAccess, notAllowed("an object")
}

// resolveCheckpoint turns a --cp- view into a time.
func (s *Server) resolveCheckpoint(q *request) error {
	noSuch := errorf("NoSuchBucket", http.StatusNotFound, "%s names checkpoint %q of bucket %s, which does not exist.",
		q.bucket, q.view.Checkpoint, q.view.Bucket).with(s3xml.NewField("BucketName", q.bucket))
	if s.checkpoint == nil {
		return noSuch
	}
	t, err := s.checkpoint(q.ctx(), q.view.Bucket, q.view.Checkpoint)
	if errors.Is(err, store.ErrNotFound) {
		noSuch.err = err
		return noSuch
	}
	if err != nil {
		return err
	}
	q.view.AsOf = t.UTC()
	return nil
}

// storeCheckpoint resolves BUCKET--cp-NAME to the time the store's
// checkpoint NAME was taken; it must be a checkpoint of BUCKET.
func (s *Server) storeCheckpoint(ctx context.Context, bucket, name string) (time.Time, error) {
	cp, err := s.st.Checkpoint(ctx, name)
	if errors.Is(err, index.ErrNoSuchCheckpoint) || errors.Is(err, store.ErrNotFound) {
		return time.Time{}, &store.Error{Kind: store.ErrNotFound, Op: "checkpoint " + name, Err: err}
	}
	if err != nil {
		return time.Time{}, err
	}
	if cp.Bucket != bucket {
		return time.Time{}, &store.Error{Kind: store.ErrNotFound, Op: "checkpoint " + name,
			Msg: fmt.Sprintf("checkpoint %s is of bucket %s, not %s", name, cp.Bucket, bucket)}
	}
	return cp.At, nil
}

// writeXML writes a success response with an XML body.
func (s *Server) writeXML(q *request, status int, v any) error {
	body, err := s3xml.Marshal(v)
	if err != nil {
		return err
	}
	h := q.w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	q.w.WriteHeader(status)
	if q.r.Method != http.MethodHead {
		q.w.Write(body)
	}
	return nil
}

// baseHeaders are the response headers an error response keeps.
var baseHeaders = map[string]bool{"X-Amz-Request-Id": true, "X-Amz-Id-2": true, "Server": true}

// writeError writes the S3 error response for err, or marks the request
// for a cut connection when the response has already started.
func (s *Server) writeError(q *request, err error) {
	code, status, msg := s3Error(err)
	q.errCode, q.err = code, err
	if q.w.wrote {
		q.abort = true
		return
	}
	if q.r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		// The client went away and the request stopped because of it:
		// there is no answer to give, and returning without one would
		// let net/http send 200. Cut the connection instead.
		q.errCode, q.abort = "ClientClosedRequest", true
		q.w.status = 499
		return
	}
	h := q.w.Header()
	for k := range h {
		if !baseHeaders[k] {
			delete(h, k)
		}
	}
	var ae *apiError
	errors.As(err, &ae)
	if ae != nil {
		for k, v := range ae.header {
			h.Set(k, v)
		}
	}
	if status == http.StatusNotModified {
		q.w.WriteHeader(status)
		return
	}
	body := s3xml.Error{Code: code, Message: msg, Resource: q.r.URL.Path, RequestId: q.id, HostId: s.hostID}
	switch code {
	case "NoSuchBucket", "BucketNotEmpty", "BucketAlreadyOwnedByYou":
		body.Extra = append(body.Extra, s3xml.NewField("BucketName", q.bucket))
	case "NoSuchKey", "NoSuchVersion":
		body.Extra = append(body.Extra, s3xml.NewField("Key", q.key))
	}
	var me *sigv4.MismatchError
	if errors.As(err, &me) {
		body.Extra = append(body.Extra, s3xml.NewField("AWSAccessKeyId", me.AccessKey),
			s3xml.NewField("StringToSign", me.StringToSign), s3xml.NewField("CanonicalRequest", me.CanonicalRequest))
	}
	if ae != nil {
		body.Extra = append(body.Extra, ae.extra...)
	}
	out, merr := s3xml.Marshal(body)
	if merr != nil {
		out = nil
	}
	h.Set("Content-Type", "application/xml")
	if q.r.Method == http.MethodHead {
		q.w.WriteHeader(status)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(out)))
	q.w.WriteHeader(status)
	q.w.Write(out)
}

// finish records the request in the metrics and the access log.
func (s *Server) finish(q *request) {
	d := time.Since(q.start)
	status := q.w.status
	if status == 0 {
		status = http.StatusOK
	}
	var in int64
	if q.in != nil {
		in = q.in.n
	}
	s.metrics.observe(q.op, status, q.errCode, in, q.w.n, d)
	attrs := []slog.Attr{
		slog.String("request_id", q.id), slog.String("operation", q.op), slog.String("method", q.r.Method),
		slog.Int("status", status), slog.Int64("bytes_in", in), slog.Int64("bytes_out", q.w.n),
		slog.Duration("duration", d), slog.String("remote", q.r.RemoteAddr),
	}
	if q.bucket != "" {
		attrs = append(attrs, slog.String("bucket", q.bucket))
	}
	if q.key != "" {
		attrs = append(attrs, slog.String("key", q.key))
	}
	if q.version != "" {
		attrs = append(attrs, slog.String("version", q.version))
	}
	if q.auth != nil {
		attrs = append(attrs, slog.String("access_key", q.auth.AccessKey))
	}
	level := slog.LevelInfo
	if q.errCode != "" {
		attrs = append(attrs, slog.String("error", q.errCode))
		if status >= 500 || q.abort {
			level = slog.LevelError
			attrs = append(attrs, slog.String("err", q.err.Error()))
		}
	}
	s.log.LogAttrs(context.Background(), level, "request", attrs...)
}

// requestID returns a fresh 16-character request ID.
func (s *Server) requestID() string {
	return s.idPrefix + fmt.Sprintf("%08X", uint32(s.seq.Add(1)))
}

// unsigned reports whether r carries no SigV4 credentials at all.
func unsigned(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" {
		return false
	}
	q := r.URL.Query()
	return !q.Has("X-Amz-Signature") && !q.Has("X-Amz-Credential")
}

// serveSpecial answers the unsigned endpoints; false if r is not one.
func (s *Server) serveSpecial(q *request) bool {
	w := q.w
	switch q.r.URL.Path {
	case "/health":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	case "/ready":
		rd := s.Readiness(q.ctx())
		w.Header().Set("Content-Type", "application/json")
		if !rd.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(rd)
	case "/metrics":
		s.metrics.handler().ServeHTTP(w, q.r)
	default:
		return false
	}
	return true
}

// Readiness says whether enough backends answer to read and write.
type Readiness struct {
	Ready bool `json:"ready"`
	// Reachable counts the backends that answered a probe.
	Reachable int `json:"reachable"`
	Backends  int `json:"backends"`
	// ReadNeeds is k; WriteNeeds is the write quorum.
	ReadNeeds  int      `json:"read_needs"`
	WriteNeeds int      `json:"write_needs"`
	Down       []string `json:"down,omitempty"`
}

// readyProbe is the blob name readiness asks every backend about; it
// never exists, so a reachable backend answers "not found".
const readyProbe = "ready-probe"

// Readiness probes every backend (a Stat of a name that does not exist),
// at most once a second, and reports whether reads and writes can succeed.
func (s *Server) Readiness(ctx context.Context) Readiness {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if time.Since(s.readyAt) < time.Second {
		return s.readyCache
	}
	cfg := s.st.Config()
	pb := s.st.Backends()
	rd := Readiness{Backends: len(pb), ReadNeeds: cfg.K, WriteNeeds: cfg.WriteQuorum}
	ok := make([]bool, len(pb))
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i, b := range pb {
		be, found := s.st.Backend(b.Name)
		if !found {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := be.Stat(ctx, readyProbe)
			ok[i] = err == nil || isNotFound(err)
		}()
	}
	wg.Wait()
	for i, b := range pb {
		if ok[i] {
			rd.Reachable++
		} else {
			rd.Down = append(rd.Down, b.Name)
		}
	}
	rd.Ready = rd.Reachable >= rd.ReadNeeds && rd.Reachable >= rd.WriteNeeds
	s.readyAt, s.readyCache = time.Now(), rd
	return rd
}

func isNotFound(err error) bool { return errors.Is(err, backend.ErrNotFound) }

// responseWriter counts what is written and remembers the status.
type responseWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	n      int64
}

func (w *responseWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.status, w.wrote = code, true
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingReader counts the bytes read from a request body.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

package s3api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/s3api/checksum"
	"github.com/rhizome-data/rhizome/internal/s3api/s3xml"
	"github.com/rhizome-data/rhizome/internal/store"
)

// Limits on object metadata, as on S3.
const (
	// maxUserMeta is the most bytes of x-amz-meta-* names (without the
	// prefix) and values one object may carry.
	maxUserMeta = 2 << 10
	metaPrefix  = "x-amz-meta-"
	// defaultContentType is what S3 reports for objects stored without one.
	defaultContentType = "binary/octet-stream"
)

// standardHeaders are the object headers stored with an object and
// returned on GET and HEAD, besides Content-Type and x-amz-meta-*. They are
// kept in the manifest's Meta under their lowercase names.
var standardHeaders = []string{"Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires"}

// putOptions collects what a PutObject, CopyObject (REPLACE) or
// CreateMultipartUpload request says about the object: content type,
// standard headers and user metadata. It refuses headers asking for
// features Rhizome does not have, rather than ignoring them.
func (s *Server) putOptions(q *request) (*store.PutOptions, error) {
	h := q.r.Header
	if err := checkUnsupportedHeaders(h); err != nil {
		return nil, err
	}
	opts := &store.PutOptions{ContentType: h.Get("Content-Type"), Meta: map[string]string{}, Identity: q.user.AccessKey}
	userBytes := 0
	for name, vals := range h {
		l := strings.ToLower(name)
		if !strings.HasPrefix(l, metaPrefix) || len(l) == len(metaPrefix) {
			continue
		}
		v := strings.Join(vals, ",")
		opts.Meta[l] = v
		userBytes += len(l) - len(metaPrefix) + len(v)
	}
	if userBytes > maxUserMeta {
		return nil, errorf("MetadataTooLarge", http.StatusBadRequest,
			"Your metadata headers exceed the maximum allowed metadata size: %d bytes of x-amz-meta-* names and values; the limit is %d.", userBytes, maxUserMeta).
			with(s3xml.NewField("Size", strconv.Itoa(userBytes)), s3xml.NewField("MaxSizeAllowed", strconv.Itoa(maxUserMeta)))
	}
	for _, name := range standardHeaders {
		v := h.Get(name)
		if name == "Content-Encoding" {
			v = withoutToken(v, "aws-chunked")
		}
		if v != "" {
			opts.Meta[strings.ToLower(name)] = v
		}
	}
	if len(opts.Meta) == 0 {
		opts.Meta = nil
	}
	return opts, nil
}

// checkUnsupportedHeaders refuses requests that ask for a feature Rhizome
// does not implement, so that nobody believes it was applied.
func checkUnsupportedHeaders(h http.Header) error {
	switch v := h.Get("X-Amz-Server-Side-Encryption"); v {
	case "", "AES256":
		// Every object is encrypted by Rhizome with keys it manages.
	default:
		return errNotImplemented("x-amz-server-side-encryption: " + clip(v) + " (every object is already encrypted by Rhizome with its own keys; only AES256 is accepted)")
	}
	switch v := h.Get("X-Amz-Storage-Class"); v {
	case "", "STANDARD":
	default:
		return errorf("InvalidStorageClass", http.StatusBadRequest, "The storage class you specified (%s) is not valid: Rhizome has one storage class, STANDARD.", clip(v))
	}
	switch v := h.Get("X-Amz-Acl"); v {
	case "", "private", "bucket-owner-full-control", "bucket-owner-read":
	default:
		return errNotImplemented("The canned ACL " + clip(v) + " (access is granted per user and bucket in the server config)")
	}
	for name := range h {
		l := strings.ToLower(name)
		switch {
		case strings.HasPrefix(l, "x-amz-server-side-encryption-customer-"), strings.HasPrefix(l, "x-amz-server-side-encryption-aws-kms-"):
			return errNotImplemented("Server-side encryption with customer or KMS keys")
		case strings.HasPrefix(l, "x-amz-grant-"):
			return errNotImplemented("ACL grants (" + l + ")")
		case strings.HasPrefix(l, "x-amz-object-lock-"):
			return errNotImplemented("S3 Object Lock headers (Rhizome keeps every version for the configured retention instead)")
		case l == "x-amz-tagging", l == "x-amz-website-redirect-location":
			return errNotImplemented(l)
		}
	}
	return nil
}

// putObject stores the body as a new version.
func (s *Server) putObject(q *request) error {
	cond, err := writeCondition(q.r.Header)
	if err != nil {
		return err
	}
	opts, err := s.putOptions(q)
	if err != nil {
		return err
	}
	opts.If = cond
	b, err := s.openBody(q, maxPutSize)
	if err != nil {
		return err
	}
	opts.Size, opts.SizeKnown, opts.Checksums = b.size, b.size >= 0, b.checksums
	info, err := s.st.Put(q.ctx(), q.view.Bucket, q.key, b.r, opts)
	if err != nil {
		return b.cause(err)
	}
	q.version = info.ID
	out := q.w.Header()
	out.Set("ETag", quoteETag(info.ETag))
	out.Set("X-Amz-Version-Id", info.ID)
	for algo, v := range info.Manifest.Checksums {
		out.Set(checksum.Header(algo), v)
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// writeCondition reads the conditions of a conditional write (PutObject,
// CopyObject, CompleteMultipartUpload): If-None-Match: * (only if the key
// has no current object) and If-Match: ETAG (only if the current object
// has that ETag). The store checks them atomically with the commit.
func writeCondition(h http.Header) (*store.Condition, error) {
	im, inm := strings.TrimSpace(h.Get("If-Match")), strings.TrimSpace(h.Get("If-None-Match"))
	if im == "" && inm == "" {
		return nil, nil
	}
	c := &store.Condition{}
	if inm != "" {
		if inm != "*" {
			return nil, errNotImplemented("If-None-Match with an entity tag on a write (only If-None-Match: * is defined for writes)")
		}
		c.IfNoneMatch = true
	}
	if im != "" {
		if strings.Contains(im, ",") {
			return nil, errNotImplemented("If-Match with several entity tags on a write (send the one ETag the current object must have)")
		}
		c.IfMatch = strings.Trim(strings.TrimPrefix(im, "W/"), `"`)
	}
	return c, nil
}

// stat resolves key in the bucket or view v to a version, as GetObject,
// HeadObject and copy sources need it. Delete markers become NoSuchKey
// (or MethodNotAllowed when asked for by version ID) carrying the
// x-amz-delete-marker header, as on S3.
func (s *Server) stat(q *request, v view, key, versionID string) (*store.ObjectInfo, error) {
	if versionID == "null" {
		return nil, errorf("NoSuchVersion", http.StatusNotFound, "Rhizome has no null versions: every bucket is versioned.")
	}
	info, err := s.st.Stat(q.ctx(), v.Bucket, key, store.StatOptions{VersionID: versionID, AsOf: v.AsOf})
	if versionID != "" && info != nil && !v.AsOf.IsZero() && info.Time.After(v.AsOf) {
		return nil, errorf("NoSuchVersion", http.StatusNotFound, "Version %s was written at %s, after the time of this view.",
			versionID, info.Time.Format(time.RFC3339))
	}
	if err != nil {
		if errors.Is(err, store.ErrDeleteMarker) && info != nil {
			hdr := map[string]string{"X-Amz-Delete-Marker": "true", "X-Amz-Version-Id": info.ID}
			if versionID != "" {
				hdr["Last-Modified"] = info.Time.UTC().Format(http.TimeFormat)
				hdr["Allow"] = "DELETE"
				return nil, &apiError{code: "MethodNotAllowed", status: http.StatusMethodNotAllowed, err: err, header: hdr,
					msg: "The specified method is not allowed against this resource: the version is a delete marker."}
			}
			return nil, &apiError{code: "NoSuchKey", status: http.StatusNotFound, err: err, header: hdr, msg: standardMessage["NoSuchKey"]}
		}
		if versionID != "" && errors.Is(err, store.ErrInvalid) {
			return nil, &apiError{code: "InvalidArgument", status: http.StatusBadRequest, err: err, msg: "Invalid version id specified"}
		}
		return nil, err
	}
	return info, nil
}

func (s *Server) getObject(q *request) error  { return s.readObject(q, true) }
func (s *Server) headObject(q *request) error { return s.readObject(q, false) }

// responseOverrides are the GetObject query parameters that replace a
// response header.
var responseOverrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

// readObject serves GetObject (withBody) and HeadObject.
func (s *Server) readObject(q *request, withBody bool) error {
	query := q.r.URL.Query()
	info, err := s.stat(q, q.view, q.key, query.Get("versionId"))
	if err != nil {
		return err
	}
	m := info.Manifest
	if err := checkConditions(q.r, info.ETag, info.Time); err != nil {
		return err
	}
	h := q.w.Header()
	h.Set("ETag", quoteETag(info.ETag))
	h.Set("Last-Modified", info.Time.UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	h.Set("X-Amz-Version-Id", info.ID)
	ct := m.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	h.Set("Content-Type", ct)
	for k, v := range m.Meta {
		if strings.HasPrefix(k, metaPrefix) {
			h[k] = []string{v}
		} else {
			h.Set(k, v)
		}
	}
	parts := partsCount(info)
	if parts > 0 {
		h.Set("X-Amz-Mp-Parts-Count", strconv.Itoa(parts))
	}
	for p, name := range responseOverrides {
		if v := query.Get(p); v != "" {
			h.Set(name, v)
		}
	}

	off, length, status := int64(0), info.Size, http.StatusOK
	rangeHdr, partParam := q.r.Header.Get("Range"), query.Get("partNumber")
	switch {
	case partParam != "":
		if rangeHdr != "" {
			return errorf("InvalidRequest", http.StatusBadRequest, "Cannot specify both Range header and partNumber query parameter.")
		}
		n, err := strconv.Atoi(partParam)
		if err != nil || n < 1 || n > s3xml.MaxPartNumber {
			return errorf("InvalidArgument", http.StatusBadRequest, "Part number must be an integer between 1 and %d, inclusive.", s3xml.MaxPartNumber)
		}
		var ok bool
		off, length, ok = partRange(info, n)
		if !ok {
			return errorf("InvalidPartNumber", http.StatusRequestedRangeNotSatisfiable, "The requested partnumber %d is not satisfiable: the object has %d part(s).", n, max(parts, 1))
		}
		status = http.StatusPartialContent
	case rangeHdr != "":
		o, l, ok, err := parseRange(rangeHdr, info.Size)
		if err != nil {
			return err
		}
		if ok {
			off, length, status = o, l, http.StatusPartialContent
		}
	}
	if status == http.StatusPartialContent {
		h.Set("Content-Range", "bytes "+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+length-1, 10)+"/"+strconv.FormatInt(info.Size, 10))
	} else if strings.EqualFold(q.r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") {
		for algo, v := range m.Checksums {
			h.Set(checksum.Header(algo), v)
			if strings.Contains(v, "-") {
				h.Set("X-Amz-Checksum-Type", "COMPOSITE")
			} else {
				h.Set("X-Amz-Checksum-Type", "FULL_OBJECT")
			}
		}
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	q.version = info.ID
	if !withBody || length == 0 {
		q.w.WriteHeader(status)
		return nil
	}
	rep, err := s.st.Read(q.ctx(), info, &statusWriter{w: q.w, status: status}, off, length)
	if rep.Degraded {
		s.metrics.degraded.Inc()
	}
	return err
}

// statusWriter sends the status line with the first body byte, so a read
// that fails before any byte can still answer with an error status.
type statusWriter struct {
	w      *responseWriter
	status int
}

func (sw *statusWriter) Write(p []byte) (int, error) {
	if !sw.w.wrote {
		sw.w.WriteHeader(sw.status)
	}
	return sw.w.Write(p)
}

// partsCount returns the part count of a multipart object (from its
// "-N" ETag), or 0.
func partsCount(info *store.ObjectInfo) int {
	_, suffix, ok := strings.Cut(info.ETag, "-")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(suffix)
	if err != nil || n < 1 {
		return 0
	}
	return n
}

// partRange returns the byte range of part n (1-based): for a multipart
// object whose segments are its parts, segment n; for any other object,
// part 1 is the whole object.
func partRange(info *store.ObjectInfo, n int) (off, length int64, ok bool) {
	parts := partsCount(info)
	segs := info.Manifest.Segments
	if parts == 0 {
		return 0, info.Size, n == 1
	}
	if parts != len(segs) || n > parts {
		return 0, 0, false
	}
	for _, seg := range segs[:n-1] {
		off += seg.Size
	}
	return off, segs[n-1].Size, true
}

// checkConditions evaluates If-Match, If-None-Match, If-Modified-Since and
// If-Unmodified-Since as S3 does (RFC 9110 precedence: an entity-tag
// condition present makes its date condition ignored).
func checkConditions(r *http.Request, etag string, modified time.Time) error {
	h := r.Header
	mod := modified.UTC().Truncate(time.Second)
	failed := func(cond string) error {
		return errorf("PreconditionFailed", http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold.").
			with(s3xml.NewField("Condition", cond))
	}
	if v := h.Get("If-Match"); v != "" {
		if !etagMatches(v, etag) {
			return failed("If-Match")
		}
	} else if v := h.Get("If-Unmodified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && mod.After(t) {
			return failed("If-Unmodified-Since")
		}
	}
	notModified := &apiError{code: "NotModified", status: http.StatusNotModified, msg: "Not Modified",
		header: map[string]string{"ETag": quoteETag(etag), "Last-Modified": mod.Format(http.TimeFormat)}}
	if v := h.Get("If-None-Match"); v != "" {
		if etagMatches(v, etag) {
			return notModified
		}
	} else if v := h.Get("If-Modified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && !mod.After(t) {
			return notModified
		}
	}
	return nil
}

// etagMatches reports whether a list of entity tags (or "*") names etag.
func etagMatches(list, etag string) bool {
	for t := range strings.SplitSeq(list, ",") {
		t = strings.TrimSpace(t)
		t = strings.TrimPrefix(t, "W/")
		if t == "*" || strings.Trim(t, `"`) == etag {
			return true
		}
	}
	return false
}

func quoteETag(etag string) string { return `"` + etag + `"` }

// parseRange parses a Range header for an object of size bytes. ok=false
// means the header is to be ignored and the whole object sent: it is not
// a single bytes range or not valid syntax (as RFC 9110 and S3 do). A
// valid range that selects no byte gives an InvalidRange error.
func parseRange(hdr string, size int64) (off, length int64, ok bool, err error) {
	spec, found := strings.CutPrefix(strings.TrimSpace(hdr), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, nil
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, nil
	}
	unsatisfiable := func() error {
		return &apiError{code: "InvalidRange", status: http.StatusRequestedRangeNotSatisfiable, msg: standardMessage["InvalidRange"],
			header: map[string]string{"Content-Range": "bytes */" + strconv.FormatInt(size, 10)},
			extra: []s3xml.Field{s3xml.NewField("RangeRequested", clip(hdr)),
				s3xml.NewField("ActualObjectSize", strconv.FormatInt(size, 10))}}
	}
	if first == "" {
		n, valid := parseDigits(last)
		if !valid {
			return 0, 0, false, nil
		}
		if n == 0 || size == 0 {
			return 0, 0, false, unsatisfiable()
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	a, valid := parseDigits(first)
	if !valid {
		return 0, 0, false, nil
	}
	b := size - 1
	if last != "" {
		v, valid := parseDigits(last)
		if !valid || v < a {
			return 0, 0, false, nil
		}
		b = min(v, size-1)
	}
	if a >= size {
		return 0, 0, false, unsatisfiable()
	}
	return a, b - a + 1, true, nil
}

// parseDigits parses a non-empty run of decimal digits that fits an int64.
func parseDigits(s string) (int64, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// deleteObject writes a delete marker, or with versionId removes that
// version when retention allows.
func (s *Server) deleteObject(q *request) error {
	vid := q.r.URL.Query().Get("versionId")
	marker, id, err := s.deleteOne(q, q.key, vid)
	if err != nil {
		return err
	}
	h := q.w.Header()
	if marker {
		h.Set("X-Amz-Delete-Marker", "true")
	}
	if id != "" {
		h.Set("X-Amz-Version-Id", id)
		q.version = id
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteOne deletes key (a delete marker) or one version of it. It
// reports whether a delete marker was written or removed, and the version
// ID written or removed. Removing a version that does not exist succeeds,
// as on S3.
func (s *Server) deleteOne(q *request, key, versionID string) (marker bool, id string, err error) {
	ctx := q.ctx()
	if len(key) > store.MaxKeyLen {
		return false, "", errorf("KeyTooLongError", http.StatusBadRequest, "Your key is too long: %d bytes; the limit is %d.", len(key), store.MaxKeyLen)
	}
	if versionID == "" {
		info, err := s.st.Delete(ctx, q.view.Bucket, key, q.user.AccessKey)
		if err != nil {
			return false, "", err
		}
		return true, info.ID, nil
	}
	if !index.ValidVersionID(versionID) {
		return false, "", errorf("InvalidArgument", http.StatusBadRequest, "Invalid version id specified: %q is not a Rhizome version ID.", clip(versionID))
	}
	v, err := s.st.Index().Version(ctx, q.view.Bucket, key, versionID)
	switch {
	case errors.Is(err, index.ErrNoSuchVersion):
		return false, versionID, nil
	case errors.Is(err, index.ErrNoSuchBucket):
		return false, "", errorf("NoSuchBucket", http.StatusNotFound, "%s", standardMessage["NoSuchBucket"])
	case err != nil:
		return false, "", &apiError{code: "ServiceUnavailable", status: http.StatusServiceUnavailable, msg: standardMessage["ServiceUnavailable"], err: err}
	}
	if err := s.st.DeleteVersion(ctx, q.view.Bucket, key, versionID, q.user.AccessKey); err != nil {
		if errors.Is(err, index.ErrNoSuchVersion) {
			return false, versionID, nil
		}
		return false, "", err
	}
	return v.DeleteMarker, versionID, nil
}

// deleteObjects is the batch delete (POST ?delete).
func (s *Server) deleteObjects(q *request) error {
	if _, err := s.bucketInfo(q); err != nil {
		return err
	}
	var req s3xml.Delete
	if err := s.readXML(q, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	var res s3xml.DeleteResult
	for _, o := range req.Objects {
		marker, id, err := s.deleteOne(q, o.Key, o.VersionId)
		if err != nil {
			code, _, msg := s3Error(err)
			res.Errors = append(res.Errors, s3xml.DeleteError{Key: o.Key, VersionId: o.VersionId, Code: code, Message: msg})
			continue
		}
		if req.Quiet {
			continue
		}
		d := s3xml.DeletedObject{Key: o.Key, VersionId: o.VersionId}
		if marker {
			d.DeleteMarker = true
			if o.VersionId == "" {
				d.DeleteMarkerVersionId = id
			}
		}
		res.Deleted = append(res.Deleted, d)
	}
	return s.writeXML(q, http.StatusOK, res)
}

// copySource is a parsed x-amz-copy-source.
type copySource struct {
	Bucket, Key, VersionID string
}

// parseCopySource parses x-amz-copy-source: "[/]bucket/key[?versionId=ID]",
// URL-encoded.
func parseCopySource(v string) (copySource, error) {
	bad := func(why string) (copySource, error) {
		return copySource{}, errorf("InvalidArgument", http.StatusBadRequest, "x-amz-copy-source %q: %s", clip(v), why)
	}
	raw, query, hasQuery := strings.Cut(v, "?")
	var cs copySource
	if hasQuery {
		qv, err := url.ParseQuery(query)
		if err != nil {
			return bad("the query part is not valid URL encoding")
		}
		for k := range qv {
			if k != "versionId" {
				return bad("only versionId may follow '?'")
			}
		}
		cs.VersionID = qv.Get("versionId")
		if cs.VersionID == "" {
			return bad("versionId is empty")
		}
	}
	path, err := url.PathUnescape(strings.TrimPrefix(raw, "/"))
	if err != nil {
		return bad("not valid URL encoding")
	}
	cs.Bucket, cs.Key, _ = strings.Cut(path, "/")
	if cs.Bucket == "" || cs.Key == "" {
		return bad("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	if len(cs.Key) > store.MaxKeyLen {
		return bad("the source key is too long")
	}
	return cs, nil
}

// copySourceObject resolves, authorizes and checks the copy source of
// CopyObject and UploadPartCopy.
func (s *Server) copySourceObject(q *request) (*store.ObjectInfo, error) {
	cs, err := parseCopySource(q.r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return nil, err
	}
	v, err := parseView(cs.Bucket)
	if err != nil {
		return nil, &apiError{code: "InvalidArgument", status: http.StatusBadRequest, msg: err.Error(), err: err}
	}
	if got := q.user.Access(v.Bucket); got < ReadAccess {
		return nil, errorf("AccessDenied", http.StatusForbidden, "Access Denied: %s has no read access to the copy source bucket %s.", q.user.AccessKey, v.Bucket)
	}
	if v.Checkpoint != "" {
		sub := *q
		sub.bucket, sub.view = cs.Bucket, v
		if err := s.resolveCheckpoint(&sub); err != nil {
			return nil, err
		}
		v = sub.view
	}
	info, err := s.stat(q, v, cs.Key, cs.VersionID)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			ae.header = nil
		}
		return nil, err
	}
	// The copy-source conditions all fail with 412, as on S3.
	h := q.r.Header
	cond := http.Header{}
	for _, c := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		if val := h.Get("X-Amz-Copy-Source-" + c); val != "" {
			cond.Set(c, val)
		}
	}
	if len(cond) > 0 {
		if err := checkConditions(&http.Request{Header: cond}, info.ETag, info.Time); err != nil {
			return nil, errorf("PreconditionFailed", http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold.")
		}
	}
	q.w.Header().Set("X-Amz-Copy-Source-Version-Id", info.ID)
	return info, nil
}

// copyObject makes a new version that references the source's shards:
// no data is read or written, whatever the size.
func (s *Server) copyObject(q *request) error {
	src, err := s.copySourceObject(q)
	if err != nil {
		return err
	}
	h := q.r.Header
	directive := strings.ToUpper(h.Get("X-Amz-Metadata-Directive"))
	switch directive {
	case "", "COPY":
		directive = "COPY"
	case "REPLACE":
	default:
		return errorf("InvalidArgument", http.StatusBadRequest, "Unknown metadata directive %q; use COPY or REPLACE.", clip(directive))
	}
	if d := h.Get("X-Amz-Tagging-Directive"); d != "" && !strings.EqualFold(d, "COPY") {
		return errNotImplemented("x-amz-tagging-directive " + clip(d))
	}
	cs, _ := parseCopySource(h.Get("X-Amz-Copy-Source"))
	srcView, _ := parseView(cs.Bucket)
	if src.Bucket == q.view.Bucket && src.Key == q.key && cs.VersionID == "" && !srcView.isView() && directive == "COPY" {
		return errorf("InvalidRequest", http.StatusBadRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	cond, err := writeCondition(h)
	if err != nil {
		return err
	}
	var opts *store.PutOptions
	if directive == "REPLACE" {
		if opts, err = s.putOptions(q); err != nil {
			return err
		}
		opts.Checksums = src.Manifest.Checksums
	} else {
		if err := checkUnsupportedHeaders(h); err != nil {
			return err
		}
		m := src.Manifest
		opts = &store.PutOptions{ContentType: m.ContentType, Meta: m.Meta, Checksums: m.Checksums, Identity: q.user.AccessKey}
	}
	opts.If = cond
	info, err := s.st.Copy(q.ctx(), src, q.view.Bucket, q.key, opts)
	if err != nil {
		return err
	}
	q.version = info.ID
	q.w.Header().Set("X-Amz-Version-Id", info.ID)
	return s.writeXML(q, http.StatusOK, s3xml.CopyObjectResult{LastModified: s3xml.Time(info.Time), ETag: quoteETag(info.ETag)})
}

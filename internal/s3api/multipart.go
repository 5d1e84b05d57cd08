package s3api

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/rhizome-data/rhizome/internal/s3api/checksum"
	"github.com/rhizome-data/rhizome/internal/s3api/s3xml"
	"github.com/rhizome-data/rhizome/internal/store"
)

// Multipart uploads: each part is encoded and spread over the backends as
// it arrives (it is protected like any object), and completing an upload
// writes only a manifest that references the parts.

// maxParts is the most parts ListParts returns per page.
const maxParts = 1000

// createMultipartUpload starts an upload (POST ?uploads). With
// x-amz-checksum-algorithm (and optionally x-amz-checksum-type) the
// object gets a multipart checksum: every part's checksum of that
// algorithm is kept, and completing the upload combines them.
func (s *Server) createMultipartUpload(q *request) error {
	opts, err := s.putOptions(q)
	if err != nil {
		return err
	}
	algo, typ, err := multipartChecksum(q.r.Header)
	if err != nil {
		return err
	}
	opts.ChecksumAlgorithm, opts.ChecksumType = algo, typ
	up, err := s.st.CreateUpload(q.ctx(), q.view.Bucket, q.key, opts)
	if err != nil {
		return err
	}
	if algo != "" {
		q.w.Header().Set("X-Amz-Checksum-Algorithm", algo)
		q.w.Header().Set("X-Amz-Checksum-Type", typ)
	}
	return s.writeXML(q, http.StatusOK, s3xml.InitiateMultipartUploadResult{Bucket: q.bucket, Key: q.key, UploadId: up.ID})
}

// multipartChecksum reads the checksum algorithm and type a
// CreateMultipartUpload asks for. The type defaults as on S3: FULL_OBJECT
// for CRC64NVME, COMPOSITE for the others.
func multipartChecksum(h http.Header) (algo, typ string, err error) {
	a, t := h.Get("X-Amz-Checksum-Algorithm"), h.Get("X-Amz-Checksum-Type")
	if a == "" {
		if t != "" {
			return "", "", errorf("InvalidRequest", http.StatusBadRequest, "x-amz-checksum-type %q needs x-amz-checksum-algorithm.", clip(t))
		}
		return "", "", nil
	}
	algo, ok := checksum.Canonical(a)
	if !ok {
		return "", "", errorf("InvalidRequest", http.StatusBadRequest, "Checksum algorithm %q is not supported; use one of %s.", clip(a), strings.Join(checksum.Algorithms(), ", "))
	}
	typ = checksum.DefaultType(algo)
	if t != "" {
		if typ, ok = checksum.CanonicalType(t); !ok {
			return "", "", errorf("InvalidRequest", http.StatusBadRequest, "Checksum type %q is not valid; use COMPOSITE or FULL_OBJECT.", clip(t))
		}
	}
	if !checksum.Supports(algo, typ) {
		return "", "", errorf("InvalidRequest", http.StatusBadRequest,
			"The %s checksum type is not supported with the %s algorithm (CRC64NVME is FULL_OBJECT only, SHA1 and SHA256 COMPOSITE only).", typ, algo)
	}
	return algo, typ, nil
}

// upload checks that the request's uploadId is an upload of the addressed
// bucket and key, and returns its ID.
func (s *Server) upload(q *request) (string, error) {
	up, err := s.uploadInfo(q)
	if err != nil {
		return "", err
	}
	return up.ID, nil
}

// uploadInfo is upload returning the whole upload.
func (s *Server) uploadInfo(q *request) (*store.Upload, error) {
	id := q.r.URL.Query().Get("uploadId")
	noSuch := errorf("NoSuchUpload", http.StatusNotFound, "%s", standardMessage["NoSuchUpload"]).with(s3xml.NewField("UploadId", id))
	if id == "" {
		return nil, noSuch
	}
	up, err := s.st.Upload(q.ctx(), id)
	if err != nil {
		return nil, err
	}
	if up.Bucket != q.view.Bucket || up.Key != q.key {
		return nil, noSuch
	}
	return up, nil
}

// partChecksum prepares the part options of an upload with a multipart
// checksum. A part sent with a checksum of another algorithm is refused
// before anything is stored; a part sent with none is checksummed here as
// it streams.
func partChecksum(up *store.Upload, r *http.Request, opts *store.PutOptions) error {
	algo := up.Opts.ChecksumAlgorithm
	if algo == "" {
		return nil
	}
	sent, _, _ := checksum.FromRequest(r.Header)
	for _, name := range r.Header.Values("X-Amz-Trailer") {
		for n := range strings.SplitSeq(name, ",") {
			if a, ok := checksum.FromHeader(strings.TrimSpace(n)); ok {
				sent = a
			}
		}
	}
	if sent != "" && sent != algo {
		return errorf("InvalidRequest", http.StatusBadRequest,
			"Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s: the upload was created with x-amz-checksum-algorithm %s.",
			strings.ToLower(algo), strings.ToLower(sent), algo)
	}
	if sent == "" && opts.Plain == nil {
		h, _ := checksum.New(algo)
		opts.Plain = h
		opts.PartSums = func() map[string]string { return map[string]string{algo: checksum.Encode(h.Sum(nil))} }
	}
	return nil
}

// xmlChecksums puts checksums (algorithm -> base64) into their XML
// elements.
func xmlChecksums(m map[string]string) s3xml.Checksums {
	var c s3xml.Checksums
	for algo, v := range m {
		switch algo {
		case checksum.CRC32:
			c.ChecksumCRC32 = v
		case checksum.CRC32C:
			c.ChecksumCRC32C = v
		case checksum.CRC64NVME:
			c.ChecksumCRC64NVME = v
		case checksum.SHA1:
			c.ChecksumSHA1 = v
		case checksum.SHA256:
			c.ChecksumSHA256 = v
		}
	}
	return c
}

// checksumsOf is the inverse of xmlChecksums, for the non-empty elements.
func checksumsOf(c s3xml.Checksums) map[string]string {
	m := map[string]string{}
	for algo, v := range map[string]string{checksum.CRC32: c.ChecksumCRC32, checksum.CRC32C: c.ChecksumCRC32C,
		checksum.CRC64NVME: c.ChecksumCRC64NVME, checksum.SHA1: c.ChecksumSHA1, checksum.SHA256: c.ChecksumSHA256} {
		if v != "" {
			m[algo] = v
		}
	}
	return m
}

func partNumber(q *request) (int, error) {
	v := q.r.URL.Query().Get("partNumber")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > s3xml.MaxPartNumber {
		return 0, errorf("InvalidArgument", http.StatusBadRequest, "Part number must be an integer between 1 and %d, inclusive, not %q.", s3xml.MaxPartNumber, clip(v))
	}
	return n, nil
}

// uploadPart stores one part (PUT ?partNumber&uploadId).
func (s *Server) uploadPart(q *request) error {
	n, err := partNumber(q)
	if err != nil {
		return err
	}
	up, err := s.uploadInfo(q)
	if err != nil {
		return err
	}
	b, err := s.openBody(q, maxPutSize)
	if err != nil {
		return err
	}
	opts := &store.PutOptions{Size: b.size, SizeKnown: b.size >= 0, Checksums: b.checksums, Identity: q.user.AccessKey}
	if err := partChecksum(up, q.r, opts); err != nil {
		return err
	}
	part, err := s.st.PutPart(q.ctx(), up.ID, n, b.r, opts)
	if err != nil {
		return b.cause(err)
	}
	h := q.w.Header()
	h.Set("ETag", quoteETag(part.ETag))
	for algo, v := range part.Checksums {
		h.Set(checksum.Header(algo), v)
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// uploadPartCopy makes a part from a range of an existing object (PUT
// ?partNumber&uploadId with x-amz-copy-source).
func (s *Server) uploadPartCopy(q *request) error {
	n, err := partNumber(q)
	if err != nil {
		return err
	}
	up, err := s.uploadInfo(q)
	if err != nil {
		return err
	}
	src, err := s.copySourceObject(q)
	if err != nil {
		return err
	}
	off, length := int64(0), src.Size
	if v := q.r.Header.Get("X-Amz-Copy-Source-Range"); v != "" {
		if off, length, err = parseCopyRange(v, src.Size); err != nil {
			return err
		}
	}
	opts := &store.PutOptions{}
	if err := partChecksum(up, &http.Request{Header: http.Header{}}, opts); err != nil {
		return err
	}
	part, err := s.st.CopyPartWith(q.ctx(), up.ID, n, src, off, length, opts)
	if err != nil {
		return err
	}
	return s.writeXML(q, http.StatusOK, s3xml.CopyPartResult{LastModified: s3xml.Time(part.Modified), ETag: quoteETag(part.ETag),
		Checksums: xmlChecksums(part.Checksums)})
}

// parseCopyRange parses x-amz-copy-source-range, "bytes=first-last", which
// must lie within the source.
func parseCopyRange(v string, size int64) (off, length int64, err error) {
	bad := errorf("InvalidArgument", http.StatusBadRequest, "The x-amz-copy-source-range value %q must be bytes=first-last.", clip(v))
	spec, ok := strings.CutPrefix(v, "bytes=")
	if !ok {
		return 0, 0, bad
	}
	a, b, ok := strings.Cut(spec, "-")
	first, okA := parseDigits(a)
	last, okB := parseDigits(b)
	if !ok || !okA || !okB || last < first {
		return 0, 0, bad
	}
	if last >= size {
		return 0, 0, errorf("InvalidRange", http.StatusRequestedRangeNotSatisfiable,
			"The x-amz-copy-source-range %q is outside the source object's %d bytes.", clip(v), size)
	}
	return first, last - first + 1, nil
}

// completeMultipartUpload joins the parts into a new version (POST
// ?uploadId): only metadata is written.
func (s *Server) completeMultipartUpload(q *request) error {
	up, err := s.uploadInfo(q)
	if err != nil {
		return err
	}
	cond, err := writeCondition(q.r.Header)
	if err != nil {
		return err
	}
	algo, typ := up.Opts.ChecksumAlgorithm, up.Opts.ChecksumType
	if t := q.r.Header.Get("X-Amz-Checksum-Type"); t != "" {
		if ct, ok := checksum.CanonicalType(t); !ok || ct != typ {
			return errorf("InvalidRequest", http.StatusBadRequest,
				"The x-amz-checksum-type %q differs from the upload's checksum type %q (set with CreateMultipartUpload).", clip(t), typ)
		}
	}
	// On CompleteMultipartUpload an x-amz-checksum-* header is the whole
	// object's checksum, not the XML body's.
	objSums := http.Header{}
	for name, v := range q.r.Header {
		if _, ok := checksum.FromHeader(name); ok {
			objSums[name] = v
			delete(q.r.Header, name)
		}
	}
	var req s3xml.CompleteMultipartUpload
	if err := s.readXML(q, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	parts := make([]store.CompletePart, len(req.Parts))
	for i, p := range req.Parts {
		parts[i] = store.CompletePart{Number: p.PartNumber, ETag: strings.Trim(p.ETag, `"`)}
	}
	sums := func(stored []store.Part) (map[string]string, error) {
		return objectChecksum(objSums, algo, typ, req.Parts, stored)
	}
	info, err := s.st.CompleteUploadWith(q.ctx(), up.ID, parts, &store.CompleteOptions{Identity: q.user.AccessKey, If: cond, Checksum: sums})
	if err != nil {
		return err
	}
	q.version = info.ID
	q.w.Header().Set("X-Amz-Version-Id", info.ID)
	loc := (&url.URL{Scheme: scheme(q.r), Host: q.r.Host, Path: "/" + q.bucket + "/" + q.key}).String()
	res := s3xml.CompleteMultipartUploadResult{Location: loc, Bucket: q.bucket, Key: q.key, ETag: quoteETag(info.ETag)}
	if algo != "" {
		res.ChecksumType, res.Checksums = typ, xmlChecksums(info.Manifest.Checksums)
	}
	return s.writeXML(q, http.StatusOK, res)
}

// objectChecksum checks the part checksums a CompleteMultipartUpload
// lists against those stored with the parts (InvalidPart when one
// differs) and, for an upload created with a checksum algorithm, computes
// the object's checksum from the parts': COMPOSITE, the checksum of their
// concatenated binary checksums, "-N"; FULL_OBJECT, the CRC of the whole
// object, combined from the parts' CRCs and sizes. A whole-object
// x-amz-checksum-* header on the request must equal it (BadDigest).
func objectChecksum(h http.Header, algo, typ string, listed []s3xml.CompletedPart, stored []store.Part) (map[string]string, error) {
	invalid := func(format string, args ...any) error {
		return errorf("InvalidPart", http.StatusBadRequest, "One or more of the specified parts could not be found, or its checksum did not match: "+format, args...)
	}
	for i, lp := range listed {
		for a, v := range checksumsOf(lp.Checksums) {
			if got, ok := stored[i].Checksums[a]; !ok || got != v {
				if !ok {
					return nil, invalid("part %d was uploaded without a %s checksum, and the request lists one.", lp.PartNumber, a)
				}
				return nil, invalid("part %d's %s is %s, not %s as the request lists.", lp.PartNumber, a, got, clip(v))
			}
		}
	}
	if algo == "" {
		return nil, nil
	}
	var value string
	comb, _ := checksum.NewCombiner(algo)
	var raw [][]byte
	for _, p := range stored {
		sum, err := checksum.Parse(algo, p.Checksums[algo])
		if err != nil {
			return nil, invalid("part %d has no %s checksum.", p.Number, algo)
		}
		raw = append(raw, sum)
		if typ == checksum.FullObject {
			if err := comb.Add(sum, p.Size); err != nil {
				return nil, err
			}
		}
	}
	if typ == checksum.FullObject {
		value = checksum.Encode(comb.Sum())
	} else {
		var err error
		if value, err = checksum.CompositeOf(algo, raw); err != nil {
			return nil, err
		}
	}
	for name, vals := range h {
		a, ok := checksum.FromHeader(name)
		if !ok || len(vals) == 0 {
			continue
		}
		if a != algo {
			return nil, errorf("InvalidRequest", http.StatusBadRequest, "The upload's checksum algorithm is %s; the request sends %s.", algo, checksum.Header(a))
		}
		if want, _, _ := strings.Cut(vals[0], "-"); want != strings.SplitN(value, "-", 2)[0] {
			return nil, errorf("BadDigest", http.StatusBadRequest, "The %s you specified (%s) did not match the object's, computed from its parts: %s.", checksum.Header(algo), clip(vals[0]), value)
		}
	}
	return map[string]string{algo: value}, nil
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// abortMultipartUpload drops an upload and its parts (DELETE ?uploadId).
func (s *Server) abortMultipartUpload(q *request) error {
	id, err := s.upload(q)
	if err != nil {
		return err
	}
	if err := s.st.AbortUpload(q.ctx(), id); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// listParts lists the parts uploaded so far (GET ?uploadId).
func (s *Server) listParts(q *request) error {
	up, err := s.uploadInfo(q)
	if err != nil {
		return err
	}
	id := up.ID
	query := q.r.URL.Query()
	limit, marker := maxParts, 0
	if v := query.Get("max-parts"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errorf("InvalidArgument", http.StatusBadRequest, "max-parts must be a non-negative integer, not %q.", clip(v))
		}
		limit = min(n, maxParts)
	}
	if v := query.Get("part-number-marker"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errorf("InvalidArgument", http.StatusBadRequest, "part-number-marker must be a non-negative integer, not %q.", clip(v))
		}
		marker = n
	}
	res := s3xml.ListPartsResult{
		Bucket: q.bucket, Key: q.key, UploadId: id, PartNumberMarker: marker, MaxParts: limit,
		Initiator: &s3xml.Initiator{ID: owner.ID, DisplayName: owner.DisplayName}, Owner: &owner, StorageClass: "STANDARD",
		ChecksumAlgorithm: up.Opts.ChecksumAlgorithm, ChecksumType: up.Opts.ChecksumType,
	}
	if limit > 0 {
		parts, truncated, err := s.st.ListParts(q.ctx(), id, marker, limit)
		if err != nil {
			return err
		}
		for _, p := range parts {
			res.Parts = append(res.Parts, s3xml.Part{PartNumber: p.Number, LastModified: s3xml.Time(p.Modified), ETag: quoteETag(p.ETag), Size: p.Size,
				Checksums: xmlChecksums(p.Checksums)})
		}
		res.IsTruncated = truncated
		if len(parts) > 0 {
			res.NextPartNumberMarker = parts[len(parts)-1].Number
		}
	}
	return s.writeXML(q, http.StatusOK, res)
}

// listMultipartUploads lists the uploads in progress (GET ?uploads). A
// delimiter rolls keys up into common prefixes, as in listings.
func (s *Server) listMultipartUploads(q *request) error {
	query := q.r.URL.Query()
	p, err := parseListParams(query, "max-uploads")
	if err != nil {
		return err
	}
	if _, err := s.bucketInfo(q); err != nil {
		return err
	}
	keyMarker, idMarker := query.Get("key-marker"), query.Get("upload-id-marker")
	res := s3xml.ListMultipartUploadsResult{
		Bucket: q.bucket, KeyMarker: keyMarker, UploadIdMarker: idMarker, Delimiter: p.delimiter,
		Prefix: p.prefix, MaxUploads: p.maxKeys,
	}
	// A key marker ending in the delimiter is a common prefix from the
	// previous page: skip everything under it (no valid key is greater
	// than the prefix followed by byte 0xff).
	lastKey, lastID := keyMarker, idMarker
	if p.delimiter != "" && strings.HasSuffix(keyMarker, p.delimiter) && strings.HasPrefix(keyMarker, p.prefix) {
		lastKey, lastID = keyMarker+"\xff", ""
	}
	var nextKey, nextID string
	seen := map[string]bool{}
	for n := 0; n < p.maxKeys; {
		ups, truncated, err := s.st.ListUploads(q.ctx(), q.view.Bucket, p.prefix, lastKey, lastID, p.maxKeys-n)
		if err != nil {
			return err
		}
		if len(ups) == 0 {
			break
		}
		for _, u := range ups {
			lastKey, lastID = u.Key, u.ID
			if p.delimiter != "" {
				if i := strings.Index(u.Key[len(p.prefix):], p.delimiter); i >= 0 {
					cp := u.Key[:len(p.prefix)+i+len(p.delimiter)]
					lastKey, lastID = cp+"\xff", ""
					if !seen[cp] {
						seen[cp] = true
						res.CommonPrefixes = append(res.CommonPrefixes, s3xml.CommonPrefix{Prefix: cp})
						nextKey, nextID = cp, ""
						n++
					}
					continue
				}
			}
			res.Uploads = append(res.Uploads, s3xml.Upload{
				Key: u.Key, UploadId: u.ID, Initiated: s3xml.Time(u.Created), StorageClass: "STANDARD",
				Initiator: &s3xml.Initiator{ID: owner.ID, DisplayName: owner.DisplayName}, Owner: &owner,
				ChecksumAlgorithm: u.Opts.ChecksumAlgorithm, ChecksumType: u.Opts.ChecksumType,
			})
			nextKey, nextID = u.Key, u.ID
			n++
		}
		if !truncated {
			break
		}
		if n >= p.maxKeys {
			res.IsTruncated = true
			res.NextKeyMarker, res.NextUploadIdMarker = nextKey, nextID
		}
	}
	if p.urlEncode {
		res.URLEncode()
	}
	return s.writeXML(q, http.StatusOK, res)
}

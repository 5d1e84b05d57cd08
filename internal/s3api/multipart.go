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

// createMultipartUpload starts an upload (POST ?uploads).
func (s *Server) createMultipartUpload(q *request) error {
	opts, err := s.putOptions(q)
	if err != nil {
		return err
	}
	algo := q.r.Header.Get("X-Amz-Checksum-Algorithm")
	up, err := s.st.CreateUpload(q.ctx(), q.view.Bucket, q.key, opts)
	if err != nil {
		return err
	}
	if algo != "" {
		q.w.Header().Set("X-Amz-Checksum-Algorithm", algo)
	}
	return s.writeXML(q, http.StatusOK, s3xml.InitiateMultipartUploadResult{Bucket: q.bucket, Key: q.key, UploadId: up.ID})
}

// upload checks that the request's uploadId is an upload of the addressed
// bucket and key, and returns it.
func (s *Server) upload(q *request) (string, error) {
	id := q.r.URL.Query().Get("uploadId")
	noSuch := errorf("NoSuchUpload", http.StatusNotFound, "%s", standardMessage["NoSuchUpload"]).with(s3xml.NewField("UploadId", id))
	if id == "" {
		return "", noSuch
	}
	b, k, err := s.st.UploadBucketKey(q.ctx(), id)
	if err != nil {
		return "", err
	}
	if b != q.view.Bucket || k != q.key {
		return "", noSuch
	}
	return id, nil
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
	id, err := s.upload(q)
	if err != nil {
		return err
	}
	b, err := s.openBody(q, maxPutSize)
	if err != nil {
		return err
	}
	part, err := s.st.PutPart(q.ctx(), id, n, b.r, &store.PutOptions{Size: b.size, SizeKnown: b.size >= 0, Checksums: b.checksums, Identity: q.user.AccessKey})
	if err != nil {
		return b.cause(err)
	}
	h := q.w.Header()
	h.Set("ETag", quoteETag(part.ETag))
	for algo, v := range b.checksums {
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
	id, err := s.upload(q)
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
	part, err := s.st.CopyPart(q.ctx(), id, n, src, off, length)
	if err != nil {
		return err
	}
	return s.writeXML(q, http.StatusOK, s3xml.CopyPartResult{LastModified: s3xml.Time(part.Modified), ETag: quoteETag(part.ETag)})
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
	id, err := s.upload(q)
	if err != nil {
		return err
	}
	cond, err := writeCondition(q.r.Header)
	if err != nil {
		return err
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
	info, err := s.st.CompleteUploadWith(q.ctx(), id, parts, &store.CompleteOptions{Identity: q.user.AccessKey, If: cond})
	if err != nil {
		return err
	}
	q.version = info.ID
	q.w.Header().Set("X-Amz-Version-Id", info.ID)
	loc := (&url.URL{Scheme: scheme(q.r), Host: q.r.Host, Path: "/" + q.bucket + "/" + q.key}).String()
	return s.writeXML(q, http.StatusOK, s3xml.CompleteMultipartUploadResult{
		Location: loc, Bucket: q.bucket, Key: q.key, ETag: quoteETag(info.ETag),
	})
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
	id, err := s.upload(q)
	if err != nil {
		return err
	}
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
	}
	if limit > 0 {
		parts, truncated, err := s.st.ListParts(q.ctx(), id, marker, limit)
		if err != nil {
			return err
		}
		for _, p := range parts {
			res.Parts = append(res.Parts, s3xml.Part{PartNumber: p.Number, LastModified: s3xml.Time(p.Modified), ETag: quoteETag(p.ETag), Size: p.Size})
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

package s3api

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"

	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/s3api/s3xml"
)

// maxListKeys is the most entries one listing page holds, as on S3.
const maxListKeys = 1000

// listParams are the parameters listings share.
type listParams struct {
	prefix, delimiter string
	maxKeys           int
	urlEncode         bool
}

func parseListParams(query url.Values, maxName string) (listParams, error) {
	p := listParams{prefix: query.Get("prefix"), delimiter: query.Get("delimiter"), maxKeys: maxListKeys}
	if v := query.Get(maxName); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, errorf("InvalidArgument", http.StatusBadRequest, "Provided %s must be an integer greater than or equal to 0, not %q.", maxName, clip(v))
		}
		p.maxKeys = min(n, maxListKeys)
	}
	switch enc := query.Get("encoding-type"); enc {
	case "":
	case s3xml.EncodingTypeURL:
		p.urlEncode = true
	default:
		return p, errorf("InvalidArgument", http.StatusBadRequest, "Invalid Encoding Method specified in Request: %q; the only one is url.", clip(enc))
	}
	return p, nil
}

// encodeToken makes an opaque continuation token for a listing position.
func encodeToken(after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("r1:" + after))
}

func decodeToken(tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 3 || string(b[:3]) != "r1:" {
		return "", errorf("InvalidArgument", http.StatusBadRequest, "The continuation token provided is incorrect.")
	}
	return string(b[3:]), nil
}

// listPage reads one page of the current objects (as of the view's time).
// A max-keys of 0 reads nothing, after checking the bucket.
func (s *Server) listPage(q *request, p listParams, after string) (index.ListResult, error) {
	if p.maxKeys == 0 {
		_, err := s.bucketInfo(q)
		return index.ListResult{}, err
	}
	if q.view.isView() {
		if _, err := s.bucketInfo(q); err != nil {
			return index.ListResult{}, err
		}
	}
	return s.st.List(q.ctx(), index.ListOptions{
		Bucket: q.view.Bucket, Prefix: p.prefix, Delimiter: p.delimiter, StartAfter: after, Limit: p.maxKeys, AsOf: q.view.AsOf,
	})
}

func listedObject(v index.Version, withOwner bool) s3xml.Object {
	o := s3xml.Object{Key: v.Key, LastModified: s3xml.Time(v.Time), ETag: quoteETag(v.ETag), Size: v.Size, StorageClass: "STANDARD"}
	if withOwner {
		ow := owner
		o.Owner = &ow
	}
	return o
}

func commonPrefixes(ps []string) []s3xml.CommonPrefix {
	out := make([]s3xml.CommonPrefix, len(ps))
	for i, p := range ps {
		out[i] = s3xml.CommonPrefix{Prefix: p}
	}
	return out
}

// listObjectsV2 is ListObjectsV2 (GET ?list-type=2).
func (s *Server) listObjectsV2(q *request) error {
	query := q.r.URL.Query()
	p, err := parseListParams(query, "max-keys")
	if err != nil {
		return err
	}
	token, startAfter := query.Get("continuation-token"), query.Get("start-after")
	after := startAfter
	if _, ok := query["continuation-token"]; ok {
		if after, err = decodeToken(token); err != nil {
			return err
		}
	}
	page, err := s.listPage(q, p, after)
	if err != nil {
		return err
	}
	withOwner := query.Get("fetch-owner") == "true"
	res := s3xml.ListBucketV2Result{
		Name: q.bucket, Prefix: p.prefix, Delimiter: p.delimiter, MaxKeys: p.maxKeys,
		ContinuationToken: token, StartAfter: startAfter, IsTruncated: page.Truncated,
		CommonPrefixes: commonPrefixes(page.CommonPrefixes),
	}
	for _, v := range page.Versions {
		res.Contents = append(res.Contents, listedObject(v, withOwner))
	}
	res.KeyCount = len(res.Contents) + len(res.CommonPrefixes)
	if page.Truncated {
		res.NextContinuationToken = encodeToken(page.Next)
	}
	if p.urlEncode {
		res.URLEncode()
	}
	return s.writeXML(q, http.StatusOK, res)
}

// listObjectsV1 is ListObjects (GET on a bucket). NextMarker is sent on
// every truncated page, with or without a delimiter.
func (s *Server) listObjectsV1(q *request) error {
	query := q.r.URL.Query()
	p, err := parseListParams(query, "max-keys")
	if err != nil {
		return err
	}
	marker := query.Get("marker")
	page, err := s.listPage(q, p, marker)
	if err != nil {
		return err
	}
	res := s3xml.ListBucketResult{
		Name: q.bucket, Prefix: p.prefix, Marker: marker, Delimiter: p.delimiter, MaxKeys: p.maxKeys,
		IsTruncated: page.Truncated, CommonPrefixes: commonPrefixes(page.CommonPrefixes),
	}
	for _, v := range page.Versions {
		res.Contents = append(res.Contents, listedObject(v, true))
	}
	if page.Truncated {
		res.NextMarker = page.Next
	}
	if p.urlEncode {
		res.URLEncode()
	}
	return s.writeXML(q, http.StatusOK, res)
}

// listObjectVersions is ListObjectVersions (GET ?versions). In a view it
// lists the versions written up to the view's time (common prefixes and
// pages included: later versions are not even counted), and IsLatest
// marks the version current at that time.
func (s *Server) listObjectVersions(q *request) error {
	query := q.r.URL.Query()
	p, err := parseListParams(query, "max-keys")
	if err != nil {
		return err
	}
	keyMarker, vidMarker := query.Get("key-marker"), query.Get("version-id-marker")
	if vidMarker != "" && keyMarker == "" {
		return errorf("InvalidArgument", http.StatusBadRequest, "A version-id marker cannot be specified without a key marker.")
	}
	if vidMarker != "" && !index.ValidVersionID(vidMarker) {
		return errorf("InvalidArgument", http.StatusBadRequest, "Invalid version id specified: %q.", clip(vidMarker))
	}
	res := s3xml.ListVersionsResult{
		Name: q.bucket, Prefix: p.prefix, KeyMarker: keyMarker, VersionIdMarker: vidMarker,
		Delimiter: p.delimiter, MaxKeys: p.maxKeys,
	}
	if q.view.isView() || p.maxKeys == 0 {
		if _, err := s.bucketInfo(q); err != nil {
			return err
		}
	}
	if p.maxKeys > 0 {
		page, err := s.st.ListVersions(q.ctx(), index.ListVersionsOptions{
			Bucket: q.view.Bucket, Prefix: p.prefix, Delimiter: p.delimiter,
			KeyMarker: keyMarker, VersionIDMarker: vidMarker, Limit: p.maxKeys, AsOf: q.view.AsOf,
		})
		if err != nil {
			return err
		}
		latest := map[string]string{} // key -> ID of its current version
		for _, v := range page.Versions {
			id, ok := latest[v.Key]
			if !ok {
				if cur, err := s.st.Index().Latest(q.ctx(), v.Bucket, v.Key, q.view.AsOf); err == nil {
					id = cur.ID
				}
				latest[v.Key] = id
			}
			ow := owner
			if v.DeleteMarker {
				res.Versions = append(res.Versions, &s3xml.DeleteMarker{
					Key: v.Key, VersionId: v.ID, IsLatest: v.ID == id, LastModified: s3xml.Time(v.Time), Owner: &ow,
				})
				continue
			}
			res.Versions = append(res.Versions, &s3xml.Version{
				Key: v.Key, VersionId: v.ID, IsLatest: v.ID == id, LastModified: s3xml.Time(v.Time),
				ETag: quoteETag(v.ETag), Size: v.Size, StorageClass: "STANDARD", Owner: &ow,
			})
		}
		res.CommonPrefixes = commonPrefixes(page.CommonPrefixes)
		if page.Truncated {
			res.IsTruncated = true
			res.NextKeyMarker, res.NextVersionIdMarker = page.NextKeyMarker, page.NextVersionIDMarker
		}
	}
	if p.urlEncode {
		res.URLEncode()
	}
	return s.writeXML(q, http.StatusOK, res)
}

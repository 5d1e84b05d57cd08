package s3api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/s3api/s3xml"
	"github.com/rhizome-data/rhizome/internal/store"
)

// owner is the owner S3 responses name: Rhizome is single-tenant, so every
// bucket and object has the same one.
var owner = s3xml.Owner{ID: "rhizome", DisplayName: "rhizome"}

// bucketInfo returns the addressed bucket, or NoSuchBucket. A view of a
// bucket does not exist before the bucket was created.
func (s *Server) bucketInfo(q *request) (index.Bucket, error) {
	bs, err := s.st.Buckets(q.ctx())
	if err != nil {
		return index.Bucket{}, err
	}
	i, found := slices.BinarySearchFunc(bs, q.view.Bucket, func(b index.Bucket, name string) int { return strings.Compare(b.Name, name) })
	if !found {
		return index.Bucket{}, errorf("NoSuchBucket", http.StatusNotFound, "%s", standardMessage["NoSuchBucket"])
	}
	b := bs[i]
	if q.view.isView() && b.Created.After(q.view.AsOf) {
		return index.Bucket{}, errorf("NoSuchBucket", http.StatusNotFound, "Bucket %s was created at %s, after the time of this view.",
			b.Name, b.Created.UTC().Format(time.RFC3339))
	}
	return b, nil
}

// listBuckets lists the buckets the user has any grant on. It accepts the
// prefix, max-buckets and continuation-token parameters.
func (s *Server) listBuckets(q *request) error {
	query := q.r.URL.Query()
	bs, err := s.st.Buckets(q.ctx())
	if err != nil {
		return err
	}
	limit := 10000
	if v := query.Get("max-buckets"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return errorf("InvalidArgument", http.StatusBadRequest, "max-buckets must be an integer from 1 to 10000.")
		}
		limit = n
	}
	prefix, after := query.Get("prefix"), ""
	if tok := query.Get("continuation-token"); tok != "" {
		if after, err = decodeToken(tok); err != nil {
			return err
		}
	}
	res := s3xml.ListAllMyBucketsResult{Owner: owner, Prefix: prefix}
	for _, b := range bs {
		if !strings.HasPrefix(b.Name, prefix) || b.Name <= after || q.user.Access(b.Name) == NoAccess {
			continue
		}
		if len(res.Buckets) == limit {
			res.ContinuationToken = encodeToken(res.Buckets[limit-1].Name)
			break
		}
		res.Buckets = append(res.Buckets, s3xml.Bucket{Name: b.Name, CreationDate: s3xml.Time(b.Created), BucketRegion: s.regionName()})
	}
	return s.writeXML(q, http.StatusOK, res)
}

func (s *Server) regionName() string {
	if s.region == "" {
		return "us-east-1"
	}
	return s.region
}

// createBucket creates a bucket. The optional CreateBucketConfiguration
// body is checked for syntax; its LocationConstraint does not matter, as
// placement decides where shards go.
func (s *Server) createBucket(q *request) error {
	if q.view.isView() || reservedBucketName(q.bucket) {
		return errReservedName(q.bucket)
	}
	if err := store.ValidBucket(q.bucket); err != nil {
		return &apiError{code: "InvalidBucketName", status: http.StatusBadRequest, msg: "The specified bucket is not valid: " + err.Error(), err: err,
			extra: []s3xml.Field{s3xml.NewField("BucketName", q.bucket)}}
	}
	if strings.EqualFold(q.r.Header.Get("X-Amz-Bucket-Object-Lock-Enabled"), "true") {
		return errNotImplemented("S3 Object Lock (every version is kept for the configured retention instead)")
	}
	if err := checkUnsupportedHeaders(q.r.Header); err != nil {
		return err
	}
	if q.r.ContentLength != 0 {
		var cfg s3xml.CreateBucketConfiguration
		if err := s.readXML(q, &cfg); err != nil {
			return err
		}
	}
	if err := s.st.CreateBucket(q.ctx(), q.bucket); err != nil {
		return err
	}
	q.w.Header().Set("Location", "/"+q.bucket)
	q.w.Header().Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// headBucket answers 200 when the bucket (or the view) exists.
func (s *Server) headBucket(q *request) error {
	if _, err := s.bucketInfo(q); err != nil {
		return err
	}
	q.w.Header().Set("X-Amz-Bucket-Region", s.regionName())
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// deleteBucket removes an empty bucket: one with no version or delete
// marker left at all.
func (s *Server) deleteBucket(q *request) error {
	if err := s.st.DeleteBucket(q.ctx(), q.bucket); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getBucketLocation(q *request) error {
	if _, err := s.bucketInfo(q); err != nil {
		return err
	}
	loc := s.region
	if loc == "us-east-1" {
		loc = ""
	}
	return s.writeXML(q, http.StatusOK, s3xml.LocationConstraint{Region: loc})
}

// getBucketVersioning always answers Enabled: every write is a version.
func (s *Server) getBucketVersioning(q *request) error {
	if _, err := s.bucketInfo(q); err != nil {
		return err
	}
	return s.writeXML(q, http.StatusOK, s3xml.VersioningConfiguration{Status: "Enabled"})
}

// putBucketVersioning accepts Enabled (a no-op) and refuses Suspended.
func (s *Server) putBucketVersioning(q *request) error {
	if _, err := s.bucketInfo(q); err != nil {
		return err
	}
	var cfg s3xml.VersioningConfiguration
	if err := s.readXML(q, &cfg); err != nil {
		return err
	}
	switch cfg.Status {
	case "Enabled":
	case "Suspended":
		return errorf("InvalidBucketState", http.StatusConflict,
			"Versioning cannot be suspended in Rhizome: every write is an immutable version, kept for the configured retention.")
	default:
		return errorf("MalformedXML", http.StatusBadRequest, "VersioningConfiguration Status must be Enabled (Suspended is not supported), not %q.", clip(cfg.Status))
	}
	if cfg.MfaDelete == "Enabled" {
		return errNotImplemented("MFA delete")
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

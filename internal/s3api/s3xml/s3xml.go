// Package s3xml holds the XML bodies of the S3 REST API: the requests the
// gateway decodes (Delete, CompleteMultipartUpload, CreateBucketConfiguration,
// VersioningConfiguration) and the responses it encodes (listings, copy and
// multipart results, errors).
//
// Response types carry the S3 namespace on their root element; request
// types accept their root element in any namespace, as clients differ.
// Decode is the one way to read a request body: it caps its size, rejects
// DTDs and entity declarations, and reports every problem as
// ErrMalformedXML (or ErrMaxMessageLengthExceeded) with the reason.
// Encode writes a response with the XML declaration S3 sends.
//
// Times marshal as S3 prints them ("2006-01-02T15:04:05.000Z"); ETags are
// stored with their quotes, as S3 returns them. Characters XML 1.0 cannot
// carry (most control characters) are written as U+FFFD, so a listing that
// may hold such keys must be URL-encoded (URLEncode), as on S3 itself.
package s3xml

import (
	"encoding/xml"
	"errors"
	"time"
)

// Namespace is the S3 XML namespace.
const Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

// Time is a timestamp that marshals as S3 prints it, in UTC with
// milliseconds, and unmarshals from any RFC 3339 form.
type Time time.Time

// timeFormat is the layout S3 uses in XML bodies.
const timeFormat = "2006-01-02T15:04:05.000Z"

// MarshalText implements encoding.TextMarshaler.
func (t Time) MarshalText() ([]byte, error) {
	return []byte(time.Time(t).UTC().Format(timeFormat)), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Time) UnmarshalText(b []byte) error {
	v, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return err
	}
	*t = Time(v)
	return nil
}

// Owner identifies a bucket or object owner.
type Owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName,omitempty"`
}

// Initiator identifies who started a multipart upload.
type Initiator struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName,omitempty"`
}

// Checksums are the additional checksums of an object or part, base64 as
// in the x-amz-checksum-* headers; empty ones are omitted.
type Checksums struct {
	ChecksumCRC32     string `xml:"ChecksumCRC32,omitempty"`
	ChecksumCRC32C    string `xml:"ChecksumCRC32C,omitempty"`
	ChecksumCRC64NVME string `xml:"ChecksumCRC64NVME,omitempty"`
	ChecksumSHA1      string `xml:"ChecksumSHA1,omitempty"`
	ChecksumSHA256    string `xml:"ChecksumSHA256,omitempty"`
}

// CommonPrefix is one rolled-up prefix of a delimited listing.
type CommonPrefix struct {
	Prefix string `xml:"Prefix"`
}

// ListAllMyBucketsResult is the ListBuckets response.
type ListAllMyBucketsResult struct {
	XMLName           xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListAllMyBucketsResult"`
	Owner             Owner    `xml:"Owner"`
	Buckets           []Bucket `xml:"Buckets>Bucket"`
	ContinuationToken string   `xml:"ContinuationToken,omitempty"`
	Prefix            string   `xml:"Prefix,omitempty"`
}

// Bucket is one entry of ListAllMyBucketsResult.
type Bucket struct {
	Name         string `xml:"Name"`
	CreationDate Time   `xml:"CreationDate"`
	BucketRegion string `xml:"BucketRegion,omitempty"`
}

// Object is one Contents entry of a ListObjects (V1 or V2) response.
type Object struct {
	Key               string   `xml:"Key"`
	LastModified      Time     `xml:"LastModified"`
	ETag              string   `xml:"ETag"`
	Size              int64    `xml:"Size"`
	Owner             *Owner   `xml:"Owner,omitempty"`
	StorageClass      string   `xml:"StorageClass,omitempty"`
	ChecksumAlgorithm []string `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string   `xml:"ChecksumType,omitempty"`
}

// ListBucketResult is the ListObjects (V1) response.
type ListBucketResult struct {
	XMLName        xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name           string         `xml:"Name"`
	Prefix         string         `xml:"Prefix"`
	Marker         string         `xml:"Marker"`
	NextMarker     string         `xml:"NextMarker,omitempty"`
	MaxKeys        int            `xml:"MaxKeys"`
	Delimiter      string         `xml:"Delimiter,omitempty"`
	IsTruncated    bool           `xml:"IsTruncated"`
	EncodingType   string         `xml:"EncodingType,omitempty"`
	Contents       []Object       `xml:"Contents"`
	CommonPrefixes []CommonPrefix `xml:"CommonPrefixes"`
}

// ListBucketV2Result is the ListObjectsV2 response. Its root element is
// ListBucketResult, like V1's. Contents carry an Owner only when the
// request asked for fetch-owner=true.
type ListBucketV2Result struct {
	XMLName               xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	KeyCount              int            `xml:"KeyCount"`
	MaxKeys               int            `xml:"MaxKeys"`
	Delimiter             string         `xml:"Delimiter,omitempty"`
	IsTruncated           bool           `xml:"IsTruncated"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	StartAfter            string         `xml:"StartAfter,omitempty"`
	Contents              []Object       `xml:"Contents"`
	CommonPrefixes        []CommonPrefix `xml:"CommonPrefixes"`
}

// ListVersionsResult is the ListObjectVersions response. Versions holds
// Version and DeleteMarker entries in listing order: S3 interleaves them
// (by key, newest first within a key), and so does the encoding.
type ListVersionsResult struct {
	XMLName             xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListVersionsResult"`
	Name                string         `xml:"Name"`
	Prefix              string         `xml:"Prefix"`
	KeyMarker           string         `xml:"KeyMarker"`
	VersionIdMarker     string         `xml:"VersionIdMarker"`
	NextKeyMarker       string         `xml:"NextKeyMarker,omitempty"`
	NextVersionIdMarker string         `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int            `xml:"MaxKeys"`
	Delimiter           string         `xml:"Delimiter,omitempty"`
	IsTruncated         bool           `xml:"IsTruncated"`
	EncodingType        string         `xml:"EncodingType,omitempty"`
	Versions            []VersionEntry `xml:"-"`
	CommonPrefixes      []CommonPrefix `xml:"CommonPrefixes"`
}

// VersionEntry is an entry of ListVersionsResult.Versions: *Version or
// *DeleteMarker.
type VersionEntry interface {
	versionEntry()
}

// Version is a stored object version in ListVersionsResult.
type Version struct {
	XMLName           xml.Name `xml:"Version"`
	Key               string   `xml:"Key"`
	VersionId         string   `xml:"VersionId"`
	IsLatest          bool     `xml:"IsLatest"`
	LastModified      Time     `xml:"LastModified"`
	ETag              string   `xml:"ETag"`
	Size              int64    `xml:"Size"`
	Owner             *Owner   `xml:"Owner,omitempty"`
	StorageClass      string   `xml:"StorageClass,omitempty"`
	ChecksumAlgorithm []string `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string   `xml:"ChecksumType,omitempty"`
}

// DeleteMarker is a delete marker in ListVersionsResult.
type DeleteMarker struct {
	XMLName      xml.Name `xml:"DeleteMarker"`
	Key          string   `xml:"Key"`
	VersionId    string   `xml:"VersionId"`
	IsLatest     bool     `xml:"IsLatest"`
	LastModified Time     `xml:"LastModified"`
	Owner        *Owner   `xml:"Owner,omitempty"`
}

func (*Version) versionEntry()      {}
func (*DeleteMarker) versionEntry() {}

// listVersionsXML is ListVersionsResult as encoding/xml sees it: the
// interleaved entries as one ",any" slice. Writing, E is VersionEntry and
// each entry's XMLName tag names its element; reading, E is anyEntry.
type listVersionsXML[E any] struct {
	XMLName             xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListVersionsResult"`
	Name                string         `xml:"Name"`
	Prefix              string         `xml:"Prefix"`
	KeyMarker           string         `xml:"KeyMarker"`
	VersionIdMarker     string         `xml:"VersionIdMarker"`
	NextKeyMarker       string         `xml:"NextKeyMarker,omitempty"`
	NextVersionIdMarker string         `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int            `xml:"MaxKeys"`
	Delimiter           string         `xml:"Delimiter,omitempty"`
	IsTruncated         bool           `xml:"IsTruncated"`
	EncodingType        string         `xml:"EncodingType,omitempty"`
	Versions            []E            `xml:",any"`
	CommonPrefixes      []CommonPrefix `xml:"CommonPrefixes"`
}

// anyEntry has the fields of Version (a superset of DeleteMarker's) and
// takes any element name, so one ",any" slice collects both kinds in
// document order.
type anyEntry struct {
	XMLName           xml.Name
	Key               string   `xml:"Key"`
	VersionId         string   `xml:"VersionId"`
	IsLatest          bool     `xml:"IsLatest"`
	LastModified      Time     `xml:"LastModified"`
	ETag              string   `xml:"ETag"`
	Size              int64    `xml:"Size"`
	Owner             *Owner   `xml:"Owner,omitempty"`
	StorageClass      string   `xml:"StorageClass,omitempty"`
	ChecksumAlgorithm []string `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string   `xml:"ChecksumType,omitempty"`
}

var errNilVersionEntry = errors.New("s3xml: nil entry in ListVersionsResult.Versions")

// MarshalXML writes the entries of Versions in order, each as a Version
// or DeleteMarker element.
func (l ListVersionsResult) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	w := listVersionsXML[VersionEntry](l)
	for _, v := range w.Versions {
		if v == nil || v == (*Version)(nil) || v == (*DeleteMarker)(nil) {
			return errNilVersionEntry
		}
	}
	return e.Encode(w)
}

// UnmarshalXML reads Version and DeleteMarker elements into Versions in
// document order.
func (l *ListVersionsResult) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var w listVersionsXML[anyEntry]
	if err := d.DecodeElement(&w, &start); err != nil {
		return err
	}
	out := ListVersionsResult{
		XMLName: w.XMLName, Name: w.Name, Prefix: w.Prefix, KeyMarker: w.KeyMarker, VersionIdMarker: w.VersionIdMarker,
		NextKeyMarker: w.NextKeyMarker, NextVersionIdMarker: w.NextVersionIdMarker, MaxKeys: w.MaxKeys, Delimiter: w.Delimiter,
		IsTruncated: w.IsTruncated, EncodingType: w.EncodingType, CommonPrefixes: w.CommonPrefixes,
	}
	for _, a := range w.Versions {
		switch a.XMLName.Local {
		case "Version":
			v := Version(a)
			v.XMLName = xml.Name{Local: "Version"}
			out.Versions = append(out.Versions, &v)
		case "DeleteMarker":
			out.Versions = append(out.Versions, &DeleteMarker{
				XMLName:      xml.Name{Local: "DeleteMarker"},
				Key:          a.Key,
				VersionId:    a.VersionId,
				IsLatest:     a.IsLatest,
				LastModified: a.LastModified,
				Owner:        a.Owner,
			})
		}
	}
	*l = out
	return nil
}

// LocationConstraint is the GetBucketLocation response. An empty Region
// means us-east-1, as S3 answers.
type LocationConstraint struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ LocationConstraint"`
	Region  string   `xml:",chardata"`
}

// VersioningConfiguration is both the PutBucketVersioning request and the
// GetBucketVersioning response. Status is "Enabled", "Suspended", or empty
// for a bucket that never had versioning.
type VersioningConfiguration struct {
	XMLName   xml.Name `xml:"VersioningConfiguration"`
	Status    string   `xml:"Status,omitempty"`
	MfaDelete string   `xml:"MfaDelete,omitempty"`
}

// MarshalXML writes the configuration in the S3 namespace; decoding
// accepts it in any.
func (v VersioningConfiguration) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	type plain VersioningConfiguration
	return e.EncodeElement(plain(v), xml.StartElement{Name: xml.Name{Space: Namespace, Local: "VersioningConfiguration"}})
}

// CreateBucketConfiguration is the optional CreateBucket request body.
type CreateBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string   `xml:"LocationConstraint"`
}

// Delete is the DeleteObjects request.
type Delete struct {
	XMLName xml.Name         `xml:"Delete"`
	Quiet   bool             `xml:"Quiet"`
	Objects []ObjectToDelete `xml:"Object"`
}

// ObjectToDelete is one key (and optional version) of a Delete request.
type ObjectToDelete struct {
	Key       string `xml:"Key"`
	VersionId string `xml:"VersionId,omitempty"`
	ETag      string `xml:"ETag,omitempty"`
}

// DeleteResult is the DeleteObjects response.
type DeleteResult struct {
	XMLName xml.Name        `xml:"http://s3.amazonaws.com/doc/2006-03-01/ DeleteResult"`
	Deleted []DeletedObject `xml:"Deleted"`
	Errors  []DeleteError   `xml:"Error"`
}

// DeletedObject reports one successful deletion.
type DeletedObject struct {
	Key                   string `xml:"Key"`
	VersionId             string `xml:"VersionId,omitempty"`
	DeleteMarker          bool   `xml:"DeleteMarker,omitempty"`
	DeleteMarkerVersionId string `xml:"DeleteMarkerVersionId,omitempty"`
}

// DeleteError reports one failed deletion.
type DeleteError struct {
	Key       string `xml:"Key"`
	VersionId string `xml:"VersionId,omitempty"`
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
}

// CopyObjectResult is the CopyObject response.
type CopyObjectResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyObjectResult"`
	LastModified Time     `xml:"LastModified"`
	ETag         string   `xml:"ETag"`
	ChecksumType string   `xml:"ChecksumType,omitempty"`
	Checksums
}

// CopyPartResult is the UploadPartCopy response.
type CopyPartResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyPartResult"`
	LastModified Time     `xml:"LastModified"`
	ETag         string   `xml:"ETag"`
	Checksums
}

// InitiateMultipartUploadResult is the CreateMultipartUpload response.
type InitiateMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ InitiateMultipartUploadResult"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadId string   `xml:"UploadId"`
}

// CompleteMultipartUpload is the CompleteMultipartUpload request.
type CompleteMultipartUpload struct {
	XMLName xml.Name        `xml:"CompleteMultipartUpload"`
	Parts   []CompletedPart `xml:"Part"`
}

// CompletedPart is one part of a CompleteMultipartUpload request.
type CompletedPart struct {
	PartNumber int    `xml:"PartNumber"`
	ETag       string `xml:"ETag"`
	Checksums
}

// CompleteMultipartUploadResult is the CompleteMultipartUpload response.
type CompleteMultipartUploadResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUploadResult"`
	Location     string   `xml:"Location"`
	Bucket       string   `xml:"Bucket"`
	Key          string   `xml:"Key"`
	ETag         string   `xml:"ETag"`
	ChecksumType string   `xml:"ChecksumType,omitempty"`
	Checksums
}

// ListPartsResult is the ListParts response.
type ListPartsResult struct {
	XMLName              xml.Name   `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListPartsResult"`
	Bucket               string     `xml:"Bucket"`
	Key                  string     `xml:"Key"`
	UploadId             string     `xml:"UploadId"`
	PartNumberMarker     int        `xml:"PartNumberMarker"`
	NextPartNumberMarker int        `xml:"NextPartNumberMarker"`
	MaxParts             int        `xml:"MaxParts"`
	IsTruncated          bool       `xml:"IsTruncated"`
	Parts                []Part     `xml:"Part"`
	Initiator            *Initiator `xml:"Initiator,omitempty"`
	Owner                *Owner     `xml:"Owner,omitempty"`
	StorageClass         string     `xml:"StorageClass,omitempty"`
	ChecksumAlgorithm    string     `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType         string     `xml:"ChecksumType,omitempty"`
}

// Part is one uploaded part in ListPartsResult.
type Part struct {
	PartNumber   int    `xml:"PartNumber"`
	LastModified Time   `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	Checksums
}

// ListMultipartUploadsResult is the ListMultipartUploads response.
type ListMultipartUploadsResult struct {
	XMLName            xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListMultipartUploadsResult"`
	Bucket             string         `xml:"Bucket"`
	KeyMarker          string         `xml:"KeyMarker"`
	UploadIdMarker     string         `xml:"UploadIdMarker"`
	NextKeyMarker      string         `xml:"NextKeyMarker,omitempty"`
	NextUploadIdMarker string         `xml:"NextUploadIdMarker,omitempty"`
	Delimiter          string         `xml:"Delimiter,omitempty"`
	Prefix             string         `xml:"Prefix"`
	MaxUploads         int            `xml:"MaxUploads"`
	IsTruncated        bool           `xml:"IsTruncated"`
	EncodingType       string         `xml:"EncodingType,omitempty"`
	Uploads            []Upload       `xml:"Upload"`
	CommonPrefixes     []CommonPrefix `xml:"CommonPrefixes"`
}

// Upload is one in-progress multipart upload.
type Upload struct {
	Key               string     `xml:"Key"`
	UploadId          string     `xml:"UploadId"`
	Initiator         *Initiator `xml:"Initiator,omitempty"`
	Owner             *Owner     `xml:"Owner,omitempty"`
	StorageClass      string     `xml:"StorageClass,omitempty"`
	Initiated         Time       `xml:"Initiated"`
	ChecksumAlgorithm string     `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string     `xml:"ChecksumType,omitempty"`
}

// Error is the body of every S3 error response. S3 sends it without a
// namespace. Extra holds the code-specific elements S3 adds (Key,
// BucketName, Region, HeadersNotSigned, StringToSign ...), in order.
type Error struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestId string   `xml:"RequestId,omitempty"`
	HostId    string   `xml:"HostId,omitempty"`
	Extra     []Field  `xml:",any"`
}

// Field is a named text element, for Error.Extra.
type Field struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

// NewField returns a Field for Error.Extra.
func NewField(name, value string) Field {
	return Field{XMLName: xml.Name{Local: name}, Value: value}
}

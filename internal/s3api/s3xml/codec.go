package s3xml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// DefaultLimit is the body size Decode accepts when its limit is 0: enough
// for a Delete of 1000 maximal keys or a CompleteMultipartUpload of 10000
// parts with checksums.
const DefaultLimit = 4 << 20

// maxDepth bounds element nesting; S3 request bodies are four deep.
const maxDepth = 32

// Errors returned by Decode and the Validate methods; Code maps them to
// S3 error codes.
var (
	// ErrMalformedXML is returned when a request body is not well-formed
	// XML, is empty, has a DTD, entity or processing instruction, has more
	// than one root element, is not the expected element, or a value does
	// not parse (a PartNumber that is not a number), or when Validate finds
	// the content unusable (a Delete of no or over 1000 keys).
	ErrMalformedXML = errors.New("s3xml: malformed XML")
	// ErrMaxMessageLengthExceeded is returned when a request body is
	// larger than Decode's limit.
	ErrMaxMessageLengthExceeded = errors.New("s3xml: request body too large")
)

// Decode reads one XML document of at most limit bytes (0 means
// DefaultLimit) from r into v. Problems with the body wrap ErrMalformedXML
// or ErrMaxMessageLengthExceeded; errors reading r are returned wrapped.
func Decode(r io.Reader, limit int64, v any) error {
	if limit <= 0 {
		limit = DefaultLimit
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return fmt.Errorf("s3xml: reading body: %w", err)
	}
	if int64(len(data)) > limit {
		return fmt.Errorf("%w: the body is over %d bytes", ErrMaxMessageLengthExceeded, limit)
	}
	if err := scan(data); err != nil {
		return err
	}
	if err := xml.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedXML, err)
	}
	return nil
}

// scan checks the document's shape before it is unmarshalled: exactly one
// root element, no directives (<!DOCTYPE, <!ENTITY), no processing
// instructions but the XML declaration, bounded depth.
func scan(data []byte) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformedXML, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if roots > 1 {
					return fmt.Errorf("%w: more than one root element (second is <%s>)", ErrMalformedXML, t.Name.Local)
				}
			}
			depth++
			if depth > maxDepth {
				return fmt.Errorf("%w: elements nest deeper than %d", ErrMalformedXML, maxDepth)
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return fmt.Errorf("%w: text outside the root element", ErrMalformedXML)
			}
		case xml.Directive:
			return fmt.Errorf("%w: DTDs and other <!...> declarations are not allowed", ErrMalformedXML)
		case xml.ProcInst:
			if t.Target != "xml" {
				return fmt.Errorf("%w: processing instruction <?%s?> is not allowed", ErrMalformedXML, t.Target)
			}
		}
	}
	if roots == 0 {
		return fmt.Errorf("%w: the body has no root element", ErrMalformedXML)
	}
	return nil
}

// Marshal returns v as a response body: the XML declaration, then v.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := Encode(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Encode writes v as a response body to w: the XML declaration, then v.
func Encode(w io.Writer, v any) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	if err := xml.NewEncoder(w).Encode(v); err != nil {
		return fmt.Errorf("s3xml: encoding %T: %w", v, err)
	}
	return nil
}

// MaxDeleteObjects is the most keys one Delete request may name.
const MaxDeleteObjects = 1000

// Validate checks what S3 checks before deleting: 1 to 1000 objects, each
// with a key. Errors wrap ErrMalformedXML.
func (d *Delete) Validate() error {
	switch n := len(d.Objects); {
	case n == 0:
		return fmt.Errorf("%w: Delete names no Object", ErrMalformedXML)
	case n > MaxDeleteObjects:
		return fmt.Errorf("%w: Delete names %d objects; the limit is %d", ErrMalformedXML, n, MaxDeleteObjects)
	}
	for i, o := range d.Objects {
		if o.Key == "" {
			return fmt.Errorf("%w: Object %d has an empty Key", ErrMalformedXML, i+1)
		}
	}
	return nil
}

// MaxPartNumber is the highest multipart part number.
const MaxPartNumber = 10000

// Errors returned by CompleteMultipartUpload.Validate.
var (
	// ErrInvalidPartOrder is returned when part numbers are not in
	// strictly ascending order.
	ErrInvalidPartOrder = errors.New("s3xml: parts not in ascending order")
	// ErrInvalidPartNumber is returned for a part number outside 1..10000.
	ErrInvalidPartNumber = errors.New("s3xml: invalid part number")
)

// Validate checks what S3 checks before looking at the parts themselves:
// at least one part, numbers 1 to 10000 in strictly ascending order, each
// with an ETag.
func (c *CompleteMultipartUpload) Validate() error {
	if len(c.Parts) == 0 {
		return fmt.Errorf("%w: CompleteMultipartUpload names no Part", ErrMalformedXML)
	}
	prev := 0
	for i, p := range c.Parts {
		switch {
		case p.PartNumber < 1 || p.PartNumber > MaxPartNumber:
			return fmt.Errorf("%w: Part %d has PartNumber %d; want 1 to %d", ErrInvalidPartNumber, i+1, p.PartNumber, MaxPartNumber)
		case p.PartNumber <= prev:
			return fmt.Errorf("%w: PartNumber %d follows %d", ErrInvalidPartOrder, p.PartNumber, prev)
		case p.ETag == "":
			return fmt.Errorf("%w: Part %d has no ETag", ErrMalformedXML, p.PartNumber)
		}
		prev = p.PartNumber
	}
	return nil
}

// Code maps an error from this package to its S3 error code and HTTP
// status. For errors of other origins it returns "", 0.
func Code(err error) (s3code string, httpStatus int) {
	switch {
	case errors.Is(err, ErrMalformedXML):
		return "MalformedXML", http.StatusBadRequest
	case errors.Is(err, ErrMaxMessageLengthExceeded):
		return "MaxMessageLengthExceeded", http.StatusBadRequest
	case errors.Is(err, ErrInvalidPartOrder):
		return "InvalidPartOrder", http.StatusBadRequest
	case errors.Is(err, ErrInvalidPartNumber):
		return "InvalidArgument", http.StatusBadRequest
	}
	return "", 0
}

// EncodingTypeURL is the only encoding-type S3 defines for listings.
const EncodingTypeURL = "url"

// EncodeName URL-encodes a key or prefix for a listing requested with
// encoding-type=url: every byte but A-Z a-z 0-9 - _ . ~ and '/' becomes
// %XX. Clients decode it with either URL unescaping (botocore's
// unquote_plus, Go's url.QueryUnescape or url.PathUnescape).
func EncodeName(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func encodePrefixes(ps []CommonPrefix) {
	for i := range ps {
		ps[i].Prefix = EncodeName(ps[i].Prefix)
	}
}

// URLEncode applies encoding-type=url: it encodes Prefix, Marker,
// NextMarker, Delimiter, every Key and common prefix, and sets
// EncodingType. Call it once, after filling the result.
func (l *ListBucketResult) URLEncode() {
	l.EncodingType = EncodingTypeURL
	l.Prefix, l.Marker, l.NextMarker, l.Delimiter = EncodeName(l.Prefix), EncodeName(l.Marker), EncodeName(l.NextMarker), EncodeName(l.Delimiter)
	for i := range l.Contents {
		l.Contents[i].Key = EncodeName(l.Contents[i].Key)
	}
	encodePrefixes(l.CommonPrefixes)
}

// URLEncode applies encoding-type=url: it encodes Prefix, StartAfter,
// Delimiter, every Key and common prefix, and sets EncodingType.
// Continuation tokens are opaque and left alone. Call it once.
func (l *ListBucketV2Result) URLEncode() {
	l.EncodingType = EncodingTypeURL
	l.Prefix, l.StartAfter, l.Delimiter = EncodeName(l.Prefix), EncodeName(l.StartAfter), EncodeName(l.Delimiter)
	for i := range l.Contents {
		l.Contents[i].Key = EncodeName(l.Contents[i].Key)
	}
	encodePrefixes(l.CommonPrefixes)
}

// URLEncode applies encoding-type=url: it encodes Prefix, KeyMarker,
// NextKeyMarker, Delimiter, every entry's Key and common prefix, and sets
// EncodingType. Call it once.
func (l *ListVersionsResult) URLEncode() {
	l.EncodingType = EncodingTypeURL
	l.Prefix, l.KeyMarker, l.NextKeyMarker, l.Delimiter = EncodeName(l.Prefix), EncodeName(l.KeyMarker), EncodeName(l.NextKeyMarker), EncodeName(l.Delimiter)
	for _, e := range l.Versions {
		switch v := e.(type) {
		case *Version:
			v.Key = EncodeName(v.Key)
		case *DeleteMarker:
			v.Key = EncodeName(v.Key)
		}
	}
	encodePrefixes(l.CommonPrefixes)
}

// URLEncode applies encoding-type=url: it encodes Prefix, KeyMarker,
// NextKeyMarker, Delimiter, every upload's Key and common prefix, and sets
// EncodingType. Call it once.
func (l *ListMultipartUploadsResult) URLEncode() {
	l.EncodingType = EncodingTypeURL
	l.Prefix, l.KeyMarker, l.NextKeyMarker, l.Delimiter = EncodeName(l.Prefix), EncodeName(l.KeyMarker), EncodeName(l.NextKeyMarker), EncodeName(l.Delimiter)
	for i := range l.Uploads {
		l.Uploads[i].Key = EncodeName(l.Uploads[i].Key)
	}
	encodePrefixes(l.CommonPrefixes)
}

package s3api

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/rhizome-data/rhizome/internal/s3api/checksum"
	"github.com/rhizome-data/rhizome/internal/s3api/chunked"
	"github.com/rhizome-data/rhizome/internal/s3api/s3xml"
	"github.com/rhizome-data/rhizome/internal/s3api/sigv4"
)

// maxPutSize is the largest object one PutObject (or one part) may carry,
// as on S3: 5 GiB.
const maxPutSize int64 = 5 << 30

// body is a request body prepared for the store: decoded and verified as
// the request's signature mode and headers demand. Its reader returns
// io.EOF only once every check has passed (payload SHA-256, chunk and
// trailer signatures, x-amz-checksum-*, Content-MD5, length), so a store
// that keeps data only after io.EOF never keeps a bad upload.
type body struct {
	r    io.Reader
	size int64 // decoded length, or -1 when unknown
	// checksums holds the x-amz-checksum-* values (algorithm -> base64)
	// to store: a header's at once, trailers' when the body ends.
	checksums map[string]string
	// err is the first error the body returned other than io.EOF: the
	// real cause when a store call fails.
	err     error
	chunked *chunked.Reader
}

// openBody prepares the request body; limit is the largest decoded size
// accepted.
func (s *Server) openBody(q *request, limit int64) (*body, error) {
	r := q.r
	b := &body{checksums: map[string]string{}, size: -1}
	var rd io.Reader = r.Body
	payload := q.auth.PayloadHash
	if mode, ok := chunked.ParseMode(payload); ok {
		dl := int64(-1)
		if v := r.Header.Get("X-Amz-Decoded-Content-Length"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return nil, errorf("InvalidArgument", http.StatusBadRequest, "x-amz-decoded-content-length %q is not a byte count.", v)
			}
			dl = n
		}
		b.size = dl
		b.chunked = chunked.NewReader(rd, chunked.Options{
			Mode: mode, SigningKey: q.auth.SigningKey, SeedSignature: q.auth.SeedSignature,
			Date: q.auth.Date, Region: q.auth.Region, DecodedLength: dl,
			Trailers: r.Header.Values("X-Amz-Trailer"),
		})
		rd = b.chunked
	} else {
		if hasToken(r.Header.Get("Content-Encoding"), "aws-chunked") {
			return nil, errorf("InvalidArgument", http.StatusBadRequest,
				"Content-Encoding aws-chunked needs x-amz-content-sha256 set to a STREAMING-* value, not %q.", payload)
		}
		if payload != "UNSIGNED-PAYLOAD" {
			rd = sigv4.VerifyingBody(rd, payload)
		}
		b.size = r.ContentLength
	}
	if b.size > limit {
		return nil, errorf("EntityTooLarge", http.StatusBadRequest,
			"Your proposed upload of %d bytes exceeds the maximum allowed object size of %d bytes.", b.size, limit).
			with(s3xml.NewField("ProposedSize", strconv.FormatInt(b.size, 10)), s3xml.NewField("MaxSizeAllowed", strconv.FormatInt(limit, 10)))
	}
	if b.size < 0 {
		rd = &capReader{r: rd, limit: limit}
	}
	algo, value, err := checksum.FromRequest(r.Header)
	if err != nil {
		return nil, err
	}
	if algo != "" {
		cr, err := checksum.NewReader(rd, algo, value)
		if err != nil {
			return nil, err
		}
		rd = cr
		b.checksums[algo] = value
	}
	if v := r.Header.Get("Content-Md5"); v != "" {
		want, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(want) != md5.Size {
			return nil, errorf("InvalidDigest", http.StatusBadRequest, "The Content-MD5 you specified (%q) is not the base64 of 16 bytes.", clip(v))
		}
		rd = &md5Reader{r: rd, h: md5.New(), want: want}
	}
	b.r = &recorder{b: b, r: rd}
	return b, nil
}

// cause returns the body's own error when a store call that read it
// failed because of it, else err.
func (b *body) cause(err error) error {
	if b.err != nil {
		return b.err
	}
	return err
}

// recorder remembers the first error of the body and collects trailer
// checksums when an aws-chunked body ends.
type recorder struct {
	b *body
	r io.Reader
}

func (rc *recorder) Read(p []byte) (int, error) {
	n, err := rc.r.Read(p)
	switch {
	case err == io.EOF && rc.b.chunked != nil:
		for name, v := range rc.b.chunked.Trailers() {
			if algo, ok := checksum.FromHeader(name); ok {
				rc.b.checksums[algo] = v
			}
		}
	case err != nil && err != io.EOF && rc.b.err == nil:
		rc.b.err = err
	}
	return n, err
}

// capReader fails a body of unknown length that runs past the limit.
type capReader struct {
	r        io.Reader
	n, limit int64
}

func (c *capReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.limit {
		return 0, errorf("EntityTooLarge", http.StatusBadRequest, "Your upload exceeds the maximum allowed object size of %d bytes.", c.limit)
	}
	return n, err
}

// md5Reader checks Content-MD5 at the end of the body.
type md5Reader struct {
	r    io.Reader
	h    hash.Hash
	want []byte
}

func (m *md5Reader) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.h.Write(p[:n])
	if err == io.EOF {
		if got := m.h.Sum(nil); !bytes.Equal(got, m.want) {
			return n, errorf("BadDigest", http.StatusBadRequest, "The Content-MD5 you specified did not match what we received: the body's MD5 is %s, Content-MD5 is %s.",
				base64.StdEncoding.EncodeToString(got), base64.StdEncoding.EncodeToString(m.want))
		}
	}
	return n, err
}

// readXML reads and verifies a small XML request body into v.
func (s *Server) readXML(q *request, v any) error {
	b, err := s.openBody(q, maxPutSize)
	if err != nil {
		return err
	}
	if err := s3xml.Decode(b.r, 0, v); err != nil {
		return b.cause(err)
	}
	return nil
}

// hasToken reports whether a comma-separated header value lists tok.
func hasToken(v, tok string) bool {
	for t := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(t), tok) {
			return true
		}
	}
	return false
}

// withoutToken removes tok from a comma-separated header value.
func withoutToken(v, tok string) string {
	var keep []string
	for t := range strings.SplitSeq(v, ",") {
		if t = strings.TrimSpace(t); t != "" && !strings.EqualFold(t, tok) {
			keep = append(keep, t)
		}
	}
	return strings.Join(keep, ", ")
}

// clip shortens untrusted text quoted in messages.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

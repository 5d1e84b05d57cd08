// Package checksum computes and verifies the additional object checksums S3
// clients send and expect back: x-amz-checksum-crc32, -crc32c, -crc64nvme,
// -sha1 and -sha256.
//
// Algorithm names are spelled as S3 spells them in x-amz-checksum-algorithm
// and x-amz-sdk-checksum-algorithm ("CRC32", "CRC32C", "CRC64NVME", "SHA1",
// "SHA256"); values travel as standard base64 of the big-endian digest. The
// package is pure: it hashes what it is given and does no I/O of its own.
package checksum

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strings"
)

// Algorithm names, as S3 spells them.
const (
	CRC32     = "CRC32"
	CRC32C    = "CRC32C"
	CRC64NVME = "CRC64NVME"
	SHA1      = "SHA1"
	SHA256    = "SHA256"
)

// HeaderPrefix starts the name of every checksum header and trailer.
const HeaderPrefix = "x-amz-checksum-"

// crc64NVMEPoly is the CRC-64/NVME polynomial 0xad93d23594c93659 in the
// reversed (LSB-first) form hash/crc64 expects.
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	nvme       = crc64.MakeTable(crc64NVMEPoly)
)

var algorithms = []string{CRC32, CRC32C, CRC64NVME, SHA1, SHA256}

// Algorithms returns the supported algorithm names, cheapest first.
func Algorithms() []string {
	return append([]string(nil), algorithms...)
}

// Errors returned by this package; Code maps them to S3 error codes.
var (
	// ErrUnknownAlgorithm is returned by New, Size, Parse and NewReader for
	// an algorithm name S3 does not define.
	ErrUnknownAlgorithm = errors.New("checksum: unknown algorithm")
	// ErrInvalidValue is returned by Parse and NewReader when a checksum
	// value is not base64 or has the wrong length for its algorithm.
	ErrInvalidValue = errors.New("checksum: invalid value")
	// ErrMismatch is returned (wrapped) when the data's checksum differs
	// from the one the client sent: by Reader.Read at end of data, and by
	// other packages that verify checksums.
	ErrMismatch = errors.New("checksum: mismatch")
)

// Canonical returns the S3 spelling of algo, matched case-insensitively,
// or ok=false for an unknown algorithm.
func Canonical(algo string) (name string, ok bool) {
	for _, a := range algorithms {
		if strings.EqualFold(a, algo) {
			return a, true
		}
	}
	return "", false
}

// New returns a fresh hash for algo. Its Sum is the big-endian digest S3
// base64-encodes.
func New(algo string) (hash.Hash, error) {
	name, ok := Canonical(algo)
	if !ok {
		return nil, fmt.Errorf("%w: %q (want one of %s)", ErrUnknownAlgorithm, algo, strings.Join(algorithms, ", "))
	}
	switch name {
	case CRC32:
		return crc32.NewIEEE(), nil
	case CRC32C:
		return crc32.New(castagnoli), nil
	case CRC64NVME:
		return crc64.New(nvme), nil
	case SHA1:
		return sha1.New(), nil
	default: // SHA256
		return sha256.New(), nil
	}
}

// Size returns the digest length of algo in bytes.
func Size(algo string) (int, error) {
	name, ok := Canonical(algo)
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrUnknownAlgorithm, algo)
	}
	switch name {
	case CRC32, CRC32C:
		return 4, nil
	case CRC64NVME:
		return 8, nil
	case SHA1:
		return sha1.Size, nil
	default:
		return sha256.Size, nil
	}
}

// Header returns the header (or trailer) name carrying algo's value, such
// as "x-amz-checksum-crc32", or "" for an unknown algorithm.
func Header(algo string) string {
	name, ok := Canonical(algo)
	if !ok {
		return ""
	}
	return HeaderPrefix + strings.ToLower(name)
}

// FromHeader returns the algorithm a header or trailer name carries,
// matching case-insensitively: "X-Amz-Checksum-Crc32c" gives "CRC32C".
// "x-amz-checksum-algorithm" and "x-amz-checksum-type" are not checksums
// and give ok=false.
func FromHeader(name string) (algo string, ok bool) {
	if len(name) <= len(HeaderPrefix) || !strings.EqualFold(name[:len(HeaderPrefix)], HeaderPrefix) {
		return "", false
	}
	return Canonical(name[len(HeaderPrefix):])
}

// FromRequest returns the single checksum header in h, if any: its
// algorithm and value. Two different checksum headers are an error, as S3
// accepts only one per request; so is a malformed value.
func FromRequest(h http.Header) (algo, value string, err error) {
	for name, vals := range h {
		a, ok := FromHeader(name)
		if !ok {
			continue
		}
		if algo != "" && algo != a {
			return "", "", fmt.Errorf("%w: both %s and %s headers are present; send only one", ErrInvalidValue, Header(algo), Header(a))
		}
		if len(vals) != 1 {
			return "", "", fmt.Errorf("%w: %s is repeated", ErrInvalidValue, Header(a))
		}
		algo, value = a, vals[0]
	}
	if algo == "" {
		return "", "", nil
	}
	if _, err := Parse(algo, value); err != nil {
		return "", "", err
	}
	return algo, value, nil
}

// Encode returns the S3 wire form (standard base64) of a digest.
func Encode(sum []byte) string {
	return base64.StdEncoding.EncodeToString(sum)
}

// Parse decodes a base64 checksum value and checks its length for algo.
func Parse(algo, value string) ([]byte, error) {
	size, err := Size(algo)
	if err != nil {
		return nil, err
	}
	sum, err := base64.StdEncoding.Strict().DecodeString(value)
	if err != nil || len(sum) != size {
		return nil, fmt.Errorf("%w: %s value %q is not the base64 of %d bytes", ErrInvalidValue, Header(algo), value, size)
	}
	return sum, nil
}

// Equal reports, in constant time, whether two digests are equal.
func Equal(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}

// Reader passes data through while hashing it, and checks the checksum
// when the underlying reader is exhausted.
type Reader struct {
	r    io.Reader
	algo string
	h    hash.Hash
	want []byte
	err  error
}

// NewReader returns a Reader that yields r's data and, at its end, io.EOF
// only if the data's algo checksum equals want (base64, as sent in the
// x-amz-checksum-* header); otherwise an error wrapping ErrMismatch.
func NewReader(r io.Reader, algo, want string) (*Reader, error) {
	sum, err := Parse(algo, want)
	if err != nil {
		return nil, err
	}
	h, _ := New(algo) // Parse checked algo.
	name, _ := Canonical(algo)
	return &Reader{r: r, algo: name, h: h, want: sum}, nil
}

// Read implements io.Reader.
func (c *Reader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	if err == io.EOF {
		got := c.h.Sum(nil)
		if !Equal(got, c.want) {
			err = fmt.Errorf("%w: the data's %s is %s; the client sent %s", ErrMismatch, c.algo, Encode(got), Encode(c.want))
		}
	}
	if err != nil {
		c.err = err
	}
	return n, err
}

// Sum returns the base64 checksum of the data read so far; after io.EOF it
// is the verified value, ready to be stored and returned on GET and HEAD.
func (c *Reader) Sum() string {
	return Encode(c.h.Sum(nil))
}

// Code maps an error from this package to its S3 error code and HTTP
// status. For errors of other origins it returns "", 0.
func Code(err error) (s3code string, httpStatus int) {
	switch {
	case errors.Is(err, ErrMismatch):
		return "BadDigest", http.StatusBadRequest
	case errors.Is(err, ErrInvalidValue), errors.Is(err, ErrUnknownAlgorithm):
		return "InvalidRequest", http.StatusBadRequest
	}
	return "", 0
}

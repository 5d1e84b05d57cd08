// Package chunked decodes "Content-Encoding: aws-chunked" request bodies,
// the framing S3 clients use for streaming uploads:
//
//	STREAMING-AWS4-HMAC-SHA256-PAYLOAD           hex-size;chunk-signature=SIG\r\n data \r\n ... 0;chunk-signature=SIG\r\n\r\n
//	STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER   the same, then trailers and x-amz-trailer-signature:SIG\r\n\r\n
//	STREAMING-UNSIGNED-PAYLOAD-TRAILER           hex-size\r\n data \r\n ... 0\r\n x-amz-checksum-crc32:BASE64\r\n\r\n
//
// A Reader yields the decoded bytes while it checks the framing, each chunk
// signature (a chain seeded by the request's SigV4 signature), the trailer
// signature, the x-amz-checksum-* trailer values and the declared decoded
// length. Data may be returned before the check that covers it completes,
// but io.EOF is returned only once everything has been verified: a caller
// that stores what it reads must discard it when Read returns an error.
// Memory use is a few kilobytes whatever the chunk sizes.
//
// Every error wraps one of the sentinels below (or checksum.ErrMismatch,
// checksum.ErrInvalidValue); Code maps them to S3 error codes.
package chunked

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rhizome-data/rhizome/internal/s3api/checksum"
)

// Mode is the aws-chunked variant, named by x-amz-content-sha256.
type Mode int

// Modes.
const (
	// Signed is STREAMING-AWS4-HMAC-SHA256-PAYLOAD: signed chunks, no trailers.
	Signed Mode = iota + 1
	// SignedTrailer is STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: signed
	// chunks, then trailers covered by x-amz-trailer-signature.
	SignedTrailer
	// UnsignedTrailer is STREAMING-UNSIGNED-PAYLOAD-TRAILER: plain chunks,
	// then trailers (normally an x-amz-checksum-* value).
	UnsignedTrailer
)

var modeNames = map[Mode]string{
	Signed:          "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
	SignedTrailer:   "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
	UnsignedTrailer: "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
}

// String returns the x-amz-content-sha256 value naming m.
func (m Mode) String() string {
	if s, ok := modeNames[m]; ok {
		return s
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseMode returns the Mode an x-amz-content-sha256 value names, or
// ok=false if it names none (a hex SHA-256, UNSIGNED-PAYLOAD).
func ParseMode(contentSHA256 string) (m Mode, ok bool) {
	for m, s := range modeNames {
		if s == contentSHA256 {
			return m, true
		}
	}
	return 0, false
}

// Size limits.
const (
	// DefaultMaxChunkSize caps a signed chunk when Options.MaxChunkSize is 0.
	DefaultMaxChunkSize = 64 << 20
	// DefaultMaxUnsignedChunkSize caps an unsigned chunk when
	// Options.MaxChunkSize is 0. It is S3's largest single PUT: the AWS SDK
	// for Go sends a body of known length as one chunk. Chunks are streamed,
	// never buffered, so the cap bounds no memory.
	DefaultMaxUnsignedChunkSize = 5 << 30

	maxLine     = 4096 // longest chunk-size or trailer line
	maxTrailers = 16
)

// Options configure a Reader.
type Options struct {
	// Mode is the variant; required.
	Mode Mode
	// SigningKey, SeedSignature, Date and Region continue the request's
	// SigV4 signature chain (sigv4.Result's fields); required for Signed
	// and SignedTrailer, ignored for UnsignedTrailer.
	SigningKey    []byte
	SeedSignature string
	Date          time.Time
	Region        string
	// Service is the credential scope's service; "" means "s3".
	Service string
	// DecodedLength is x-amz-decoded-content-length: the body must decode
	// to exactly this many bytes. Negative when the header is absent.
	DecodedLength int64
	// Trailers are the names listed in x-amz-trailer (the header's values
	// as they come: entries may hold comma-separated lists). The body's
	// trailers must be exactly these, each an x-amz-checksum-* name.
	Trailers []string
	// MaxChunkSize caps one chunk's size. Zero means DefaultMaxChunkSize
	// for signed modes and DefaultMaxUnsignedChunkSize for UnsignedTrailer.
	MaxChunkSize int64
}

// Errors returned by Reader.Read; Code maps them to S3 error codes.
var (
	// ErrInvalidOptions is returned when Options are unusable: no Mode, or
	// a signed mode without SigningKey, SeedSignature or Date.
	ErrInvalidOptions = errors.New("chunked: invalid options")
	// ErrMalformedChunk is returned when a chunk-size line is not valid
	// (not hex, missing or extra chunk-signature, too long) or chunk data
	// is not followed by CRLF.
	ErrMalformedChunk = errors.New("chunked: malformed chunk")
	// ErrChunkTooLarge is returned when a chunk declares more than
	// MaxChunkSize bytes.
	ErrChunkTooLarge = errors.New("chunked: chunk too large")
	// ErrIncompleteBody is returned when the body ends before the final
	// chunk and its trailers, or decodes to fewer bytes than DecodedLength.
	ErrIncompleteBody = errors.New("chunked: incomplete body")
	// ErrTooMuchData is returned when the chunks hold more bytes than
	// DecodedLength, or bytes follow the end of the encoding.
	ErrTooMuchData = errors.New("chunked: more data than declared")
	// ErrSignatureDoesNotMatch is returned when a chunk signature or the
	// trailer signature differs from the one computed.
	ErrSignatureDoesNotMatch = errors.New("chunked: signature does not match")
	// ErrMalformedTrailer is returned when the trailers are not valid:
	// a bad line, a duplicate, one not declared in x-amz-trailer or a
	// declared one missing, a missing or unexpected x-amz-trailer-signature.
	ErrMalformedTrailer = errors.New("chunked: malformed trailer")
)

// Reader decodes an aws-chunked body. See the package comment.
type Reader struct {
	br   *bufio.Reader
	opts Options

	state     state
	chunk     int   // index of the current chunk, for messages
	remaining int64 // data bytes left in the current chunk
	decoded   int64
	maxChunk  int64

	// Signature chain (signed modes).
	stamp, scope string
	prevSig      string
	chunkSig     string
	chunkHash    hash.Hash

	sums     []trailerSum
	trailers map[string]string
	err      error
}

type trailerSum struct {
	name, algo string
	h          hash.Hash
}

type state int

const (
	stateSize state = iota
	stateData
	stateDataEnd
	stateDone
)

// NewReader returns a Reader decoding body as opts describe. Problems with
// opts are reported by the first Read.
func NewReader(body io.Reader, opts Options) *Reader {
	r := &Reader{br: bufio.NewReaderSize(body, maxLine), opts: opts, prevSig: strings.ToLower(opts.SeedSignature)}
	r.err = r.init()
	return r
}

func (r *Reader) init() error {
	o := &r.opts
	if _, ok := modeNames[o.Mode]; !ok {
		return fmt.Errorf("%w: unknown mode %d", ErrInvalidOptions, o.Mode)
	}
	r.maxChunk = o.MaxChunkSize
	if r.maxChunk <= 0 {
		r.maxChunk = DefaultMaxChunkSize
		if o.Mode == UnsignedTrailer {
			r.maxChunk = DefaultMaxUnsignedChunkSize
		}
	}
	if r.signed() {
		if len(o.SigningKey) == 0 || o.SeedSignature == "" || o.Date.IsZero() || o.Region == "" {
			return fmt.Errorf("%w: %s needs SigningKey, SeedSignature, Date and Region", ErrInvalidOptions, o.Mode)
		}
		service := o.Service
		if service == "" {
			service = "s3"
		}
		d := o.Date.UTC()
		r.stamp = d.Format("20060102T150405Z")
		r.scope = d.Format("20060102") + "/" + o.Region + "/" + service + "/aws4_request"
		r.chunkHash = sha256.New()
	}
	var names []string
	for _, v := range o.Trailers {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.ToLower(strings.TrimSpace(name)); name != "" {
				names = append(names, name)
			}
		}
	}
	if o.Mode == Signed && len(names) > 0 {
		return fmt.Errorf("%w: x-amz-trailer declares %s but %s has no trailers", ErrMalformedTrailer, strings.Join(names, ", "), o.Mode)
	}
	for _, name := range names {
		algo, ok := checksum.FromHeader(name)
		if !ok {
			return fmt.Errorf("%w: x-amz-trailer declares %q; only x-amz-checksum-* trailers are supported", ErrMalformedTrailer, name)
		}
		if slices.ContainsFunc(r.sums, func(s trailerSum) bool { return s.name == name }) {
			return fmt.Errorf("%w: x-amz-trailer declares %s twice", ErrMalformedTrailer, name)
		}
		h, _ := checksum.New(algo) // FromHeader checked algo.
		r.sums = append(r.sums, trailerSum{name: name, algo: algo, h: h})
	}
	return nil
}

func (r *Reader) signed() bool { return r.opts.Mode == Signed || r.opts.Mode == SignedTrailer }

// Read implements io.Reader. It returns io.EOF only after the whole body
// has been verified.
func (r *Reader) Read(p []byte) (int, error) {
	for r.err == nil {
		switch r.state {
		case stateSize:
			r.err = r.readSize()
		case stateData:
			if len(p) == 0 {
				return 0, nil
			}
			return r.readData(p)
		case stateDataEnd:
			r.err = r.endChunk()
		case stateDone:
			return 0, io.EOF
		}
	}
	return 0, r.err
}

// Trailers returns the trailers, lowercase name to value, once Read has
// returned io.EOF; nil before. Their checksums have been verified.
func (r *Reader) Trailers() map[string]string {
	if r.state != stateDone {
		return nil
	}
	return r.trailers
}

// readLine returns the next CRLF-terminated line without its CRLF; a bad
// line gives an error wrapping malformed. With raw, the line is returned
// with its line end, whatever it is. The slice is valid until the next
// read.
func (r *Reader) readLine(what string, malformed error, raw bool) ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, fmt.Errorf("%w: %s is longer than %d bytes", malformed, what, maxLine)
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return nil, fmt.Errorf("%w: the body ends inside %s, after %d decoded bytes", ErrIncompleteBody, what, r.decoded)
	case err != nil:
		return nil, err
	}
	if raw {
		return line, nil
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("%w: %s %q ends in a bare LF, not CRLF", malformed, what, clip(line))
	}
	return line[:len(line)-2], nil
}

// readTrailerLine returns the next line of the trailer section without
// its line end. Lines end in CRLF; minio-go ends a trailer in "\n\r\n"
// (the canonical "name:value\n" form, then CRLF), which is accepted too.
func (r *Reader) readTrailerLine() (string, error) {
	line, err := r.readLine("the trailer section", ErrMalformedTrailer, true)
	if err != nil {
		return "", err
	}
	if s, ok := strings.CutSuffix(string(line), "\r\n"); ok {
		return s, nil
	}
	s := strings.TrimSuffix(string(line), "\n")
	if s != "" {
		if next, _ := r.br.Peek(2); string(next) == "\r\n" {
			r.br.Discard(2)
			return s, nil
		}
	}
	return "", fmt.Errorf("%w: trailer line %q ends in a bare LF, not CRLF", ErrMalformedTrailer, clip(s))
}

func (r *Reader) readSize() error {
	what := fmt.Sprintf("chunk %d's size line", r.chunk)
	line, err := r.readLine(what, ErrMalformedChunk, false)
	if err != nil {
		return err
	}
	sizeHex, ext, hasExt := bytes.Cut(line, []byte{';'})
	if r.signed() {
		sig, ok := bytes.CutPrefix(ext, []byte("chunk-signature="))
		if !hasExt || !ok || !isHexN(sig, 64) {
			return fmt.Errorf("%w: %s %q is not hex-size;chunk-signature=<64 hex>", ErrMalformedChunk, what, clip(line))
		}
		r.chunkSig = strings.ToLower(string(sig))
	} else if hasExt {
		return fmt.Errorf("%w: %s %q has an extension; %s chunks are hex-size alone", ErrMalformedChunk, what, clip(line), r.opts.Mode)
	}
	if len(sizeHex) == 0 || len(sizeHex) > 16 || !isHexN(sizeHex, len(sizeHex)) {
		return fmt.Errorf("%w: %s %q does not start with a hex size", ErrMalformedChunk, what, clip(line))
	}
	size, err := strconv.ParseUint(string(sizeHex), 16, 64)
	if err != nil || size > uint64(r.maxChunk) {
		return fmt.Errorf("%w: chunk %d declares %s bytes; the limit is %d", ErrChunkTooLarge, r.chunk, sizeHex, r.maxChunk)
	}
	n := int64(size)
	if dl := r.opts.DecodedLength; dl >= 0 && n > dl-r.decoded {
		return fmt.Errorf("%w: chunk %d of %d bytes takes the body past x-amz-decoded-content-length %d", ErrTooMuchData, r.chunk, n, dl)
	}
	if r.signed() {
		r.chunkHash.Reset()
	}
	if n == 0 {
		if err := r.checkChunkSignature(); err != nil {
			return err
		}
		return r.finish()
	}
	r.remaining = n
	r.state = stateData
	return nil
}

func (r *Reader) readData(p []byte) (int, error) {
	if int64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n, err := r.br.Read(p)
	if n > 0 {
		if r.signed() {
			r.chunkHash.Write(p[:n])
		}
		for _, s := range r.sums {
			s.h.Write(p[:n])
		}
		r.remaining -= int64(n)
		r.decoded += int64(n)
		if r.remaining == 0 {
			r.state = stateDataEnd
		}
	}
	if err != nil && (n == 0 || r.remaining > 0) {
		if err == io.EOF {
			err = fmt.Errorf("%w: the body ends inside chunk %d, %d bytes short, after %d decoded bytes", ErrIncompleteBody, r.chunk, r.remaining, r.decoded)
		}
		r.err = err
		if n > 0 {
			return n, nil // report the error on the next call
		}
		return 0, err
	}
	return n, nil
}

func (r *Reader) endChunk() error {
	var crlf [2]byte
	if _, err := io.ReadFull(r.br, crlf[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return fmt.Errorf("%w: the body ends after chunk %d's data, before its CRLF", ErrIncompleteBody, r.chunk)
		}
		return err
	}
	if crlf != [2]byte{'\r', '\n'} {
		return fmt.Errorf("%w: chunk %d's data is followed by %q, not CRLF (is the declared size wrong?)", ErrMalformedChunk, r.chunk, crlf[:])
	}
	if err := r.checkChunkSignature(); err != nil {
		return err
	}
	r.chunk++
	r.state = stateSize
	return nil
}

// emptySHA256 is the hex SHA-256 of no bytes.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// checkChunkSignature verifies the current chunk's signature and advances
// the chain; it does nothing for unsigned modes.
func (r *Reader) checkChunkSignature() error {
	if !r.signed() {
		return nil
	}
	sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + r.stamp + "\n" + r.scope + "\n" + r.prevSig + "\n" +
		emptySHA256 + "\n" + hex.EncodeToString(r.chunkHash.Sum(nil))
	want := hex.EncodeToString(hmacSHA256(r.opts.SigningKey, sts))
	if !hmac.Equal([]byte(want), []byte(r.chunkSig)) {
		return fmt.Errorf("%w: chunk %d (%d decoded bytes in) has a wrong chunk-signature", ErrSignatureDoesNotMatch, r.chunk, r.decoded)
	}
	r.prevSig = r.chunkSig
	return nil
}

// finish reads the trailer section after the final chunk and verifies
// everything that remains.
func (r *Reader) finish() error {
	type trailer struct{ name, value string }
	var got []trailer
	var trailerSig string
	for {
		line, err := r.readTrailerLine()
		if err != nil {
			return err
		}
		if line == "" {
			break
		}
		if r.opts.Mode == Signed {
			return fmt.Errorf("%w: %q follows the final chunk, but %s has no trailers", ErrMalformedTrailer, clip(line), r.opts.Mode)
		}
		name, value, ok := strings.Cut(line, ":")
		n := strings.ToLower(strings.TrimSpace(name))
		v := strings.TrimSpace(value)
		if !ok || n == "" {
			return fmt.Errorf("%w: trailer line %q is not name:value", ErrMalformedTrailer, clip(line))
		}
		if trailerSig != "" {
			return fmt.Errorf("%w: trailer %s follows x-amz-trailer-signature", ErrMalformedTrailer, clip(n))
		}
		if n == "x-amz-trailer-signature" {
			if r.opts.Mode != SignedTrailer {
				return fmt.Errorf("%w: x-amz-trailer-signature in a %s body", ErrMalformedTrailer, r.opts.Mode)
			}
			if !isHexN([]byte(v), 64) {
				return fmt.Errorf("%w: x-amz-trailer-signature %q is not 64 hex digits", ErrMalformedTrailer, clip(v))
			}
			trailerSig = strings.ToLower(v)
			continue
		}
		if slices.ContainsFunc(got, func(t trailer) bool { return t.name == n }) {
			return fmt.Errorf("%w: trailer %s appears twice", ErrMalformedTrailer, n)
		}
		if len(got) == maxTrailers {
			return fmt.Errorf("%w: more than %d trailers", ErrMalformedTrailer, maxTrailers)
		}
		got = append(got, trailer{n, v})
	}
	if _, err := r.br.ReadByte(); err != io.EOF {
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: bytes follow the end of the aws-chunked encoding", ErrTooMuchData)
	}

	if r.opts.Mode == SignedTrailer {
		if trailerSig == "" {
			return fmt.Errorf("%w: %s body without x-amz-trailer-signature", ErrMalformedTrailer, r.opts.Mode)
		}
		slices.SortFunc(got, func(a, b trailer) int { return strings.Compare(a.name, b.name) })
		var canon strings.Builder
		for _, t := range got {
			canon.WriteString(t.name + ":" + t.value + "\n")
		}
		h := sha256.Sum256([]byte(canon.String()))
		sts := "AWS4-HMAC-SHA256-TRAILER\n" + r.stamp + "\n" + r.scope + "\n" + r.prevSig + "\n" + hex.EncodeToString(h[:])
		want := hex.EncodeToString(hmacSHA256(r.opts.SigningKey, sts))
		if !hmac.Equal([]byte(want), []byte(trailerSig)) {
			return fmt.Errorf("%w: x-amz-trailer-signature is wrong", ErrSignatureDoesNotMatch)
		}
	}
	if dl := r.opts.DecodedLength; dl >= 0 && r.decoded != dl {
		return fmt.Errorf("%w: the body decodes to %d bytes; x-amz-decoded-content-length is %d", ErrIncompleteBody, r.decoded, dl)
	}
	values := make(map[string]string, len(got))
	for _, t := range got {
		if !slices.ContainsFunc(r.sums, func(s trailerSum) bool { return s.name == t.name }) {
			return fmt.Errorf("%w: trailer %s was not declared in x-amz-trailer", ErrMalformedTrailer, clip(t.name))
		}
		values[t.name] = t.value
	}
	for _, s := range r.sums {
		v, ok := values[s.name]
		if !ok {
			return fmt.Errorf("%w: x-amz-trailer declares %s but the body has no such trailer", ErrMalformedTrailer, s.name)
		}
		want, err := checksum.Parse(s.algo, v)
		if err != nil {
			return fmt.Errorf("chunked: trailer: %w", err)
		}
		if sum := s.h.Sum(nil); !checksum.Equal(sum, want) {
			return fmt.Errorf("chunked: %w: the data's %s is %s; trailer %s is %s", checksum.ErrMismatch, s.algo, checksum.Encode(sum), s.name, v)
		}
	}
	r.trailers = values
	r.state = stateDone
	return nil
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func isHexN(b []byte, n int) bool {
	if len(b) != n {
		return false
	}
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// clip shortens untrusted text quoted in error messages.
func clip[T string | []byte](b T) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

// Code maps an error from this package (or a checksum error it wraps) to
// its S3 error code and HTTP status. For errors of other origins it
// returns "", 0.
func Code(err error) (s3code string, httpStatus int) {
	switch {
	case errors.Is(err, ErrSignatureDoesNotMatch):
		return "SignatureDoesNotMatch", http.StatusForbidden
	case errors.Is(err, ErrMalformedChunk), errors.Is(err, ErrChunkTooLarge):
		return "InvalidChunkSizeError", http.StatusBadRequest
	case errors.Is(err, ErrIncompleteBody):
		return "IncompleteBody", http.StatusBadRequest
	case errors.Is(err, ErrTooMuchData):
		return "InvalidRequest", http.StatusBadRequest
	case errors.Is(err, ErrMalformedTrailer):
		return "MalformedTrailerError", http.StatusBadRequest
	case errors.Is(err, ErrInvalidOptions):
		return "InternalError", http.StatusInternalServerError
	}
	return checksum.Code(err)
}

package s3api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/s3api/checksum"
	"github.com/rhizome-data/rhizome/internal/s3api/chunked"
	"github.com/rhizome-data/rhizome/internal/s3api/s3xml"
	"github.com/rhizome-data/rhizome/internal/s3api/sigv4"
	"github.com/rhizome-data/rhizome/internal/store"
)

// apiError is an error the gateway itself decides on, already in S3 terms.
type apiError struct {
	code   string
	status int
	msg    string
	err    error             // cause, may be nil
	extra  []s3xml.Field     // code-specific elements of the error body
	header map[string]string // response headers to send with it
}

func (e *apiError) Error() string {
	if e.err != nil {
		return "s3api: " + e.code + ": " + e.msg + ": " + e.err.Error()
	}
	return "s3api: " + e.code + ": " + e.msg
}

func (e *apiError) Unwrap() error { return e.err }

// errorf returns an apiError with a formatted message.
func errorf(code string, status int, format string, args ...any) *apiError {
	return &apiError{code: code, status: status, msg: fmt.Sprintf(format, args...)}
}

// with returns e carrying extra fields for the error body.
func (e *apiError) with(fields ...s3xml.Field) *apiError {
	e.extra = append(e.extra, fields...)
	return e
}

// Errors the gateway returns often.
var (
	errNotImplemented = func(what string) *apiError {
		return errorf("NotImplemented", http.StatusNotImplemented, "%s is not implemented by Rhizome; docs/s3.md lists the supported operations", what)
	}
	errReservedName = func(name string) *apiError {
		return errorf("InvalidBucketName", http.StatusBadRequest,
			"The specified bucket is not valid: names containing %q or %q are reserved for time-travel views.", atMarker, cpMarker).
			with(s3xml.NewField("BucketName", name))
	}
	errReadOnlyView = func(name string, v view) *apiError {
		return errorf("AccessDenied", http.StatusForbidden,
			"%s is a read-only time-travel view of bucket %s; write to %s itself", name, v.Bucket, v.Bucket)
	}
)

// Standard messages S3 sends, used when the cause adds nothing a client
// should see.
var standardMessage = map[string]string{
	"NoSuchBucket":            "The specified bucket does not exist.",
	"NoSuchKey":               "The specified key does not exist.",
	"NoSuchVersion":           "The specified version does not exist.",
	"NoSuchUpload":            "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
	"BucketAlreadyOwnedByYou": "Your previous request to create the named bucket succeeded and you already own it.",
	"InternalError":           "We encountered an internal error. Please try again.",
	"ServiceUnavailable":      "Too few storage backends answered to serve the request safely; please try again.",
	"InvalidRange":            "The requested range is not satisfiable.",
	"IncompleteBody":          "You did not provide the number of bytes specified by the Content-Length HTTP header.",
}

// s3Error maps any error a request can end with to its S3 error code,
// HTTP status and message. It is the one place where store error kinds and
// the protocol packages' errors become S3 errors.
func s3Error(err error) (code string, status int, msg string) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.code, ae.status, ae.msg
	}
	// Protocol errors first: the store wraps a failed body read (bad
	// chunk signature, checksum mismatch) in its own kind.
	for _, codeOf := range []func(error) (string, int){sigv4.Code, chunked.Code, checksum.Code, s3xml.Code} {
		if c, st := codeOf(err); c != "" {
			return c, st, protocolMessage(err)
		}
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return "EntityTooLarge", http.StatusBadRequest, fmt.Sprintf("Your proposed upload exceeds the maximum allowed size of %d bytes.", mbe.Limit)
	case errors.Is(err, store.ErrNoSuchUpload):
		return "NoSuchUpload", http.StatusNotFound, standardMessage["NoSuchUpload"]
	case errors.Is(err, store.ErrInvalidPart):
		return "InvalidPart", http.StatusBadRequest, "One or more of the specified parts could not be found, or its ETag did not match: " + storeMessage(err)
	case errors.Is(err, store.ErrInvalidPartOrder):
		return "InvalidPartOrder", http.StatusBadRequest, "The list of parts was not in ascending order: " + storeMessage(err)
	case errors.Is(err, store.ErrEntityTooSmall):
		return "EntityTooSmall", http.StatusBadRequest, "Your proposed upload is smaller than the minimum allowed object size: " + storeMessage(err)
	case errors.Is(err, store.ErrConditionalConflict):
		return "ConditionalRequestConflict", http.StatusConflict, "A conflicting operation occurred: another write changed the key while this conditional write was in progress. Nothing was stored; retry if the condition still applies."
	case errors.Is(err, store.ErrPreconditionFailed):
		return "PreconditionFailed", http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold: " + storeMessage(err)
	case errors.Is(err, store.ErrRange):
		return "InvalidRange", http.StatusRequestedRangeNotSatisfiable, standardMessage["InvalidRange"]
	case errors.Is(err, store.ErrBodySize), errors.Is(err, io.ErrUnexpectedEOF):
		return "IncompleteBody", http.StatusBadRequest, standardMessage["IncompleteBody"]
	case errors.Is(err, store.ErrNotFound):
		switch {
		case errors.Is(err, index.ErrNoSuchBucket):
			return "NoSuchBucket", http.StatusNotFound, standardMessage["NoSuchBucket"]
		case errors.Is(err, index.ErrNoSuchVersion):
			return "NoSuchVersion", http.StatusNotFound, standardMessage["NoSuchVersion"]
		}
		return "NoSuchKey", http.StatusNotFound, standardMessage["NoSuchKey"]
	case errors.Is(err, store.ErrInvalid):
		return "InvalidArgument", http.StatusBadRequest, storeMessage(err)
	case errors.Is(err, store.ErrConflict):
		switch {
		case errors.Is(err, index.ErrBucketExists):
			return "BucketAlreadyOwnedByYou", http.StatusConflict, standardMessage["BucketAlreadyOwnedByYou"]
		case errors.Is(err, index.ErrBucketNotEmpty):
			return "BucketNotEmpty", http.StatusConflict, "The bucket you tried to delete is not empty: it holds versions or delete markers, which are kept until retention allows removing them."
		}
		return "OperationAborted", http.StatusConflict, storeMessage(err)
	case errors.Is(err, store.ErrForbidden):
		return "AccessDenied", http.StatusForbidden, storeMessage(err)
	case errors.Is(err, store.ErrCorrupt):
		return "InternalError", http.StatusInternalServerError, "Stored data failed verification and parity could not rebuild it; the object is reported for repair."
	case errors.Is(err, store.ErrUnavailable):
		return "ServiceUnavailable", http.StatusServiceUnavailable, standardMessage["ServiceUnavailable"]
	}
	return "InternalError", http.StatusInternalServerError, standardMessage["InternalError"]
}

// storeMessage is a store error's explanation without the package prefix.
func storeMessage(err error) string {
	return strings.TrimPrefix(err.Error(), "store: ")
}

// protocolMessage is the innermost protocol explanation of err: the text
// from the first sigv4:, chunked:, checksum: or s3xml: on.
func protocolMessage(err error) string {
	s := err.Error()
	best := -1
	for _, p := range []string{"sigv4: ", "chunked: ", "checksum: ", "s3xml: "} {
		if i := strings.Index(s, p); i >= 0 && (best < 0 || i < best) {
			best = i
		}
	}
	if best > 0 {
		return s[best:]
	}
	return s
}

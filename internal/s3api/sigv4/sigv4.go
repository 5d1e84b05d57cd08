// Package sigv4 verifies AWS Signature Version 4 on incoming S3 requests,
// in both of its forms: the Authorization header and presigned URLs.
//
// Verify rebuilds the canonical request exactly as AWS clients build it for
// S3 (the path as sent, without double encoding; the query sorted after
// encoding; the signed headers trimmed and joined), derives the signing key
// from the secret Lookup returns, and compares signatures in constant time.
// It reads no body: the Result tells the caller how the payload is
// protected (Result.PayloadHash). A hex SHA-256 is checked with
// VerifyingBody; the STREAMING-* forms are decoded by package chunked with
// the Result's SigningKey and SeedSignature, which continue the chain.
//
// Every error wraps one of the sentinels below; Code maps them to S3 error
// codes and HTTP statuses.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Signing constants.
const (
	// Algorithm is the only signing algorithm Verify accepts.
	Algorithm = "AWS4-HMAC-SHA256"
	// Service is the only credential-scope service Verify accepts.
	Service = "s3"

	// Values of x-amz-content-sha256 other than a hex SHA-256.
	UnsignedPayload                 = "UNSIGNED-PAYLOAD"
	StreamingPayload                = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingPayloadTrailer         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedPayloadTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

	// EmptySHA256 is the hex SHA-256 of no bytes.
	EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

	// DefaultMaxSkew is how far a request's time may be from the server's
	// clock when Options.MaxSkew is zero.
	DefaultMaxSkew = 15 * time.Minute
	// MaxPresignExpiry is the largest X-Amz-Expires (7 days).
	MaxPresignExpiry = 7 * 24 * time.Hour

	// TimeFormat is the layout of X-Amz-Date.
	TimeFormat = "20060102T150405Z"
	dateFormat = "20060102"
)

// Credentials is an access key and its secret.
type Credentials struct{ AccessKey, SecretKey string }

// Lookup returns the secret for an access key, or ok=false if the key is
// unknown.
type Lookup func(accessKey string) (secret string, ok bool)

// StaticLookup returns a Lookup over a fixed set of credentials.
func StaticLookup(creds ...Credentials) Lookup {
	m := make(map[string]string, len(creds))
	for _, c := range creds {
		m[c.AccessKey] = c.SecretKey
	}
	return func(accessKey string) (string, bool) {
		s, ok := m[accessKey]
		return s, ok
	}
}

// Options tune Verify. A nil *Options means the defaults.
type Options struct {
	// MaxSkew is the largest accepted difference between the request's
	// time and now. Zero means DefaultMaxSkew.
	MaxSkew time.Duration
	// Region, if set, is the only region accepted in the credential scope.
	// Empty accepts whatever region the client signed for; Result.Region
	// records it.
	Region string
}

// Result describes a request whose signature verified.
type Result struct {
	AccessKey string
	// Region is the credential scope's region, as the client sent it.
	Region string
	// Date is the signing time (X-Amz-Date, or the Date header).
	Date time.Time
	// PayloadHash is the x-amz-content-sha256 value the signature covers:
	// a hex SHA-256 (check the body with VerifyingBody), UnsignedPayload,
	// or one of the Streaming* values (decode with package chunked). With
	// the Authorization header and no x-amz-content-sha256 header it is
	// EmptySHA256; presigned URLs without X-Amz-Content-Sha256 give
	// UnsignedPayload.
	PayloadHash string
	// SeedSignature is the request's lowercase hex signature, the first
	// link of the aws-chunked signature chain.
	SeedSignature string
	// SigningKey is the derived key for Date, Region and service "s3".
	// It signs requests as the access key would for that day: never log it.
	SigningKey []byte
	// Presigned is true for query-string (presigned URL) authentication.
	Presigned bool
}

// Scope returns the credential scope "YYYYMMDD/region/s3/aws4_request".
func (r *Result) Scope() string {
	return r.Date.UTC().Format(dateFormat) + "/" + r.Region + "/" + Service + "/" + scopeTerminator
}

// Errors returned by Verify and ParseAuthorization; Code maps each to its
// S3 error code.
var (
	// ErrAccessDenied is returned when the request carries no signature at
	// all (neither an Authorization header nor presigned-URL parameters).
	ErrAccessDenied = errors.New("sigv4: access denied")
	// ErrUnsupportedAlgorithm is returned for another authentication
	// scheme: Signature Version 2 (header or query), SigV4a, or an unknown
	// X-Amz-Algorithm.
	ErrUnsupportedAlgorithm = errors.New("sigv4: unsupported authorization mechanism")
	// ErrAmbiguousAuth is returned when a request carries both an
	// Authorization header and presigned-URL parameters.
	ErrAmbiguousAuth = errors.New("sigv4: more than one authentication mechanism")
	// ErrAuthorizationHeaderMalformed is returned when the Authorization
	// header cannot be parsed, or its credential scope is wrong (date not
	// the request's, service not "s3", region not Options.Region).
	ErrAuthorizationHeaderMalformed = errors.New("sigv4: authorization header malformed")
	// ErrAuthorizationQueryParametersError is returned when presigned-URL
	// parameters are missing, repeated or malformed, or X-Amz-Expires is
	// out of range.
	ErrAuthorizationQueryParametersError = errors.New("sigv4: presigned URL parameters malformed")
	// ErrMissingDateHeader is returned when a header-signed request has
	// neither a valid X-Amz-Date nor a valid Date header.
	ErrMissingDateHeader = errors.New("sigv4: missing or invalid date")
	// ErrInvalidAccessKeyID is returned when Lookup does not know the
	// access key.
	ErrInvalidAccessKeyID = errors.New("sigv4: unknown access key")
	// ErrRequestTimeTooSkewed is returned when a header-signed request's
	// time is further than MaxSkew from now.
	ErrRequestTimeTooSkewed = errors.New("sigv4: request time too skewed")
	// ErrExpiredPresign is returned when a presigned URL's X-Amz-Date plus
	// X-Amz-Expires is in the past.
	ErrExpiredPresign = errors.New("sigv4: presigned URL expired")
	// ErrPresignNotYetValid is returned when a presigned URL's X-Amz-Date
	// is further than MaxSkew in the future.
	ErrPresignNotYetValid = errors.New("sigv4: presigned URL not yet valid")
	// ErrInvalidContentSHA256 is returned when x-amz-content-sha256 is
	// neither a hex SHA-256 nor one of the payload modes S3 defines.
	ErrInvalidContentSHA256 = errors.New("sigv4: invalid x-amz-content-sha256")
	// ErrHeadersNotSigned is returned when the request carries x-amz-*
	// headers its signature does not cover, or does not sign host.
	ErrHeadersNotSigned = errors.New("sigv4: headers not signed")
	// ErrSignatureDoesNotMatch is returned when the signature differs from
	// the one computed with the access key's secret. The error is a
	// *MismatchError carrying what the server signed.
	ErrSignatureDoesNotMatch = errors.New("sigv4: signature does not match")
)

// MismatchError is returned when a signature does not match. It carries
// the string-to-sign and canonical request the server computed (first
// variant), which S3 echoes in its error response to help clients debug.
type MismatchError struct {
	AccessKey        string
	StringToSign     string
	CanonicalRequest string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%v: the signature computed with the secret of access key %q differs from the one sent; check the secret key and the signing method", ErrSignatureDoesNotMatch, e.AccessKey)
}

// Unwrap returns ErrSignatureDoesNotMatch.
func (e *MismatchError) Unwrap() error { return ErrSignatureDoesNotMatch }

// Verify checks the SigV4 signature of r, in header or presigned form,
// against the secret lookup returns for the request's access key, at time
// now. It does not read r.Body. On success the Result says how the body's
// integrity is to be checked; see Result.PayloadHash.
func Verify(r *http.Request, lookup Lookup, now time.Time, opts *Options) (*Result, error) {
	if opts == nil {
		opts = &Options{}
	}
	authz := r.Header.Values("Authorization")
	query := parseQuery(r.URL.RawQuery)
	presigned := query.has("X-Amz-Algorithm") || query.has("X-Amz-Credential") || query.has("X-Amz-Signature")
	sigV2Query := query.has("AWSAccessKeyId") && query.has("Signature")
	switch {
	case len(authz) > 0 && (presigned || sigV2Query):
		return nil, fmt.Errorf("%w: send either the Authorization header or presigned-URL parameters, not both", ErrAmbiguousAuth)
	case len(authz) > 1:
		return nil, fmt.Errorf("%w: the Authorization header appears %d times", ErrAuthorizationHeaderMalformed, len(authz))
	case len(authz) == 1:
		return verifyHeader(r, authz[0], query, lookup, now, opts)
	case presigned:
		return verifyPresigned(r, query, lookup, now, opts)
	case sigV2Query:
		return nil, fmt.Errorf("%w: the URL is presigned with Signature Version 2 (AWSAccessKeyId, Signature); presign with AWS4-HMAC-SHA256 (aws CLI: s3 signature_version = s3v4)", ErrUnsupportedAlgorithm)
	}
	return nil, fmt.Errorf("%w: the request is not signed (no Authorization header or X-Amz-Signature parameter)", ErrAccessDenied)
}

func verifyHeader(r *http.Request, header string, query queryParams, lookup Lookup, now time.Time, opts *Options) (*Result, error) {
	a, err := ParseAuthorization(header)
	if err != nil {
		return nil, err
	}
	t, stamp, err := headerTime(r)
	if err != nil {
		return nil, err
	}
	if err := checkScope(a, t, opts, ErrAuthorizationHeaderMalformed); err != nil {
		return nil, err
	}
	secret, ok := lookup(a.AccessKey)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrInvalidAccessKeyID, a.AccessKey)
	}
	if d := now.Sub(t).Abs(); d > maxSkew(opts) {
		return nil, fmt.Errorf("%w: request time %s is %s off the server's clock; the limit is %s",
			ErrRequestTimeTooSkewed, t.Format(time.RFC3339), d.Round(time.Second), shortDuration(maxSkew(opts)))
	}
	payload := EmptySHA256
	if vals := r.Header.Values("X-Amz-Content-Sha256"); len(vals) > 0 {
		if len(vals) > 1 {
			return nil, fmt.Errorf("%w: x-amz-content-sha256 appears %d times", ErrInvalidContentSHA256, len(vals))
		}
		payload = vals[0]
	}
	if err := checkPayloadHash(payload); err != nil {
		return nil, err
	}
	names := a.headerNames()
	if err := checkAllSigned(r, names, "x-amz-content-sha256", "x-amz-date"); err != nil {
		return nil, err
	}
	return finish(r, a, secret, t, stamp, payload, query.canonical(""), names, false)
}

// Names of the presigned-URL parameters.
const (
	qAlgorithm     = "X-Amz-Algorithm"
	qCredential    = "X-Amz-Credential"
	qDate          = "X-Amz-Date"
	qExpires       = "X-Amz-Expires"
	qSignedHeaders = "X-Amz-SignedHeaders"
	qSignature     = "X-Amz-Signature"
	qContentSHA256 = "X-Amz-Content-Sha256"
)

func verifyPresigned(r *http.Request, query queryParams, lookup Lookup, now time.Time, opts *Options) (*Result, error) {
	get := func(name string) (string, error) {
		vals := query.values(name)
		switch len(vals) {
		case 0:
			return "", fmt.Errorf("%w: missing %s; presigned URLs need X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature", ErrAuthorizationQueryParametersError, name)
		case 1:
			return vals[0], nil
		}
		return "", fmt.Errorf("%w: %s appears %d times", ErrAuthorizationQueryParametersError, name, len(vals))
	}
	var p [6]string
	for i, name := range []string{qAlgorithm, qCredential, qDate, qExpires, qSignedHeaders, qSignature} {
		v, err := get(name)
		if err != nil {
			return nil, err
		}
		p[i] = v
	}
	algo, cred, date, expires, signed, sig := p[0], p[1], p[2], p[3], p[4], p[5]
	if algo != Algorithm {
		if algo == "AWS4-ECDSA-P256-SHA256" {
			return nil, fmt.Errorf("%w: the URL is presigned with SigV4a (AWS4-ECDSA-P256-SHA256); presign with AWS4-HMAC-SHA256", ErrUnsupportedAlgorithm)
		}
		return nil, fmt.Errorf("%w: X-Amz-Algorithm is %q; only %s is supported", ErrAuthorizationQueryParametersError, clip(algo), Algorithm)
	}
	a := &Authorization{SignedHeaders: signed}
	if err := parseCredential(cred, a); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAuthorizationQueryParametersError, err)
	}
	if err := checkSignedHeaders(signed); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAuthorizationQueryParametersError, err)
	}
	var err error
	if a.Signature, err = parseSignature(sig); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAuthorizationQueryParametersError, err)
	}
	t, err := parseAmzDate(date)
	if err != nil {
		return nil, fmt.Errorf("%w: X-Amz-Date %q is not YYYYMMDD'T'HHMMSS'Z'", ErrAuthorizationQueryParametersError, clip(date))
	}
	secs, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || secs < 0 || secs > int64(MaxPresignExpiry/time.Second) {
		return nil, fmt.Errorf("%w: X-Amz-Expires %q is not a number of seconds from 0 to %d (7 days)", ErrAuthorizationQueryParametersError, clip(expires), int64(MaxPresignExpiry/time.Second))
	}
	if err := checkScope(a, t, opts, ErrAuthorizationQueryParametersError); err != nil {
		return nil, err
	}
	secret, ok := lookup(a.AccessKey)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrInvalidAccessKeyID, a.AccessKey)
	}
	if t.Sub(now) > maxSkew(opts) {
		return nil, fmt.Errorf("%w: X-Amz-Date %s is %s ahead of the server's clock; the limit is %s",
			ErrPresignNotYetValid, t.Format(time.RFC3339), t.Sub(now).Round(time.Second), shortDuration(maxSkew(opts)))
	}
	if end := t.Add(time.Duration(secs) * time.Second); now.After(end) {
		return nil, fmt.Errorf("%w: request has expired: it was valid until %s, %s ago", ErrExpiredPresign, end.Format(time.RFC3339), now.Sub(end).Round(time.Second))
	}
	names := a.headerNames()
	payload := UnsignedPayload
	if vals := query.values(qContentSHA256); len(vals) > 0 {
		if len(vals) > 1 {
			return nil, fmt.Errorf("%w: %s appears %d times", ErrAuthorizationQueryParametersError, qContentSHA256, len(vals))
		}
		payload = vals[0]
	} else if slices.Contains(names, "x-amz-content-sha256") {
		payload = r.Header.Get("X-Amz-Content-Sha256")
	}
	if err := checkPayloadHash(payload); err != nil {
		return nil, err
	}
	if err := checkAllSigned(r, names, "x-amz-content-sha256"); err != nil {
		return nil, err
	}
	return finish(r, a, secret, t, date, payload, query.canonical(qSignature), names, true)
}

// finish computes the signature over the canonical request variants and
// compares it with the one sent.
func finish(r *http.Request, a *Authorization, secret string, t time.Time, stamp, payload, canonQuery string, names []string, presigned bool) (*Result, error) {
	key := SigningKey(secret, t, a.Region, a.Service)
	scope := a.Scope()
	want := []byte(a.Signature)
	var first *MismatchError
	for _, uri := range canonicalURIs(r) {
		for _, headers := range canonicalHeaderVariants(r, names) {
			creq := strings.Join([]string{r.Method, uri, canonQuery, headers, a.SignedHeaders, payload}, "\n")
			sts := stringToSign(stamp, scope, creq)
			got := []byte(hex.EncodeToString(hmacSHA256(key, []byte(sts))))
			if hmac.Equal(got, want) {
				return &Result{
					AccessKey:     a.AccessKey,
					Region:        a.Region,
					Date:          t,
					PayloadHash:   payload,
					SeedSignature: a.Signature,
					SigningKey:    key,
					Presigned:     presigned,
				}, nil
			}
			if first == nil {
				first = &MismatchError{AccessKey: a.AccessKey, StringToSign: sts, CanonicalRequest: creq}
			}
		}
	}
	return nil, first
}

func stringToSign(stamp, scope, canonicalRequest string) string {
	h := sha256.Sum256([]byte(canonicalRequest))
	return Algorithm + "\n" + stamp + "\n" + scope + "\n" + hex.EncodeToString(h[:])
}

// SigningKey derives the SigV4 signing key for a secret, day, region and
// service.
func SigningKey(secret string, t time.Time, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(t.UTC().Format(dateFormat)))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte(scopeTerminator))
}

func hmacSHA256(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}

// headerTime returns the request's signing time from X-Amz-Date, or else
// the Date header, with the X-Amz-Date form of it for the string-to-sign.
func headerTime(r *http.Request) (time.Time, string, error) {
	if v := r.Header.Get("X-Amz-Date"); v != "" {
		t, err := parseAmzDate(v)
		if err != nil {
			return time.Time{}, "", fmt.Errorf("%w: X-Amz-Date %q is not YYYYMMDD'T'HHMMSS'Z'", ErrMissingDateHeader, clip(v))
		}
		return t, v, nil
	}
	if v := r.Header.Get("Date"); v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			return time.Time{}, "", fmt.Errorf("%w: Date %q is not an HTTP date", ErrMissingDateHeader, clip(v))
		}
		t = t.UTC()
		return t, t.Format(TimeFormat), nil
	}
	return time.Time{}, "", fmt.Errorf("%w: AWS authentication requires an X-Amz-Date or Date header", ErrMissingDateHeader)
}

func parseAmzDate(s string) (time.Time, error) {
	if len(s) != len(TimeFormat) {
		return time.Time{}, errors.New("wrong length")
	}
	return time.Parse(TimeFormat, s)
}

// checkScope checks the credential scope against the request time and
// the accepted service and region; errors wrap kind.
func checkScope(a *Authorization, t time.Time, opts *Options, kind error) error {
	if day := t.UTC().Format(dateFormat); a.Date != day {
		return fmt.Errorf("%w: credential date %s is not the day of the request time %s", kind, a.Date, t.Format(TimeFormat))
	}
	if a.Service != Service {
		return fmt.Errorf("%w: credential service is %q; this endpoint is %q", kind, clip(a.Service), Service)
	}
	if opts.Region != "" && a.Region != opts.Region {
		return fmt.Errorf("%w: credential region %q is wrong; expecting %q", kind, clip(a.Region), opts.Region)
	}
	return nil
}

func maxSkew(opts *Options) time.Duration {
	if opts.MaxSkew > 0 {
		return opts.MaxSkew
	}
	return DefaultMaxSkew
}

// shortDuration prints 15m rather than 15m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// checkPayloadHash accepts the x-amz-content-sha256 values S3 defines.
func checkPayloadHash(v string) error {
	switch v {
	case UnsignedPayload, StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer:
		return nil
	}
	if isHexSHA256(v) {
		return nil
	}
	if strings.HasPrefix(v, "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD") {
		return fmt.Errorf("%w: %s (SigV4a streaming) is not supported", ErrInvalidContentSHA256, v)
	}
	return fmt.Errorf("%w: %q must be a hex SHA-256, %s, %s, %s or %s", ErrInvalidContentSHA256, clip(v),
		UnsignedPayload, StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer)
}

func isHexSHA256(v string) bool {
	if len(v) != 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !isHex(v[i]) {
			return false
		}
	}
	return true
}

// checkAllSigned requires host to be signed, and every x-amz-* header
// present to be signed, except those in exempt (covered by the string to
// sign in another way). An unsigned x-amz-* header could otherwise be
// added by anyone holding a presigned URL (x-amz-copy-source, x-amz-acl).
func checkAllSigned(r *http.Request, names []string, exempt ...string) error {
	if !slices.Contains(names, "host") {
		return fmt.Errorf("%w: SignedHeaders must include host", ErrHeadersNotSigned)
	}
	var missing []string
	for k := range r.Header {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, "x-amz-") || slices.Contains(exempt, lk) || slices.Contains(names, lk) {
			continue
		}
		missing = append(missing, lk)
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("%w: there were headers present in the request which were not signed: %s", ErrHeadersNotSigned, strings.Join(missing, ", "))
	}
	return nil
}

// Code maps an error from this package to its S3 error code and HTTP
// status. For errors of other origins it returns "", 0.
func Code(err error) (s3code string, httpStatus int) {
	switch {
	case errors.Is(err, ErrSignatureDoesNotMatch):
		return "SignatureDoesNotMatch", http.StatusForbidden
	case errors.Is(err, ErrInvalidAccessKeyID):
		return "InvalidAccessKeyId", http.StatusForbidden
	case errors.Is(err, ErrRequestTimeTooSkewed):
		return "RequestTimeTooSkewed", http.StatusForbidden
	case errors.Is(err, ErrAccessDenied), errors.Is(err, ErrExpiredPresign), errors.Is(err, ErrPresignNotYetValid),
		errors.Is(err, ErrMissingDateHeader), errors.Is(err, ErrHeadersNotSigned):
		return "AccessDenied", http.StatusForbidden
	case errors.Is(err, ErrAuthorizationHeaderMalformed):
		return "AuthorizationHeaderMalformed", http.StatusBadRequest
	case errors.Is(err, ErrAuthorizationQueryParametersError):
		return "AuthorizationQueryParametersError", http.StatusBadRequest
	case errors.Is(err, ErrUnsupportedAlgorithm):
		return "InvalidRequest", http.StatusBadRequest
	case errors.Is(err, ErrAmbiguousAuth), errors.Is(err, ErrInvalidContentSHA256):
		return "InvalidArgument", http.StatusBadRequest
	case errors.Is(err, ErrContentSHA256Mismatch):
		return "XAmzContentSHA256Mismatch", http.StatusBadRequest
	}
	return "", 0
}

package sigv4_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/s3api/sigv4"
)

// mutation changes one thing about a correctly signed request, or about
// how it is verified, and names the error Verify must give.
type mutation struct {
	name   string
	mutate func(r *http.Request)
	at     time.Duration // now - signTime; 0 means 30s
	lookup sigv4.Lookup
	opts   *sigv4.Options
	want   error // nil: must verify
}

func runMutations(t *testing.T, base *http.Request, tests []mutation) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base.Clone(base.Context())
			u := *base.URL
			r.URL = &u
			if tt.mutate != nil {
				tt.mutate(r)
			}
			lookup := tt.lookup
			if lookup == nil {
				lookup = testLookup
			}
			at := tt.at
			if at == 0 {
				at = 30 * time.Second
			}
			res, err := sigv4.Verify(r, lookup, signTime.Add(at), tt.opts)
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("Verify = %v; want success", err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("Verify = %v, %v; want %v", res, err, tt.want)
			case tt.want != nil && res != nil:
				t.Fatalf("Verify returned a Result with error %v", err)
			}
			if err != nil {
				if !strings.HasPrefix(err.Error(), "sigv4: ") {
					t.Errorf("error %q does not start with the package name", err)
				}
				if code, status := sigv4.Code(err); code == "" || status == 0 {
					t.Errorf("Code(%v) = %q, %d; want an S3 code", err, code, status)
				}
			}
		})
	}
}

func setPath(target string) func(*http.Request) {
	return func(r *http.Request) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			panic(err)
		}
		u.RawQuery = r.URL.RawQuery
		r.URL = u
	}
}

func replaceQuery(old, new string) func(*http.Request) {
	return func(r *http.Request) {
		if !strings.Contains(r.URL.RawQuery, old) {
			panic("query " + r.URL.RawQuery + " lacks " + old)
		}
		r.URL.RawQuery = strings.Replace(r.URL.RawQuery, old, new, 1)
	}
}

func replaceHeader(name, old, new string) func(*http.Request) {
	return func(r *http.Request) {
		v := r.Header.Get(name)
		if !strings.Contains(v, old) {
			panic(name + ": " + v + " lacks " + old)
		}
		r.Header.Set(name, strings.Replace(v, old, new, 1))
	}
}

func setHeader(name, value string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

func delHeader(name string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Del(name) }
}

// flipHex changes the first digit of a hex string.
func flipHex(s string) string {
	if s[0] == '0' {
		return "1" + s[1:]
	}
	return "0" + s[1:]
}

func wrongSecret(string) (string, bool) { return "not-the-secret", true }

func TestVerifyRejectsHeaderMutations(t *testing.T) {
	srv := newCaptureServer(t)
	base := sendSigned(t, srv, signed{
		method: "PUT",
		target: objectTarget("bucket", "key x") + "?partNumber=1&uploadId=abc",
		body:   []byte("hello"),
		headers: http.Header{
			"X-Amz-Meta-Foo":   {"bar"},
			"X-Amz-Meta-Multi": {"one", "two"},
			"X-Amz-Meta-Words": {"a b c"},
		},
	}, signTime)
	sig := base.Header.Get("Authorization")
	sig = sig[strings.LastIndex(sig, "=")+1:]
	flipped := flipHex(sig)

	runMutations(t, base, []mutation{
		{name: "unchanged verifies"},
		{name: "uppercase signature verifies", mutate: replaceHeader("Authorization", sig, strings.ToUpper(sig))},
		{name: "14 minutes late verifies", at: 14 * time.Minute},
		{name: "14 minutes early verifies", at: -14 * time.Minute},
		{name: "pinned region matches", opts: &sigv4.Options{Region: "us-east-1"}},
		// botocore collapses all whitespace in a header value, not only spaces.
		{name: "tabs collapsed like botocore", mutate: setHeader("X-Amz-Meta-Words", "a\tb \t c")},

		{name: "unknown access key", mutate: replaceHeader("Authorization", testAccessKey, "AKIDNOBODY"), want: sigv4.ErrInvalidAccessKeyID},
		{name: "another known access key", mutate: replaceHeader("Authorization", testAccessKey, otherAccessKey), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "wrong secret", lookup: wrongSecret, want: sigv4.ErrSignatureDoesNotMatch},
		{name: "date one second later", mutate: setHeader("X-Amz-Date", "20260301T120001Z"), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "date on another day", mutate: setHeader("X-Amz-Date", "20260302T120000Z"), at: 24 * time.Hour, want: sigv4.ErrAuthorizationHeaderMalformed},
		{name: "scope region changed", mutate: replaceHeader("Authorization", "/us-east-1/", "/us-west-2/"), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "scope date changed", mutate: replaceHeader("Authorization", "/20260301/", "/20260302/"), want: sigv4.ErrAuthorizationHeaderMalformed},
		{name: "scope service changed", mutate: replaceHeader("Authorization", "/s3/", "/iam/"), want: sigv4.ErrAuthorizationHeaderMalformed},
		{name: "region not the pinned one", opts: &sigv4.Options{Region: "eu-west-1"}, want: sigv4.ErrAuthorizationHeaderMalformed},
		{name: "signed header value changed", mutate: setHeader("X-Amz-Meta-Foo", "baz"), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "multiple values reordered", mutate: func(r *http.Request) { r.Header["X-Amz-Meta-Multi"] = []string{"two", "one"} }, want: sigv4.ErrSignatureDoesNotMatch},
		{name: "multiple values merged", mutate: func(r *http.Request) { r.Header["X-Amz-Meta-Multi"] = []string{"one, two"} }, want: sigv4.ErrSignatureDoesNotMatch},
		{name: "whitespace removed", mutate: setHeader("X-Amz-Meta-Words", "a bc"), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "signed header removed", mutate: delHeader("X-Amz-Meta-Foo"), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "unsigned x-amz header added", mutate: setHeader("X-Amz-Copy-Source", "/other/secret"), want: sigv4.ErrHeadersNotSigned},
		{name: "host changed", mutate: func(r *http.Request) { r.Host = "evil.example:80" }, want: sigv4.ErrSignatureDoesNotMatch},
		{name: "method changed", mutate: func(r *http.Request) { r.Method = "POST" }, want: sigv4.ErrSignatureDoesNotMatch},
		{name: "path changed", mutate: setPath("/bucket/key%20y"), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "path space as plus", mutate: setPath("/bucket/key+x"), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "path double slash", mutate: setPath("/bucket//key%20x"), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "query value changed", mutate: replaceQuery("partNumber=1", "partNumber=2"), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "query parameter added", mutate: replaceQuery("uploadId=abc", "uploadId=abc&versionId=1"), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "query parameter removed", mutate: replaceQuery("partNumber=1&", ""), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "query parameter repeated", mutate: replaceQuery("uploadId=abc", "uploadId=abc&uploadId=abc"), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "payload hash changed", mutate: setHeader("X-Amz-Content-Sha256", sigv4.EmptySHA256), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "payload hash garbage", mutate: setHeader("X-Amz-Content-Sha256", "not-a-hash"), want: sigv4.ErrInvalidContentSHA256},
		{name: "payload hash SigV4a streaming", mutate: setHeader("X-Amz-Content-Sha256", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"), want: sigv4.ErrInvalidContentSHA256},
		{name: "signature changed", mutate: replaceHeader("Authorization", sig, flipped), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "signature truncated", mutate: replaceHeader("Authorization", sig, sig[:63]), want: sigv4.ErrAuthorizationHeaderMalformed},
		{name: "signed headers changed", mutate: replaceHeader("Authorization", "SignedHeaders=", "SignedHeaders=range;"), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "host not signed", mutate: replaceHeader("Authorization", "SignedHeaders=content-length;host;", "SignedHeaders=content-length;"), want: sigv4.ErrHeadersNotSigned},
		{name: "16 minutes late", at: 16 * time.Minute, want: sigv4.ErrRequestTimeTooSkewed},
		{name: "16 minutes early", at: -16 * time.Minute, want: sigv4.ErrRequestTimeTooSkewed},
		{name: "custom skew", at: 2 * time.Minute, opts: &sigv4.Options{MaxSkew: time.Minute}, want: sigv4.ErrRequestTimeTooSkewed},
		{name: "no date", mutate: delHeader("X-Amz-Date"), want: sigv4.ErrMissingDateHeader},
		{name: "garbled date", mutate: setHeader("X-Amz-Date", "2026-03-01T12:00:00Z"), want: sigv4.ErrMissingDateHeader},
		{name: "no authorization", mutate: delHeader("Authorization"), want: sigv4.ErrAccessDenied},
		{name: "authorization twice", mutate: func(r *http.Request) { r.Header.Add("Authorization", r.Header.Get("Authorization")) }, want: sigv4.ErrAuthorizationHeaderMalformed},
		{name: "SigV2 header", mutate: setHeader("Authorization", "AWS "+testAccessKey+":c2lnbmF0dXJl"), want: sigv4.ErrUnsupportedAlgorithm},
		{name: "header and presigned query", mutate: replaceQuery("uploadId=abc", "uploadId=abc&X-Amz-Signature=00"), want: sigv4.ErrAmbiguousAuth},
	})
}

func TestVerifyRejectsPresignedMutations(t *testing.T) {
	srv := newCaptureServer(t)
	base := sendPresigned(t, srv, signed{
		method:  "GET",
		target:  objectTarget("bucket", "ob ject") + "?versionId=v1",
		headers: http.Header{"Range": {"bytes=0-99"}},
	}, signTime, time.Hour)
	sig := base.URL.Query().Get("X-Amz-Signature")
	flipped := flipHex(sig)

	runMutations(t, base, []mutation{
		{name: "unchanged verifies"},
		{name: "at expiry verifies", at: time.Hour},
		{name: "14 minutes early verifies", at: -14 * time.Minute},
		{name: "unsigned non-amz header is fine", mutate: setHeader("User-Agent", "curl/8")},

		{name: "expired", at: time.Hour + time.Second, want: sigv4.ErrExpiredPresign},
		{name: "not yet valid", at: -16 * time.Minute, want: sigv4.ErrPresignNotYetValid},
		{name: "signature changed", mutate: replaceQuery(sig, flipped), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "signature repeated", mutate: replaceQuery("X-Amz-Signature="+sig, "X-Amz-Signature="+sig+"&X-Amz-Signature="+sig), want: sigv4.ErrAuthorizationQueryParametersError},
		{name: "signature missing", mutate: replaceQuery("&X-Amz-Signature="+sig, ""), want: sigv4.ErrAuthorizationQueryParametersError},
		{name: "unknown access key", mutate: replaceQuery(testAccessKey, "AKIDNOBODY"), want: sigv4.ErrInvalidAccessKeyID},
		{name: "another known access key", mutate: replaceQuery(testAccessKey, otherAccessKey), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "wrong secret", lookup: wrongSecret, want: sigv4.ErrSignatureDoesNotMatch},
		{name: "scope region changed", mutate: replaceQuery("%2Fus-east-1%2F", "%2Fus-west-2%2F"), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "scope service changed", mutate: replaceQuery("%2Fs3%2F", "%2Fsts%2F"), want: sigv4.ErrAuthorizationQueryParametersError},
		{name: "region not the pinned one", opts: &sigv4.Options{Region: "ap-south-1"}, want: sigv4.ErrAuthorizationQueryParametersError},
		{name: "date changed", mutate: replaceQuery("X-Amz-Date=20260301T120000Z", "X-Amz-Date=20260301T115959Z"), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "expires lengthened", mutate: replaceQuery("X-Amz-Expires=3600", "X-Amz-Expires=7200"), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "expires over seven days", mutate: replaceQuery("X-Amz-Expires=3600", "X-Amz-Expires=604801"), want: sigv4.ErrAuthorizationQueryParametersError},
		{name: "expires not a number", mutate: replaceQuery("X-Amz-Expires=3600", "X-Amz-Expires=1h"), want: sigv4.ErrAuthorizationQueryParametersError},
		{name: "expires negative", mutate: replaceQuery("X-Amz-Expires=3600", "X-Amz-Expires=-1"), want: sigv4.ErrAuthorizationQueryParametersError},
		{name: "algorithm changed", mutate: replaceQuery("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA512"), want: sigv4.ErrAuthorizationQueryParametersError},
		{name: "SigV4a", mutate: replaceQuery("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256"), want: sigv4.ErrUnsupportedAlgorithm},
		{name: "signed headers missing", mutate: replaceQuery("X-Amz-SignedHeaders=", "X-Amz-Ignored="), want: sigv4.ErrAuthorizationQueryParametersError},
		{name: "version changed", mutate: replaceQuery("versionId=v1", "versionId=v2"), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "parameter added", mutate: replaceQuery("versionId=v1", "versionId=v1&response-content-type=text%2Fhtml"), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "signed header changed", mutate: setHeader("Range", "bytes=0-"), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "unsigned x-amz header added", mutate: setHeader("X-Amz-Acl", "public-read"), want: sigv4.ErrHeadersNotSigned},
		{name: "path changed", mutate: setPath("/bucket/other"), want: sigv4.ErrSignatureDoesNotMatch},
		{name: "method changed", mutate: func(r *http.Request) { r.Method = "DELETE" }, want: sigv4.ErrSignatureDoesNotMatch},
		{name: "authorization header too", mutate: setHeader("Authorization", "AWS4-HMAC-SHA256 x"), want: sigv4.ErrAmbiguousAuth},
		{name: "SigV2 presigned", mutate: func(r *http.Request) { r.URL.RawQuery = "AWSAccessKeyId=AKID&Expires=1&Signature=abc" }, want: sigv4.ErrUnsupportedAlgorithm},
	})
}

func TestCode(t *testing.T) {
	tests := []struct {
		err    error
		code   string
		status int
	}{
		{sigv4.ErrAccessDenied, "AccessDenied", 403},
		{sigv4.ErrInvalidAccessKeyID, "InvalidAccessKeyId", 403},
		{sigv4.ErrSignatureDoesNotMatch, "SignatureDoesNotMatch", 403},
		{&sigv4.MismatchError{}, "SignatureDoesNotMatch", 403},
		{sigv4.ErrRequestTimeTooSkewed, "RequestTimeTooSkewed", 403},
		{sigv4.ErrExpiredPresign, "AccessDenied", 403},
		{sigv4.ErrPresignNotYetValid, "AccessDenied", 403},
		{sigv4.ErrMissingDateHeader, "AccessDenied", 403},
		{sigv4.ErrHeadersNotSigned, "AccessDenied", 403},
		{sigv4.ErrAuthorizationHeaderMalformed, "AuthorizationHeaderMalformed", 400},
		{sigv4.ErrAuthorizationQueryParametersError, "AuthorizationQueryParametersError", 400},
		{sigv4.ErrUnsupportedAlgorithm, "InvalidRequest", 400},
		{sigv4.ErrAmbiguousAuth, "InvalidArgument", 400},
		{sigv4.ErrInvalidContentSHA256, "InvalidArgument", 400},
		{sigv4.ErrContentSHA256Mismatch, "XAmzContentSHA256Mismatch", 400},
		{errors.New("other"), "", 0},
	}
	for _, tt := range tests {
		code, status := sigv4.Code(fmtWrap(tt.err))
		if code != tt.code || status != tt.status {
			t.Errorf("Code(%v) = %q, %d; want %q, %d", tt.err, code, status, tt.code, tt.status)
		}
	}
}

func fmtWrap(err error) error { return errors.Join(errors.New("context"), err) }

func TestSkewMessage(t *testing.T) {
	srv := newCaptureServer(t)
	r := sendSigned(t, srv, signed{method: "GET", target: "/b/k"}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	_, err := sigv4.Verify(r, testLookup, time.Date(2026, 1, 1, 0, 20, 0, 0, time.UTC), nil)
	const want = "sigv4: request time too skewed: request time 2026-01-01T00:00:00Z is 20m0s off the server's clock; the limit is 15m"
	if err == nil || err.Error() != want {
		t.Errorf("Verify error = %v; want %q", err, want)
	}
}

package sigv4

import (
	"fmt"
	"strings"
	"time"
)

// Authorization is the parsed content of an "AWS4-HMAC-SHA256" Authorization
// header, or of the equivalent presigned-URL query parameters.
type Authorization struct {
	AccessKey string
	// Date is the credential scope's day, as sent (YYYYMMDD).
	Date string
	// Region and Service are the credential scope's, as sent.
	Region  string
	Service string
	// SignedHeaders is the SignedHeaders list exactly as sent
	// ("host;x-amz-content-sha256;x-amz-date").
	SignedHeaders string
	// Signature is the lowercase hex signature.
	Signature string
}

// Scope returns the credential scope: "date/region/service/aws4_request".
func (a *Authorization) Scope() string {
	return a.Date + "/" + a.Region + "/" + a.Service + "/" + scopeTerminator
}

// headerNames returns the signed header names, lowercased, in the order sent.
func (a *Authorization) headerNames() []string {
	return strings.Split(strings.ToLower(a.SignedHeaders), ";")
}

const scopeTerminator = "aws4_request"

// ParseAuthorization parses an Authorization header value of the form
//
//	AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=<64 hex>
//
// The three components may come in any order, separated by commas with
// optional spaces. It checks syntax only; Verify checks the meaning. Errors
// wrap ErrAuthorizationHeaderMalformed, or ErrUnsupportedAlgorithm for
// another scheme (SigV2 "AWS ...", SigV4a "AWS4-ECDSA-P256-SHA256 ...").
func ParseAuthorization(header string) (*Authorization, error) {
	header = strings.TrimSpace(header)
	algo, rest, _ := strings.Cut(header, " ")
	if algo != Algorithm {
		return nil, unsupportedScheme(algo)
	}
	var a Authorization
	var cred string
	var haveCred, haveHeaders, haveSig bool
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, value, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%w: component %q is not Key=Value", ErrAuthorizationHeaderMalformed, clip(part))
		}
		var seen *bool
		switch key {
		case "Credential":
			seen, cred = &haveCred, value
		case "SignedHeaders":
			seen, a.SignedHeaders = &haveHeaders, value
		case "Signature":
			seen, a.Signature = &haveSig, value
		default:
			return nil, fmt.Errorf("%w: unknown component %q (want Credential, SignedHeaders and Signature)", ErrAuthorizationHeaderMalformed, clip(key))
		}
		if *seen {
			return nil, fmt.Errorf("%w: %s appears twice", ErrAuthorizationHeaderMalformed, key)
		}
		*seen = true
	}
	switch {
	case !haveCred:
		return nil, fmt.Errorf("%w: missing Credential", ErrAuthorizationHeaderMalformed)
	case !haveHeaders:
		return nil, fmt.Errorf("%w: missing SignedHeaders", ErrAuthorizationHeaderMalformed)
	case !haveSig:
		return nil, fmt.Errorf("%w: missing Signature", ErrAuthorizationHeaderMalformed)
	}
	if err := parseCredential(cred, &a); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAuthorizationHeaderMalformed, err)
	}
	if err := checkSignedHeaders(a.SignedHeaders); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAuthorizationHeaderMalformed, err)
	}
	sig, err := parseSignature(a.Signature)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAuthorizationHeaderMalformed, err)
	}
	a.Signature = sig
	return &a, nil
}

func unsupportedScheme(algo string) error {
	switch {
	case algo == "AWS":
		return fmt.Errorf("%w: the request uses Signature Version 2 (\"AWS ...\"); sign with AWS4-HMAC-SHA256", ErrUnsupportedAlgorithm)
	case algo == "AWS4-ECDSA-P256-SHA256":
		return fmt.Errorf("%w: the request uses SigV4a (AWS4-ECDSA-P256-SHA256); sign with AWS4-HMAC-SHA256", ErrUnsupportedAlgorithm)
	case algo == "":
		return fmt.Errorf("%w: the Authorization header is empty", ErrAuthorizationHeaderMalformed)
	}
	return fmt.Errorf("%w: unknown scheme %q; sign with AWS4-HMAC-SHA256", ErrUnsupportedAlgorithm, clip(algo))
}

// parseCredential fills the access key and scope of a from
// "AKID/20260101/us-east-1/s3/aws4_request". The access key is everything
// before the last four elements.
func parseCredential(cred string, a *Authorization) error {
	parts := strings.Split(cred, "/")
	n := len(parts)
	if n < 5 {
		return fmt.Errorf("credential %q is not ACCESSKEY/YYYYMMDD/region/service/aws4_request", clip(cred))
	}
	a.AccessKey = strings.Join(parts[:n-4], "/")
	a.Date, a.Region, a.Service = parts[n-4], parts[n-3], parts[n-2]
	switch {
	case a.AccessKey == "":
		return fmt.Errorf("credential %q has an empty access key", clip(cred))
	case parts[n-1] != scopeTerminator:
		return fmt.Errorf("credential %q does not end in /%s", clip(cred), scopeTerminator)
	case a.Region == "":
		return fmt.Errorf("credential %q has an empty region", clip(cred))
	case a.Service == "":
		return fmt.Errorf("credential %q has an empty service", clip(cred))
	}
	if _, err := time.Parse(dateFormat, a.Date); err != nil || len(a.Date) != len(dateFormat) {
		return fmt.Errorf("credential date %q is not YYYYMMDD", clip(a.Date))
	}
	return nil
}

func checkSignedHeaders(s string) error {
	if s == "" {
		return fmt.Errorf("signed headers is empty")
	}
	for name := range strings.SplitSeq(s, ";") {
		if name == "" {
			return fmt.Errorf("signed headers %q has an empty name", clip(s))
		}
		for i := 0; i < len(name); i++ {
			if c := name[i]; c <= ' ' || c >= 0x7f || c == ':' {
				return fmt.Errorf("signed headers %q has an invalid name %q", clip(s), clip(name))
			}
		}
	}
	return nil
}

// parseSignature checks a hex signature and returns it lowercased.
func parseSignature(s string) (string, error) {
	if len(s) != 64 {
		return "", fmt.Errorf("signature %q is not 64 hex digits", clip(s))
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return "", fmt.Errorf("signature %q is not 64 hex digits", clip(s))
		}
	}
	return strings.ToLower(s), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// clip shortens untrusted text quoted in error messages.
func clip(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
